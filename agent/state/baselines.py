"""Host baselines in the state store (component ``baseline``): versions, known-good marks, and
read-only access to another agent's (or a mounted disk's) state file without writing to it."""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from agent.model import Reading
from agent.state.store import Row, Store, json_object

log = logging.getLogger("hwagent.state.baselines")

KEEP_VERSIONS = 30

MIGRATIONS = (
    """
    CREATE TABLE baselines (
        id TEXT PRIMARY KEY,
        captured REAL NOT NULL,
        fingerprint TEXT NOT NULL,
        known_good INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    CREATE INDEX baselines_captured ON baselines (captured);
    """,
)


class BaselineError(Exception):
    """A baseline cannot be captured, stored or read; the message names the file or version."""



class BaselineStore:
    """Versions of the baseline in the SQLite state store (component ``baseline``)."""

    def __init__(self, store: Store, fingerprint: Callable[[dict[str, Any]], str]):
        self.store = store
        self._fingerprint = fingerprint
        store.migrate("baseline", MIGRATIONS)

    def save(self, data: dict[str, Any], known_good: bool = False) -> tuple[str, bool]:
        """Store ``data`` unless the newest version has the same fingerprint. -> (id, stored)."""
        fp = data.get("fingerprint") or self._fingerprint(data)
        latest = self.latest()
        if latest is not None and latest.get("fingerprint") == fp:
            return latest["id"], False
        ident = f"{int(data.get('captured_at') or time.time())}-{fp[:8]}"
        stored = dict(data, id=ident, fingerprint=fp)
        self.store.execute("INSERT OR REPLACE INTO baselines (id, captured, fingerprint, known_good, data) VALUES (?,?,?,?,?)",
                           (ident, float(data.get("captured_at") or time.time()), fp, int(known_good),
                            json.dumps(stored, sort_keys=True, default=str)))
        rows = self.store.execute("SELECT id FROM baselines WHERE known_good = 0 ORDER BY captured DESC")
        for (old,) in rows[KEEP_VERSIONS:]:
            self.store.execute("DELETE FROM baselines WHERE id = ?", (old,))
        return ident, True

    def list(self) -> list[dict[str, Any]]:
        rows = self.store.execute("SELECT id, captured, fingerprint, known_good FROM baselines ORDER BY captured DESC")
        return [{"id": r[0], "captured": r[1], "fingerprint": r[2], "known_good": bool(r[3])} for r in rows]

    def get(self, ident: str) -> dict[str, Any]:
        rows = self.store.execute("SELECT id, data FROM baselines WHERE id = ? OR id LIKE ? ORDER BY captured DESC",
                                  (ident, ident + "%"))
        if not rows:
            raise BaselineError(f"no stored baseline {ident!r} (see `agent baseline show --list`)")
        if len(rows) > 1 and rows[0][0] != ident:
            raise BaselineError(f"baseline id {ident!r} is ambiguous: {', '.join(r[0] for r in rows)}")
        return json_object(rows[0][1])

    def latest(self, offset: int = 0) -> dict[str, Any] | None:
        rows = self.store.execute("SELECT data FROM baselines ORDER BY captured DESC LIMIT 1 OFFSET ?", (offset,))
        return json_object(rows[0][0]) if rows else None

    def mark_known_good(self, ident: str) -> None:
        self.store.execute("UPDATE baselines SET known_good = 1 WHERE id = ?", (ident,))

    def rows(self) -> builtins.list[dict[str, Any]]:  # `list` here is the method above
        """Every stored version with its data, newest first (for :mod:`agent.baseline_select`)."""
        rows = self.store.execute("SELECT id, captured, known_good, data FROM baselines ORDER BY captured DESC")
        return [{"id": r[0], "captured": r[1], "known_good": bool(r[2]), "data": json.loads(r[3])} for r in rows]

    def active_findings(self) -> int:
        """Active warning/critical findings outside component ``recovery`` (readiness findings
        must not keep the baseline from becoming known-good)."""
        try:
            rows = self.store.execute("SELECT count(*) FROM findings WHERE resolved IS NULL AND component != 'recovery' "
                                      "AND severity IN ('warning', 'critical')")
        except Exception:  # noqa: BLE001 - no findings table yet (a store without the daemon's schema)
            return 0
        return int(rows[0][0]) if rows else 0

    def auto_known_good(self, now: float, after_days: float) -> str | None:
        """Mark the newest version known-good when it qualifies (see baseline_select.auto_known_good)."""
        from agent import baseline_select  # noqa: PLC0415

        ident = baseline_select.auto_known_good(self.rows(), now=now, after_days=after_days,
                                                active_findings=self.active_findings())
        if ident is not None:
            self.mark_known_good(ident)
        return ident


