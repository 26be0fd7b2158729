"""Collector scheduling for the daemon: one slot per enabled collector, each run in its own
short-lived thread, timeouts, run requests from a collector between its runs, and the first cycle.

A collector still running when it is next due is not started twice; one that overruns its timeout
is marked ``error="timeout"`` and its late result dropped (the command runner kills external
commands at their own timeout, so threads do not pile up). Scheduling runs on the monotonic
clock; the wall clock only stamps readings and snapshots. :class:`CollectorSlots` is mixed into
:class:`agent.daemon.Daemon`, which holds the state it declares below.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from agent.collectors import BaseCollector, run_collector
from agent.model import CollectorStatus, Reading, Snapshot

if TYPE_CHECKING:
    from agent.state.enrich import Enricher

log = logging.getLogger("hwagent.daemon")

READY_MAX_WAIT_SECONDS = 20.0  # readiness after the collectors that finish by then (see first_cycle)
REQUEST_DEBOUNCE_SECONDS = 0.2
REQUEST_MIN_GAP_SECONDS = 1.0


def keep_if_equal(old: Any, new: Any) -> Any:
    """``old`` itself when equal to ``new`` (identity tells the renderer nothing changed)."""
    if old is not None and type(old) is type(new):
        try:
            if old == new:
                return old
        except Exception:  # noqa: BLE001 - an uncomparable value is a changed value
            return new
    return new


@dataclass
class _Slot:
    collector: BaseCollector
    next_due: float = 0.0
    thread: threading.Thread | None = None
    token: int = 0
    started: float = 0.0
    timed_out: bool = False
    last_success: float | None = None
    runs: int = 0
    completed: int = 0  # token of the last run whose collect() returned (set under the daemon lock)
    status_mono: float = 0.0  # monotonic time its current status was recorded (health: staleness)


class CollectorSlots:
    """Starting, timing out and waiting for the collectors (a mixin of :class:`agent.daemon.Daemon`)."""

    if TYPE_CHECKING:  # the daemon's state this part reads and writes (declared in agent.daemon.Daemon)
        clock: Callable[[], float]
        enricher: Enricher
        _slots: dict[str, _Slot]
        _readings: dict[str, tuple[Reading, ...]]
        _statuses: dict[str, CollectorStatus]
        _lock: threading.Lock
        _wake: threading.Event
        _readings_changed: bool

        def _rebuild(self) -> Snapshot: ...

    # ---- one cycle (agent check, tests, the first daemon cycle) ---------------------------------
    def run_once(self) -> Snapshot:
        """Run every enabled collector once (concurrently, with timeouts) and evaluate rules."""
        now = self.clock()
        for slot in self._slots.values():
            if slot.thread is None or not slot.thread.is_alive():
                self._start(slot, now)
        for slot in self._slots.values():
            if slot.thread is not None:
                slot.thread.join(max(0.0, slot.started + slot.collector.timeout - time.monotonic()))
        self._check_timeouts()
        return self._rebuild()

    def _start(self, slot: _Slot, now: float) -> None:
        with self._lock:  # _request_run (another thread) reads started and writes next_due
            slot.token += 1
            token = slot.token
            slot.started = time.monotonic()
            slot.timed_out = False
            # scheduling runs on the monotonic clock: a wall-clock jump (NTP step, RTC reset after a
            # board swap) neither stalls collectors nor makes them run in a burst
            slot.next_due = time.monotonic() + slot.collector.interval

        def work() -> None:
            readings, status = run_collector(slot.collector, slot.last_success, self.clock)
            if status.ok:  # store what was read, attach baselines/history (never raises)
                readings, status = self.enricher.enrich(slot.collector.name, readings, self.clock(), status)
            with self._lock:
                if token != slot.token or slot.timed_out:
                    log.warning("collector %s finished after its timeout; result dropped", slot.collector.name)
                    return
                # completion is marked under the lock: _check_timeouts re-checks it under the same
                # lock, so a run that made its deadline is never overwritten with "timeout"
                slot.completed = token
                slot.status_mono = time.monotonic()
                slot.runs += 1
                name = slot.collector.name
                before = self._readings.get(name)
                if status.ok:
                    slot.last_success = status.last_success
                    self._readings[name] = keep_if_equal(before, tuple(readings))
                elif status.no_data:
                    self._readings[name] = keep_if_equal(before, ())
                # a failed run keeps no readings: stale data is never served as fresh
                else:
                    self._readings.pop(name, None)
                if self._readings.get(name) is not before:
                    self._readings_changed = True
                self._statuses[slot.collector.name] = status
            if not status.ok:
                log.warning("collector %s failed: %s", slot.collector.name, status.error)
            for m in status.messages:
                log.info("collector %s: %s", slot.collector.name, m)
            self._wake.set()

        slot.thread = threading.Thread(target=work, name=f"collector-{slot.collector.name}", daemon=True)
        slot.thread.start()

    def _request_run(self, name: str) -> None:
        """A collector saw new data between its runs (the kernel-log tail): run it after a short
        debounce (the rest of a multi-line report arrives within it), at most once per
        REQUEST_MIN_GAP seconds so a log storm cannot turn the interval into a busy loop."""
        slot = self._slots.get(name)
        if slot is None:
            return
        with self._lock:  # called from the collector's own thread; the loop reads next_due
            now = time.monotonic()
            due = max(now + REQUEST_DEBOUNCE_SECONDS, slot.started + REQUEST_MIN_GAP_SECONDS)
            if due >= slot.next_due:
                return
            slot.next_due = due
        self._wake.set()

    def _check_timeouts(self) -> bool:
        changed = False
        for name, slot in self._slots.items():
            with self._lock:
                now_m = time.monotonic()
                if (slot.thread is None or slot.timed_out or slot.completed == slot.token
                        or now_m - slot.started < slot.collector.timeout or not slot.thread.is_alive()):
                    continue
                slot.timed_out = True
                if self._readings.pop(name, None) is not None:
                    self._readings_changed = True
                slot.status_mono = now_m
                self._statuses[name] = CollectorStatus(
                    name, ok=False, duration_seconds=now_m - slot.started, last_success=slot.last_success,
                    last_run=self.clock(), error=f"timeout after {slot.collector.timeout:g}s")
            log.error("collector %s timed out after %gs", name, slot.collector.timeout)
            changed = True
        return changed

    def first_cycle(self, stop: threading.Event, max_wait: float = READY_MAX_WAIT_SECONDS) -> Snapshot:
        """Start every collector and wait until all are done, ``max_wait`` has passed or ``stop``
        is set; then build the first snapshot. Slow collectors (a SMART sweep over hung disks, a
        hung BMC) keep running under their own timeouts and report in a later snapshot, so
        readiness never waits for the slowest one (the unit's TimeoutStartSec is 180 s)."""
        now = self.clock()
        for slot in self._slots.values():
            if slot.thread is None or not slot.thread.is_alive():
                self._start(slot, now)
        deadline = time.monotonic() + max_wait
        for slot in self._slots.values():
            while slot.thread is not None and slot.thread.is_alive() and not stop.is_set():
                left = min(deadline, slot.started + slot.collector.timeout) - time.monotonic()
                if left <= 0:
                    break
                slot.thread.join(min(left, 0.2))
        self._check_timeouts()
        self._wake.clear()
        return self._rebuild()
