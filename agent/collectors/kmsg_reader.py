"""Non-blocking reader of /dev/kmsg (one record per read) or of a plain file/FIFO of kmsg records
(fixtures, replays): complete lines only, EPIPE overruns and over-long records counted."""

from __future__ import annotations

import errno
import os
import select
import stat
import time

__all__ = ["KmsgReader", "READ_SIZE", "KMSG_RECORD_BUF", "MAX_PENDING_LINE"]

READ_SIZE = 1 << 20  # plain files: one big read; /dev/kmsg returns one record per read anyway
KMSG_RECORD_BUF = 16384
MAX_PENDING_LINE = 1 << 20


class KmsgReader:
    """Non-blocking reader of /dev/kmsg or a plain file/FIFO of kmsg records."""

    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        st = os.fstat(self.fd)
        self.is_device = stat.S_ISCHR(st.st_mode)
        self.pending = b""  # incomplete trailing line (plain files)
        self.overruns = 0
        self.oversized = 0

    def read_available(self) -> str:
        """Everything readable now, as complete lines (text ends with a newline)."""
        parts: list[bytes] = []
        while True:
            try:
                data = os.read(self.fd, KMSG_RECORD_BUF if self.is_device else READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # records overwritten before we read them
                    self.overruns += 1
                    continue
                if exc.errno == errno.EINVAL and self.is_device:  # record larger than our buffer
                    self.oversized += 1
                    break
                raise
            if not data:
                break
            if self.is_device and not data.endswith(b"\n"):
                data += b"\n"
            parts.append(data)
            if sum(len(p) for p in parts) > 8 * READ_SIZE:
                break
        if not parts:
            return ""
        buf = self.pending + b"".join(parts)
        cut = buf.rfind(b"\n")
        if cut < 0:
            self.pending = buf if len(buf) <= MAX_PENDING_LINE else b""
            if len(buf) > MAX_PENDING_LINE:
                self.oversized += 1
            return ""
        self.pending = buf[cut + 1:]
        if len(self.pending) > MAX_PENDING_LINE:
            self.pending = b""
            self.oversized += 1
        return buf[:cut + 1].decode("utf-8", "replace")

    def wait(self, timeout: float) -> None:
        if self.is_device:
            try:
                select.select([self.fd], [], [], timeout)
            except (OSError, ValueError):
                time.sleep(timeout)
        else:
            time.sleep(timeout)

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
