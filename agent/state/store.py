"""SQLite state: acks, finding lifecycle, sample history and small key/value state.

One file, ``{state_dir}/state.db``, opened with WAL and a busy timeout. Each capability owns its
tables and migrates them with :meth:`Store.migrate` (``component`` + ordered scripts), so features
do not share one version counter. A corrupt database is moved aside (``state.db.corrupt-<ts>``)
and a new one started; the daemon reports that as a finding, it never refuses to run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

Row = tuple[Any, ...]
"""One result row as sqlite3 returns it: the column values in SELECT order (SQLite is dynamically
typed, so each value is checked or converted where it is read)."""


def json_object(text: str) -> dict[str, Any]:
    """A JSON object this layer stored as text; anything else is a damaged row (``ValueError``,
    as for text that is not JSON at all)."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError(f"stored JSON is a {type(value).__name__}, not an object")
    return value

CORE_MIGRATIONS = (
    """
    CREATE TABLE acks (
        rule TEXT NOT NULL,
        subject TEXT NOT NULL,
        token TEXT NOT NULL,
        operator TEXT,
        created REAL NOT NULL,
        PRIMARY KEY (rule, subject)
    );
    CREATE TABLE findings (
        rule TEXT NOT NULL,
        subject TEXT NOT NULL,
        component TEXT NOT NULL,
        device TEXT NOT NULL,
        severity TEXT NOT NULL,
        summary TEXT NOT NULL,
        evidence TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        resolved REAL,
        PRIMARY KEY (rule, subject)
    );
    CREATE TABLE samples (
        key TEXT NOT NULL,
        boot_id TEXT NOT NULL,
        ts REAL NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX samples_key_ts ON samples (key, ts);
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated REAL NOT NULL
    );
    """,
)


BASELINE_MAX_AGE = 2 * 3600.0  # see Store.samples(baseline=True); the daemon's heartbeat is 1 h


class StoreError(Exception):
    """The state store cannot be opened or migrated; the message names the file."""


class StateDirBusy(StoreError):
    """Another process (a running daemon) holds the state directory's lock."""

    def __init__(self, path: Path, pid: int | None):
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"{path}: held by {who} (another `agent run` uses this state directory)")
        self.pid = pid


# SQLite primary result codes that mean the file itself is damaged. Anything else at open
# (read-only, full disk, I/O error, permission, locked) is not corruption and never moves a file.
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    return isinstance(exc, _IntegrityFailed)


class _IntegrityFailed(sqlite3.DatabaseError):
    """quick_check reported damage (SQLite itself says the file is corrupt)."""


class _SchemaDamaged(_IntegrityFailed):
    """A table lacks columns its migrations created: the stored CREATE TABLE text was damaged in a way
    that still parses (a renamed column), which quick_check cannot see (found by fuzzing)."""


_DECLARED: dict[tuple[str, ...], dict[str, set[str]]] = {}


# Stores of this process with their file open (resolved path -> count). SQLite's POSIX locks belong
# to the process and closing *any* descriptor of the file drops them all (sqlite.org/howtocorrupt.html
# 2.2): in WAL mode a process without its shared lock lets another process's last close checkpoint and
# delete the WAL under it. So the header is read with a plain open() only while no Store of this
# process has the file open, and before its own connection exists.
_OPEN: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


def _write_version(path: Path) -> int | None:
    """Byte 18 of an SQLite database header (file format write version: 1 legacy, 2 WAL). Call only
    while this process holds no SQLite connection to ``path`` (see ``_OPEN``)."""
    if str(path) == ":memory:":
        return None
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return None
    return head[18] if len(head) == 20 and head.startswith(b"SQLite format 3\x00") else None


