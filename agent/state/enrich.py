"""The enrichment step: between a collector's run and the rules, one place stores what was read
and attaches history to the readings.

Collectors are read-only (no SQL, no state writes); the daemon hands every successful run's
readings to :meth:`Enricher.enrich` (in the daemon's loop and in one-shot commands alike, which
run the same :class:`~agent.daemon.Daemon` cycle), which today

- stores each fresh SMART device's lifetime counters, slot and identity and returns it with its
  baseline, change-point history, slot record and last good read attached
  (:class:`agent.state.disks.DiskState`);

and after a SMART sweep runs the self-test job (:mod:`agent.jobs.selftests`) on the enriched
devices, whose plans join that sweep's readings. A failure here costs the history, never the
readings: they are returned as read, and the error is logged.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Sequence

from agent.model import Reading
from agent.model.disk import SmartDevice
from agent.state.disks import DiskState

log = logging.getLogger("hwagent.state.enrich")


class Enricher:
    def __init__(self, store: Any = None):
        self.store = store
        self._lock = threading.Lock()
        self._disks: DiskState | None = None
        self.jobs: dict[str, Any] = {}  # collector name -> job run on its enriched readings

    @property
    def disks(self) -> DiskState:
        """The disk state, opened (and migrated) on first use."""
        with self._lock:
            if self._disks is None:
                self._disks = DiskState(self.store)
            return self._disks

    def enrich(self, collector: str, readings: Sequence[Reading], now: float) -> tuple[Reading, ...]:
        out = tuple(readings)
        try:
            if any(isinstance(r, SmartDevice) and r.fresh for r in out):
                disks = self.disks
                out = tuple(disks.enrich(r, now) if isinstance(r, SmartDevice) and r.fresh else r for r in out)
        except Exception:  # noqa: BLE001 - history is lost for this run, the readings are not
            log.exception("enrichment of %s readings failed; served without history", collector)
            return tuple(readings)
        job = self.jobs.get(collector)
        if job is not None:
            try:
                out += tuple(job.run(out, now))
            except Exception:  # noqa: BLE001 - a failed job must not cost the sweep
                log.exception("job %s failed", getattr(job, "name", collector))
        return out
