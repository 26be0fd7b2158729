"""Event history: every hardware event (kernel log, pstore, previous-boot journal, IPMI SEL) in
SQLite, with retention, plus the boots the agent has seen (for unexpected-reboot detection).

Windowed counts for rules come from here, so they survive daemon restarts and reboots (kernel
counters reset on reboot; this store does not). Rules never query SQLite: the kernel_log collector
builds an immutable :class:`~agent.model.events.EventWindow` from this store and hands it over as
a reading.

Storms are bounded: within one batch, events of the same (boot, class, device) beyond
``STORM_KEEP`` are merged into one summary row whose ``events`` column says how many log records
it stands for, so an AER storm of 10 k lines/s does not write 10 k rows/s.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from agent.model import Severity
from agent.model.events import BootRecord, EventWindow, KernelEvent, StoredEvent

if TYPE_CHECKING:
    from agent.state.store import Row, Store

__all__ = ["EventStore", "EventReads", "parse_duration", "MIGRATIONS", "STORM_KEEP", "records_of", "merge_window"]

log = logging.getLogger("hwagent.state.events")

STORM_KEEP = 20

MIGRATIONS = (
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        boot_id TEXT NOT NULL,
        ts REAL NOT NULL,
        monotonic_usec INTEGER,
        seq INTEGER,
        source TEXT NOT NULL,
        cls TEXT NOT NULL,
        component TEXT NOT NULL,
        device TEXT NOT NULL,
        severity TEXT NOT NULL,
        events INTEGER NOT NULL DEFAULT 1,
        errors INTEGER NOT NULL DEFAULT 1,
        previous_boot INTEGER NOT NULL DEFAULT 0,
        detail TEXT NOT NULL,
        raw TEXT NOT NULL,
        dedupe TEXT NOT NULL UNIQUE
    );
    CREATE INDEX events_ts ON events (ts);
    CREATE INDEX events_cls_ts ON events (cls, ts);
    CREATE INDEX events_component_ts ON events (component, ts);
    CREATE TABLE boots (
        boot_id TEXT PRIMARY KEY,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        clean_stop REAL
    );
    """,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``24h``, ``7d``, ``2w`` or plain seconds -> seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"invalid duration {text!r} (examples: 30m, 24h, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _sev(text: str) -> Severity:
    try:
        return Severity.parse(text)
    except ValueError:
        return Severity.INFO


EventRow = tuple[str, float, int | None, int | None, str, str, str, str, str, int, int, int, str, str, str]
"""One ``events`` row as written: boot_id, ts, monotonic_usec, seq, source, cls, component, device,
severity, events, errors, previous_boot, detail (JSON), raw (JSON), dedupe."""


