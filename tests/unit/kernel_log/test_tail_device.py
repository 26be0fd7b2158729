"""The tail on a reader with /dev/kmsg's semantics: one record per read, a wake-up per record.

The stand-in is a SOCK_SEQPACKET socket (tests/support/kmsg_device.py): it keeps message boundaries
as devkmsg_read does (kernel/printk/printk.c: one record per read call)."""

from __future__ import annotations

import errno
import io
import os
import threading
import time

import pytest

import agent.collectors.kernel_log as kl
from agent.collectors.kmsg_reader import KmsgReader
from agent.state.store import Store
from tests.support.kmsg_device import KmsgSocket, patch_reader
from tests.unit.kernel_log.test_collector import Clock, make_collector, make_root
from tests.unit.kernel_log.test_storm_scrape import T0, storm_records


def test_the_device_is_read_one_record_per_read_in_order_and_whole(device):
    sock, reader = device
    assert reader.is_device
    records = [f"3,{i},{1000 + i},-;nvme nvme0: I/O {i} QID 4 timeout, aborting\n".encode() for i in range(1, 5001)]
    records[-1] = records[-1].rstrip(b"\n")  # a record that came without its newline gets one
    sock.send(records)
    text = ""
    for _ in range(100):
        text += reader.read_available()
        if text.count("\n") >= 5000:
            break
    lines = text.splitlines()
    assert len(lines) == 5000 and text.endswith("\n")
    assert [int(x.split(",")[1]) for x in lines] == list(range(1, 5001))
    assert reader.read_available() == ""  # nothing left: EAGAIN, not an error


def _tailing(tmp_path, monkeypatch, poll_seconds: float):
    """A collector tailing the device stand-in with its polls counted: -> (collector, writer's socket, [polls])."""
    patch_reader(monkeypatch.setattr)
    polls = [0]
    real_poll = kl.KernelLogCollector.poll

    def counting_poll(self):
        polls[0] += 1
        return real_poll(self)

    monkeypatch.setattr(kl.KernelLogCollector, "poll", counting_poll)
    root = make_root(tmp_path, kmsg="", uptime=590.0)
    (root / "dev" / "kmsg").unlink()
    sock = KmsgSocket(root / "dev" / "kmsg")
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1), follow=True, poll_seconds=poll_seconds)
    col.collect()  # starts the tail thread, which connects
    sock.accept(5)
    return col, sock, polls


def _tail_polls(tmp_path, monkeypatch, batch: float) -> tuple[int, int, int]:
    """A storm sent a block at a time, a block every ~1 ms for 0.6 s: -> (polls, records sent, records read)."""
    monkeypatch.setattr(kl, "TAIL_BATCH_SECONDS", batch)
    col, sock, polls = _tailing(tmp_path, monkeypatch, 0.5)
    lines = storm_records(3000).encode().splitlines(keepends=True)
    try:
        polls[0] = 0
        end = time.monotonic() + 0.6
        sent = 0
        while time.monotonic() < end and sent < len(lines):
            sock.send(lines[sent:sent + 5])
            sent += 5
            time.sleep(0.001)
        deadline = time.monotonic() + 10
        while col.records_total < sent and time.monotonic() < deadline:
            time.sleep(0.02)
        return polls[0], sent, col.records_total
    finally:
        col.close()
        sock.close()


def test_in_a_storm_the_tail_reads_in_batches_not_per_record(tmp_path, monkeypatch):
    # /dev/kmsg wakes the reader for each record; polled as fast as records came, the tail paid a poll's fixed
    # cost every few lines (storm bench, device stand-in: 19-27 % of a core before, docs/kernel-log-storm.md)
    assert 0.01 <= kl.TAIL_BATCH_SECONDS <= 0.05  # ring buffer: ~0.16 s of a 10k lines/s storm by default
    polls, sent, read = _tail_polls(tmp_path, monkeypatch, kl.TAIL_BATCH_SECONDS)
    assert read == sent > 1000  # nothing lost by waiting
    bound = 0.6 / kl.TAIL_BATCH_SECONDS + 10
    assert polls <= bound, (polls, bound)


def test_without_the_batch_wait_the_tail_polls_per_burst(tmp_path, monkeypatch):
    # the same storm with the wait taken out: what the test above guards against
    polls, sent, read = _tail_polls(tmp_path, monkeypatch, 0.0)
    assert read == sent
    assert polls > 0.6 / 0.025 + 10, polls


