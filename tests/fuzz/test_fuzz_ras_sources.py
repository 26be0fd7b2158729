"""Fuzz the foreign event sources: mcelog's log with random and mangled blocks, and rasdaemon
databases with rows of any type in every column. Readers return events or raise their documented
error (OSError, RasdaemonError) and never anything else."""

from __future__ import annotations

import re
import sqlite3
import tempfile
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import given

from agent.collectors.mcelog import McelogReader
from agent.collectors.rasdaemon import RasdaemonError, RasdaemonReader

FIX = Path(__file__).resolve().parents[1] / "fixtures"
MCELOG = (FIX / "mcelog" / "mcelog.log").read_text()
SQL = (FIX / "rasdaemon" / "ras-mc_event.sql").read_text()
SCHEMA = re.findall(r"^CREATE TABLE IF NOT EXISTS .*\);$", SQL, re.M)
TABLES = {s.split("EXISTS ")[1].split(" (")[0]: len(s.split("(", 1)[1].split(",")) for s in SCHEMA}

values = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.text(max_size=40),
                   st.binary(max_size=20), st.sampled_from(["Corrected", "Uncorrected (Fatal)", "Uncorrected (Non-Fatal)",
                                                            "Info", "2026-11-20 10:21:33 +0000", "0000:00:1c.0", "8:16"]))


def test_mcelog_reader_on_mangled_logs(count):
    lines = MCELOG.splitlines()

    @given(st.lists(st.one_of(st.sampled_from(lines), st.text(max_size=60)), max_size=60), st.integers(0, 5000))
    def inner(parts, offset):
        count()
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "mcelog"
            p.write_text("\n".join(parts) + "\n", errors="replace")
            evs, cur = McelogReader(p).read({"inode": p.stat().st_ino, "offset": offset}, 0.0)
            assert cur["offset"] <= p.stat().st_size and all(e.cls.startswith("mce.") for e in evs)
    inner()


def test_rasdaemon_reader_on_rows_of_any_type(count):
    @given(st.sampled_from(sorted(TABLES)), st.lists(st.lists(values, min_size=1, max_size=30), max_size=6),
           st.dictionaries(st.sampled_from(sorted(TABLES)), st.integers(-5, 10**6), max_size=3))
    def inner(table, rows, cursor):
        count()
        with tempfile.TemporaryDirectory() as d:
            db = Path(d) / "ras.db"
            conn = sqlite3.connect(db)
            conn.executescript("\n".join(SCHEMA))
            n = TABLES[table]
            for r in rows:
                vals = (list(r) + [None] * n)[: n - 1]
                conn.execute(f"INSERT INTO {table} VALUES (NULL{', ?' * (n - 1)})", vals)
            conn.commit()
            conn.close()
            try:
                evs, new = RasdaemonReader(db).read(cursor, 0.0)
            except RasdaemonError:
                return
            assert set(new) <= set(TABLES) and len(evs) <= len(rows)
    inner()
