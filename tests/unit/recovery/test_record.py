"""Run records: atomic writes, corrupt and newer files refused and kept, audit chain, lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from agent.recovery.record import FORMAT_VERSION, LockedError, RecordError, RunStore, atomic_write_json


def _rec(store, run_id="r1"):
    return store.create({"format_version": FORMAT_VERSION, "run_id": run_id, "runbook": {"id": "t"}, "status": "running",
                         "created": time.time(), "steps": {"A": {"state": "pending"}}, "order": ["A"]})


def test_atomic_write_leaves_no_temp_and_replaces(tmp_path):
    p = tmp_path / "x.json"
    atomic_write_json(p, {"a": 1})
    atomic_write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["x.json"]
    assert oct(os.stat(p).st_mode & 0o777) == "0o600"


def test_transition_persists_each_state(tmp_path):
    store = RunStore(tmp_path)
    rec = _rec(store)
    for state in ("checking", "applying", "verifying", "verified"):
        rec.transition("A", state)
        assert json.loads(store.path("r1").read_text())["steps"]["A"]["state"] == state
    assert [h["state"] for h in store.load("r1").data["steps"]["A"]["history"]] == ["checking", "applying", "verifying", "verified"]


def test_corrupt_run_file_is_refused_and_kept(tmp_path):
    store = RunStore(tmp_path)
    _rec(store)
    p = store.path("r1")
    p.write_bytes(b'{"format_version": 1, "steps": {"A": ')
    before = p.read_bytes()
    with pytest.raises(RecordError, match="is corrupt .*left as it is"):
        store.load("r1")
    assert p.read_bytes() == before
    p.write_text('["not", "a", "record"]')
    with pytest.raises(RecordError, match="not a run record"):
        store.load("r1")
    assert [r["status"] for r in store.list()] == ["unreadable"]


def test_newer_run_file_is_refused_and_kept(tmp_path):
    store = RunStore(tmp_path)
    rec = _rec(store)
    rec.data["format_version"] = FORMAT_VERSION + 1
    rec.save()
    before = store.path("r1").read_bytes()
    with pytest.raises(RecordError, match=f"format version {FORMAT_VERSION + 1}, newer .* upgrade hwagent"):
        store.load("r1")
    assert store.path("r1").read_bytes() == before


def test_load_by_prefix_and_unknown(tmp_path):
    store = RunStore(tmp_path)
    _rec(store, "20261125T010203Z-t-abcd")
    assert store.load("20261125T010203Z").run_id == "20261125T010203Z-t-abcd"
    with pytest.raises(RecordError, match="no run 'zzz'"):
        store.load("zzz")
    with pytest.raises(RecordError, match="invalid run id"):
        store.load("../etc/passwd")


def test_audit_log_is_hash_chained(tmp_path):
    store = RunStore(tmp_path)
    for i in range(5):
        store.audit("event", n=i)
    assert store.verify_audit() == (True, "chain intact")
    log = store.dir / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[2] = lines[2].replace('"n": 2', '"n": 7')
    log.write_text("\n".join(lines) + "\n")
    ok, why = store.verify_audit()
    assert not ok and "line 4" in why
    log.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # a removed line breaks the chain too
    assert not store.verify_audit()[0]


def test_lock_blocks_a_second_executor(tmp_path):
    store = RunStore(tmp_path)
    with store.lock("r1"):
        # a second process trying the same lock gets a clear error naming the holder
        code = ("import sys; from agent.recovery.record import RunStore, LockedError\n"
                f"s = RunStore({str(tmp_path)!r})\n"
                "try:\n    s.lock('r2').__enter__()\nexcept LockedError as e:\n    print(e); sys.exit(3)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 3, out.stderr
        assert f"pid {os.getpid()}" in out.stdout and "run r1" in out.stdout
        with pytest.raises(LockedError):  # and in-process a second open file description as well
            with store.lock("r3"):
                pass
    with store.lock("r4"):  # released
        pass


def test_lock_is_released_when_the_holder_dies(tmp_path):
    store = RunStore(tmp_path)
    store.ensure()
    code = ("import os, signal, fcntl\n"
            f"fd = os.open({str(store.dir / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nos.kill(os.getpid(), signal.SIGKILL)\n")
    subprocess.run([sys.executable, "-c", code], timeout=60)
    with store.lock("r1"):
        pass


def test_baseline_copies_beside_runs_are_not_runs(tmp_path):
    store = RunStore(tmp_path)
    _rec(store, "20261125T010203Z-t-abcd")
    (store.dir / "20261125T010203Z-t-abcd.baseline.json").write_text("{}")
    assert [r["run_id"] for r in store.list()] == ["20261125T010203Z-t-abcd"]
    assert store.load("20261125T010203Z-t").run_id == "20261125T010203Z-t-abcd"
