"""Lifetime-counter state of the disks the smart collector reads: baseline and recent history.

SMART counters are lifetime values (never reset by a reboot), so growth is judged against what the
agent stored earlier, not against a per-boot kernel counter. For each disk identity and counter
this keeps

- the *baseline*: the first value seen (lowered when a counter falls, e.g. pending sectors that a
  rewrite cleared), with the time it was first stored;
- the *history*: the change points ``(time, value)`` of the last :data:`HISTORY_SECONDS`, plus the
  last point before them (the value at the start of any window), at most :data:`MAX_POINTS`, so
  the rules judge the rate of growth per time and tell pending sectors that turned into
  reallocations from pending sectors that cleared.

Both are kept in memory and written through to the state store on change only (a fleet of disks
with stable counters writes nothing). The collector and ``agent disk backtest`` share this class,
so a replay runs the same enrichment the daemon runs.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from typing import Any

from agent.model.disk import SmartDevice

log = logging.getLogger("hwagent.collectors.smart")

HISTORY_SECONDS = 90 * 86400.0  # longest window a disk rule may ask for
MAX_POINTS = 64  # change points kept per counter (a counter that changes hourly keeps ~2.5 days)

STATE_SCRIPTS = (
    """
    CREATE TABLE IF NOT EXISTS disk_devices (
        id TEXT PRIMARY KEY, target TEXT NOT NULL, device TEXT NOT NULL, identity TEXT NOT NULL,
        last_success REAL);
    CREATE TABLE IF NOT EXISTS disk_baseline (
        id TEXT NOT NULL, counter TEXT NOT NULL, value REAL NOT NULL, since REAL NOT NULL,
        PRIMARY KEY (id, counter));
    CREATE TABLE IF NOT EXISTS disk_selftests (
        id TEXT NOT NULL, kind TEXT NOT NULL, started REAL NOT NULL, PRIMARY KEY (id, kind))
    """,
    """
    CREATE TABLE IF NOT EXISTS disk_counter_history (
        id TEXT NOT NULL, counter TEXT NOT NULL, ts REAL NOT NULL, value REAL NOT NULL,
        PRIMARY KEY (id, counter, ts))
    """,
    """
    CREATE TABLE IF NOT EXISTS disk_slots (
        slot TEXT PRIMARY KEY, id TEXT NOT NULL, serial TEXT, model TEXT, since REAL NOT NULL,
        previous_id TEXT, previous_serial TEXT, previous_model TEXT, replaced REAL)
    """,
)


class CounterState:
    """Baselines and change-point history per disk identity (thread-safe; store optional)."""

    def __init__(self, store: Any = None):
        self.store = store
        self._lock = threading.Lock()
        self.baseline: dict[str, dict[str, tuple[float, float]]] = {}  # id -> counter -> (value, since)
        self.history: dict[str, dict[str, list[tuple[float, float]]]] = {}  # id -> counter -> [(ts, value)]

    def load(self) -> None:
        """Read the stored state (the store must be migrated with :data:`STATE_SCRIPTS`)."""
        if self.store is None:
            return
        for sid, counter, value, since in self.store.execute("SELECT id, counter, value, since FROM disk_baseline"):
            self.baseline.setdefault(sid, {})[counter] = (value, since)
        for sid, counter, ts, value in self.store.execute(
                "SELECT id, counter, ts, value FROM disk_counter_history ORDER BY ts"):
            self.history.setdefault(sid, {}).setdefault(counter, []).append((ts, value))

    def _write(self, rows_base: list, rows_hist: list, pruned: list) -> None:
        if self.store is None or not (rows_base or rows_hist or pruned):
            return
        try:
            for row in rows_base:
                self.store.execute(
                    "INSERT INTO disk_baseline (id, counter, value, since) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(id, counter) DO UPDATE SET value = excluded.value, since = excluded.since", row)
            for row in rows_hist:
                self.store.execute("INSERT OR REPLACE INTO disk_counter_history (id, counter, ts, value) "
                                   "VALUES (?, ?, ?, ?)", row)
            for sid, counter, before in pruned:
                self.store.execute("DELETE FROM disk_counter_history WHERE id = ? AND counter = ? AND ts < ?",
                                   (sid, counter, before))
        except Exception as exc:  # noqa: BLE001 - a broken store must not lose the reading
            log.warning("smart: state store: %s", exc)

    def enrich(self, d: SmartDevice, now: float) -> SmartDevice:
        """Record this reading's counters and return it with baseline and history attached."""
        sid = d.stable_id
        rows_base: list = []
        rows_hist: list = []
        pruned: list = []
        with self._lock:
            base = self.baseline.setdefault(sid, {})
            hist = self.history.setdefault(sid, {})
            for counter, value in d.counters().items():
                if counter not in base:
                    base[counter] = (value, now)
                    rows_base.append((sid, counter, value, now))
                elif value < base[counter][0]:  # e.g. pending sectors rewritten back to 0
                    base[counter] = (value, base[counter][1])
                    rows_base.append((sid, counter, value, base[counter][1]))
                pts = hist.setdefault(counter, [])
                if not pts or pts[-1][1] != value:
                    if pts and now <= pts[-1][0]:
                        pts[-1] = (pts[-1][0], value)  # same time (or a clock step back): replace
                        rows_hist.append((sid, counter, pts[-1][0], value))
                    else:
                        pts.append((now, value))
                        rows_hist.append((sid, counter, now, value))
                    # keep one point at or before the oldest window start, drop older ones
                    cut = now - HISTORY_SECONDS
                    drop = 0
                    while drop + 1 < len(pts) and pts[drop + 1][0] <= cut:
                        drop += 1
                    drop = max(drop, len(pts) - MAX_POINTS)
                    if drop > 0:
                        del pts[:drop]
                        pruned.append((sid, counter, pts[0][0]))
            baseline = {k: v for k, (v, _s) in base.items()}
            since = min((s for _v, s in base.values()), default=None)
            history = {k: tuple(v) for k, v in hist.items()}
        self._write(rows_base, rows_hist, pruned)
        return replace(d, baseline=baseline, baseline_since=since, history=history, last_success=now)


