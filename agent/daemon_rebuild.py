"""Snapshot building for the daemon: after collector results, swap in a new immutable snapshot
with the rules evaluated, the agent's own findings added, acks applied, and finding lifecycles and
history samples handed to the store writer.

When no collector's readings changed, the findings of the previous snapshot are kept (only the
statuses are new) unless RULES_MAX_AGE_SECONDS passed, the clock stepped, an ack came or went or
the agent's own findings changed. Unchanged parts stay the very same objects, so the /metrics
renderer reuses what it rendered from them. :class:`SnapshotRebuild` is mixed into
:class:`agent.daemon.Daemon`, which holds the state it declares below.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable

from agent import rules as rules_mod
from agent.collectors import BaseCollector
from agent.config_types import Config
from agent.daemon_slots import keep_if_equal
from agent.model import CollectorStatus, Finding, Reading, Snapshot
from agent.self_findings import agent_findings, store_extras
from agent.state.store import History, Store
from agent.statewriter import StoreWriter

if TYPE_CHECKING:
    from agent.daemon_slots import _Slot

log = logging.getLogger("hwagent.daemon")

SAMPLE_INTERVAL = 60.0  # seconds between history sample checks
SAMPLE_HEARTBEAT = 3600.0  # an unchanged value is stored again after this long
SAMPLE_RETENTION = 35 * 86400.0
BASE_COMPONENTS = (("board", ""), ("cpu", ""), ("memory", ""))
RULES_MAX_AGE_SECONDS = 60.0  # rules run at least this often even when no reading changed


class SnapshotRebuild:
    """Snapshot, rules, acks and history samples (a mixin of :class:`agent.daemon.Daemon`)."""

    if TYPE_CHECKING:  # the daemon's state this part reads and writes (declared in agent.daemon.Daemon)
        config: Config
        store: Store | None
        clock: Callable[[], float]
        collector_classes: tuple[type[BaseCollector], ...]
        writer: StoreWriter
        _slots: dict[str, _Slot]
        _readings: dict[str, tuple[Reading, ...]]
        _statuses: dict[str, CollectorStatus]
        _snapshot: Snapshot
        _lock: threading.Lock
        _generation: int
        _last_sample: float
        _recorded: dict[str, tuple[float, float]]
        _last_prune: float
        _boot_id: str
        _hostname: str
        _served_mono: dict[str, float]
        _readings_changed: bool
        _rules_mono: float
        _rules_wall: float
        rule_runs: int
        _acks_seen: Any
        _agent_seen: tuple[list[Finding], Any]

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
        snap = replace(base, findings=keep_if_equal(prev.findings, tuple(findings)),
                       acked=keep_if_equal(prev.acked, frozenset(acked)),
                       extras=keep_if_equal(prev.extras, extras))
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
        return agent_findings(self.store, self.writer)

    def _store_extras(self) -> dict[str, int]:
        return store_extras(self.store)
