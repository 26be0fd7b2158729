"""Atomic file replacement shared by the run records, the status page and baseline exports:
write a temp file in the same directory, fsync it, rename it over the target, fsync the
directory. A power cut or SIGKILL leaves the previous or the new content, never half of it,
and a failed write leaves no temp file behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(d: Path) -> None:
    """fsync a directory so a rename in it is durable (best effort: some filesystems refuse)."""
    try:
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the file itself is already synced
    finally:
        os.close(fd)


def atomic_write(path: Path | str, data: bytes, mode: int = 0o600) -> Path:
    """Replace ``path`` with ``data`` atomically; the file gets ``mode`` (umask not applied)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # the temp file is already gone; the original error is re-raised below
        raise
    fsync_dir(path.parent)
    return path
