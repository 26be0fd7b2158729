from __future__ import annotations


import pytest

from agent.model import Finding, Severity
from agent.state.store import History, Store, StoreError


def F(rule="board.fan_stopped", subject="c/fan1", sev=Severity.CRITICAL, fp="stopped"):
    return Finding(rule=rule, component="board", subject=subject, device=subject, severity=sev, summary="s",
                   fingerprint=fp)


def test_created_on_first_run_and_reopened(tmp_path):
    d = tmp_path / "state"
    s = Store.in_dir(d)
    s.put("k", {"a": 1})
    s.close()
    assert Store.in_dir(d).get("k") == {"a": 1}


def test_corrupt_database_is_moved_aside(tmp_path):
    d = tmp_path / "state"
    d.mkdir()
    (d / "state.db").write_bytes(b"this is not sqlite" * 100)
    s = Store.in_dir(d, clock=lambda: 1234.0)
    assert s.recovered_from and "state.db.corrupt-1234" in s.recovered_from
    assert (d / "state.db.corrupt-1234").read_bytes().startswith(b"this is not sqlite")  # kept, not deleted
    s.put("x", 1)
    assert s.get("x") == 1


def test_newer_schema_is_refused(tmp_path):
    s = Store(tmp_path / "s.db")
    s.migrate("feature", ("CREATE TABLE a (x)", "CREATE TABLE b (x)"))
    with pytest.raises(StoreError, match="newer than this agent"):
        s.migrate("feature", ("CREATE TABLE a (x)",))


def test_unwritable_state_dir_is_a_clear_error(tmp_path, monkeypatch):
    from pathlib import Path

    def deny(self, *a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", deny)
    with pytest.raises(StoreError, match="permission denied"):
        Store.in_dir(tmp_path / "x")


def test_finding_lifecycle(tmp_path):
    s = Store(tmp_path / "s.db")
    s.record_findings([F()], 100.0)
    s.record_findings([F()], 160.0)
    assert s.finding_times()[("board.fan_stopped", "c/fan1")] == (100.0, 160.0)
    s.record_findings([], 200.0)
    assert s.finding_times() == {}
    s.record_findings([F()], 300.0)  # comes back: a new episode
    assert s.finding_times()[("board.fan_stopped", "c/fan1")] == (300.0, 300.0)


def test_history_delta_handles_reboots_and_resets(tmp_path):
    s = Store(tmp_path / "s.db")
    s.record_samples("boot1", 0, {"k": 10})
    s.record_samples("boot1", 100, {"k": 15})
    s.record_samples("boot2", 200, {"k": 3})  # counter restarted at boot
    s.record_samples("boot2", 300, {"k": 1})  # driver reload reset
    h = History(s, now=300)
    assert h.delta("k", 1000) == 5 + 3 + 1
    # window from 150: the value before it (boot1: 15) is the baseline; boot2 started at 0 (+3), then reset (+1)
    assert h.delta("k", 150) == 3 + 1
    assert History(s, now=300).delta("k", 1000, current=4, boot_id="boot2") == 5 + 3 + 1 + 3
    assert h.first("k") == 10 and h.last("k") == 1 and h.max("k") == 15
    assert History(None, 0).delta("k", 10) is None


def test_acks(tmp_path):
    s = Store(tmp_path / "s.db")
    s.ack("r", "sub", "critical:x", "alice")
    assert s.acks() == {("r", "sub"): "critical:x"}
    s.unack("r", "sub")
    assert s.acks() == {}


def test_delta_uses_the_value_before_the_window_as_baseline(tmp_path):
    """Samples are stored on change: the counter's value at the window start is the last one before it."""
    s = Store(tmp_path / "s.db")
    s.record_samples("b", 0, {"k": 10})
    s.record_samples("b", 5000, {"k": 14})
    assert History(s, now=6000).delta("k", 3600) == 4
    assert History(s, now=6000).delta("k", 3600, current=20, boot_id="b") == 10
    assert History(s, now=6000).max("k", 3600) == 14  # max stays within the window


def test_daemon_stores_samples_on_change_with_heartbeat(fakesys, make_host, tmp_path):
    from agent.schema import from_mapping
    from agent.daemon import Daemon

    fakesys.proc_basics()
    fakesys.hwmon_chip(0, "nct6779", "platform/nct6775.656", {"fan1_input": 1000})
    t = {"now": 1000.0}
    store = Store(tmp_path / "s.db")
    d = Daemon(from_mapping({}), make_host(fakesys.root), store, clock=lambda: t["now"])
    from agent.collectors.hwmon import HwmonCollector

    d = Daemon(from_mapping({}), make_host(fakesys.root), store, clock=lambda: t["now"],
               collector_classes=(HwmonCollector,))
    for step in range(10):  # ten minutes, unchanged
        t["now"] = 1000.0 + 60 * step
        d.run_once()
    assert len(store.samples("hwmon.fan:platform_nct6775_656/fan1")) == 1
    t["now"] += 3600
    d.run_once()
    assert len(store.samples("hwmon.fan:platform_nct6775_656/fan1")) == 2
