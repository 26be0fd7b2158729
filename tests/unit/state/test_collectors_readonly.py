"""Collectors only read: no SQL in ``agent/collectors/`` and no writes to the state database."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import agent.collectors

COLLECTORS_DIR = Path(agent.collectors.__file__).parent
# rasdaemon's own database (``ras-mc_event.db``) is a *source* the agent reads, opened read-only
# (``mode=ro``); it is not the agent's state, so its reader may speak SQL
FOREIGN_DB_READERS = {"rasdaemon.py"}
SQL = re.compile(r"^\s*(SELECT\s.+\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s|"
                 r"(CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW)\s|PRAGMA\s+\w+)", re.I | re.S)
# the state layer's writing methods: no collector calls one (on any object: a store passed under another name too)
STATE_WRITES = {"execute", "executemany", "migrate", "put", "record_events", "record_samples", "record_findings",
                "save", "mark_known_good", "auto_known_good", "boot_alive", "boot_clean_stop", "prune", "ack", "unack"}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n == "sqlite3" or n.startswith("sqlite3.") for n in names):
                out.append(f"{path.name}:{node.lineno}: imports sqlite3")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
            out.append(f"{path.name}:{node.lineno}: SQL {node.value[:40]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STATE_WRITES:
            out.append(f"{path.name}:{node.lineno}: calls .{node.func.attr}()")
    return out


def test_no_sql_and_no_state_writes_in_collectors():
    offences = []
    for path in sorted(COLLECTORS_DIR.rglob("*.py")):
        if path.name not in FOREIGN_DB_READERS:
            offences += _offences(path)
    assert offences == []


def test_the_check_finds_sql(tmp_path):
    """The scan above can fail: it flags an import and a statement."""
    bad = tmp_path / "bad.py"
    bad.write_text('import sqlite3\n\ndef f(db):\n    db.execute("INSERT INTO kv (key) VALUES (?)", ("x",))\n'
                   '    db.put("kernel_log.cursor", 1)\n')
    assert sorted(o.split(": ", 1)[1][:16] for o in _offences(bad)) == [
        "SQL 'INSERT INTO", "calls .execute()", "calls .put()", "imports sqlite3"]


def test_smart_collector_never_writes_the_state_db(tmp_path, fake_smartctl):  # noqa: F811 - the fixture
    from agent.collectors.smart import SmartCollector
    from agent.config import CollectorConfig
    from agent.host import Host, HostPaths
    from agent.state.store import Store
    from tests.unit.disk.conftest import corpus_doc  # noqa: PLC0415

    fake_smartctl.scan(("/dev/sda", "sat", "ATA"))
    fake_smartctl.read("/dev/sda", "sat", corpus_doc("sce-ST3500418AS_12.json"))
    store = Store(tmp_path / "state.db")
    store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = store.execute("SELECT name FROM sqlite_master ORDER BY name")
    digest = hashlib.sha256((tmp_path / "state.db").read_bytes()).hexdigest()
    col = SmartCollector(Host(paths=HostPaths(devfs=str(tmp_path)), clock=lambda: 1.7e9),
                         CollectorConfig(options={"selftests": True}), store)
    for _ in range(3):
        (d,) = col.collect()
        assert d.fresh and d.baseline == {}  # history is the enrichment step's, not the collector's
    assert store.execute("SELECT name FROM sqlite_master ORDER BY name") == before
    assert not (tmp_path / "state.db-wal").exists() or (tmp_path / "state.db-wal").stat().st_size == 0
    assert hashlib.sha256((tmp_path / "state.db").read_bytes()).hexdigest() == digest
