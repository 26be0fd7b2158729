"""The event side of the enrichment step: stores the events and cursors collectors read (kernel
log, pstore, previous boot, rasdaemon, mcelog, IPMI SEL) and gives the kernel log's readings
their history: cumulative event counts, the boot heartbeat, retention, and the
:class:`~agent.model.events.EventWindow` rules judge.

Cursors (:class:`~agent.model.events.StateUpdate`) are stored only after the events of the same
run: when the database refuses writes (disk full, read-only), the events wait in a bounded
in-memory backlog (the least severe, then the oldest dropped beyond ``backlog_events``) and the
cursors where they were, so a restart reads those records again rather than losing them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import replace
from typing import Any, Callable, Sequence

from agent.model import Reading
from agent.model.events import EventWindow, KernelEvent, KernelLogStatus, StateUpdate
from agent.state.events import EventStore, merge_window, records_of
from agent.state.store import Store

log = logging.getLogger("hwagent.state.events")

HEARTBEAT_SECONDS = 60.0  # the boot's last_seen (unexpected-reboot detection) is refreshed this often
WINDOW_REBUILD_SECONDS = 300.0  # the rules' event window is rebuilt from the store this often; merged in memory between
PRUNE_SECONDS = 600.0
KERNEL_LOG = "kernel_log"

Options = Callable[[str], Any]


class _Source:
    """Per collector: events and cursors waiting for the database."""

    def __init__(self) -> None:
        self.backlog: list[KernelEvent] = []
        self.pending: dict[str, Any] = {}
        self.dropped = 0
        self.error: str | None = None


class EventHistory:
    def __init__(self, store: Store | None = None):
        self._own = store is None  # without a state directory: an in-memory history for this process
        self.events = EventStore(store if store is not None else Store.memory())
        self._lock = threading.Lock()
        self._sources: dict[str, _Source] = {}
        # the kernel log's view (cumulative since the agent started)
        self.events_total: dict[tuple[str, str], int] = {}
        self.last_event_time: dict[str, float] = {}
        self.boot_id: str | None = None
        self._window: EventWindow | None = None
        self._window_built = 0.0
        self._last_heartbeat: float | None = None
        self._stopped = False  # the kernel log collector closed: this boot's clean stop is written
        self._last_prune = 0.0

    # ---- storing ---------------------------------------------------------------------------------
    def store(self, collector: str, events: Sequence[KernelEvent], updates: Sequence[StateUpdate], now: float,
              backlog_cap: int) -> tuple[list[KernelEvent], str | None]:
        """Store the backlog and ``events``, then the state updates. -> (the events that were new,
        a problem to report or None)."""
        with self._lock:
            src = self._sources.setdefault(collector, _Source())
            src.pending.update((u.key, u.value) for u in updates)
            batch = src.backlog + list(events)
            try:
                new = self.events.record_events(batch, now) if batch else []
                for key, value in src.pending.items():
                    self.events.store.put(key, value)
            except sqlite3.Error as exc:
                return [], self._hold(collector, src, batch, str(exc), backlog_cap)
            src.pending = {}
            if src.error is not None:
                log.warning("%s: the state database accepts writes again; %d held events stored", collector,
                            len(src.backlog))
                src.error = None
            src.backlog = []
            return new, None

    @staticmethod
    def _hold(collector: str, src: _Source, batch: list[KernelEvent], error: str, cap: int) -> str:
        cap = max(0, cap)
        if len(batch) > cap:  # drop the least severe, then the oldest
            excess = len(batch) - cap
            order = sorted(range(len(batch)), key=lambda i: (batch[i].severity, i))
            drop = set(order[:excess])
            batch = [e for i, e in enumerate(batch) if i not in drop]
            src.dropped += excess
        src.backlog = batch
        if error != src.error:
            log.warning("%s: cannot store events in the state database: %s; keeping %d in memory (at most %d), "
                        "the cursors stay where they are until they are stored", collector, error, len(batch), cap)
            src.error = error
        return (f"state database: {error}: {len(batch)} events held in memory, "
                f"{src.dropped} dropped (backlog full)")

    def _quietly(self, fn: Callable[[], Any]) -> None:
        try:
            fn()
        except sqlite3.Error as exc:
            log.debug("event history: state write skipped: %s", exc)

    # ---- the kernel log's readings ---------------------------------------------------------------------
    def kernel_log(self, readings: Sequence[Reading], now: float, opt: Options) -> tuple[list[Reading], str | None]:
        """Store the run's events and cursors; return the readings with only the new events, the
        status carrying the cumulative counts and the backlog, and the event window."""
        events = [r for r in readings if isinstance(r, KernelEvent)]
        updates = [r for r in readings if isinstance(r, StateUpdate)]
        status = next((r for r in readings if isinstance(r, KernelLogStatus)), None)
        new, problem = self.store(KERNEL_LOG, events, updates, now, int(opt("backlog_events")))
        for e in new:
            key = (e.cls, e.severity.label)
            self.events_total[key] = self.events_total.get(key, 0) + records_of(e)
            t = e.time if e.time is not None else now
            if t > self.last_event_time.get(e.cls, 0.0):
                self.last_event_time[e.cls] = t
        rest = [r for r in readings if not isinstance(r, (KernelEvent, StateUpdate, KernelLogStatus))]
        if status is None:
            return [*new, *rest], problem
        self.boot_id = boot_id = status.boot_id
        if self._stopped:
            pass  # the clean-stop marker is written: a run that ends after it must not clear it
        elif self._last_heartbeat is None or now - self._last_heartbeat >= HEARTBEAT_SECONDS or now < self._last_heartbeat:
            self._last_heartbeat = now
            self._quietly(lambda: self.events.boot_alive(boot_id, now))
        if now - self._last_prune >= PRUNE_SECONDS:
            self._last_prune = now
            self._quietly(lambda: self.events.prune(now, float(opt("retention_days")) * 86400, int(opt("max_events"))))
        src = self._sources[KERNEL_LOG]
        status = replace(status, events_total=dict(self.events_total), last_event_time=dict(self.last_event_time),
                         backlog=len(src.backlog), backlog_dropped_total=src.dropped)
        return [*new, *rest, status, self._event_window(now, new, float(opt("window_seconds")), status.boot_id)], problem

    def _event_window(self, now: float, new: list[KernelEvent], window_seconds: float, boot_id: str) -> EventWindow:
        """The rules' view of the history: rebuilt from the store every few minutes (or when the
        clock went back), in between the events just stored are merged in memory."""
        if self._window is None or now - self._window_built >= WINDOW_REBUILD_SECONDS or now < self._window_built:
            try:
                self._window = self.events.window(now, window_seconds, boot_id)
                self._window_built = now
            except sqlite3.Error as exc:
                log.warning("kernel log: reading the event history: %s", exc)
                if self._window is None:
                    raise
        elif new:
            self._window = merge_window(self._window, new, now)
        return self._window

    def finish(self, collector: str, readings: Sequence[Reading], now: float, opt: Options) -> None:
        """A collector stopped cleanly: store what it drained at the end and, for the kernel log,
        mark this boot as cleanly stopped (no unexpected-reboot event at the next start)."""
        events = [r for r in readings if isinstance(r, KernelEvent)]
        updates = [r for r in readings if isinstance(r, StateUpdate)]
        try:
            self.store(collector, events, updates, now, int(opt("backlog_events")))
        except Exception as exc:  # noqa: BLE001 - stopping must not fail
            log.warning("%s: closing: storing what it drained: %s", collector, exc)
        if collector != KERNEL_LOG or not self.boot_id:
            return
        self._stopped = True
        try:  # even when the drained events could not be stored: the stop itself was clean
            self.events.boot_clean_stop(self.boot_id, now)
        except Exception as exc:  # noqa: BLE001 - stopping must not fail
            log.warning("%s: closing: the clean-stop marker: %s", collector, exc)

    def close(self) -> None:
        if self._own:
            self.events.store.close()
