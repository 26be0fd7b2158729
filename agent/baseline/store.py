"""Where baselines are kept: versions in the SQLite state store (component ``baseline``), read-only
reads of that database for commands that must not write, and export files kept off-host."""

from __future__ import annotations

import builtins
import json
import time
from pathlib import Path
from typing import Any

from agent.baseline.diff import fingerprint
from agent.baseline.format import FORMAT_VERSION, BaselineError
from agent.fileutil import atomic_write

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


def load_file(path: str | Path) -> dict[str, Any]:
    """A baseline from an export file (or a raw capture), validated."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise BaselineError(f"{p}: no such file") from None
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{p}: not a baseline file ({exc})") from None
    if isinstance(data, dict) and "baseline" in data and isinstance(data["baseline"], dict):
        data = data["baseline"]
    if not isinstance(data, dict) or "format_version" not in data:
        raise BaselineError(f"{p}: not a baseline file (no format_version)")
    if data["format_version"] > FORMAT_VERSION:
        raise BaselineError(f"{p}: baseline format {data['format_version']} is newer than this agent understands "
                            f"({FORMAT_VERSION}); upgrade hwagent")
    return data


def export(data: dict[str, Any], path: str | Path) -> Path:
    """Write a baseline export (mode 0600, atomic) meant to be kept off-host with the backups."""
    p = Path(path)
    doc = {"kind": "hwagent-baseline", "format_version": FORMAT_VERSION, "exported_at": time.time(),
           "baseline": data}
    return atomic_write(p, (json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n").encode())


class BaselineStore:
    """Versions of the baseline in the SQLite state store (component ``baseline``)."""

    def __init__(self, store):
        self.store = store
        store.migrate("baseline", MIGRATIONS)

    def save(self, data: dict[str, Any], known_good: bool = False) -> tuple[str, bool]:
        """Store ``data`` unless the newest version has the same fingerprint. -> (id, stored)."""
        fp = data.get("fingerprint") or fingerprint(data)
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
        return json.loads(rows[0][1])

    def latest(self, offset: int = 0) -> dict[str, Any] | None:
        rows = self.store.execute("SELECT data FROM baselines ORDER BY captured DESC LIMIT 1 OFFSET ?", (offset,))
        return json.loads(rows[0][0]) if rows else None

    def mark_known_good(self, ident: str) -> None:
        self.store.execute("UPDATE baselines SET known_good = 1 WHERE id = ?", (ident,))

    def rows(self) -> builtins.list[dict[str, Any]]:
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


def read_all_stored(db_path: str | Path) -> list[dict[str, Any]]:
    """Every stored version ``{id, captured, known_good, data}`` read without writing anything."""
    import sqlite3  # noqa: PLC0415

    db = Path(db_path)
    flags = "mode=ro" + ("" if Path(f"{db}-wal").exists() else "&immutable=1")
    try:
        conn = sqlite3.connect(f"file:{db}?{flags}", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
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
    import sqlite3  # noqa: PLC0415

    db = Path(db_path)
    # no -wal file = no writer and nothing uncheckpointed: read it as immutable, so SQLite does not
    # create -wal/-shm files either; with a running daemon, read through its WAL
    flags = "mode=ro" + ("" if Path(f"{db}-wal").exists() else "&immutable=1")
    try:
        conn = sqlite3.connect(f"file:{db}?{flags}", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
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
            return json.loads(rows[0][1])
        row = conn.execute("SELECT data FROM baselines ORDER BY known_good DESC, captured DESC LIMIT 1").fetchone()
        return json.loads(row[0]) if row else None
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
    finally:
        conn.close()
