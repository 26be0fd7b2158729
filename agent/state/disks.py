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
from typing import Any, NamedTuple

from agent.model.disk import SmartDevice
from agent.state.store import Store, json_object

CounterRow = tuple[str, str, float, float]  # (disk id, counter, value and since / time and value)
PruneRow = tuple[str, str, float]  # (disk id, counter, history points before this time are dropped)

log = logging.getLogger("hwagent.state.disks")

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

    def __init__(self, store: Store | None = None):
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

    def _write(self, rows_base: list[CounterRow], rows_hist: list[CounterRow], pruned: list[PruneRow]) -> None:
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
        rows_base: list[CounterRow] = []  # (id, counter, value, since)
        rows_hist: list[CounterRow] = []  # (id, counter, ts, value)
        pruned: list[PruneRow] = []  # (id, counter, drop points before this time)
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

    def __init__(self, store: Store | None = None):
        self.store = store
        self._lock = threading.Lock()
        self.slots: dict[str, dict[str, Any]] = {}

    def load(self) -> None:
        if self.store is None:
            return
        for row in self.store.execute("SELECT slot, id, serial, model, since, previous_id, previous_serial, "
                                      "previous_model, replaced FROM disk_slots"):
            self.slots[row[0]] = dict(zip(("slot", "id", "serial", "model", "since", "previous_id",
                                           "previous_serial", "previous_model", "replaced"), row, strict=True))

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


class StoredChangePoint(NamedTuple):
    """One stored change point of a disk counter with the identity stored for the disk."""

    id: str
    identity: dict[str, Any]
    counter: str
    ts: float
    value: float


def stored_history(store: Store) -> list[StoredChangePoint]:
    """(id, identity, counter, time, value) of every stored change point, oldest first, joined
    with the identity the collector stored for the disk (for ``agent disk export``)."""

    idents: dict[str, dict[str, Any]] = {}
    for sid, identity in store.execute("SELECT id, identity FROM disk_devices"):
        try:
            idents[sid] = json_object(identity)
        except ValueError:
            idents[sid] = {}
    rows = store.execute("SELECT id, counter, ts, value FROM disk_counter_history ORDER BY ts, id, counter")
    return [StoredChangePoint(sid, idents.get(sid, {}), counter, ts, value) for sid, counter, ts, value in rows]


IDENTITY_FIELDS = ("protocol", "model", "serial", "wwn", "firmware", "model_family", "vendor", "capacity_bytes",
                   "rotation_rate_rpm")


def target_key(d: SmartDevice) -> str:
    """The smart collector's key of the target a device was read through (``/dev/sda#sat``)."""
    return f"{d.path}#{d.dev_type}" if d.dev_type else d.path


def known_devices(store: Any) -> dict[str, dict[str, Any]]:
    """target key -> identity fields + ``id`` + ``last_success`` of every disk read before (a
    read; an absent table or a broken store is an empty answer, logged)."""
    out: dict[str, dict[str, Any]] = {}
    if store is None:
        return out
    import json  # noqa: PLC0415

    try:
        rows = store.read("SELECT id, target, device, identity, last_success FROM disk_devices")
    except Exception as exc:  # noqa: BLE001 - no table yet (first start) or a broken store
        if "no such table" not in str(exc):
            log.warning("smart: state store: known disks unreadable (%s)", exc)
        return out
    for sid, target, _device, identity, last in rows:
        try:
            ident = json.loads(identity)
        except ValueError:
            ident = {}
        out[target] = {**ident, "id": sid, "last_success": last}
    return out


class DiskState:
    """What the agent keeps about disks across restarts (component ``disk``): counter baselines and
    history, slots, the devices read before, and the self-test start dates.

    Without a store (``agent check`` without a state directory), or with one that cannot be
    migrated, everything is kept in memory only, said once in the log."""

    def __init__(self, store: Store | None = None):
        self.store = store
        if store is not None:
            try:
                store.migrate("disk", STATE_SCRIPTS)
            except Exception as exc:  # noqa: BLE001 - without the store: no baselines across restarts
                log.warning("smart: state store unusable (%s); disk baselines kept in memory only", exc)
                self.store = None
        self.counters = CounterState(self.store)
        self.slots = SlotTracker(self.store)
        self._selftests: dict[tuple[str, str], float] = {}
        if self.store is not None:
            try:
                self.counters.load()
                self.slots.load()
                for sid, kind, started in self.store.execute("SELECT id, kind, started FROM disk_selftests"):
                    self._selftests[(sid, kind)] = started
            except Exception as exc:  # noqa: BLE001
                log.warning("smart: state store unreadable (%s); disk baselines kept in memory only", exc)
                self.store = None
                self.counters = CounterState()
                self.slots = SlotTracker()

    def enrich(self, d: SmartDevice, now: float) -> SmartDevice:
        """Store a fresh reading's counters, slot and identity; return it with baseline, history
        and slot record attached."""
        d = self.counters.enrich(d, now)
        d = self.slots.observe(d.slot, d, now)
        self._record_device(d)
        return d

    def _record_device(self, d: SmartDevice) -> None:
        if self.store is None:
            return
        import json  # noqa: PLC0415

        ident = {k: getattr(d, k) for k in IDENTITY_FIELDS}
        try:
            self.store.execute(
                "INSERT INTO disk_devices (id, target, device, identity, last_success) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET target = excluded.target, device = excluded.device, "
                "identity = excluded.identity, last_success = excluded.last_success",
                (d.stable_id, target_key(d), d.device, json.dumps(ident, sort_keys=True), d.last_success))
        except Exception as exc:  # noqa: BLE001 - a broken store must not lose the reading
            log.warning("smart: state store: %s", exc)

    # ---- self-test dates ----------------------------------------------------------------------------
    def selftest_dates(self) -> dict[tuple[str, str], float]:
        """(stable id, kind) -> when the agent last started that self-test."""
        return dict(self._selftests)

    def record_selftest(self, sid: str, kind: str, started: float) -> None:
        self._selftests[(sid, kind)] = started
        if self.store is None:
            return
        try:
            self.store.execute("INSERT INTO disk_selftests (id, kind, started) VALUES (?, ?, ?) ON CONFLICT(id, kind) "
                               "DO UPDATE SET started = excluded.started", (sid, kind, started))
        except Exception as exc:  # noqa: BLE001 - the test runs; only its date is not kept
            log.warning("smart: state store: %s", exc)