def test_a_thread_stop_is_not_held_up_by_the_batch_wait(tmp_path, monkeypatch):
    monkeypatch.setattr(kl, "TAIL_BATCH_SECONDS", 30.0)
    patch_reader(monkeypatch.setattr)
    root = make_root(tmp_path, kmsg="", uptime=590.0)
    (root / "dev" / "kmsg").unlink()
    sock = KmsgSocket(root / "dev" / "kmsg")
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1), follow=True)
    col.collect()
    sock.accept(5)
    sock.send(storm_records(10).encode().splitlines(keepends=True))
    deadline = time.monotonic() + 5
    while col.records_total < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    closer = threading.Thread(target=col.close)
    closer.start()
    closer.join(10)
    sock.close()
    assert not closer.is_alive() and time.monotonic() - t0 < 5


class _Flaky:
    """The device's read, failing first with the given errors (EPIPE: records overwritten before they were read;
    EINVAL: a record larger than the buffer)."""

    def __init__(self, fd: int, errors: list[int]):
        self.real = io.FileIO(fd, "rb", closefd=False)
        self.errors = errors

    def readinto(self, buf):
        if self.errors:
            code = self.errors.pop(0)
            raise OSError(code, os.strerror(code))
        return self.real.readinto(buf)


@pytest.fixture
def device(tmp_path, monkeypatch):
    """(the writer's socket, a KmsgReader on it as on /dev/kmsg), closed after the test."""
    patch_reader(monkeypatch.setattr)
    (tmp_path / "dev").mkdir()
    sock = KmsgSocket(tmp_path / "dev" / "kmsg")
    reader = KmsgReader(str(tmp_path / "dev" / "kmsg"))
    sock.accept(5)
    yield sock, reader
    reader.close()
    sock.close()


def test_a_device_overrun_is_counted_and_reading_goes_on(device):
    sock, reader = device
    reader.read_available()  # makes the device's reader
    reader._dev = _Flaky(reader.fd, [errno.EPIPE])  # type: ignore[assignment]
    sock.send([b"6,7,10,-;one\n", b"6,8,20,-;two\n"])
    assert reader.read_available() == "6,7,10,-;one\n6,8,20,-;two\n" and reader.overruns == 1


def test_a_device_record_larger_than_the_buffer_is_counted_and_skipped(device):
    sock, reader = device
    reader.read_available()
    reader._dev = _Flaky(reader.fd, [errno.EINVAL])  # type: ignore[assignment]
    sock.send([b"6,7,10,-;one\n"])
    assert reader.read_available() == "" and reader.oversized == 1
    assert reader.read_available() == "6,7,10,-;one\n"  # the next read goes on


def test_a_poll_of_many_device_records_is_copied_out_in_pieces_and_whole(device):
    # more records than one buffer holds (agent.collectors.kmsg_reader.DEVICE_CHUNK)
    from agent.collectors import kmsg_reader  # noqa: PLC0415

    sock, reader = device
    rec = "3,{},{},-;" + "x" * 900 + "\n"
    n = 3 * kmsg_reader.DEVICE_CHUNK // 900
    sent = [rec.format(i, i).encode() for i in range(n)]
    text = ""
    for i in range(0, n, 500):
        sock.send(sent[i:i + 500])
        text += reader.read_available(1 << 30)
    assert text.encode() == b"".join(sent)


def _read_from(tmp_path, monkeypatch, name: str, text: str):
    """A collector (no tail thread) on the device stand-in ("device": nothing sent yet) or on a file
    holding ``text`` ("file"): -> (collector, the writer's socket or None)."""
    root = make_root(tmp_path / name, kmsg=text if name == "file" else "", uptime=600.0)
    sock = None
    if name == "device":
        patch_reader(monkeypatch.setattr)
        (root / "dev" / "kmsg").unlink()
        sock = KmsgSocket(root / "dev" / "kmsg")
    return make_collector(root, Store(tmp_path / f"{name}.db"), clock=Clock(T0 + 1)), sock


def _connect_and_send(col, sock, records: list[bytes]) -> None:
    if sock is not None:
        col.collect()  # connects; nothing sent yet
        sock.accept(5)
        sock.send(records)