def _connect_read_only(db_path: str | Path) -> sqlite3.Connection:
    """The state database opened so that reading writes nothing: without a -wal file (no writer,
    nothing uncheckpointed) as immutable, so SQLite creates no -wal/-shm either; with a running
    daemon read-only through its WAL."""
    db = Path(db_path)
    flags = "mode=ro" + ("" if Path(f"{db}-wal").exists() else "&immutable=1")
    try:
        return sqlite3.connect(f"file:{db}?{flags}", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None


def read_all_stored(db_path: str | Path) -> list[dict[str, Any]]:
    """Every stored version ``{id, captured, known_good, data}`` read without writing anything."""
    conn = _connect_read_only(db_path)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'baselines'").fetchone():
            return []
        rows = conn.execute("SELECT id, captured, known_good, data FROM baselines ORDER BY captured DESC").fetchall()
        return [{"id": r[0], "captured": r[1], "known_good": bool(r[2]), "data": json.loads(r[3])} for r in rows]
    except (sqlite3.Error, ValueError) as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
    finally:
        conn.close()


def read_stored(db_path: str | Path, ident: str | None = None) -> dict[str, Any] | None:
    """A stored baseline read without writing anything (SQLite read-only): ``ident`` (id or
    prefix), else the newest known-good, else the newest. None when there is none; raises
    :class:`BaselineError` for an unknown id or an unreadable database."""
    conn = _connect_read_only(db_path)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'baselines'").fetchone():
            if ident:
                raise BaselineError(f"no stored baseline {ident!r} (none stored yet)")
            return None
        if ident:
            rows = conn.execute("SELECT id, data FROM baselines WHERE id = ? OR id LIKE ? ORDER BY captured DESC",
                                (ident, ident + "%")).fetchall()
            if not rows:
                raise BaselineError(f"no stored baseline {ident!r} (see `agent baseline show --list`)")
            if len(rows) > 1 and rows[0][0] != ident:
                raise BaselineError(f"baseline id {ident!r} is ambiguous: {', '.join(r[0] for r in rows)}")
            return json_object(rows[0][1])
        row = conn.execute("SELECT data FROM baselines ORDER BY known_good DESC, captured DESC LIMIT 1").fetchone()
        return json_object(row[0]) if row else None
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
    finally:
        conn.close()


COLLECTOR_KEY = "baseline.collector"  # {cheap, last_full, last_id} of the baseline collector
EXPORT_KEY = "baseline.export"  # {time, baseline_id} of the last off-host export


class BaselineReads:
    """What the baseline collector may ask: reads only (no migration); a missing table (nothing
    stored yet) or an unreadable store reads as empty."""

    def __init__(self, store: Store):
        self.store = store

    def _read(self, sql: str, params: Row = ()) -> list[Row]:
        try:
            rows: list[Row] = self.store.read(sql, params)
            return rows
        except Exception:  # noqa: BLE001 - sqlite3.Error (no table yet) or a closed store: nothing known
            return []

    def get(self, key: str) -> Any:
        rows = self._read("SELECT value FROM kv WHERE key = ?", (key,))
        try:
            return json.loads(rows[0][0]) if rows else None
        except ValueError:
            return None

    def latest(self) -> dict[str, Any] | None:
        rows = self._read("SELECT data FROM baselines ORDER BY captured DESC LIMIT 1")
        return json_object(rows[0][0]) if rows else None

    def known_good(self) -> tuple[str, float] | None:
        """(id, captured) of the newest known-good version."""
        rows = self._read("SELECT id, captured FROM baselines WHERE known_good = 1 ORDER BY captured DESC LIMIT 1")
        return (rows[0][0], rows[0][1]) if rows else None


class BaselineHistory:
    """The baseline side of the enrichment step: stores a capture as a new version when its
    fingerprint changed, remembers what the collector needs across restarts, marks the newest
    version known-good when it qualifies, and corrects the readiness reading's known-good fields
    for a marking made in this run."""

    def __init__(self, store: Store):
        self.store = store
        self.versions = BaselineStore(store, lambda data: str(data["fingerprint"]))
        self.last_id: str | None = None
        self.last_stored = False

    def enrich(self, readings: list[Reading], now: float, known_good_after_days: float) -> list[Reading]:
        from agent.model.recovery import CapturedBaseline, RecoveryReadiness  # noqa: PLC0415

        out = []
        for r in readings:
            if isinstance(r, CapturedBaseline):
                self.last_id, self.last_stored = self.versions.save(dict(r.data))
                self.store.put(COLLECTOR_KEY, {"cheap": r.cheap, "last_full": r.time, "last_id": self.last_id})
                if self.last_stored:
                    log.info("baseline %s stored (fingerprint changed)", self.last_id)
            else:
                out.append(r)
        ident = self.versions.auto_known_good(now, known_good_after_days)
        if ident is None:
            return out
        log.info("baseline %s marked known-good (unchanged for %g days, no active findings)", ident,
                 known_good_after_days)
        kg = BaselineReads(self.store).known_good()
        exported = BaselineReads(self.store).get(EXPORT_KEY)
        fixed = []
        for r in out:
            if isinstance(r, RecoveryReadiness) and r.has_store and kg is not None:
                current = (exported.get("baseline_id") == kg[0]) if isinstance(exported, dict) and exported else None
                r = replace(r, known_good_age_seconds=now - kg[1], export_current=current)
            fixed.append(r)
        return fixed
