"""The state database shared by the daemon and the one-shot commands (`agent baseline push`,
`agent ack`, `agent baseline capture`) running beside it in other processes.

SQLite's POSIX locks belong to the process and are all dropped when *any* descriptor of the file is
closed (sqlite.org/howtocorrupt.html, section 2.2). In WAL mode every connection holds a shared lock
on the database file; the connection that closes last takes an exclusive lock, checkpoints and
deletes the WAL (sqlite.org/wal.html). The store used to read the header's write version with a
plain ``open()``/``close()`` *after* its connection was made: the daemon lost its shared lock at
start-up, the next command that closed believed it was the last user and deleted the WAL under the
running daemon. The daemon went on writing into the deleted WAL: `agent baseline push` records were
never seen by the daemon (``recovery.baseline_not_offhost`` stayed "never" in the VM rehearsal) and
the file was corrupt after the daemon stopped ("wrong # of entries in index sqlite_autoindex_kv_1").
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from agent.state.store import Store

REPO = Path(__file__).resolve().parents[3]


def _other_process(state_dir: Path, key: str, value: int) -> None:
    code = ("import sys; from agent.state.store import Store; s = Store.in_dir(sys.argv[1]); "
            "s.put(sys.argv[2], int(sys.argv[3])); s.close()")
    subprocess.run([sys.executable, "-c", code, str(state_dir), key, str(value)], check=True, cwd=REPO, timeout=60)


def test_a_command_closing_beside_the_daemon_leaves_the_wal_in_use(tmp_path):
    daemon = Store.in_dir(tmp_path)
    daemon.put("kernel_log.cursor", 1)
    _other_process(tmp_path, "baseline.export", 7)  # `agent baseline push` in another process
    # the daemon still has the database open: the other process was not its last user
    assert (tmp_path / "state.db-wal").exists()
    # and the daemon sees what the other process committed, through its own read connection
    rows = daemon.read("SELECT value FROM kv WHERE key = ?", ("baseline.export",))
    assert rows == [("7",)]
    for i in range(50):
        daemon.put(f"k{i}", i)
    daemon.close()
    conn = sqlite3.connect(tmp_path / "state.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 52
    finally:
        conn.close()


def test_a_second_store_in_the_same_process_keeps_the_first_ones_locks(tmp_path):
    first = Store.in_dir(tmp_path)
    second = Store.in_dir(tmp_path)  # e.g. a command that opens the store twice
    second.put("a", 1)
    second.close()
    _other_process(tmp_path, "b", 2)
    assert (tmp_path / "state.db-wal").exists()
    assert first.get("b") == 2
    first.close()
