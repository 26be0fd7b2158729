"""Non-blocking reader of /dev/kmsg (one record per read) or of a plain file/FIFO of kmsg records
(fixtures, replays): complete lines only, EPIPE overruns and over-long records counted."""

from __future__ import annotations

import errno
import os
import select
import stat
import time

from agent.collectors.patterns.record import parse_kmsg_header

__all__ = ["KmsgReader", "RecordCounts", "READ_SIZE", "KMSG_RECORD_BUF", "MAX_PENDING_LINE"]

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
        size = 0
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
            size += len(data)  # /dev/kmsg: one record per read, hundreds in a storm's poll (no re-summing)
            if size > 8 * READ_SIZE:
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
            pass  # already closed: closing twice must not raise on shutdown


class RecordCounts:
    """Counting the records of kmsg chunks: totals, sequence gaps (lost records), garbage, and the
    records of an earlier run of this boot skipped (a mixin of the kernel-log collector, which holds
    the counters)."""

    records_total: int
    records_lost: int
    malformed: int
    last_seq: int | None
    _skip_until: int | None

    def _skip_seen(self, text: str) -> str:
        """Drop records already processed in an earlier run of this boot (seq <= cursor)."""
        limit = self._skip_until
        pos = 0
        n = len(text)
        while pos < n:
            end = text.find("\n", pos)
            end = n if end < 0 else end
            hdr = parse_kmsg_header(text[pos:end])
            if hdr is not None:
                if hdr[1] > limit:  # type: ignore[operator]
                    self._skip_until = None
                    if self.last_seq is None:
                        self.last_seq = limit
                    return text[pos:]
            pos = end + 1
        if self.last_seq is None:
            self.last_seq = limit
        return ""

    def _account(self, text: str) -> None:
        """Count records and sequence gaps of a chunk (exact; cheap when the chunk is clean)."""
        nlines = text.count("\n")
        n = nlines - text.count("\n ") - (1 if text.startswith(" ") else 0) - text.count("\n\n")
        first = last = None
        pos = 0
        while first is None and pos < len(text):
            end = text.find("\n", pos)
            hdr = parse_kmsg_header(text[pos:end])
            if hdr:
                first = hdr[1]
            pos = end + 1
        end = len(text) - 1
        while last is None and end > 0:
            start = text.rfind("\n", 0, end) + 1
            hdr = parse_kmsg_header(text[start:end])
            if hdr:
                last = hdr[1]
            end = start - 1
        if first is None or last is None:
            self.malformed += n
            return
        expected = last - first + 1
        if expected >= n and (self.last_seq is None or first > self.last_seq):
            if self.last_seq is not None:
                self.records_lost += first - self.last_seq - 1
            self.records_lost += expected - n
            self.records_total += n
            self.last_seq = last
            return
        self._account_slow(text)

    def _account_slow(self, text: str) -> None:
        for line in text.split("\n"):
            if not line or line.startswith(" "):
                continue
            hdr = parse_kmsg_header(line)
            if hdr is None:
                self.malformed += 1
                continue
            seq = hdr[1]
            self.records_total += 1
            if self.last_seq is not None:
                if seq > self.last_seq + 1:
                    self.records_lost += seq - self.last_seq - 1
                elif seq <= self.last_seq:
                    pass  # sequence restarted (new stream) or a duplicate: nothing lost
            self.last_seq = seq
