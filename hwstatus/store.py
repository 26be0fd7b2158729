"""SQLite store of the status service: services, incidents, updates, alerts, subscribers, the
notice outbox, idempotency keys and agent heartbeats.

One file opened with WAL and a busy timeout; one connection shared by the server's threads under
a lock, so every public method is one transaction. Schema changes are an append-only list of
scripts (:data:`MIGRATIONS`); ``PRAGMA user_version`` records how many ran. A database locked by
another process for longer than the busy timeout raises :class:`StoreBusy`, which the HTTP layer
answers with 503 + Retry-After, so Alertmanager and the CLI retry and nothing is lost.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE services (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        position INTEGER NOT NULL DEFAULT 0,
        draft INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1,
        created REAL NOT NULL
    );
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        state TEXT NOT NULL,
        impact TEXT NOT NULL,
        maintenance INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL,
        published INTEGER NOT NULL DEFAULT 1,
        operator_touched INTEGER NOT NULL DEFAULT 0,
        cause TEXT NOT NULL DEFAULT '',
        eta_from REAL,
        eta_to REAL,
        started_at REAL NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        identified_at REAL,
        monitoring_at REAL,
        resolved_at REAL,
        ended_at REAL,
        hold_until REAL,
        hold_state TEXT
    );
    CREATE INDEX incidents_open ON incidents (resolved_at);
    CREATE TABLE incident_services (
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        service_id TEXT NOT NULL,
        impact TEXT NOT NULL,
        PRIMARY KEY (incident_id, service_id)
    );
    CREATE TABLE updates (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        state TEXT NOT NULL,
        body TEXT NOT NULL,
        author TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        edited REAL,
        notify INTEGER NOT NULL DEFAULT 1,
        queued INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX updates_incident ON updates (incident_id);
    CREATE TABLE alerts (
        fingerprint TEXT PRIMARY KEY,
        incident_id INTEGER REFERENCES incidents(id),
        alertname TEXT NOT NULL,
        labels TEXT NOT NULL,
        status TEXT NOT NULL,
        starts_at REAL NOT NULL,
        ends_at REAL,
        last_seen REAL NOT NULL
    );
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        address TEXT NOT NULL,
        lang TEXT NOT NULL,
        services TEXT NOT NULL DEFAULT '[]',
        token TEXT NOT NULL UNIQUE,
        secret TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        confirm_sent REAL,
        confirmed REAL,
        unsubscribed REAL,
        UNIQUE (kind, address)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        subscriber_id INTEGER,
        update_id INTEGER,
        payload TEXT NOT NULL,
        created REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,
        sent REAL,
        failed REAL,
        last_error TEXT NOT NULL DEFAULT '',
        UNIQUE (kind, subscriber_id, update_id, target)
    );
    CREATE INDEX outbox_due ON outbox (sent, failed, next_attempt);
    CREATE TABLE idempotency (
        key TEXT PRIMARY KEY,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        response TEXT NOT NULL,
        created REAL NOT NULL
    );
    CREATE TABLE heartbeats (
        host TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        boot_time REAL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        PRIMARY KEY (host, boot_id)
    );
    CREATE TABLE subscribe_log (
        ip TEXT NOT NULL,
        ts REAL NOT NULL
    );
    CREATE INDEX subscribe_log_ts ON subscribe_log (ts);
    """,
    # 2: silences inside one boot (host unreachable without a reboot)
    """
    CREATE TABLE heartbeat_gaps (
        host TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        PRIMARY KEY (host, boot_id, start)
    );
    """,
    # 3: impact changes as intervals (availability never rewrites an incident's past), auto titles
    # that follow the impact, the alert's own startsAt kept apart from the incident's start
    """
    CREATE TABLE impact_log (
        incident_id INTEGER NOT NULL REFERENCES incidents(id),
        service_id TEXT NOT NULL,
        at REAL NOT NULL,
        impact TEXT NOT NULL
    );
    CREATE INDEX impact_log_incident ON impact_log (incident_id, service_id, at);
    ALTER TABLE incidents ADD COLUMN title_auto INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE alerts ADD COLUMN episode REAL;
    """,
    # 4: a change to a confirmed subscription waits for its own confirmation (double opt-in);
    # per-role credentials (stored hashed, revocable); per-host documents kept off the host
    """
    ALTER TABLE subscribers ADD COLUMN pending TEXT NOT NULL DEFAULT '';
    ALTER TABLE subscribers ADD COLUMN pending_token TEXT;
    CREATE UNIQUE INDEX subscribers_pending_token ON subscribers (pending_token);
    CREATE TABLE credentials (
        name TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        host TEXT NOT NULL DEFAULT '',
        token_sha256 TEXT NOT NULL UNIQUE,
        created REAL NOT NULL,
        last_used REAL,
        revoked REAL
    );
    CREATE TABLE host_documents (
        host TEXT NOT NULL,
        kind TEXT NOT NULL,
        content_type TEXT NOT NULL,
        body BLOB NOT NULL,
        sha256 TEXT NOT NULL,
        updated REAL NOT NULL,
        updated_by TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (host, kind)
    );
    CREATE TABLE subscribe_targets (
        target TEXT NOT NULL,
        ts REAL NOT NULL
    );
    CREATE INDEX subscribe_targets_ts ON subscribe_targets (target, ts);
    """,
)


