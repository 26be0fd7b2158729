"""Atomic file replacement shared by the run records, the status page and baseline exports:
write a temp file in the same directory, fsync it, rename it over the target, fsync the
directory. A power cut or SIGKILL leaves the previous or the new content, never half of it,
and a failed write leaves no temp file behind."""

from __future__ import annotations

import os
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


def make_temp(directory: Path, prefix: str, suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp(suffix, prefix, directory)``: a new file only this process opened
    (O_EXCL, O_NOFOLLOW, mode 0600), its descriptor and absolute path. tempfile imports shutil,
    random, bz2 and lzma: ~0.9 MB of the daemon's resident memory for this one call."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(10000):  # tempfile.TMP_MAX
        name = os.path.abspath(os.path.join(directory, f"{prefix}{os.urandom(6).hex()}{suffix}"))
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no usable temporary name in {directory}")


def atomic_write(path: Path | str, data: bytes, mode: int = 0o600) -> Path:
    """Replace ``path`` with ``data`` atomically; the file gets ``mode`` (umask not applied)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = make_temp(path.parent, f".{path.name}.", ".tmp")
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
