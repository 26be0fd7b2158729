"""One daemon per state directory: an exclusive flock on ``{state_dir}/agent.lock``.

Two writers on one state directory (a second ``agent run``, or ``agent check`` while the daemon
runs) each stored the same kernel events and counted them twice. The daemon holds this lock for
its life; one-shot commands that find it held work on an in-memory copy of the store instead.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from agent.state.store import StateDirBusy

LOCK_NAME = "agent.lock"


class StateLock:
    """An exclusive flock on ``{state_dir}/agent.lock`` held for the daemon's life: one daemon per
    state directory. The file holds the owner's pid (for the message the second one prints)."""

    def __init__(self, fd: int, path: Path):
        self.fd = fd
        self.path = path

    @classmethod
    def acquire(cls, state_dir: str | Path, wait: float = 0.0) -> "StateLock | None":
        """The lock, or None when the directory cannot hold one (read-only: nothing can write
        there either). Raises StateDirBusy when another process holds it after ``wait`` s."""
        import fcntl  # noqa: PLC0415

        path = Path(state_dir) / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # read-only directory: lock what is there
            except OSError:
                return None
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = _read_pid(fd)
                    os.close(fd)
                    raise StateDirBusy(path, pid) from None
                time.sleep(0.2)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the pid in the lock file is informational; the flock is what locks
        return cls(fd, path)

    @staticmethod
    def holder(state_dir: str | Path) -> int | None:
        """The pid of the process holding the lock (0 when unknown), None when nobody does."""
        import fcntl  # noqa: PLC0415

        try:
            fd = os.open(Path(state_dir) / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return _read_pid(fd) or 0
        finally:
            os.close(fd)

    def release(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass  # already closed: releasing twice is harmless


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text.isdecimal() else None
    except (OSError, ValueError):
        return None
