"""Inputs the long fuzz run (--fuzz-long, 100 000 examples per target) found to crash parsers; each
must now be refused with a clear error (or rendered), never an uncaught exception."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.collectors.aer import AerParseError, parse_aer_table
from hwstatus import texts
from hwstatus.incidents import InputError, parse_eta, parse_time


def test_aer_counter_with_a_non_ascii_digit_is_a_parse_error():
    # "¹".isdigit() is True but int("¹") raises ValueError
    with pytest.raises(AerParseError, match="unexpected line"):
        parse_aer_table("RxErr ¹\n", "TOTAL_ERR_COR")
    assert parse_aer_table("RxErr 3\nTOTAL_ERR_COR 3\n", "TOTAL_ERR_COR") == ({"RxErr": 3}, 3)


@pytest.mark.parametrize("value", [1.5e16, float("inf"), float("nan"), -1e15, -62135596800.0])
def test_incident_times_out_of_the_calendar_are_refused(value):
    # an ETA in the year 494 million was stored and then failed every status page render
    with pytest.raises(InputError, match="out of range"):
        parse_eta(value, 1_764_000_000.0, dt.timezone.utc)
    with pytest.raises(InputError, match="out of range"):
        parse_time(value, "startsAt")
    with pytest.raises(InputError, match="out of range"):
        parse_eta("99999999999d", 1_764_000_000.0, dt.timezone.utc)


def test_rendering_a_stored_impossible_time_does_not_fail():
    assert texts.iso(1.5e16) is None and texts.iso(1_764_000_000.0) == "2025-11-24T16:00:00Z"


def test_page_reads_back_a_year_one_time_without_failing():
    from hwstatus import page
    assert page._ts("1-01-01T00:00:00Z") is None and page._ts("2025-11-24T16:00:00Z") == 1_764_000_000.0


def test_state_db_whose_schema_text_lost_a_column_is_moved_aside(tmp_path):
    """Found by the long fuzz run of test_store_opens_damaged_files (25,661st example): one damaged byte in
    the stored CREATE TABLE text of `kv` renamed its `updated` column. SQLite's quick_check accepts it (the
    schema still parses), and every later write raised "table kv has no column named updated". The file's
    own bytes are bad, so it is moved aside like any other corruption and a new store starts."""
    import sqlite3

    from agent.state.store import Store

    s = Store.in_dir(tmp_path, clock=lambda: 7.0)
    s.put("keep", 1)
    s.close()
    db = tmp_path / "state.db"
    raw = db.read_bytes()
    at = raw.index(b"updated REAL NOT NULL")
    db.write_bytes(raw[:at + 1] + b"0" + raw[at + 2:])  # "u0dated": still a valid CREATE TABLE
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
    conn.close()

    s = Store.in_dir(tmp_path, clock=lambda: 7.0)
    try:
        assert s.recovered_from and "kv" in s.recovered_from and (tmp_path / "state.db.corrupt-7").exists()
        s.put("x", 1)
        assert s.get("x") == 1
    finally:
        s.close()


def test_state_db_with_a_read_only_file_format_is_refused_at_open(tmp_path):
    """Found by the long fuzz re-run of test_store_opens_damaged_files (4,977th example): header byte 18
    (file format write version) set to 3. SQLite opens such a file read-only (sqlite.org/fileformat.html),
    quick_check passes, and every write raised "attempt to write a readonly database". Now a StoreError at
    open naming the file and the version (the daemon then runs on an in-memory copy, as on a read-only disk)."""
    from agent.state.store import Store, StoreError

    s = Store.in_dir(tmp_path)
    s.put("keep", 1)
    s.close()
    db = tmp_path / "state.db"
    raw = bytearray(db.read_bytes())
    raw[18] = 3
    db.write_bytes(bytes(raw))
    with pytest.raises(StoreError, match="write version 3"):
        Store.in_dir(tmp_path)
    assert db.exists() and not list(tmp_path.glob("state.db.corrupt-*"))  # readable data is not moved aside
    copy = Store.memory_copy(db, "state.db cannot be written")
    try:
        assert copy.get("keep") == 1 and copy.degraded
    finally:
        copy.close()
