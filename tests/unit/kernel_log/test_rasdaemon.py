"""rasdaemon's event database as a source: schema-faithful fixture, classes, cursor across restarts."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from agent.collectors.rasdaemon import RasdaemonReader
from agent.model import Severity
from agent.state.store import Store
from tests.unit.kernel_log.test_collector import Clock, make_collector, make_root, split

SQL = Path(__file__).resolve().parents[2] / "fixtures" / "rasdaemon" / "ras-mc_event.sql"
NOW = 1_795_190_000.0  # after the fixture's rows (2026-11-20)


def make_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SQL.read_text())
    conn.commit()
    conn.close()
    return path


def test_rows_become_events_with_the_kernel_log_classes(tmp_path):
    evs, cursor = RasdaemonReader(make_db(tmp_path / "ras.db")).read({}, NOW)
    got = [(e.cls, e.severity, e.component, e.device, e.count) for e in evs]
    assert got == [
        ("edac.ce", Severity.INFO, "memory", "CPU_SrcID#0_MC#0_Chan#1_DIMM#0", 1),
        ("edac.ce", Severity.INFO, "memory", "CPU_SrcID#0_MC#0_Chan#1_DIMM#0", 3),
        ("edac.ue", Severity.CRITICAL, "memory", "CPU_SrcID#1_MC#0_Chan#2_DIMM#0", 1),  # "Info" row: no event
        ("aer.corrected", Severity.INFO, "pcie", "0000:00:1c.0", 1),
        ("aer.nonfatal", Severity.WARNING, "pcie", "0000:02:00.0", 1),
        ("aer.fatal", Severity.CRITICAL, "pcie", "0000:af:00.0", 1),
        ("mce.corrected", Severity.INFO, "memory", "socket0", 1),
        ("mce.fatal", Severity.CRITICAL, "memory", "socket1", 1),
        ("edac.ce", Severity.INFO, "memory", "DIMM_B1", 1),
        ("memory.failure", Severity.WARNING, "memory", "memory", 1),
        ("memory.failure", Severity.CRITICAL, "memory", "memory", 1),
        ("block.io_error", Severity.WARNING, "disk:8:16", "8:16", 1),
        ("devlink.health", Severity.WARNING, "pcie", "0000:3b:00.0", 1),
    ]
    assert cursor == {"mc_event": 4, "aer_event": 3, "mce_record": 2, "extlog_event": 1, "memory_failure_event": 2,
                      "disk_errors": 1, "devlink_event": 1}
    aer = evs[4]
    assert aer.detail["bits"] == ("Completion Timeout", "Unsupported Request") and aer.detail["tlp_header"].startswith("4000")
    assert evs[7].detail["status"] == "0xb20000000001009f" and evs[7].detail["user_action"] == "Reset system"
    assert evs[0].time == 1795170093.0 and evs[0].source == "rasdaemon"  # "2026-11-20 10:21:33 +0000"


def test_collector_reads_after_a_cursor_and_never_twice(tmp_path):
    root = make_root(tmp_path, kmsg="")
    db = make_db(root / "var" / "lib" / "rasdaemon" / "ras-mc_event.db")
    (root / "sys" / "dev" / "block").mkdir(parents=True)
    (root / "sys" / "block" / "sdb").mkdir(parents=True)
    (root / "sys" / "dev" / "block" / "8:16").symlink_to("../../block/sdb")
    store = Store(tmp_path / "state.db")
    clock = Clock(NOW)
    col = make_collector(root, store, clock=clock)
    evs, _, win = split(col.collect())
    assert len([e for e in evs if e.source == "rasdaemon"]) == 13
    io = next(e for e in evs if e.cls == "block.io_error")
    assert (io.component, io.device, io.detail["dev_t"]) == ("disk:sdb", "sdb", "8:16")
    assert win.count("edac.ce", errors=True) == 5
    col.close()
    # restart: nothing again; a new row is read once
    col = make_collector(root, store, clock=clock)
    evs, _, _ = split(col.collect())
    assert [e for e in evs if e.source == "rasdaemon"] == []
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO aer_event VALUES (NULL, '2026-11-20 14:00:00 +0000', '0000:00:1c.0', 'Corrected', "
                 "'Bad TLP')")
    conn.commit()
    conn.close()
    clock.t += 5
    evs, _, _ = split(col.collect())
    assert [(e.cls, e.detail["rasdaemon_id"]) for e in evs] == [("aer.corrected", 4)]
    evs, _, _ = split(col.collect())
    assert evs == []
    col.close()
    # the database recreated (ids start again): its rows are new
    db.unlink()
    conn = sqlite3.connect(db)
    conn.executescript(SQL.read_text().split("INSERT INTO mc_event")[0])
    conn.execute("INSERT INTO mc_event VALUES (NULL, '2026-11-21 09:00:00 +0000', 1, 'Corrected', 'memory read error', "
                 "'DIMM_A1', 0, 0, 0, 0, 0, 32, 0, '')")
    conn.commit()
    conn.close()
    col = make_collector(root, store, clock=clock)
    evs, _, _ = split(col.collect())
    assert [(e.cls, e.device) for e in evs] == [("edac.ce", "DIMM_A1")]
    col.close()


def test_unreadable_database_is_a_problem_not_a_failure(tmp_path):
    root = make_root(tmp_path, kmsg="")
    bad = root / "var" / "lib" / "rasdaemon" / "ras-mc_event.db"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a database" * 100)
    col = make_collector(root, Store(tmp_path / "state.db"))
    evs, st, _ = split(col.collect())
    assert evs == [] and st.source == "kmsg"
    assert any("ras-mc_event.db" in p for p in col.take_problems()[1])
    col.close()


@pytest.mark.skipif(not shutil.which("ras-mc-ctl") or not shutil.which("perl"), reason="rasdaemon's ras-mc-ctl not installed")
def test_fixture_is_read_by_the_real_ras_mc_ctl(tmp_path):
    # the Debian package's own reader (a perl script with the database path built in) on the fixture
    db = make_db(tmp_path / "ras.db")
    script = Path(shutil.which("ras-mc-ctl")).read_text().replace("/var/lib/rasdaemon/ras-mc_event.db", str(db))
    (tmp_path / "ras-mc-ctl").write_text(script)
    res = subprocess.run(["perl", str(tmp_path / "ras-mc-ctl"), "--errors"], capture_output=True, text=True, timeout=60)
    if "Can't locate DBI" in res.stderr:
        pytest.skip("perl DBI/DBD::SQLite missing")
    assert res.returncode == 0, res.stderr
    assert "3 Corrected error(s): memory read error at CPU_SrcID#0_MC#0_Chan#1_DIMM#0" in res.stdout
    assert "0000:af:00.0 Uncorrected (Fatal) error: Malformed TLP" in res.stdout
    assert "severity=corrected" in res.stdout and "fru_text='DIMM_B1'" in res.stdout
    assert "Use of uninitialized" not in res.stderr
