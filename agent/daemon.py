"""The daemon loop: schedule collectors, enforce timeouts, swap snapshots, evaluate rules.

Each enabled collector runs on its own interval in its own short-lived thread; a collector that is
still running when it is next due is not started twice, and one that overruns its timeout is
marked ``error="timeout"`` and its late result dropped (the command runner kills external
commands at their own timeout, so threads do not pile up). After every result the daemon builds a
new immutable snapshot, evaluates all rules, and records finding lifecycles and history samples
in the store. Readiness goes to systemd after the first full cycle; the loop feeds the watchdog.

The parts live along their seams: collector slots and scheduling in :mod:`agent.daemon_slots`,
the snapshot build (rules, acks, samples) in :mod:`agent.daemon_rebuild`, the agent's findings
about itself in :mod:`agent.self_findings`; this module holds the state, the loop and health.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from agent.collectors import COLLECTORS, BaseCollector
from agent.config_types import Config, ConfigError
from agent.daemon_rebuild import (  # noqa: F401 - re-exported
    BASE_COMPONENTS,
    RULES_MAX_AGE_SECONDS,
    SAMPLE_HEARTBEAT,
    SAMPLE_INTERVAL,
    SAMPLE_RETENTION,
    SnapshotRebuild,
)
from agent.daemon_slots import (  # noqa: F401 - re-exported
    READY_MAX_WAIT_SECONDS,
    REQUEST_DEBOUNCE_SECONDS,
    REQUEST_MIN_GAP_SECONDS,
    CollectorSlots,
    _Slot,
)
from agent.host import Host, HostPaths
from agent.jobs import JOBS
from agent.model import CollectorStatus, Finding, Reading, Snapshot
from agent.self_findings import STORE_STUCK_SECONDS  # noqa: F401 - re-exported
from agent.state.enrich import Enricher
from agent.state.store import Store
from agent.statewriter import StoreWriter
from agent.sysd import M_ARENA_MAX, _malloc_trim, limit_malloc_arenas, sd_notify, watchdog_interval  # noqa: F401 - re-exported

log = logging.getLogger("hwagent.daemon")

STALE_SLACK_SECONDS = 15.0
# a collector run in flight at stop is waited for this long (the unit's TimeoutStopSec is 30 s)
CLOSE_WAIT_SECONDS = 10.0


def host_from_config(cfg: Config, runner=None, clock=time.time) -> Host:
    h = cfg.host
    paths = HostPaths(rootfs=h.root or "/", sysfs=h.sysfs or None, procfs=h.procfs or None,
                      devfs=h.devfs or None, runfs=h.runfs or None)
    return Host(paths=paths, runner=runner, clock=clock, tools={"smartctl": h.smartctl, "ipmitool": h.ipmitool})


@dataclass
class Daemon(CollectorSlots, SnapshotRebuild):
    config: Config
    host: Host
    store: Store | None = None
    clock: Callable[[], float] = time.time
    collector_classes: tuple[type[BaseCollector], ...] = COLLECTORS
    _slots: dict[str, _Slot] = field(default_factory=dict, init=False)
    _readings: dict[str, tuple[Reading, ...]] = field(default_factory=dict, init=False)
    _statuses: dict[str, CollectorStatus] = field(default_factory=dict, init=False)
    _snapshot: Snapshot = field(default=None, init=False)  # type: ignore[assignment]
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _generation: int = field(default=0, init=False)
    _last_sample: float = field(default=0.0, init=False)
    _recorded: dict[str, tuple[float, float]] = field(default_factory=dict, init=False)
    _last_prune: float = field(default=0.0, init=False)
    _boot_id: str = field(default="unknown", init=False)
    _hostname: str = field(default="", init=False)
    _loop_beat: float = field(default=0.0, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _served_mono: dict[str, float] = field(default_factory=dict, init=False)
    _readings_changed: bool = field(default=True, init=False)  # since the rules last ran
    _rules_mono: float = field(default=0.0, init=False)  # monotonic time the rules last ran
    _rules_wall: float = field(default=0.0, init=False)  # and the wall-clock time they were given
    rule_runs: int = field(default=0, init=False)
    _acks_seen: Any = field(default=None, init=False)
    _agent_seen: tuple[list[Finding], Any] = field(default=([], None), init=False)
    # called after each snapshot swap of the loop (agent run: the /metrics body is rendered then,
    # off the request path)
    on_snapshot: Callable[[], None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.writer = StoreWriter(self.store)
        self._boot_id = self.host.boot_id()
        self._hostname = self.host.hostname()
        self._snapshot = Snapshot.empty(self._boot_id, self.clock())
        for cls in self.collector_classes:
            ccfg = self.config.collectors.get(cls.name)
            enabled = ccfg.enabled if ccfg is not None else cls.default_enabled  # see _collector_table
            if not enabled:
                continue
            try:
                col = cls(self.host, self.config.collector(cls.name), self.store)
            except ConfigError:
                raise  # an invalid option is the operator's to fix: refuse to start, naming the key
            except Exception as exc:  # noqa: BLE001 - a collector that cannot even start is a failed collector
                log.error("collector %s could not start: %s", cls.name, exc)
                self._statuses[cls.name] = CollectorStatus(cls.name, ok=False, error=f"init failed: {exc}")
                continue
            self._slots[cls.name] = _Slot(col)
            col.request_run = functools.partial(self._request_run, cls.name)
        # the enrichment step (history in, between collect and rules) and the jobs run after a collector
        self.enricher = Enricher(self.store)
        self.enricher.collectors = {n: s.collector for n, s in self._slots.items()}
        for job_cls in JOBS:
            after = self._slots.get(job_cls.after)
            if after is not None and job_cls.wanted(after.collector):
                self.enricher.jobs[job_cls.after] = job_cls(self.host, after.collector, self.enricher.disks)

    # ---- state the other parts share ----------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def collectors(self) -> dict[str, BaseCollector]:
        return {n: s.collector for n, s in self._slots.items()}

    def health(self) -> tuple[bool, str]:
        """(healthy, reason): the loop is alive, the first cycle is done and the served data is
        fresh (each collector ran within its interval + timeout, with some slack)."""
        if self._loop_beat == 0.0:
            return False, "starting: first collection cycle not complete"
        beat = time.monotonic() - self._loop_beat
        if beat >= 30.0:
            return False, f"daemon loop stalled for {beat:.0f} s"
        now_m = time.monotonic()
        stale = []
        for name, recorded in self._served_mono.items():  # monotonic: a wall-clock step is no staleness
            slot = self._slots.get(name)
            if slot is None or not recorded:
                continue
            bound = slot.collector.interval + slot.collector.timeout + STALE_SLACK_SECONDS
            if now_m - recorded > bound:
                stale.append(f"{name} last ran {now_m - recorded:.0f} s ago (interval {slot.collector.interval:g} s)")
        if stale:
            return False, "stale data: " + "; ".join(stale)
        return True, "OK"

    # ---- the loop ------------------------------------------------------------------------------
    def run_forever(self, stop: threading.Event, on_ready: Callable[[], None] | None = None) -> None:
        if self.store is not None:
            self.writer.start()
        try:
            self._run_forever(stop, on_ready)
        finally:
            self.writer.stop()

    def _run_forever(self, stop: threading.Event, on_ready: Callable[[], None] | None) -> None:
        self.first_cycle(stop)
        if self.on_snapshot is not None:
            try:
                self.on_snapshot()
            except Exception:  # noqa: BLE001 - the loop never dies
                log.exception("after the first snapshot")
        self._loop_beat = time.monotonic()
        if on_ready:
            on_ready()
        wd = watchdog_interval() if self.config.daemon.watchdog else None
        last_wd = 0.0
        trim = _malloc_trim()
        trim()
        last_trim = time.monotonic()
        while not stop.is_set():
            self._loop_beat = time.monotonic()
            now = self.clock()
            mono = time.monotonic()
            changed = False
            for slot in self._slots.values():
                if mono >= slot.next_due and (slot.thread is None or not slot.thread.is_alive()):
                    self._start(slot, now)
            if self._check_timeouts():
                changed = True
            if self._wake.is_set():
                self._wake.clear()
                changed = True
            if changed:
                try:
                    self._rebuild()
                    if self.on_snapshot is not None:
                        self.on_snapshot()
                except Exception:  # noqa: BLE001 - the loop never dies
                    log.exception("snapshot rebuild failed")
            if time.monotonic() - last_trim >= 60.0:
                trim()
                last_trim = time.monotonic()
            if wd is not None and time.monotonic() - last_wd >= wd:
                sd_notify("WATCHDOG=1")
                last_wd = time.monotonic()
            next_due = min((s.next_due for s in self._slots.values()), default=mono + 5)
            self._wake.wait(timeout=max(0.05, min(1.0, next_due - time.monotonic())))
        self.close_collectors()

    def close_collectors(self, wait_seconds: float = CLOSE_WAIT_SECONDS) -> None:
        """Stop the collectors; what they drained on the way out goes through the enrichment step.
        A run still in flight is waited for first (bounded): its enrichment stores the boot's
        heartbeat, which must not land after the clean-stop marker."""
        deadline = time.monotonic() + wait_seconds
        for slot in self._slots.values():
            if slot.thread is not None and slot.thread.is_alive():
                slot.thread.join(max(0.0, deadline - time.monotonic()))
        for slot in self._slots.values():
            try:
                slot.collector.close()
                self.enricher.finish(slot.collector.name, slot.collector.final_readings(), self.clock())
            except Exception:  # noqa: BLE001
                log.exception("closing collector %s", slot.collector.name)

    def healthy(self) -> bool:
        """Ready (first full cycle done), the loop is alive and the data is fresh (see health)."""
        return self.health()[0]


def snapshot_to_status(snap: Snapshot) -> dict[str, Any]:
    """The stable JSON schema of ``agent status --json`` and ``/status.json``."""
    worst = snap.worst_severity()
    return {
        "schema": 1,
        "hostname": snap.hostname,
        "time": snap.time,
        "boot_id": snap.boot_id,
        "worst_severity": worst.label,
        "findings": [dict(f.to_dict(), acknowledged=f.key in snap.acked) for f in snap.findings],
        "collectors": {
            name: {
                "ok": st.ok, "present": not st.no_data, "error": st.error,
                "duration_seconds": round(st.duration_seconds, 6), "last_success": st.last_success,
                "skipped_entries": st.skipped_entries, "messages": list(st.messages),
            }
            for name, st in snap.statuses.items()
        },
        "rule_errors": list(snap.extras.get("rule_errors", ())),
    }
