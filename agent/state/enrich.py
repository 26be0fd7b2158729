"""The enrichment step: between a collector's run and the rules, one place stores what was read
and attaches history to the readings.

Collectors are read-only (no SQL, no state writes); the daemon hands every successful run's
readings to :meth:`Enricher.enrich` (in the daemon's loop and in one-shot commands alike, which
run the same :class:`~agent.daemon.Daemon` cycle), which today

- stores each fresh SMART device's lifetime counters, slot and identity and returns it with its
  baseline, change-point history, slot record and last good read attached
  (:class:`agent.state.disks.DiskState`);
- stores a host baseline capture as a new version when it changed and marks the newest version
  known-good when it qualifies (:class:`agent.state.baselines.BaselineHistory`);
- stores the events and cursors (:class:`~agent.model.events.StateUpdate`) a collector read - the
  kernel log's, the IPMI SEL's - and gives the kernel log's status its cumulative counts and the
  run its :class:`~agent.model.events.EventWindow` (:class:`agent.state.event_history.EventHistory`);
- gives the system collector's run the :class:`~agent.model.BoardEpoch` (since when the running
  mainboard carries the host; :mod:`agent.state.board_epoch`);

and after a SMART sweep runs the self-test job (:mod:`agent.jobs.selftests`) on the enriched
devices, whose plans join that sweep's readings. A failure here costs the history, never the
readings: they are returned as read, and the error is logged.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence, overload

from dataclasses import replace

from agent.model import CollectorStatus, HostInventory, Reading
from agent.model.disk import SmartDevice
from agent.model.events import KernelEvent, StateUpdate
from agent.state import board_epoch
from agent.state.baselines import BaselineHistory
from agent.state.disks import DiskState
from agent.state.event_history import KERNEL_LOG, EventHistory
from agent.state.store import Store

DEFAULT_BACKLOG = 10000  # events held in memory per collector while the database refuses writes

log = logging.getLogger("hwagent.state.enrich")


class Enricher:
    def __init__(self, store: Store | None = None):
        self.store = store
        self._lock = threading.Lock()
        self._disks: DiskState | None = None
        self._events: EventHistory | None = None
        self._baselines: BaselineHistory | None = None
        self.jobs: dict[str, Any] = {}  # collector name -> job run on its enriched readings
        self.collectors: dict[str, Any] = {}  # name -> collector (its options: retention, window, backlog)

    @property
    def disks(self) -> DiskState:
        """The disk state, opened (and migrated) on first use."""
        with self._lock:
            if self._disks is None:
                self._disks = DiskState(self.store)
            return self._disks

    @property
    def events(self) -> EventHistory:
        """The event history, opened (and migrated) on first use."""
        with self._lock:
            if self._events is None:
                self._events = EventHistory(self.store)
            return self._events

    @property
    def baselines(self) -> BaselineHistory:
        """The host baseline versions (component ``baseline``), opened on first use (with a store)."""
        with self._lock:
            if self._baselines is None:
                if self.store is None:
                    raise RuntimeError("the baseline history needs a state store")
                self._baselines = BaselineHistory(self.store)
            return self._baselines

    def _option(self, collector: str) -> Any:
        col = self.collectors.get(collector)

        def opt(key: str) -> Any:
            if col is not None and key in getattr(col, "options", {}):
                return col.option(key)
            return DEFAULT_BACKLOG if key == "backlog_events" else None
        return opt

    @overload
    def enrich(self, collector: str, readings: Sequence[Reading], now: float,
               status: CollectorStatus) -> tuple[tuple[Reading, ...], CollectorStatus]: ...
    @overload
    def enrich(self, collector: str, readings: Sequence[Reading], now: float,
               status: None = None) -> tuple[tuple[Reading, ...], None]: ...

    def enrich(self, collector: str, readings: Sequence[Reading], now: float,
               status: CollectorStatus | None = None) -> tuple[tuple[Reading, ...], CollectorStatus | None]:
        """-> (the readings with history attached, ``status`` with any problem of storing added)."""
        try:
            out, problem = self._store_history(collector, self._attach(tuple(readings), now), now)
        except Exception as exc:  # noqa: BLE001 - history is lost for this run, the readings are not
            log.exception("enrichment of %s readings failed; served without history", collector)
            problem = f"state: {type(exc).__name__}: {exc}"
            out = tuple(r for r in readings if not isinstance(r, StateUpdate))
        out += self._job_readings(collector, out, now)
        if problem and status is not None:
            status = replace(status, skipped_entries=status.skipped_entries + 1, messages=(*status.messages, problem))
        return out, status

    def _attach(self, out: tuple[Reading, ...], now: float) -> tuple[Reading, ...]:
        """Fresh SMART devices with their stored counters and baselines; an inventory with the board epoch."""
        if any(isinstance(r, SmartDevice) and r.fresh for r in out):
            disks = self.disks
            out = tuple(disks.enrich(r, now) if isinstance(r, SmartDevice) and r.fresh else r for r in out)
        if self.store is not None and any(isinstance(r, HostInventory) for r in out):
            ep = board_epoch.epoch(self.store, out, now)
            out += (ep,) if ep is not None else ()
        return out

    def _store_history(self, collector: str, out: tuple[Reading, ...],
                       now: float) -> tuple[tuple[Reading, ...], str | None]:
        """Events, cursors and baseline versions into the history: -> (the readings, a problem or None)."""
        problem = None
        if collector == KERNEL_LOG:
            got, problem = self.events.kernel_log(out, now, self._option(collector))
            out = tuple(got)
        elif collector == "baseline" and self.store is not None:
            out = tuple(self.baselines.enrich(list(out), now, float(self._option(collector)("known_good_after_days") or 0)))
        elif any(isinstance(r, (KernelEvent, StateUpdate)) for r in out):
            events = [r for r in out if isinstance(r, KernelEvent)]
            updates = [r for r in out if isinstance(r, StateUpdate)]
            _new, problem = self.events.store(collector, events, updates, now,
                                              int(self._option(collector)("backlog_events")))
            out = tuple(r for r in out if not isinstance(r, (KernelEvent, StateUpdate)))
        return out, problem

    def _job_readings(self, collector: str, out: tuple[Reading, ...], now: float) -> tuple[Reading, ...]:
        """What the job run after this collector adds (the self-test plans after a SMART sweep)."""
        job = self.jobs.get(collector)
        if job is None:
            return ()
        try:
            return tuple(job.run(out, now))
        except Exception:  # noqa: BLE001 - a failed job must not cost the sweep
            log.exception("job %s failed", getattr(job, "name", collector))
            return ()

    def finish(self, collector: str, readings: Sequence[Reading], now: float) -> None:
        """A collector stopped cleanly: store what its ``close()`` drained (kernel log: and mark
        this boot as cleanly stopped)."""
        if collector == KERNEL_LOG or readings:
            self.events.finish(collector, readings, now, self._option(collector))

    def close(self) -> None:
        if self._events is not None:
            self._events.close()
