"""kernel_log: /dev/kmsg (or the journal) -> typed hardware events, kept in the event history.

* **/dev/kmsg** (``{devfs}/dev/kmsg``; a plain file or FIFO in fixtures) is tailed in a background
  thread: one record per ``read()`` on the real device, ``prefix,seq,usec,flags;text`` plus
  `` KEY=value`` lines. A sequence gap or ``EPIPE`` (the ring buffer overran us) counts the
  missing records in ``records_lost_total``; nothing stops the collector.
* On start the ring buffer is read from its oldest record; records up to the sequence number
  stored for this boot id are skipped, so a restart does not count anything twice.
* Without a readable /dev/kmsg, ``journalctl -k -o json`` is polled with the stored cursor
  (``--after-cursor``) at every run (through the command runner, with a timeout).
* Once per boot the previous boot is examined: ``{sysfs}/fs/pstore/`` files, the records
  systemd-pstore moved to ``{root}/var/lib/systemd/pstore/``, and
  ``journalctl -k -b -1`` for machine-check panics, and the boots table for a missing clean-stop
  marker (unexpected reboot). ``close()`` (called by the daemon on stop) writes that marker.

``collect()`` stores the events classified since the last call (``agent.state.events``), returns them
with the cumulative counters (:class:`KernelLogStatus`) and an :class:`EventWindow` of the history
for the rules.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from agent.collectors.base import BaseCollector, NoData
from agent.collectors.kernel_keys import (CURSOR_KEY, JOURNAL_CURSOR_KEY, MCELOG_CURSOR_KEY, PREV_CHECKED_KEY,
                                          PSTORE_SEEN_KEY, RAS_CURSOR_KEY)
from agent.collectors.kernel_sources import SourcesMixin
from agent.collectors.kmsg_reader import KmsgReader, RecordCounts
from agent.collectors.mcelog import DEFAULT_LOG as DEFAULT_MCELOG
from agent.collectors.patterns import Classifier, iter_kmsg_records
from agent.collectors.rasdaemon import DEFAULT_DB
from agent.collectors.storm import Coalescer
from agent.foreground import FOREGROUND
from agent.host import ReadError
from agent.model import Reading
from agent.model.events import KernelEvent, KernelLogStatus, StateUpdate
from agent.state.events import EventReads

_KmsgReader = KmsgReader  # the tests' and benchmarks' name for it

log = logging.getLogger("hwagent.kernel_log")

PSTORE_RESCAN_SECONDS = 600.0  # look for new pstore files during the first minutes of a boot
HEARTBEAT_SECONDS = 60.0  # the boot time (uptime) is re-read this often
# While the tail thread runs, other threads wait at most this long for the GIL (CPython's default: 5 ms).
# Classifying is pure Python holding the GIL; in a storm one poll's worth of records (hundreds) is a burst of
# several ms, and a scrape needs the GIL back after each of its system calls (strace of one new-connection
# GET /metrics on the server's thread: 6 epoll_wait, 2 accept4, 2 recvfrom, 2 sendto, 1 close). At the 5 ms
# default /metrics p99 in a 10k lines/s storm was 2-4x idle (tests/bench/test_storm_bench.py). Yielding
# between slices of a burst instead (os.sched_yield, a 0.1 ms sleep) gave up the CPU too: on a loaded
# machine the tail thread then read 4,400-7,700 of 10,000 lines/s. A shorter switch interval hands the GIL
# over only when another thread waits for it; 0.25 ms left p99 at 1.4-2.3x idle, and 0.1 or 0.05 ms did
# not lower that (2.2-2.6x, with more CPU): what remains is the number of hand-offs, not their length.
TAIL_SWITCH_INTERVAL = 0.00025
# So a burst is classified in slices this large (~40 records, ~0.2 ms of work); between them the tail lets
# a /metrics request in flight, or a connection waiting to be accepted, go first (agent.foreground): p99
# storm/idle 1.15-1.28x in the same bench (1.47-2.18x without).
SLICE_BYTES = 4096
# /dev/kmsg wakes its reader for every record, and the kernel prints a storm a block (4-9 lines) at a time:
# polled as fast as records came, the tail paid a poll's fixed cost (wake-up, read loop, counting, scan
# set-up, aggregation) every few lines: 19-27 % of a core in the storm bench read one record per read as
# the device is. So after a poll that read anything the tail lets records gather this long (storm bench:
# 12-14.5 %; 16.7 % with 10 ms; the storm's /metrics p99 went from 1.1-1.4x to 1.7-2.7x idle, a few ms:
# docs/kernel-log-storm.md). The ring buffer keeps them meanwhile:
# 128 KiB of text by default (CONFIG_LOG_BUF_SHIFT=17: init/Kconfig, Debian 12's kernels), ~0.19 s of a
# 10k lines/s storm of ~70-byte messages, of which one batch is about a quarter; records overwritten
# before they are read are counted as lost (EPIPE), never silently dropped.
TAIL_BATCH_SECONDS = 0.05


class KernelLogCollector(RecordCounts, SourcesMixin, BaseCollector):
    name = "kernel_log"
    default_interval = 5.0
    default_timeout = 30.0
    description = "kernel log: MCE, EDAC, AER, I/O errors, lockups... as events"
    options = {
        "follow": (bool, True, "Tail /dev/kmsg in a background thread between runs."),
        "journal_fallback": (bool, True, "Poll `journalctl -k -o json` with a stored cursor when /dev/kmsg is not readable."),
        "previous_boot": (bool, True, "Once per boot, read pstore and `journalctl -k -b -1` for the previous boot's machine-check panics."),
        "retention_days": (float, 90.0, "Days events are kept in the event history."),
        "max_events": (int, 200000, "Rows kept in the event history at most (oldest dropped first)."),
        "window_seconds": (float, 7 * 86400.0, "History span handed to rules (longest rule window)."),
        "poll_seconds": (float, 0.5, "How often the tail thread polls a plain kmsg file (fixtures, FIFOs)."),
        "wake_on_event": (bool, True, "When the tail thread sees a hardware event, run the collector (and the rules) "
                                      "at once instead of at the next interval; the daemon spaces such runs 1 s apart."),
        "journal_timeout_seconds": (float, 10.0, "Timeout of one journalctl call."),
        "rasdaemon": (bool, True, "Read new rows of rasdaemon's event database (MCE, EDAC, AER, extlog, memory failure, "
                                  "disk and devlink events) when it exists; rasdaemon consumes machine checks the kernel "
                                  "log then no longer shows."),
        "rasdaemon_db": (str, DEFAULT_DB, "rasdaemon's database (joined to the host root)."),
        "mcelog_log": (str, DEFAULT_MCELOG, "mcelog's decoded log, read after a cursor when it exists (joined to the host "
                                            "root; empty: off)."),
        "backlog_events": (int, 10000, "Events kept in memory at most while the state database refuses writes (disk full, "
                                       "read-only); the kernel-log cursors advance only once they are stored."),
    }

    def __init__(self, host, cfg=None, store=None):
        super().__init__(host, cfg, store)
        # reads only (cursors, boots): the enrichment step stores events and cursors
        self.history = EventReads(store)
        self.boot_id = self._boot_identity()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reader: KmsgReader | None = None
        self._started = False
        self._source = "none"
        self._boot_wall: float | None = None
        self.classifier = Classifier(source="kmsg", boot_id=self.boot_id, wall=self._wall)
        self.classifier.fold = self._fold  # a storm's repeats go into their aggregates unbuilt
        # cumulative counters since agent start
        self.records_total = 0
        self.records_lost = 0
        self.malformed = 0
        self.last_seq: int | None = None
        self._skip_until: int | None = None
        self._extra: list[KernelEvent] = []  # previous-boot / reboot events waiting to be stored
        self._journal_events: list[KernelEvent] = []
        self._pending_cursors: dict[str, Any] = {}  # cursor values to keep, stored with this run's events
        self._pstore_seen: set[str] = set()
        self._final: list[Reading] = []  # what close() drained, for the enrichment step to store
        self._journal_cursor: str | None = None
        self._ras_cursor: dict | None = None
        self._mcelog_cursor: dict | None = None
        self.coalescer = Coalescer()
        self.foreground = FOREGROUND  # requests in flight go first (tests give their own)
        self._collects = 0
        self._scsi_map: dict[str, str | None] = {}
        self._posted: dict[int, tuple[KernelEvent, KernelEvent]] = {}  # id(template) -> (template, enriched)
        self._last_heartbeat = 0.0
        self._last_pstore_scan = 0.0
        self._ata_map: dict[str, str] | None = None
        self._closed = False

    def _boot_identity(self) -> str:
        """The kernel's boot id; without one, the boot time from /proc/stat (so a sequence
        cursor of an earlier boot is never applied to this one); "unknown" disables the cursor."""
        boot = self.host.boot_id()
        if boot and boot != "unknown":
            return boot
        try:
            stat_text = self.host.read_file(self.host.path("proc", "stat"), 1 << 20)
        except ReadError:
            return "unknown"
        for line in stat_text.splitlines():
            if line.startswith("btime "):
                return "btime-" + line.split()[1]
        return "unknown"

    # ---- time --------------------------------------------------------------------------------
    def _wall(self, usec: int | None) -> float | None:
        if usec is None or self._boot_wall is None:
            return None
        return self._boot_wall + usec / 1e6

    def _refresh_boot_wall(self) -> None:
        text = self.host.read_text(self.host.path("proc", "uptime"), 256)
        try:
            up = float(text.split()[0]) if text else None
        except (ValueError, IndexError):
            up = None
        if up is not None and up >= 0:
            self._boot_wall = self.host.now() - up

    # ---- start -------------------------------------------------------------------------------
    def _start(self) -> None:
        self._started = True
        self._refresh_boot_wall()
        now = self.host.now()
        self._check_reboot(now)
        cursor = self.history.get(CURSOR_KEY) or {}
        if cursor.get("boot_id") == self.boot_id and self.boot_id != "unknown" and isinstance(cursor.get("seq"), int):
            self._skip_until = cursor["seq"]
        path = str(self.host.path("dev", "kmsg"))
        try:
            self._reader = KmsgReader(path)
            self._source = "kmsg"
        except OSError as exc:
            self._reader = None
            reason = exc.strerror or str(exc)
            if self.option("journal_fallback") and self._journalctl() is not None:
                self._source = "journal"
                self.classifier.source = "journal"
                log.info("%s not readable (%s): polling journalctl -k", path, reason)
            else:
                self._source = "none"
                self._kmsg_error = f"{self.host.host_path(self.host.path('dev', 'kmsg'))}: {reason}"
        if self.option("previous_boot"):
            self._check_previous_boot(now)
        if self._reader is not None:
            with self._lock:
                self._drain()
            if self.option("follow"):
                if sys.getswitchinterval() > TAIL_SWITCH_INTERVAL:  # only ever lowered (process-wide)
                    sys.setswitchinterval(TAIL_SWITCH_INTERVAL)
                self._thread = threading.Thread(target=self._follow, name="kernel-log-tail", daemon=True)
                self._thread.start()

    def _follow(self) -> None:
        poll = max(0.05, float(self.option("poll_seconds")))
        while not self._stop.is_set():
            reader = self._reader
            if reader is None:
                return
            ready = reader.wait(poll)
            if self._stop.is_set():
                return
            seen = self.records_total + self.malformed
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 - the tail thread never dies on bad input
                log.warning("kernel log tail: %s", exc)
                self._stop.wait(poll)
            if self.records_total + self.malformed != seen:  # records came: let the next ones gather
                self._stop.wait(TAIL_BATCH_SECONDS)
            elif ready:  # readable and nothing to read (the other end closed): not a busy loop
                self._stop.wait(poll)

    def poll(self) -> bool:
        """One poll of the tail thread: read and classify what came; -> whether the rules were woken."""
        with self._lock:
            if not self._drain() and self.classifier.open():
                # nothing more came: the kernel prints a group at once, so it is complete
                self.classifier.flush()
                self._absorb()
            # a new (class, device) this minute wakes the rules; a storm's repeats do not
            news = self.coalescer.has_ready()
        if news and self.option("wake_on_event"):
            self.request_run()
            return True
        return False

    # ---- reading kmsg --------------------------------------------------------------------------
    def _drain(self) -> bool:
        """Read and classify everything available now (in chunks of a few MiB); True if anything was read."""
        reader = self._reader
        got = False
        if reader is None:
            return got
        while True:
            before_over = reader.overruns
            # /dev/kmsg is read a slice at a time, each classified before the next is read, with a request in
            # flight first (the reads of a storm's batch, ~500 system calls, would otherwise hold up a scrape too)
            text = reader.read_available(SLICE_BYTES) if reader.is_device else reader.read_available()
            if reader.overruns != before_over:
                log.info("kernel log: ring buffer overrun (EPIPE); the sequence gap is counted as lost")
            if reader.oversized:
                self.malformed += reader.oversized
                reader.oversized = 0
            if not text:
                return got
            got = True
            records = reader.records if reader.is_device else None
            if self._skip_until is not None:
                text = self._skip_seen(text)
                records = None
                if not text:
                    continue
            self._account(text, records)
            if reader.is_device:
                self.foreground.pause()
                self.classifier.scan_kmsg(text)
            else:
                self._classify(text)
            self._absorb()

    def _classify(self, text: str) -> None:
        """Classify a chunk in slices of about SLICE_BYTES; between slices a /metrics request in
        flight goes first (agent.foreground: the tail waits, holding no GIL, until it is answered)."""
        n = len(text)
        pos = 0
        pause = self.foreground.pause
        while pos < n:
            cut = text.rfind("\n", pos, pos + SLICE_BYTES) + 1 if pos + SLICE_BYTES < n else n
            if cut <= pos:  # one record longer than a slice
                cut = text.find("\n", pos + SLICE_BYTES)
                cut = n if cut < 0 else cut + 1
            self.classifier.scan_kmsg(text[pos:cut])
            pos = cut
            if pos < n:
                pause()

    def _absorb(self, extra: list[KernelEvent] = ()) -> None:  # type: ignore[assignment]
        """Move classified events into the storm aggregation (memory bounded by distinct keys)."""
        evs = self.classifier.take()
        if evs or extra:
            self.coalescer.add([self._post(e) for e in [*evs, *extra]], self.host.now())

    # ---- collect -----------------------------------------------------------------------------
    def collect(self) -> list[Reading]:
        if self._closed:
            raise NoData("collector closed")
        if not self._started:
            self._start()
        now = self.host.now()
        if self.option("previous_boot") and self._boot_wall is not None and now - self._boot_wall < PSTORE_RESCAN_SECONDS \
                and now - self._last_pstore_scan >= 10:
            self._last_pstore_scan = now
            prev = self.history.previous_boot(self.boot_id)
            self._scan_pstore(prev.boot_id if prev else "previous", now)
        if self._source == "journal":
            self._poll_journal()
        ras_events, ras_cursor = self._poll_rasdaemon(now)
        ras_events += self._poll_mcelog(now)
        if self._source == "none" and not self._extra and not ras_events and not self.history.any_events():
            raise NoData(getattr(self, "_kmsg_error", "no kernel log source"))
        with self._lock:
            if self._reader is not None:
                self._drain()
            self.classifier.flush()
            self._absorb(self._journal_events + ras_events)
            self._journal_events = []
            # a daemon holds a storm's aggregates until their minute ends; a one-shot run (`agent check`, no
            # tail thread) and the first run (the ring buffer read at start) store everything
            events = self.coalescer.take(now, flush=not self.option("follow") or self._collects == 0)
            self._collects += 1
            last_seq = self.last_seq
            held = self.coalescer.min_open_seq()
        events = self._extra + events
        self._extra = []
        if ras_cursor is not None:
            self._pending_cursors[RAS_CURSOR_KEY] = ras_cursor
        if last_seq is not None and self._source == "kmsg":
            # never past a record folded into an aggregate that is not stored yet
            seq = last_seq if held is None else min(last_seq, held - 1)
            self._pending_cursors[CURSOR_KEY] = {"boot_id": self.boot_id, "seq": seq}
        updates = [StateUpdate(k, v) for k, v in self._pending_cursors.items()]
        self._pending_cursors = {}
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._refresh_boot_wall()
            self._last_heartbeat = now
        # events_total, last_event_time and the backlog are the enrichment step's (it stores the events)
        status = KernelLogStatus(
            source=self._source, records_total=self.records_total, records_lost_total=self.records_lost,
            malformed_total=self.malformed, events_total={}, last_event_time={}, boot_id=self.boot_id,
            last_seq=last_seq, coalesced_total=self.coalescer.coalesced_total)
        return [*events, *updates, status]

    def final_readings(self) -> list[Reading]:
        """What :meth:`close` drained: the last events and the final cursor."""
        out, self._final = self._final, []
        return out

    def close(self) -> None:
        """Stop the tail thread and drain what is pending into :meth:`final_readings` (the daemon
        hands them to the enrichment step, which stores them and marks this boot cleanly stopped)."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        try:
            if self._started:
                with self._lock:
                    if self._reader is not None:
                        self._drain()
                    self.classifier.flush()
                    self._absorb()
                    pending = self._extra + self.coalescer.take(self.host.now(), flush=True)
                    self._extra = []
                if self.last_seq is not None and self._source == "kmsg":
                    self._pending_cursors[CURSOR_KEY] = {"boot_id": self.boot_id, "seq": self.last_seq}
                self._final = [*pending, *(StateUpdate(k, v) for k, v in self._pending_cursors.items())]
                self._pending_cursors = {}
        except Exception as exc:  # noqa: BLE001 - stopping must not fail
            log.warning("kernel log: closing: %s", exc)
        finally:
            self._closed = True
            if self._reader is not None:
                self._reader.close()
                self._reader = None


__all__ = ["KernelLogCollector", "iter_kmsg_records", "CURSOR_KEY", "JOURNAL_CURSOR_KEY", "MCELOG_CURSOR_KEY",
           "PREV_CHECKED_KEY", "PSTORE_SEEN_KEY", "RAS_CURSOR_KEY"]