def _declared_columns(scripts: Sequence[str]) -> dict[str, set[str]]:
    """Columns per table that ``scripts`` create (run once on an in-memory database, cached)."""
    key = tuple(scripts)
    if key not in _DECLARED:
        ref = sqlite3.connect(":memory:")
        try:
            for script in scripts:
                for stmt in _split_sql(script):
                    ref.execute(stmt)
            tables = [r[0] for r in ref.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            _DECLARED[key] = {t: {r[1] for r in ref.execute(f'PRAGMA table_info("{t}")')} for t in tables}
        finally:
            ref.close()
    return _DECLARED[key]


class Store:
    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time, durable: bool = False):
        """``durable``: every commit is on disk when it returns (``synchronous = FULL``: the WAL is
        fsynced per commit). For an operator's decisions written by a command (a known-good
        baseline, an acknowledgement): with the daemon's ``NORMAL`` a commit may sit in the page
        cache for the kernel's writeback delay (30 s, vm.dirty_expire_centisecs) and a power loss
        in that window takes it back (sqlite.org/pragma.html#pragma_synchronous), e.g. a board
        that dies right after `agent baseline capture --known-good`."""
        self.path = Path(path)
        self.clock = clock
        self.durable = durable
        self._lock = threading.RLock()
        self.recovered_from: str | None = None  # set when a corrupt file was moved aside
        self.degraded: str | None = None  # set when running on an in-memory stand-in (why)
        self._rlock = threading.Lock()
        self._rconn: sqlite3.Connection | None = None
        self._key = ""  # registered in _OPEN while open
        self._conn = self._open()
        try:
            try:
                self.migrate("core", CORE_MIGRATIONS)
            except _SchemaDamaged as exc:
                if str(self.path) == ":memory:":
                    raise
                self._conn.close()
                self._conn = self._move_aside(exc)
                self.migrate("core", CORE_MIGRATIONS)
        except (sqlite3.Error, UnicodeDecodeError) as exc:  # e.g. a new database on a read-only or full filesystem
            self._conn.close()
            self._forget()
            raise StoreError(f"{self.path}: cannot prepare the schema ({exc})") from None

    @classmethod
    def in_dir(cls, state_dir: str | Path, **kw: Any) -> "Store":
        d = Path(state_dir)
        try:
            d.mkdir(parents=True, exist_ok=True, mode=0o750)
        except PermissionError:
            raise StoreError(f"state directory {d}: permission denied (run as root or pass --state-dir)") from None
        except OSError as exc:
            if not d.is_dir():
                raise StoreError(f"state directory {d}: {exc.strerror}") from None
        return cls(d / "state.db", **kw)

    @classmethod
    def memory(cls) -> "Store":
        return cls(":memory:")

    @classmethod
    def memory_copy(cls, path: str | Path, reason: str) -> "Store":
        """An in-memory store starting from a copy of ``path`` when it can be read (acks and
        history stay visible, nothing is written to disk), else empty. ``degraded`` says why."""
        store = cls.memory()
        p = Path(path)
        copied = False
        if p.exists():
            try:
                # immutable: no -shm/-wal is created (the directory may be read-only)
                src = sqlite3.connect(f"file:{p}?mode=ro&immutable=1", uri=True, timeout=1.0)
                try:
                    row = src.execute("PRAGMA quick_check").fetchone()
                    if row and row[0] == "ok":
                        with store._lock:
                            src.backup(store._conn)
                        copied = True
                finally:
                    src.close()
                store.migrate("core", CORE_MIGRATIONS)
            except (sqlite3.Error, UnicodeDecodeError, StoreError):
                store = cls.memory()
        store.degraded = (f"{reason}; running on an in-memory {'copy of' if copied else 'store instead of'} {p}: "
                          "acknowledgements, history and event cursors are not persisted until this is fixed")
        return store

    # ---- connection ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=5.0, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            if str(self.path) != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute(f"PRAGMA synchronous = {'FULL' if self.durable else 'NORMAL'}")
            row = conn.execute("PRAGMA quick_check").fetchone()
            if row is None or row[0] != "ok":
                raise _IntegrityFailed(f"quick_check: {row[0] if row else 'no answer'}")
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        except BaseException:
            conn.close()
            raise
        return conn

    def _open(self) -> sqlite3.Connection:
        key = os.path.realpath(self.path) if str(self.path) != ":memory:" else ""
        with _OPEN_LOCK:
            # another Store of this process has it open: it checked the header, and reading it now
            # would drop that Store's locks
            version = _write_version(self.path) if key and not _OPEN.get(key) else None
            conn = self._open_checked()
            if version is not None and version > 2 and self.recovered_from is None:
                # sqlite.org/fileformat.html: a write version above 2 makes the file read-only to this SQLite;
                # every write would fail with "attempt to write a readonly database" (found by fuzzing: one
                # byte). Judged after SQLite opened it: a file it calls corrupt was moved aside instead.
                conn.close()
                raise StoreError(f"{self.path}: SQLite file format write version {version}: this SQLite can only "
                                 "read it (written by a newer SQLite, or its header is damaged)")
            if key:
                _OPEN[key] = _OPEN.get(key, 0) + 1
                self._key = key
        return conn

    def _open_checked(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
        except UnicodeDecodeError as exc:
            # SQLite quoted damaged schema text from the file in its error message: the file's own
            # bytes are bad (a full or read-only disk never produces this)
            return self._move_aside(_IntegrityFailed(f"malformed database schema ({exc.reason})"))
        except sqlite3.Error as exc:
            if str(self.path) == ":memory:":
                raise
            if _is_corruption(exc):
                return self._move_aside(exc)
            if "locked" in str(exc):
                raise StoreError(f"{self.path}: database is locked by another process") from None
            # read-only, full, I/O error, permission: the file may be perfectly healthy
            raise StoreError(f"{self.path}: cannot open ({exc})") from None
        return conn

    def _move_aside(self, exc: Exception) -> sqlite3.Connection:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(self.clock())}")
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    os.replace(src, Path(str(aside) + suffix))
        except OSError as err:
            raise StoreError(f"{self.path}: corrupt ({exc}) and cannot be moved aside: {err.strerror}") from None
        self.recovered_from = f"{self.path} was unreadable ({exc}); moved to {aside}, started a new store"
        try:
            return self._connect()
        except (sqlite3.Error, UnicodeDecodeError) as err:
            raise StoreError(f"{self.path}: cannot start a new store ({err})") from None

    def _forget(self) -> None:
        with _OPEN_LOCK:
            key, self._key = self._key, ""
            if key:
                _OPEN[key] -= 1
                if not _OPEN[key]:
                    del _OPEN[key]

    def close(self) -> None:
        self._forget()
        with self._lock:
            self._conn.close()
        with self._rlock:
            if self._rconn is not None:
                self._rconn.close()
                self._rconn = None

    def migrate(self, component: str, scripts: Sequence[str]) -> None:
        """Apply the scripts of ``component`` not yet applied (append-only list)."""
        with self._lock:
            row = self._conn.execute("SELECT version FROM schema_version WHERE component = ?", (component,)).fetchone()
            have = row[0] if row else 0
            if have > len(scripts):
                raise StoreError(f"{self.path}: {component} schema version {have} is newer than this agent ({len(scripts)})")
            for i in range(have, len(scripts)):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in _split_sql(scripts[i]):
                        self._conn.execute(stmt)
                    self._conn.execute(
                        "INSERT INTO schema_version (component, version) VALUES (?, ?) "
                        "ON CONFLICT(component) DO UPDATE SET version = excluded.version", (component, i + 1))
                    self._conn.execute("COMMIT")
                except Exception:
                    self._rollback()
                    raise
            for table, cols in _declared_columns(scripts).items():
                have_cols = {r[1] for r in self._conn.execute(f'PRAGMA table_info("{table}")')}
                if not cols <= have_cols:
                    raise _SchemaDamaged(f"table {table} lacks column(s) {', '.join(sorted(cols - have_cols))} "
                                         "(damaged schema text)")

    def _rollback(self) -> None:
        """Roll back if a transaction is still open: SQLite already rolled back after e.g. "database
        or disk is full", and a second ROLLBACK would replace that error with "no transaction"."""
        if self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the connection is already broken: the original error is raised by the caller

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """A query on a separate read connection: in WAL mode it runs beside a writer (this
        process's or another's), so rules and acks never wait for a held write lock."""
        if str(self.path) == ":memory:" or self.degraded:
            return self.execute(sql, params)
        with self._rlock:
            if self._rconn is None:
                self._rconn = sqlite3.connect(str(self.path), timeout=2.0, check_same_thread=False,
                                              isolation_level=None)
                self._rconn.execute("PRAGMA query_only = 1")
            return self._rconn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany(sql, rows)
                self._conn.execute("COMMIT")
            except Exception:
                self._rollback()
                raise

    # ---- key/value -----------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        rows = self.execute("SELECT value FROM kv WHERE key = ?", (key,))
        if not rows:
            return default
        try:
            return json.loads(rows[0][0])
        except ValueError:
            return default

    def put(self, key: str, value: Any) -> None:
        self.execute(
            "INSERT INTO kv (key, value, updated) VALUES (?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated = excluded.updated",
            (key, json.dumps(value, sort_keys=True), self.clock()),
        )

    # ---- acks ------------------------------------------------------------------------------------
    def ack(self, rule: str, subject: str, token: str, operator: str | None) -> None:
        self.execute(
            "INSERT INTO acks (rule, subject, token, operator, created) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(rule, subject) DO UPDATE SET token = excluded.token, operator = excluded.operator, "
            "created = excluded.created",
            (rule, subject, token, operator, self.clock()),
        )

    def unack(self, rule: str, subject: str) -> None:
        self.execute("DELETE FROM acks WHERE rule = ? AND subject = ?", (rule, subject))

    def acks(self) -> dict[tuple[str, str], str]:
        return {(r, s): t for r, s, t in self.read("SELECT rule, subject, token FROM acks")}

    # ---- finding lifecycle --------------------------------------------------------------------------
    def record_findings(self, findings: Iterable[Any], now: float) -> None:
        """Upsert active findings; mark those no longer present as resolved."""
        active = {}
        for f in findings:
            active[(f.rule, f.subject)] = f
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                for (rule, subject), f in active.items():
                    self._conn.execute(
                        "INSERT INTO findings (rule, subject, component, device, severity, summary, evidence, "
                        "first_seen, last_seen, resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) "
                        "ON CONFLICT(rule, subject) DO UPDATE SET component = excluded.component, "
                        "device = excluded.device, severity = excluded.severity, summary = excluded.summary, "
                        "evidence = excluded.evidence, last_seen = excluded.last_seen, "
                        "first_seen = CASE WHEN findings.resolved IS NULL THEN findings.first_seen ELSE excluded.first_seen END, "
                        "resolved = NULL",
                        (rule, subject, f.component, f.device, f.severity.label, f.summary,
                         json.dumps(dict(f.evidence), sort_keys=True, default=str), now, now),
                    )
                for rule, subject in self._conn.execute("SELECT rule, subject FROM findings WHERE resolved IS NULL").fetchall():
                    if (rule, subject) not in active:
                        self._conn.execute("UPDATE findings SET resolved = ? WHERE rule = ? AND subject = ?", (now, rule, subject))
                self._conn.execute("COMMIT")
            except Exception:
                self._rollback()
                raise

    def finding_times(self) -> dict[tuple[str, str], tuple[float, float]]:
        return {(r, s): (a, b) for r, s, a, b in self.execute(
            "SELECT rule, subject, first_seen, last_seen FROM findings WHERE resolved IS NULL")}

    # ---- samples / history -------------------------------------------------------------------------
    def record_samples(self, boot_id: str, ts: float, values: Mapping[str, float]) -> None:
        if values:
            self.executemany("INSERT INTO samples (key, boot_id, ts, value) VALUES (?, ?, ?, ?)",
                             ((k, boot_id, ts, float(v)) for k, v in values.items()))

    def samples(self, key: str, since: float | None = None, baseline: bool = False) -> list[tuple[str, float, float]]:
        """Samples of ``key`` since ``since``; with ``baseline`` also the last one before it
        (samples are stored on change, so the value at the window start is the one before)."""
        if since is None:
            return self.read("SELECT boot_id, ts, value FROM samples WHERE key = ? ORDER BY ts", (key,))
        rows = self.read("SELECT boot_id, ts, value FROM samples WHERE key = ? AND ts >= ? ORDER BY ts", (key, since))
        if baseline:
            # the daemon stores a value on change and at least hourly: an older row means the agent
            # was not running, and when the growth happened is unknown, so it is no baseline
            before = self.read("SELECT boot_id, ts, value FROM samples WHERE key = ? AND ts < ? AND ts >= ? "
                                  "ORDER BY ts DESC LIMIT 1", (key, since, since - BASELINE_MAX_AGE))
            rows = before + rows
        return rows

    def prune_samples(self, older_than: float) -> int:
        with self._lock:
            cur = self._conn.execute("DELETE FROM samples WHERE ts < ?", (older_than,))
            return cur.rowcount


