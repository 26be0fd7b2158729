"""The state store on read-only and full filesystems, damaged files, a second writer.

Read-only and full filesystems are real: a small tmpfs mounted under the test's directory (needs
root; skipped otherwise), remounted read-only or filled, as ext4 `errors=remount-ro` or a full
/var would do.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.model import Finding, Severity
from agent.statelock import StateLock
from agent.state.store import StateDirBusy, Store, StoreError

ROOT = Path(__file__).resolve().parents[3]
HOSTS = ROOT / "tests" / "fixtures" / "hosts"


def F(subject="c/fan1"):
    return Finding(rule="board.fan_stopped", component="board", subject=subject, device=subject,
                   severity=Severity.CRITICAL, summary="s", fingerprint="stopped")


@pytest.fixture
def tmpfs(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def healthy_db(d: Path) -> None:
    s = Store.in_dir(d)
    s.ack("board.fan_stopped", "c/fan1", "tok", "op")
    s.record_samples("boot", 100.0, {"k": 1.0})
    s.close()


def fill(mnt: Path) -> None:
    with open(mnt / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError:
            pass


def test_read_only_state_dir_is_not_moved_aside_and_runs_in_memory(tmpfs):
    d = tmpfs / "state"
    healthy_db(d)
    before = (d / "state.db").read_bytes()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    with pytest.raises(StoreError, match="state.db"):
        Store.in_dir(d)  # old code: OSError [Errno 30] from _move_aside
    assert (d / "state.db").read_bytes() == before and not list(d.glob("*.corrupt-*"))
    mem = Store.memory_copy(d / "state.db", "read-only")
    assert mem.acks() == {("board.fan_stopped", "c/fan1"): "tok"}  # acks and history still seen
    assert mem.samples("k") == [("boot", 100.0, 1.0)]
    assert "in-memory copy of" in mem.degraded
    mem.record_findings([F()], 200.0)  # writes go to memory, never to the read-only disk


def test_full_filesystem_at_start_keeps_the_database(tmpfs):
    d = tmpfs / "state"
    healthy_db(d)
    for p in d.glob("state.db-*"):
        p.unlink()  # a cleanly closed database: no WAL or shm files yet, so opening must create them
    before = (d / "state.db").read_bytes()
    fill(tmpfs)
    try:
        s = Store.in_dir(d)
    except StoreError:
        s = None
    assert (d / "state.db").read_bytes() == before
    assert not list(d.glob("*.corrupt-*")), "a full disk is not corruption"
    if s is not None:
        assert s.recovered_from is None
        s.close()
    (tmpfs / "filler").unlink()
    s = Store.in_dir(d)
    assert s.acks() == {("board.fan_stopped", "c/fan1"): "tok"} and s.recovered_from is None


def test_disk_full_while_writing_reports_disk_full(tmp_path):
    s = Store(tmp_path / "s.db")
    s.execute("PRAGMA max_page_count = 12")  # SQLite's own SQLITE_FULL, as on a full filesystem
    with pytest.raises(sqlite3.Error) as exc:
        for i in range(200):
            s.record_samples("b", float(i), {f"key-{i}-{j}": float(j) for j in range(50)})
    assert "full" in str(exc.value)  # not "cannot rollback - no transaction is active"


@pytest.mark.parametrize("damage", ["garbage", "truncated", "header-only", "zeroed-page"])
def test_only_sqlite_reported_damage_moves_the_file(tmp_path, damage):
    d = tmp_path / "state"
    healthy_db(d)
    db = d / "state.db"
    s = Store(db)
    s.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    data = db.read_bytes()
    if damage == "garbage":
        db.write_bytes(b"not a database" * 500)
    elif damage == "truncated":
        db.write_bytes(data[: len(data) // 2])
    elif damage == "header-only":
        db.write_bytes(data[:100])
    else:
        db.write_bytes(data[:4096] + b"\xff" * 4096 + data[8192:])
    try:
        s = Store.in_dir(d, clock=lambda: 42.0)
    except StoreError:
        return  # refused cleanly (never a crash)
    if s.recovered_from:
        assert (d / "state.db.corrupt-42").exists()
    s.put("x", 1)
    assert s.get("x") == 1


def test_locked_database_is_not_corruption(tmp_path):
    d = tmp_path / "state"
    healthy_db(d)
    other = sqlite3.connect(str(d / "state.db"), isolation_level=None)
    other.execute("PRAGMA journal_mode = DELETE")  # another tool, rollback journal, exclusive lock
    other.execute("BEGIN EXCLUSIVE")
    try:
        try:
            s = Store(d / "state.db")
            s.close()
        except StoreError as exc:
            assert "corrupt" not in str(exc)
        assert not list(d.glob("*.corrupt-*"))
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_state_lock_is_exclusive_and_names_the_holder(tmp_path):
    lock = StateLock.acquire(tmp_path)
    assert StateLock.holder(tmp_path) == os.getpid()
    code = ("import sys; from agent.statelock import StateLock\n"
            "try:\n    StateLock.acquire(sys.argv[1])\nexcept Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert f"held by pid {os.getpid()}" in out.stdout
    lock.release()
    assert StateLock.holder(tmp_path) is None
    again = StateLock.acquire(tmp_path)  # free again once released
    with pytest.raises(StateDirBusy):
        other = subprocess.run([sys.executable, "-c", code.replace("print(e)", "raise"), str(tmp_path)],
                               capture_output=True, text=True, timeout=30)
        if "StateDirBusy" in other.stderr:
            raise StateDirBusy(tmp_path, None)
    again.release()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(tmp_path, state, port):
    return subprocess.Popen([sys.executable, "-m", "agent", "run", "--web.listen-address", f"127.0.0.1:{port}",
                             "--path.rootfs", str(HOSTS / "synthetic-healthy" / "tree"), "--state-dir", str(state)],
                            stderr=subprocess.PIPE, text=True)


def _wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
    raise AssertionError("did not listen")


def test_second_daemon_on_one_state_dir_is_refused(tmp_path):
    state = tmp_path / "state"
    port = _free_port()
    first = _start(tmp_path, state, port)
    try:
        _wait_port(port, first)
        code = ("import sys, agent.cli.run as r; r.STATE_LOCK_WAIT_SECONDS = 1.0; from agent.cli import main; "
                "sys.argv = ['agent'] + sys.argv[1:]; main()")
        second = subprocess.run([sys.executable, "-c", code, "run", "--web.listen-address",
                                 f"127.0.0.1:{_free_port()}", "--path.rootfs", str(HOSTS / "synthetic-healthy" / "tree"),
                                 "--state-dir", str(state)], capture_output=True, text=True, timeout=60)
        assert second.returncode != 0
        assert f"held by pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)


def test_check_while_a_daemon_holds_the_state_dir_writes_nothing(tmp_path):
    state = tmp_path / "state"
    healthy_db(state)
    s = Store.in_dir(state)
    s.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    files = {p.name: p.read_bytes() for p in state.iterdir() if p.name != "agent.lock"}
    lock = StateLock.acquire(state)  # this test process stands in for the running daemon
    try:
        chk = subprocess.run([sys.executable, "-m", "agent", "check", "--json", "--path.rootfs",
                              str(HOSTS / "synthetic-healthy" / "tree"), "--state-dir", str(state)],
                             capture_output=True, text=True, timeout=120)
    finally:
        lock.release()
    assert chk.returncode in (0, 1, 2), chk.stderr
    assert '"findings"' in chk.stdout
    after = {p.name: p.read_bytes() for p in state.iterdir() if p.name != "agent.lock"}
    assert after == files  # old code: a second writer storing the same events again


def test_agent_run_on_a_read_only_state_dir_serves_metrics_with_a_finding(tmpfs):
    d = tmpfs / "state"
    healthy_db(d)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    port = _free_port()
    proc = _start(tmpfs, d, port)
    try:
        _wait_port(port, proc)
        import http.client

        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/metrics")
            body = c.getresponse().read().decode()
            if 'rule="agent.state_unavailable"' in body:
                break
            time.sleep(0.3)
        assert 'hwagent_finding_active{component="agent",device="state.db",rule="agent.state_unavailable"' in body
        assert "hwagent_state_store_persistent 0.0" in body
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_damaged_schema_text_is_corruption_not_a_crash(tmp_path):
    """Found by fuzzing: a byte flipped inside the schema made SQLite quote invalid UTF-8 in its
    error message, and opening raised UnicodeDecodeError (the daemon would not start)."""
    d = tmp_path / "state"
    healthy_db(d)
    s = Store(d / "state.db")
    s.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    data = bytearray((d / "state.db").read_bytes())
    at = data.find(b"CREATE TABLE acks")
    assert at > 0
    data[at + 20] = 0x80
    (d / "state.db").write_bytes(bytes(data))
    s = Store.in_dir(d, clock=lambda: 5.0)
    assert s.recovered_from and (d / "state.db.corrupt-5").exists()
    s.put("x", 1)
    assert s.get("x") == 1