class EventStore:
    """The ``events`` and ``boots`` tables of a :class:`agent.state.store.Store`."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock
        store.migrate("events", MIGRATIONS)

    # ---- writing ---------------------------------------------------------------------------
    def record_events(self, events: Iterable[KernelEvent], now: float | None = None) -> list[KernelEvent]:
        """Insert events (duplicates by dedupe key are ignored); returns those that were new.
        Also used for IPMI SEL events (``source="sel"``, ``detail["sel_id"]``)."""
        now = self.clock() if now is None else now
        evs = list(events)
        if not evs:
            return []
        groups: dict[tuple[str, str, str], list[KernelEvent]] = {}
        for e in evs:
            groups.setdefault((e.boot_id, e.cls, e.device), []).append(e)
        rows: list[EventRow] = []
        row_events: list[list[KernelEvent]] = []
        for group in groups.values():
            keep, rest = group[:STORM_KEEP], group[STORM_KEEP:]
            for e in keep:
                rows.append(self._row(e, now, records_of(e), e.count))
                row_events.append([e])
            if rest:
                last = rest[-1]
                n = sum(records_of(e) for e in rest)
                detail = dict(last.detail, coalesced_events=n)
                rows.append(self._row(last.replace(detail=detail), now, n, sum(e.count for e in rest)))
                row_events.append(rest)
        new: list[KernelEvent] = []
        with self.store._lock:  # one transaction; INSERT OR IGNORE tells us what was new
            conn = self.store._conn
            conn.execute("BEGIN")
            try:
                for row, group in zip(rows, row_events, strict=True):
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO events (boot_id, ts, monotonic_usec, seq, source, cls, component, device, "
                        "severity, events, errors, previous_boot, detail, raw, dedupe) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                    if cur.rowcount:
                        new.extend(group)
                conn.execute("COMMIT")
            except Exception:
                # SQLite has already rolled back after SQLITE_FULL/IOERR: a second ROLLBACK would
                # replace "database or disk is full" by "cannot rollback - no transaction is active"
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        return new

    @staticmethod
    def _row(e: KernelEvent, now: float, n_events: int, n_errors: int) -> EventRow:
        return (e.boot_id or "unknown", e.time if e.time is not None else now, _sql_int(e.monotonic_usec),
                _sql_int(e.seq), e.source,
                e.cls, e.component, e.device, e.severity.label, n_events, max(1, n_errors), int(e.previous_boot),
                json.dumps(dict(e.detail), sort_keys=True, default=str), json.dumps(list(e.raw[:64])), e.dedupe_key)

    def prune(self, now: float, retention_seconds: float, max_rows: int) -> int:
        """Drop events older than the retention, then the oldest beyond ``max_rows``."""
        n = 0
        with self.store._lock:
            cur = self.store._conn.execute("DELETE FROM events WHERE ts < ?", (now - retention_seconds,))
            n += cur.rowcount
            total = int(self.store._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            if total > max_rows:
                cur = self.store._conn.execute(
                    "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY ts, id LIMIT ?)", (total - max_rows,))
                n += cur.rowcount
            self.store._conn.execute("DELETE FROM boots WHERE last_seen < ?", (now - max(retention_seconds, 90 * 86400.0),))
        return n

    def last_id(self) -> int:
        rows = self.store.execute("SELECT MAX(id) FROM events")
        return int(rows[0][0] or 0) if rows else 0

    # ---- boots -----------------------------------------------------------------------------
    def boots(self) -> list[BootRecord]:
        return [BootRecord(b, f, l, c) for b, f, l, c in self.store.execute(
            "SELECT boot_id, first_seen, last_seen, clean_stop FROM boots ORDER BY first_seen, boot_id")]

    def boot_alive(self, boot_id: str, now: float) -> None:
        """The agent runs in this boot: create or refresh it and clear any clean-stop marker."""
        self.store.execute(
            "INSERT INTO boots (boot_id, first_seen, last_seen, clean_stop) VALUES (?, ?, ?, NULL) "
            "ON CONFLICT(boot_id) DO UPDATE SET last_seen = MAX(boots.last_seen, excluded.last_seen), clean_stop = NULL",
            (boot_id, now, now))

    def boot_clean_stop(self, boot_id: str, now: float) -> None:
        self.store.execute(
            "INSERT INTO boots (boot_id, first_seen, last_seen, clean_stop) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(boot_id) DO UPDATE SET last_seen = excluded.last_seen, clean_stop = excluded.clean_stop",
            (boot_id, now, now, now))

    def previous_boot(self, current: str) -> BootRecord | None:
        others = [b for b in self.boots() if b.boot_id != current]
        return max(others, key=lambda b: (b.last_seen, b.first_seen)) if others else None

    # ---- reading ---------------------------------------------------------------------------
    def query(self, since: float | None = None, component: str | None = None, cls: str | None = None,
              limit: int = 1000, min_severity: Severity | None = None) -> list[dict[str, Any]]:
        """Events newest first. ``component`` matches exactly or as a prefix before ``:``
        (``disk`` matches ``disk:sda``); ``cls`` exactly or as a family prefix (``aer``)."""
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if component:
            where.append("(component = ? OR component LIKE ?)")
            args += [component, component.rstrip(":") + ":%"]
        if cls:
            where.append("(cls = ? OR cls LIKE ?)")
            args += [cls, cls.rstrip(".") + ".%"]
        sql = ("SELECT ts, boot_id, cls, component, device, severity, source, events, errors, previous_boot, "
               "detail, raw, seq, monotonic_usec FROM events")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts DESC, id DESC LIMIT ?"
        args.append(int(limit))
        out = []
        for ts, boot, c, comp, dev, sev, src, n_ev, n_err, prev, detail, raw, seq, usec in self.store.execute(sql, args):
            if min_severity is not None and _sev(sev) < min_severity:
                continue
            out.append({"time": ts, "boot_id": boot, "class": c, "component": comp, "device": dev, "severity": sev,
                        "source": src, "events": n_ev, "errors": n_err, "previous_boot": bool(prev),
                        "detail": _loads(detail, {}), "raw": _loads(raw, []), "seq": seq, "monotonic_usec": usec})
        return out

    def window(self, now: float, window_seconds: float, current_boot: str = "", recent_limit: int = 2000,
               per_device: int = 20) -> EventWindow:
        since = now - window_seconds
        buckets = tuple(
            (c, comp, dev, boot, float(m), int(n), int(e)) for c, comp, dev, boot, m, n, e in self.store.execute(
                "SELECT cls, component, device, boot_id, CAST(ts / 60 AS INTEGER) * 60 AS m, SUM(events), SUM(errors) "
                "FROM events WHERE ts >= ? GROUP BY cls, component, device, boot_id, m ORDER BY m", (since,)))
        recent = []
        # the newest few warning/critical events of every (class, device): a storm of one kind
        # cannot push the only record of another out of the rules' view
        for ts, boot, c, comp, dev, sev, src, n_err, detail, raw, prev in self.store.execute(
                "SELECT ts, boot_id, cls, component, device, severity, source, errors, detail, raw, previous_boot FROM "
                "(SELECT *, ROW_NUMBER() OVER (PARTITION BY cls, device ORDER BY ts DESC, id DESC) AS rn FROM events "
                " WHERE ts >= ? AND severity IN ('warning', 'critical')) WHERE rn <= ? ORDER BY ts DESC, id DESC LIMIT ?",
                (since, per_device, recent_limit)):
            raw_l = _loads(raw, [])
            recent.append(StoredEvent(ts, boot, c, comp, dev, _sev(sev), src, int(n_err), _loads(detail, {}),
                                      raw_l[0] if raw_l else "", bool(prev)))
        recent.reverse()
        parents: dict[str, str] = {}
        for dev, detail in self.store.execute(
                "SELECT device, detail FROM events WHERE ts >= ? AND cls LIKE 'aer.%' AND detail LIKE '%root_port%' "
                "GROUP BY device, detail LIMIT 5000", (since,)):
            port = _loads(detail, {}).get("root_port")
            if isinstance(port, str) and port != dev:
                parents[dev] = port
        return EventWindow(as_of=now, window_seconds=window_seconds, buckets=buckets, recent=tuple(recent),
                           boots=tuple(self.boots()), current_boot=current_boot, parents=tuple(sorted(parents.items())))


class EventReads:
    """What a collector may ask of the event history: reads only (no migration, no writes). A
    missing table (nothing stored yet), no store or an unreadable one reads as empty."""

    def __init__(self, store: Store | None = None):
        self.store = store

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if self.store is None:
            return []
        try:
            return self.store.read(sql, params)
        except Exception as exc:  # noqa: BLE001 - sqlite3.Error, or a closed store: nothing known
            log.debug("event history read: %s", exc)
            return []

    def boots(self) -> list[BootRecord]:
        return [BootRecord(b, f, l, c) for b, f, l, c in self._read(
            "SELECT boot_id, first_seen, last_seen, clean_stop FROM boots ORDER BY first_seen, boot_id")]

    def previous_boot(self, current: str) -> BootRecord | None:
        others = [b for b in self.boots() if b.boot_id != current]
        return max(others, key=lambda b: (b.last_seen, b.first_seen)) if others else None

    def any_events(self) -> bool:
        return bool(self._read("SELECT 1 FROM events LIMIT 1"))

    def get(self, key: str, default: Any = None) -> Any:
        rows = self._read("SELECT value FROM kv WHERE key = ?", (key,))
        if not rows:
            return default
        return _loads(rows[0][0], default)


def records_of(e: KernelEvent) -> int:
    """Log records an event stands for (an aggregate of a storm: ``detail["coalesced_events"]``)."""
    n = e.detail.get("coalesced_events", 1)
    return n if isinstance(n, int) and n > 0 else 1


def _loads(text: str, default: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def window_from_events(events: Sequence[KernelEvent], now: float, window_seconds: float = 7 * 86400.0,
                       boots: Sequence[BootRecord] = (), current_boot: str = "") -> EventWindow:
    """An EventWindow built in memory (tests, and rules' table tests)."""
    from agent.state.store import Store  # noqa: PLC0415

    st = EventStore(Store.memory())
    st.record_events(events, now)
    for b in boots:
        st.store.execute("INSERT INTO boots (boot_id, first_seen, last_seen, clean_stop) VALUES (?, ?, ?, ?)",
                         (b.boot_id, b.first_seen, b.last_seen, b.clean_stop))
    return st.window(now, window_seconds, current_boot)


def _sql_int(v: int | None) -> int | None:
    """SQLite integers are signed 64-bit: a value beyond that (garbage) is stored as unknown."""
    return v if v is None or -(1 << 63) <= v < (1 << 63) else None


def merge_window(window: EventWindow, stored: Sequence[KernelEvent], now: float, recent_limit: int = 2000,
                 per_device: int = 20) -> EventWindow:
    """``window`` plus events just stored, without asking SQLite (a storm stores a few aggregate
    rows per run; rebuilding the window by SQL on every run cost ~0.4 s at 126 k rows). The
    collector still rebuilds from the store now and then, which also drops what left the window."""
    buckets = list(window.buckets)
    recent = list(window.recent)
    parents = dict(window.parents)
    for e in stored:
        t = e.time if e.time is not None else now
        boot = e.boot_id or "unknown"
        buckets.append((e.cls, e.component, e.device, boot, float(int(t // 60) * 60), records_of(e), max(1, e.count)))
        if e.severity >= Severity.WARNING:
            recent.append(StoredEvent(t, boot, e.cls, e.component, e.device, e.severity, e.source, max(1, e.count),
                                      dict(e.detail), e.raw[0] if e.raw else "", bool(e.previous_boot)))
        port = e.detail.get("root_port")
        if e.cls.startswith("aer.") and isinstance(port, str) and port != e.device:
            parents[e.device] = port
    if len(recent) > len(window.recent):
        recent.sort(key=lambda s: s.time)
        seen: dict[tuple[str, str], int] = {}
        kept = []
        for s in reversed(recent):  # newest first: the newest few of every (class, device)
            k = (s.cls, s.device)
            seen[k] = seen.get(k, 0) + 1
            if seen[k] <= per_device:
                kept.append(s)
            if len(kept) >= recent_limit:
                break
        recent = kept[::-1]
    return EventWindow(as_of=now, window_seconds=window.window_seconds, buckets=tuple(buckets), recent=tuple(recent),
                       boots=window.boots, current_boot=window.current_boot, parents=tuple(sorted(parents.items())))