def _split_sql(script: str) -> Iterator[str]:
    for stmt in script.split(";"):
        if stmt.strip():
            yield stmt


class History:
    """Read-only view of stored samples for rules, counter-reset aware (keyed by boot id).

    ``delta(key, window)`` is the growth of a counter within the window, summed per boot, so a
    kernel counter that resets on reboot is not read as a negative jump. ``first``/``last``
    give the earliest/latest stored value (lifetime counters such as SMART's).
    """

    def __init__(self, store: Store | None, now: float):
        self._store = store
        self._now = now
        self._cache: dict[tuple[str, float | None, bool], list[tuple[str, float, float]]] = {}

    def _rows(self, key: str, since: float | None, baseline: bool = False) -> list[tuple[str, float, float]]:
        if self._store is None:
            return []
        ck = (key, since, baseline)
        if ck not in self._cache:
            self._cache[ck] = self._store.samples(key, since, baseline)
        return self._cache[ck]

    def delta(self, key: str, window: float, current: float | None = None, boot_id: str | None = None) -> float | None:
        rows = list(self._rows(key, self._now - window, baseline=True))
        if current is not None and boot_id is not None:
            rows.append((boot_id, self._now, current))
        if len(rows) < 2:
            return None
        total = 0.0
        prev_boot, prev_val = rows[0][0], rows[0][2]
        for boot, _ts, val in rows[1:]:
            if boot != prev_boot:
                total += max(0.0, val)  # new boot: the counter started again at 0
            elif val >= prev_val:
                total += val - prev_val
            else:
                total += max(0.0, val)  # reset without reboot (driver reload)
            prev_boot, prev_val = boot, val
        return total

    def first(self, key: str) -> float | None:
        rows = self._rows(key, None)
        return rows[0][2] if rows else None

    def last(self, key: str) -> float | None:
        rows = self._rows(key, None)
        return rows[-1][2] if rows else None

    def max(self, key: str, window: float | None = None) -> float | None:
        rows = self._rows(key, None if window is None else self._now - window)
        return max((r[2] for r in rows), default=None)
