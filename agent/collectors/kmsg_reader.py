"""Non-blocking reader of /dev/kmsg (one record per read) or of a plain file/FIFO of kmsg records
(fixtures, replays): complete lines only, EPIPE overruns and over-long records counted."""

from __future__ import annotations

import errno
import io
import os
import select
import stat
import time

from agent.collectors.patterns.record import parse_kmsg_header

__all__ = ["KmsgReader", "RecordCounts", "READ_SIZE", "KMSG_RECORD_BUF", "MAX_PENDING_LINE"]

READ_SIZE = 1 << 20  # plain files: one big read; /dev/kmsg returns one record per read anyway
KMSG_RECORD_BUF = 16384
DEVICE_CHUNK = 1 << 18  # /dev/kmsg's records are read into this buffer, then copied out at once
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
        self._dev: io.FileIO | None = None  # the device's reader and its buffer, made on the first read
        self._buf = memoryview(b"")
        self.records = 0  # /dev/kmsg: the records (reads) of its last read_available (set by _read_device)

    def read_available(self, limit: int = 8 * READ_SIZE) -> str:
        """What is readable now, as complete lines (text ends with a newline): from /dev/kmsg records up to
        about ``limit`` bytes (the caller reads again for more), from a file everything up to 8 MiB."""
        parts = self._read_device(limit) if self.is_device else self._read_file()
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

    def _read_device(self, limit: int) -> list[bytes]:
        """/dev/kmsg: one record per read(2), each read into one reused buffer (a storm is ~10,000 reads a
        second; a fresh 16 KiB object per read cost about as much as the read), copied out in large pieces."""
        if self._dev is None:
            self._dev = io.FileIO(self.fd, "rb", closefd=False)
            self._buf = memoryview(bytearray(DEVICE_CHUNK))
        readinto, buf = self._dev.readinto, self._buf
        parts: list[bytes] = []
        size = pos = records = 0
        room = DEVICE_CHUNK - KMSG_RECORD_BUF - 1
        while True:
            if pos > room:
                parts.append(bytes(buf[:pos]))
                size, pos = size + pos, 0
            try:
                n = readinto(buf[pos:pos + KMSG_RECORD_BUF])
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # records overwritten before we read them
                    self.overruns += 1
                    continue
                if exc.errno == errno.EINVAL:  # record larger than our buffer
                    self.oversized += 1
                    break
                raise
            if not n:  # None: nothing waiting (EAGAIN)
                break
            pos += n
            records += 1
            if buf[pos - 1] != 10:  # a record always ends with a newline; a truncated one gets it
                buf[pos] = 10
                pos += 1
            if size + pos >= limit:
                break
        if pos:
            parts.append(bytes(buf[:pos]))
        self.records = records
        return parts

    def _read_file(self) -> list[bytes]:
        parts: list[bytes] = []
        size = 0
        while True:
            try:
                data = os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # a FIFO replaying a device: as above
                    self.overruns += 1
                    continue
                raise
            if not data:
                break
            parts.append(data)
            size += len(data)
            if size > 8 * READ_SIZE:
                break
        return parts

    def wait(self, timeout: float) -> bool:
        """Wait until records may be read or ``timeout`` passed: -> whether the device said readable."""
        if self.is_device:
            try:
                return bool(select.select([self.fd], [], [], timeout)[0])
            except (OSError, ValueError):
                time.sleep(timeout)
        else:
            time.sleep(timeout)
        return False

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

    def _account(self, text: str, records: int | None = None) -> None:
        """Count records and sequence gaps of a chunk (exact; cheap when the chunk is clean).
        ``records``: how many the chunk holds when the reader knows (one per read of /dev/kmsg);
        otherwise its lines are counted (three passes over the text, as long as the classifying)."""
        if records is not None:
            n = records
        else:
            n = text.count("\n") - text.count("\n ") - (1 if text.startswith(" ") else 0) - text.count("\n\n")
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