class StoreError(Exception):
    """The status database cannot be used (message names the file)."""


class StoreBusy(StoreError):
    """The database stayed locked by another process beyond the busy timeout."""


class StatusStore:
    def __init__(self, path: str | Path, *, clock=time.time, busy_timeout: float = 5.0):
        self.path = str(path)
        self.clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._after: list = []
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True, mode=0o750)
            except OSError as exc:
                raise StoreError(f"{parent}: cannot create the database directory: {exc.strerror or exc}") from None
        try:
            self._conn = sqlite3.connect(self.path, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusy(f"{self.path}: database is locked by another process") from None
            raise StoreError(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable SQLite database ({exc})") from None

    def _migrate(self) -> None:
        have = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if have > len(MIGRATIONS):
            raise StoreError(f"{self.path}: schema version {have} is newer than this program ({len(MIGRATIONS)})")
        for i in range(have, len(MIGRATIONS)):
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in MIGRATIONS[i].split(";"):
                    if stmt.strip():
                        self._conn.execute(stmt)
                self._conn.execute(f"PRAGMA user_version = {i + 1}")
                self._conn.execute("COMMIT")
            except Exception:
                self._conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), serialised across threads.

        Re-entrant: a nested ``tx()`` on the same thread joins the outer transaction, so the HTTP
        layer can store an idempotency record atomically with the change it answers."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise StoreBusy(f"{self.path}: database is locked by another process; retry") from None
                raise
            self._depth = 1
            try:
                yield self._conn
            except BaseException:
                self._depth = 0
                self._after.clear()
                self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._after.clear()
                self._conn.execute("ROLLBACK")
                raise StoreBusy(f"{self.path}: commit failed ({exc}); retry") from None
            after, self._after = self._after, []
        for fn in after:
            fn()

    def after_commit(self, fn) -> None:
        """Run ``fn`` after the current transaction commits (at once outside a transaction)."""
        with self._lock:
            if self._depth:
                if fn not in self._after:
                    self._after.append(fn)
                return
        fn()

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._lock:
            cur = self._conn.execute(sql, params)
            cols = [d[0] for d in cur.description or ()]
            return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # ---- services ------------------------------------------------------------------------------
    def sync_services(self, services: Mapping[str, Any]) -> None:
        """Make the services table follow the config; removed services stay (inactive) for history."""
        now = self.clock()
        with self.tx() as c:
            c.execute("UPDATE services SET active = 0")
            for pos, (sid, svc) in enumerate(services.items()):
                c.execute(
                    "INSERT INTO services (id, name, description, position, draft, active, created) "
                    "VALUES (?, ?, ?, ?, ?, 1, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, "
                    "description = excluded.description, position = excluded.position, draft = excluded.draft, active = 1",
                    (sid, svc.name, svc.description, pos, int(svc.draft), now))

    def services(self, active_only: bool = True) -> list[dict]:
        where = "WHERE active = 1" if active_only else ""
        return self.query(f"SELECT * FROM services {where} ORDER BY position, id")

    # ---- idempotency ---------------------------------------------------------------------------
    def idempotent_put(self, c: sqlite3.Connection, key: str, request_hash: str, status: int, response: Any) -> None:
        c.execute("INSERT OR IGNORE INTO idempotency (key, request_hash, status, response, created) VALUES (?, ?, ?, ?, ?)",
                  (key, request_hash, status, json.dumps(response, sort_keys=True), self.clock()))

    def prune(self, now: float) -> None:
        with self.tx() as c:
            c.execute("DELETE FROM idempotency WHERE created < ?", (now - 7 * 86400,))
            c.execute("DELETE FROM subscribe_log WHERE ts < ?", (now - 86400,))
            c.execute("DELETE FROM subscribe_targets WHERE ts < ?", (now - 86400,))