def _close(col, sock) -> None:
    col.close()
    if sock is not None:
        sock.close()


def test_the_device_is_read_and_classified_a_slice_at_a_time_with_requests_first(tmp_path, monkeypatch):
    # a storm's batch is ~500 reads: read whole before classifying, they held up a scrape's GIL hand-offs
    # (storm bench p99 storm/idle 2.3-2.5x); a slice at a time, a request in flight goes first between slices
    from tests.unit.kernel_log.test_storm_scrape import Busy, facts  # noqa: PLC0415

    text = storm_records(4000)
    records = text.encode().splitlines(keepends=True)
    got = {}
    reads: list[int] = []
    real_read = KmsgReader.read_available

    def logged_read(self, *a):
        out = real_read(self, *a)
        if out:
            reads.append(len(out))
        return out

    monkeypatch.setattr(KmsgReader, "read_available", logged_read)
    for name in ("device", "file"):
        col, sock = _read_from(tmp_path, monkeypatch, name, text)
        busy = Busy()
        col.foreground = busy
        _connect_and_send(col, sock, records)
        reads.clear()
        got[name] = (facts(col.collect()), busy.pauses, list(reads))
        _close(col, sock)
    (device, pauses, device_reads), (file, _, file_reads) = got["device"], got["file"]
    assert len(file_reads) == 1  # a file: read at once, then classified in slices
    longest = max(len(r) for r in records)
    assert len(device_reads) >= len(text) // kl.SLICE_BYTES and max(device_reads) <= kl.SLICE_BYTES + longest
    assert device[1] == file[1] == 4000
    assert device == file and len(device[0]) > 100  # the same events, whichever way read
    assert len(text) // kl.SLICE_BYTES - 1 <= pauses <= len(text) // (kl.SLICE_BYTES // 2)


def test_device_records_are_counted_by_reads_as_a_file_counts_their_lines(tmp_path, monkeypatch):
    """From the device the records are counted as they are read (one per read), not by passes over
    the text: a record's `` KEY=value`` dictionary lines are no records, a sequence gap is lost
    records, a record without a header is malformed; the same counts as the same records in a file."""
    text = ("6,10,1000,-;pcieport 0000:00:1c.0: AER: Corrected error received: 0000:03:00.0\n"
            " SUBSYSTEM=pci\n DEVICE=+pci:0000:03:00.0\n"
            "6,11,1001,-;ordinary line\n"
            "6,15,1002,-;another\n SUBSYSTEM=block\n"  # 12-14 overwritten before they were read
            "4,16,1003,-;nvme nvme0: I/O 5 QID 4 timeout, aborting\n")
    records = [b"6,10,1000,-;pcieport 0000:00:1c.0: AER: Corrected error received: 0000:03:00.0\n"
               b" SUBSYSTEM=pci\n DEVICE=+pci:0000:03:00.0\n", b"6,11,1001,-;ordinary line\n",
               b"6,15,1002,-;another\n SUBSYSTEM=block\n", b"4,16,1003,-;nvme nvme0: I/O 5 QID 4 timeout, aborting\n"]
    assert b"".join(records).decode() == text
    counts = {}
    for name in ("device", "file"):
        col, sock = _read_from(tmp_path, monkeypatch, name, text)
        _connect_and_send(col, sock, records)
        col.collect()
        counts[name] = (col.records_total, col.records_lost, col.malformed)
        _close(col, sock)
    assert counts["device"] == counts["file"] == (4, 3, 0)


def test_a_device_that_says_readable_with_nothing_to_read_does_not_spin_the_tail(tmp_path, monkeypatch):
    # the stand-in's writer gone: select reports the socket readable and every read finds nothing (EOF);
    # the tail polled as fast as it could (~11,000 polls a second in the storm bench's teardown, ~300,000 here)
    col, sock, polls = _tailing(tmp_path, monkeypatch, 0.1)
    sock.send(storm_records(10).encode().splitlines(keepends=True))
    deadline = time.monotonic() + 5
    while col.records_total < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    sock.close()
    time.sleep(0.2)
    polls[0] = 0
    time.sleep(1.0)
    n = polls[0]
    col.close()
    assert col.records_total == 10
    assert n <= 1.0 / 0.1 + 5, n
