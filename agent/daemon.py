"""The daemon loop: schedule collectors, enforce timeouts, swap snapshots, evaluate rules.

Each enabled collector runs on its own interval in its own short-lived thread; a collector that is
still running when it is next due is not started twice, and one that overruns its timeout is
marked ``error="timeout"`` and its late result dropped (the command runner kills external
commands at their own timeout, so threads do not pile up). After every result the daemon builds a
new immutable snapshot, evaluates all rules, and records finding lifecycles and history samples
in the store. Readiness goes to systemd after the first full cycle; the loop feeds the watchdog.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable

from agent import rules as rules_mod
from agent.collectors import COLLECTORS, BaseCollector, run_collector
from agent.config_types import Config, ConfigError
from agent.host import Host, HostPaths
from agent.jobs import JOBS
from agent.model import CollectorStatus, Finding, Reading, Severity, Snapshot
from agent.state.enrich import Enricher
from agent.state.store import History, Store
from agent.statewriter import StoreWriter
from agent.sysd import M_ARENA_MAX, _malloc_trim, limit_malloc_arenas, sd_notify, watchdog_interval  # noqa: F401 - re-exported

log = logging.getLogger("hwagent.daemon")

SAMPLE_INTERVAL = 60.0  # seconds between history sample checks
SAMPLE_HEARTBEAT = 3600.0  # an unchanged value is stored again after this long
SAMPLE_RETENTION = 35 * 86400.0
BASE_COMPONENTS = (("board", ""), ("cpu", ""), ("memory", ""))


def host_from_config(cfg: Config, runner=None, clock=time.time) -> Host:
    h = cfg.host
    paths = HostPaths(rootfs=h.root or "/", sysfs=h.sysfs or None, procfs=h.procfs or None,
                      devfs=h.devfs or None, runfs=h.runfs or None)
    return Host(paths=paths, runner=runner, clock=clock, tools={"smartctl": h.smartctl, "ipmitool": h.ipmitool})


STORE_STUCK_SECONDS = 60.0  # a store write waiting this long becomes the agent.state_stuck finding
STALE_SLACK_SECONDS = 15.0
READY_MAX_WAIT_SECONDS = 20.0  # readiness after the collectors that finish by then (see first_cycle)
RULES_MAX_AGE_SECONDS = 60.0  # rules run at least this often even when no reading changed
REQUEST_DEBOUNCE_SECONDS = 0.2
REQUEST_MIN_GAP_SECONDS = 1.0


def _keep_if_equal(old: Any, new: Any) -> Any:
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


@dataclass
class Daemon:
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

    # ---- snapshot --------------------------------------------------------------------------
    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    @property
    def collectors(self) -> dict[str, BaseCollector]:
        return {n: s.collector for n, s in self._slots.items()}

    def _rebuild(self) -> Snapshot:
        now = self.clock()
        with self._lock:
            readings = MappingProxyType(dict(self._readings))
            order = {n: i for i, n in enumerate(c.name for c in self.collector_classes)}
            statuses = MappingProxyType(dict(sorted(self._statuses.items(), key=lambda kv: order.get(kv[0], 999))))
            served = {n: s.status_mono for n, s in self._slots.items() if n in self._statuses}
            self._generation += 1
            gen = self._generation
            changed, self._readings_changed = self._readings_changed, False
        prev = self._snapshot
        if not changed and self._findings_current(prev, now):
            snap = replace(prev, time=now, statuses=statuses, generation=gen)
            self._snapshot = snap
            self._served_mono = served
            return snap
        self._rules_mono, self._rules_wall = time.monotonic(), now
        self.rule_runs += 1
        base = Snapshot(time=now, boot_id=self._boot_id, readings=readings, statuses=statuses,
                        generation=gen, hostname=self._hostname)
        history = History(self.store, now)
        findings, errors = rules_mod.evaluate(base, history, self.config, now)
        agent_findings = self._agent_findings()
        findings.extend(agent_findings)
        acked: set[tuple[str, str]] = set()
        if self.store is not None:
            unacks = []
            try:
                acks = self.store.acks()  # a read: never waits for a held write lock (WAL)
            except Exception as exc:  # noqa: BLE001 - a broken store must not stop monitoring
                log.error("state store: %s", exc)
                errors.append(f"store: {exc}")
                acks = {}
            self._acks_seen = acks
            for f in findings:
                tok = acks.get(f.key)
                if tok is None:
                    continue
                if tok == f.ack_token:
                    acked.add(f.key)
                else:  # the evidence changed: the ack no longer holds
                    unacks.append(f.key)
            samples = None
            if now - self._last_sample >= SAMPLE_INTERVAL or now < self._last_sample:
                samples = (self._boot_id, now, self._changed_samples(base, now))
                self._last_sample = now
            prune = None
            if now - self._last_prune >= 86400:
                prune = now - SAMPLE_RETENTION
                self._last_prune = now
            # written by the store-writer thread (inline when there is none): the loop never waits
            self.writer.submit(findings, now, samples, unacks, prune)
            if self.writer.last_error:
                errors.append(f"store: {self.writer.last_error}")
        self._agent_seen = (agent_findings, self.writer.last_error)
        extras = MappingProxyType({"rule_errors": tuple(errors), "components": BASE_COMPONENTS,
                                   **self._store_extras()})
        # unchanged parts stay the very same objects: the /metrics renderer reuses what it
        # rendered from them (agent.exporter.render)
        snap = replace(base, findings=_keep_if_equal(prev.findings, tuple(findings)),
                       acked=_keep_if_equal(prev.acked, frozenset(acked)),
                       extras=_keep_if_equal(prev.extras, extras))
        self._snapshot = snap
        self._served_mono = served
        return snap

    def _findings_current(self, prev: Snapshot, now: float) -> bool:
        """With no collector's readings changed (only statuses: durations, last-success times), the
        findings of ``prev`` are the ones just computed, unless the rules last ran
        RULES_MAX_AGE_SECONDS ago (what depends on time alone: windows, ages, a stuck store) or
        the clock stepped, an ack came or went, or the agent's own findings changed."""
        return bool(prev.generation and 0 <= time.monotonic() - self._rules_mono < RULES_MAX_AGE_SECONDS
                    and 0 <= now - self._rules_wall < RULES_MAX_AGE_SECONDS  # a clock step: rules run
                    and self._acks_unchanged() and self._agent_findings() == self._agent_seen[0]
                    and self.writer.last_error == self._agent_seen[1])

    def _acks_unchanged(self) -> bool:
        """No ack was added or removed (`agent ack` from another process) since the rules ran."""
        if self.store is None:
            return True
        try:
            return self.store.acks() == self._acks_seen
        except Exception:  # noqa: BLE001 - the full rebuild reports the store's error
            return False

    def _changed_samples(self, snap: Snapshot, now: float) -> dict[str, float]:
        """History samples worth storing: changed values, plus an hourly heartbeat per key
        (keeps the store at O(changes), not O(keys x minutes))."""
        out = {}
        for key, value in rules_mod.history_samples(snap).items():
            prev = self._recorded.get(key)
            if prev is None or prev[0] != value or now - prev[1] >= SAMPLE_HEARTBEAT or now < prev[1]:
                out[key] = value
                self._recorded[key] = (value, now)
        return out

    def _agent_findings(self) -> list[Finding]:
        out = []
        if self.store is not None and self.store.recovered_from:
            out.append(Finding(rule="agent.state_reset", component="agent", subject="state.db", device="state.db",
                               severity=Severity.WARNING, summary=self.store.recovered_from,
                               evidence={"detail": self.store.recovered_from}, fingerprint="reset"))
        if self.store is not None and self.store.degraded:
            out.append(Finding(rule="agent.state_unavailable", component="agent", subject="state.db",
                               device="state.db", severity=Severity.WARNING, summary=self.store.degraded,
                               evidence={"detail": self.store.degraded}, fingerprint="memory"))
        stuck = self.writer.stuck_for() if self.store is not None else 0.0
        if stuck >= STORE_STUCK_SECONDS:
            msg = (f"state store writes have been waiting {stuck:.0f} s (another process holds the database "
                   f"lock?); collection and /metrics continue, {self.writer.pending()} write(s) pending")
            out.append(Finding(rule="agent.state_stuck", component="agent", subject="state.db", device="state.db",
                               severity=Severity.WARNING, summary=msg, evidence={"seconds": round(stuck)},
                               fingerprint="stuck"))
        return out

    def _store_extras(self) -> dict[str, int]:
        if self.store is None:
            return {}
        return {"state_persistent": 0 if (self.store.degraded or str(self.store.path) == ":memory:") else 1}

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
                    self._readings[name] = _keep_if_equal(before, tuple(readings))
                elif status.no_data:
                    self._readings[name] = _keep_if_equal(before, ())
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

    # ---- the loop ------------------------------------------------------------------------------
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

    def run_forever(self, stop: threading.Event, on_ready: Callable[[], None] | None = None) -> None:
        if self.store is not None:
            self.writer.start()
        try:
            self._run_forever(stop, on_ready)
        finally:
            self.writer.stop()

    def _run_forever(self, stop: threading.Event, on_ready: Callable[[], None] | None) -> None:
        self.first_cycle(stop)
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

    def close_collectors(self) -> None:
        """Stop the collectors; what they drained on the way out goes through the enrichment step."""
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