class SlotTracker:
    """Which disk sits in which slot (a /dev/disk/by-path name, or a controller target such as
    ``/dev/bus/0#megaraid,1``). A different identity in a known slot is a disk swap: the slot's
    record moves to the new disk (the baseline for that slot) and keeps the previous one, so the
    ``disk.replaced`` rule can report it and a runbook's verify can check the new serial."""

    def __init__(self, store: Any = None):
        self.store = store
        self._lock = threading.Lock()
        self.slots: dict[str, dict[str, Any]] = {}

    def load(self) -> None:
        if self.store is None:
            return
        for row in self.store.execute("SELECT slot, id, serial, model, since, previous_id, previous_serial, "
                                      "previous_model, replaced FROM disk_slots"):
            self.slots[row[0]] = dict(zip(("slot", "id", "serial", "model", "since", "previous_id",
                                           "previous_serial", "previous_model", "replaced"), row))

    def observe(self, slot: str | None, d: SmartDevice, now: float) -> SmartDevice:
        """Record ``d`` in ``slot``; returns ``d`` with its slot and any replacement it made."""
        if not slot:
            return d
        with self._lock:
            cur = self.slots.get(slot)
            if cur is None or cur["id"] != d.stable_id:
                new: dict[str, Any] = {"slot": slot, "id": d.stable_id, "serial": d.serial, "model": d.model, "since": now,
                       "previous_id": None, "previous_serial": None, "previous_model": None, "replaced": None}
                if cur is not None:
                    new.update(previous_id=cur["id"], previous_serial=cur["serial"], previous_model=cur["model"],
                               replaced=now)
                    log.info("smart: disk replaced in %s: %s (%s) -> %s (%s)", slot, cur["serial"], cur["model"],
                             d.serial, d.model)
                self.slots[slot] = cur = new
                if self.store is not None:
                    try:
                        self.store.execute(
                            "INSERT OR REPLACE INTO disk_slots (slot, id, serial, model, since, previous_id, "
                            "previous_serial, previous_model, replaced) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            tuple(new[k] for k in ("slot", "id", "serial", "model", "since", "previous_id",
                                                   "previous_serial", "previous_model", "replaced")))
                    except Exception as exc:  # noqa: BLE001 - a broken store must not lose the reading
                        log.warning("smart: state store: %s", exc)
        return replace(d, slot=slot, replaced_serial=cur["previous_serial"], replaced_model=cur["previous_model"],
                       replaced_id=cur["previous_id"], replaced_time=cur["replaced"])


def stored_history(store: Any) -> list[tuple[str, dict, str, float, float]]:
    """(id, identity, counter, time, value) of every stored change point, oldest first, joined
    with the identity the collector stored for the disk (for ``agent disk export``)."""
    import json  # noqa: PLC0415

    idents: dict[str, dict] = {}
    for sid, identity in store.execute("SELECT id, identity FROM disk_devices"):
        try:
            idents[sid] = json.loads(identity)
        except ValueError:
            idents[sid] = {}
    rows = store.execute("SELECT id, counter, ts, value FROM disk_counter_history ORDER BY ts, id, counter")
    return [(sid, idents.get(sid, {}), counter, ts, value) for sid, counter, ts, value in rows]
