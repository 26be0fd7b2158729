"""kernel_log collector: kmsg replay through a fake /dev/kmsg, restarts, journal fallback,
previous boot (pstore, unexpected reboot), garbage, the event history and `agent events`."""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.collectors.kernel_log import KernelLogCollector, _KmsgReader
from agent.config import CollectorConfig
from agent.state.events import EventStore
from agent.host import CommandResult, Host, HostPaths
from agent.model import Severity
from agent.model.events import EventWindow, KernelEvent, KernelLogStatus
from agent.state.store import Store
from tests.support.enriched import Enriched
from tests.unit.kernel_log.kmsg import dmesg_to_kmsg

LAB = Path(__file__).resolve().parents[2] / "fixtures" / "kernel_log" / "lab"
NOW = 1_764_003_600.0
BOOT_A = "11111111-2222-3333-4444-555555555555"
BOOT_B = "99999999-8888-7777-6666-555555555555"


def lab_lines(scenario: str, kind: str = "fault") -> list[str]:
    return (LAB / f"{scenario}.{kind}-dmesg.txt").read_text().splitlines()


class Clock:
    def __init__(self, t: float = NOW):
        self.t = t

    def __call__(self) -> float:
        return self.t


def make_root(tmp_path: Path, boot: str = BOOT_A, kmsg: str | None = "", uptime: float = 600.0) -> Path:
    root = tmp_path / "root"
    (root / "proc" / "sys" / "kernel" / "random").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "sys" / "kernel" / "random" / "boot_id").write_text(boot + "\n")
    (root / "proc" / "uptime").write_text(f"{uptime:.2f} 100.00\n")
    (root / "dev").mkdir(exist_ok=True)
    (root / "sys").mkdir(exist_ok=True)
    if kmsg is not None:
        (root / "dev" / "kmsg").write_text(kmsg)
    return root


def make_collector(root: Path, store, clock=None, runner=None, **opts) -> KernelLogCollector:
    """The collector, run as the daemon runs it (collect, then the enrichment step that stores)."""
    opts.setdefault("follow", False)
    host = Host(paths=HostPaths(rootfs=str(root)), runner=runner or no_commands, clock=clock or Clock())
    return Enriched(KernelLogCollector(host, CollectorConfig(options=opts), store))  # type: ignore[return-value]


def no_commands(argv, timeout, env=None):
    return CommandResult(tuple(argv), None, b"", b"", 0.0, f"not found: {argv[0]}")


def split(readings):
    evs = [r for r in readings if isinstance(r, KernelEvent)]
    st = next(r for r in readings if isinstance(r, KernelLogStatus))
    win = next(r for r in readings if isinstance(r, EventWindow))
    return evs, st, win


def test_replay_with_sequence_gap(tmp_path):
    lines = lab_lines("disk-io-error", "before") + lab_lines("disk-io-error")
    text = dmesg_to_kmsg(lines, first_seq=1, skip_seqs={100, 101, 102, 450})
    root = make_root(tmp_path, kmsg=text)
    store = Store(tmp_path / "state.db")
    col = make_collector(root, store)
    evs, st, win = split(col.collect())
    n = text.count("\n")
    assert st.records_total == n and st.records_lost_total == 4 and st.malformed_total == 0
    assert st.source == "kmsg" and st.boot_id == BOOT_A
    classes = sorted({e.cls for e in evs})
    assert classes == ["ata.error", "block.io_error", "nvme.io_error", "scsi.error"]
    io = [e for e in evs if e.cls == "block.io_error"]
    assert [e.device for e in io] == ["sda", "nvme0c0n1"]
    # wall time = boot time (now - uptime) + monotonic offset
    assert io[0].time == pytest.approx(NOW - 600.0 + 7.727063)
    assert io[0].seq is not None and io[0].boot_id == BOOT_A and io[0].priority == 6 and io[0].facility == 0
    assert st.events_total[("block.io_error", "warning")] == 2
    assert win.count("block.io_error") == 2 and win.count("ata.") == 6
    col.close()


def test_restart_does_not_double_count(tmp_path):
    lines = lab_lines("aer-corrected", "before") + lab_lines("aer-corrected")
    text = dmesg_to_kmsg(lines)
    root = make_root(tmp_path, kmsg=text)
    db = tmp_path / "state.db"
    store = Store(db)
    col = make_collector(root, store)
    evs, st, _ = split(col.collect())
    assert [e.cls for e in evs] == ["aer.corrected"]
    col.close()
    store.close()
    # agent restarts in the same boot: the ring buffer still holds everything
    store = Store(db)
    col = make_collector(root, store)
    evs, st, win = split(col.collect())
    assert evs == [] and st.events_total == {} and st.records_total == 0 and st.records_lost_total == 0
    assert win.count("aer.corrected") == 1  # the history still has the first one
    # new records arrive after the restart
    last = text.count("\n")
    more = dmesg_to_kmsg(lab_lines("aer-uncorrected"), first_seq=last + 1)
    with open(root / "dev" / "kmsg", "a") as fh:
        fh.write(more)
    evs, st, win = split(col.collect())
    assert [e.cls for e in evs] == ["aer.nonfatal"] and st.records_total == more.count("\n")
    assert st.records_lost_total == 0
    assert sorted(r["class"] for r in EventStore(store).query(cls="aer")) == ["aer.corrected", "aer.nonfatal"]
    col.close()


def test_records_lost_while_agent_was_down(tmp_path):
    text = dmesg_to_kmsg(lab_lines("aer-corrected"), first_seq=1)
    root = make_root(tmp_path, kmsg=text)
    db = tmp_path / "state.db"
    store = Store(db)
    col = make_collector(root, store)
    col.collect()
    col.close()
    # ring buffer wrapped while the agent was stopped: records 5..9 are gone
    (root / "dev" / "kmsg").write_text(dmesg_to_kmsg(lab_lines("aer-uncorrected"), first_seq=10))
    col = make_collector(root, store)
    evs, st, _ = split(col.collect())
    assert st.records_lost_total == 5 and [e.cls for e in evs] == ["aer.nonfatal"]
    col.close()


def test_tail_thread_follows_a_growing_file(tmp_path):
    root = make_root(tmp_path, kmsg=dmesg_to_kmsg(lab_lines("mce-corrected", "before")))
    store = Store(tmp_path / "state.db")
    col = make_collector(root, store, follow=True, poll_seconds=0.05)
    evs, st, _ = split(col.collect())
    assert evs == []
    first = st.records_total
    with open(root / "dev" / "kmsg", "a") as fh:
        fh.write(dmesg_to_kmsg(lab_lines("mce-corrected"), first_seq=first + 1))
    deadline = time.monotonic() + 5
    while col.records_total == first and time.monotonic() < deadline:
        time.sleep(0.02)
    assert col.records_total == first + 4  # read by the thread, before collect() runs
    evs, st, _ = split(col.collect())
    assert [(e.cls, e.component, e.detail["bank"]) for e in evs] == [("mce.corrected", "memory", 1)]
    col.close()
    assert not col._thread.is_alive()


def test_fifo_kmsg(tmp_path):
    root = make_root(tmp_path, kmsg=None)
    fifo = root / "dev" / "kmsg"
    os.mkfifo(fifo)
    data = dmesg_to_kmsg(lab_lines("aer-uncorrected"))

    def writer():
        with open(fifo, "w") as fh:
            fh.write(data)

    store = Store(tmp_path / "state.db")
    col = make_collector(root, store, follow=True, poll_seconds=0.05)
    t = threading.Thread(target=writer)
    col.collect()
    t.start()
    t.join(5)
    deadline = time.monotonic() + 5
    while col.records_total < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    evs, st, _ = split(col.collect())
    assert [e.cls for e in evs] == ["aer.nonfatal"] and st.records_total == 5
    col.close()


def test_epipe_is_counted_and_survived(tmp_path, monkeypatch):
    root = make_root(tmp_path, kmsg="6,1,10,-;hello\n6,5,20,-;pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down\n")
    reader = _KmsgReader(str(root / "dev" / "kmsg"))
    real_read = os.read
    calls = {"n": 0}

    def flaky(fd, n):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.EPIPE, "Broken pipe")
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", flaky)
    text = reader.read_available()
    monkeypatch.setattr(os, "read", real_read)
    assert reader.overruns == 1 and text.count("\n") == 2
    reader.close()
    store = Store(tmp_path / "state.db")
    col = make_collector(root, store)
    evs, st, _ = split(col.collect())
    assert st.records_lost_total == 3 and [e.cls for e in evs] == ["pcie.link_down"]
    col.close()


def test_garbage_kmsg(tmp_path):
    import random

    rng = random.Random(3)
    blob = bytes(rng.randrange(256) for _ in range(20000))
    good = dmesg_to_kmsg(lab_lines("aer-uncorrected"), first_seq=50)
    root = make_root(tmp_path)
    with open(root / "dev" / "kmsg", "wb") as fh:
        fh.write(b"6,1,100,-;ok\n" + blob + b"\n6,2,3\n" + b"3,3,5,-;" + b"A" * 3_000_000 + b"\n" + good.encode())
    store = Store(tmp_path / "state.db")
    col = make_collector(root, store)
    evs, st, _ = split(col.collect())
    assert [e.cls for e in evs] == ["aer.nonfatal"]
    assert st.malformed_total >= 1 and st.records_total >= 5
    col.close()


def test_journal_fallback_with_cursor(tmp_path):
    root = make_root(tmp_path, kmsg=None)  # no /dev/kmsg
    (root / "var" / "log" / "journal").mkdir(parents=True)
    entries = [
        {"MESSAGE": "pcieport 0000:00:01.0: AER: Uncorrected (Fatal) error message received from 0000:00:01.0",
         "PRIORITY": "3", "SYSLOG_FACILITY": "0", "_SOURCE_MONOTONIC_TIMESTAMP": "7288944", "_BOOT_ID": BOOT_A,
         "__REALTIME_TIMESTAMP": str(int((NOW - 60) * 1e6)), "__CURSOR": "s=abc;i=1"},
        {"MESSAGE": list(b"pcieport 0000:00:01.0:    [ 5] SDES                   (First)"), "PRIORITY": "3",
         "_SOURCE_MONOTONIC_TIMESTAMP": "7289000", "_BOOT_ID": BOOT_A, "__CURSOR": "s=abc;i=2"},
        {"MESSAGE": "random noise", "_BOOT_ID": BOOT_A, "__CURSOR": "s=abc;i=3"},
    ]
    calls = []

    def runner(argv, timeout, env=None):
        calls.append(list(argv))
        if "-b" in argv and "-1" in argv:
            return CommandResult(tuple(argv), 0, b"", b"", 0.1)
        if any(a.startswith("--after-cursor=") for a in argv):
            return CommandResult(tuple(argv), 0, b"", b"", 0.1)
        out = "\n".join(json.dumps(e) for e in entries) + "\nnot json\n"
        return CommandResult(tuple(argv), 0, out.encode(), b"", 0.1)

    store = Store(tmp_path / "state.db")
    col = make_collector(root, store, runner=runner)
    evs, st, _ = split(col.collect())
    assert st.source == "journal" and [e.cls for e in evs] == ["aer.fatal"]
    assert evs[0].detail["bits"] == ("SDES",) and evs[0].time == pytest.approx(NOW - 60)
    assert evs[0].source == "journal" and st.malformed_total == 1
    assert store.get("kernel_log.journal_cursor") == "s=abc;i=3"
    evs, st, _ = split(col.collect())
    assert evs == [] and "--after-cursor=s=abc;i=3" in calls[-1]
    assert all("-D" in c for c in calls)  # a non-live root reads its own journal directory
    col.close()


def test_no_kmsg_no_journal_is_no_data(tmp_path):
    from agent.collectors.base import run_collector

    root = make_root(tmp_path, kmsg=None)
    col = make_collector(root, Store(tmp_path / "s.db"))
    readings, status = run_collector(col, None)
    assert status.no_data and "kmsg" in (status.error or "")
    col.close()


def test_previous_boot_pstore_and_unexpected_reboot(tmp_path):
    db = tmp_path / "state.db"
    # boot A: the agent runs, then the host dies (no close(): no clean-stop marker)
    root = make_root(tmp_path, boot=BOOT_A, kmsg=dmesg_to_kmsg(lab_lines("mce-fatal", "before")))
    store = Store(db)
    clock = Clock(NOW)
    col = make_collector(root, store, clock=clock)
    col.collect()
    store.close()
    # boot B: pstore holds the panic of boot A
    clock.t = NOW + 3600
    root = make_root(tmp_path, boot=BOOT_B, kmsg=dmesg_to_kmsg(lab_lines("mce-fatal", "before")), uptime=30)
    pstore = root / "sys" / "fs" / "pstore"
    pstore.mkdir(parents=True)
    (pstore / "dmesg-erst-7355608334723661825").write_text(
        "Panic#1 Part1\n" + "\n".join("<0>" + ln for ln in (LAB / "mce-fatal.console-tail.txt").read_text().splitlines()))
    store = Store(db)
    col = make_collector(root, store, clock=clock)
    evs, st, win = split(col.collect())
    got = sorted((e.cls, e.source, e.previous_boot, e.boot_id) for e in evs)
    assert got == [("mce.fatal", "pstore", True, BOOT_A), ("panic.mce", "pstore", True, BOOT_A),
                   ("reboot.unexpected", "agent", False, BOOT_B)]
    # the previous boot ended before this one began (uptime 30 s): dated 62 s before this boot
    (reboot,) = [e for e in evs if e.cls == "reboot.unexpected"]
    assert reboot.time == clock.t - 30 - 62
    assert [b.boot_id for b in win.boots] == [BOOT_A, BOOT_B] and win.boots[0].clean_stop is None

    from agent import rules
    from agent.model import Snapshot
    from types import MappingProxyType

    snap = Snapshot(time=clock.t, boot_id=BOOT_B, readings=MappingProxyType({"kernel_log": (win,)}),
                    statuses=MappingProxyType({}))
    findings, errors = rules.evaluate(snap, None, None, clock.t)
    ids = {f.rule: f for f in findings}
    assert not errors
    assert ids["board.previous_boot_mce_panic"].severity == Severity.CRITICAL
    assert ids["board.unexpected_reboot"].severity == Severity.WARNING
    assert ids["cpu.machine_check_uncorrected"].severity == Severity.CRITICAL
    assert "board.repeated_unexpected_reboots" not in ids
    # the same boot seen again (agent restart) does not add a second reboot or pstore event
    col.close()
    col = make_collector(root, store, clock=clock)
    evs, _, win = split(col.collect())
    assert evs == [] and win.count("reboot.unexpected") == 1
    col.close()
    # boot C after a clean stop of boot B: no unexpected reboot
    clock.t += 3600
    root = make_root(tmp_path, boot="cccccccc-0000-0000-0000-000000000000", kmsg="")
    col = make_collector(root, store, clock=clock)
    evs, _, _ = split(col.collect())
    assert [e.cls for e in evs] == []
    col.close()


def test_storm_is_coalesced_in_the_history(tmp_path):
    recs = []
    for i in range(5000):
        recs.append(f"3,{1 + 2 * i},{1_000_000 + i},-;pcieport 0000:00:1d.0: AER: Corrected error message received from 0000:00:1d.0")
        recs.append(f"3,{2 + 2 * i},{1_000_000 + i},-;pcieport 0000:00:1d.0:    [ 0] RxErr                  (First)")
    root = make_root(tmp_path, kmsg="\n".join(recs) + "\n")
    store = Store(tmp_path / "state.db")
    col = make_collector(root, store)
    evs, st, win = split(col.collect())
    # the first PASS_THROUGH (8) events as they are, the 4,992 after them in the same minute as one aggregate
    # (count, first and last line)
    assert [(e.detail.get("coalesced_events"), e.count) for e in evs] == [(None, 1)] * 8 + [(4992, 4992)]
    assert len(evs[8].raw) == 2 and evs[8].detail["first_time"] < evs[8].detail["last_time"] and evs[8].detail["bits"] == ("RxErr",)
    assert st.events_total[("aer.corrected", "info")] == 5000 and st.coalesced_total == 4992
    assert store.execute("SELECT COUNT(*), SUM(events) FROM events")[0] == (9, 5000)
    assert win.count("aer.corrected") == 5000
    col.close()


def test_agent_events_cli(tmp_path):
    from agent.cli import cli

    state = tmp_path / "state"
    state.mkdir()
    store = Store(state / "state.db")
    root = make_root(tmp_path, kmsg=dmesg_to_kmsg(lab_lines("disk-io-error") + lab_lines("mce-uncorrected")))
    clock = Clock(time.time())
    col = make_collector(root, store, clock=clock)
    col.collect()
    col.close()
    store.close()
    runner = CliRunner()
    res = runner.invoke(cli, ["events", "--state-dir", str(state), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["class"] for r in rows} >= {"block.io_error", "mce.uncorrected", "memory.failure", "ata.error"}
    res = runner.invoke(cli, ["events", "--state-dir", str(state), "--component", "disk", "--class", "block"])
    assert res.exit_code == 0 and "block.io_error" in res.output and "disk:sda" in res.output and "mce" not in res.output
    res = runner.invoke(cli, ["events", "--state-dir", str(state), "--since", "7d", "--severity", "critical"])
    assert "mce.uncorrected" in res.output and "ata.error" not in res.output
    res = runner.invoke(cli, ["events", "--state-dir", str(state), "--since", "soon"])
    assert res.exit_code == 2 and "invalid duration" in res.output


def test_metrics_from_status(tmp_path):
    from agent.exporter.collector import collect_samples
    from agent.model import Snapshot
    from types import MappingProxyType

    root = make_root(tmp_path, kmsg=dmesg_to_kmsg(lab_lines("aer-corrected"), skip_seqs={2}))
    col = make_collector(root, Store(tmp_path / "s.db"))
    readings = tuple(col.collect())
    col.close()
    snap = Snapshot(time=NOW, boot_id=BOOT_A, readings=MappingProxyType({"kernel_log": readings}), statuses=MappingProxyType({}))
    s = collect_samples(snap)
    assert s["hwagent_kernel_events_total"] == [({"class": "aer.corrected", "severity": "info"}, 1.0)]
    assert s["hwagent_kernel_log_records_total"] == [({}, 4.0)]
    assert s["hwagent_kernel_log_records_lost_total"] == [({}, 1.0)]
    assert s["hwagent_kernel_event_last_timestamp_seconds"][0][0] == {"class": "aer.corrected"}
    assert s["hwagent_kernel_log_malformed_records_total"] == [({}, 0.0)]
    from agent.exporter.catalog import METRICS

    assert {m.name for m in METRICS if m.section == "kernel"} <= set(s)


def test_early_boot_mce_is_the_previous_boots(tmp_path):
    block = ["mce: [Hardware Error]: CPU 0: Machine Check: 0 Bank 1: be00000000000000",
             "mce: [Hardware Error]: TSC 0 ", "mce: [Hardware Error]: PROCESSOR 0:50654 TIME 1795553077 SOCKET 0 APIC 0 microcode 1"]
    text = "".join(f"0,{i + 1},{600_000 + i},-;{ln}\n" for i, ln in enumerate(block))  # at 0.6 s
    text += "".join(f"0,{i + 10},{8_017_254 + i},-;{ln}\n" for i, ln in enumerate(block))  # at 8 s: this boot
    root = make_root(tmp_path, kmsg=text)
    col = make_collector(root, Store(tmp_path / "s.db"))
    evs, _, _ = split(col.collect())
    assert [(e.cls, e.detail.get("early_boot", False)) for e in evs] == [("mce.fatal", True), ("mce.fatal", False)]
    col.close()


def test_ata_port_is_mapped_to_its_disk(tmp_path):
    root = make_root(tmp_path, kmsg=dmesg_to_kmsg(lab_lines("disk-io-error")))
    dev = root / "sys" / "devices" / "pci0000:00" / "0000:00:1f.2" / "ata1" / "host0" / "target0:0:0" / "0:0:0:0"
    dev.mkdir(parents=True)
    (root / "sys" / "block" / "sda").mkdir(parents=True)
    (root / "sys" / "block" / "sda" / "device").symlink_to("../../devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0")
    col = make_collector(root, Store(tmp_path / "s.db"))
    evs, _, win = split(col.collect())
    ata = [e for e in evs if e.cls == "ata.error"]
    assert {e.component for e in ata} == {"disk:sda"} and ata[0].detail["disk"] == "sda" and ata[0].device == "ata1.00"
    assert win.by_device("block.io_error") == {("disk:sda", "sda"): 1, ("disk:nvme0", "nvme0c0n1"): 1}
    col.close()


def test_pstore_mounted_after_start_is_still_read(tmp_path):
    clock = Clock(NOW)
    root = make_root(tmp_path, kmsg="", uptime=20)
    store = Store(tmp_path / "s.db")
    col = make_collector(root, store, clock=clock)
    evs, _, _ = split(col.collect())
    assert evs == []
    pstore = root / "sys" / "fs" / "pstore"
    pstore.mkdir(parents=True)
    (pstore / "dmesg-erst-1").write_text((LAB / "mce-fatal.console-tail.txt").read_text())
    clock.t += 15
    evs, _, _ = split(col.collect())
    assert sorted(e.cls for e in evs) == ["mce.fatal", "panic.mce"] and all(e.previous_boot for e in evs)
    clock.t += 15
    evs, _, _ = split(col.collect())
    assert evs == []  # read once
    col.close()


def test_without_boot_id_the_cursor_is_not_trusted_but_nothing_is_counted_twice(tmp_path):
    text = dmesg_to_kmsg(lab_lines("aer-uncorrected"))
    root = make_root(tmp_path, kmsg=text)
    (root / "proc" / "sys" / "kernel" / "random" / "boot_id").unlink()
    store = Store(tmp_path / "s.db")
    col = make_collector(root, store)
    evs, st, _ = split(col.collect())
    assert [e.cls for e in evs] == ["aer.nonfatal"] and st.boot_id == "unknown"
    col.close()
    col = make_collector(root, store)  # restart: re-reads the ring buffer, stores nothing new
    evs, st, win = split(col.collect())
    assert evs == [] and st.events_total == {} and win.count("aer.") == 1
    col.close()
    (root / "proc" / "stat").write_text("cpu 1 2 3\nbtime 1764000000\n")
    col = make_collector(root, store)
    assert col.boot_id == "btime-1764000000"
    col.close()


def test_daemon_stop_writes_the_clean_stop_marker(tmp_path):
    from agent import schema as config_mod
    from agent.collectors import COLLECTORS
    from agent.daemon import Daemon

    root = make_root(tmp_path, kmsg=dmesg_to_kmsg(lab_lines("aer-corrected")))
    cfg = config_mod.defaults().replace(host={"root": str(root)}, state={"dir": str(tmp_path / "state")})
    cfg = cfg.with_collectors({c.name: c.name == "kernel_log" for c in COLLECTORS})
    store = Store.in_dir(tmp_path / "state")
    host = Host(paths=HostPaths(rootfs=str(root)), runner=no_commands, clock=time.time)
    daemon = Daemon(cfg, host, store)
    stop = threading.Event()
    t = threading.Thread(target=daemon.run_forever, args=(stop,))
    t.start()
    deadline = time.monotonic() + 20
    while "kernel_log" not in daemon.snapshot.statuses and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.snapshot.statuses["kernel_log"].ok
    assert [b.clean_stop for b in EventStore(store).boots()] == [None]  # running: no marker
    stop.set()
    t.join(20)
    assert not t.is_alive()
    (boot,) = EventStore(store).boots()
    assert boot.boot_id == BOOT_A and boot.clean_stop is not None
    store.close()


def _daemon_with_kmsg(tmp_path, wake: bool):
    from agent import schema as config_mod
    from agent.collectors import COLLECTORS
    from agent.daemon import Daemon

    root = make_root(tmp_path, kmsg=dmesg_to_kmsg(lab_lines("mce-corrected", "before")))
    cfg = config_mod.defaults().replace(host={"root": str(root)}, state={"dir": str(tmp_path / "state")})
    cfg = cfg.with_collectors({c.name: c.name == "kernel_log" for c in COLLECTORS})
    # a long interval: only the tail's wake-up can make the event visible within the test
    cfg.collectors["kernel_log"] = CollectorConfig(interval_seconds=600.0, options={"poll_seconds": 0.05, "wake_on_event": wake})
    store = Store.in_dir(tmp_path / "state")
    host = Host(paths=HostPaths(rootfs=str(root)), runner=no_commands, clock=time.time)
    return root, store, Daemon(cfg, host, store)


def _events_in(daemon) -> list[str]:
    return [r.cls for r in daemon.snapshot.readings.get("kernel_log", ()) if isinstance(r, KernelEvent)] + \
        [f.rule for f in daemon.snapshot.findings]


@pytest.mark.parametrize("wake", [True, False])
def test_kernel_event_wakes_the_collector_between_intervals(tmp_path, wake):
    """A hardware event the tail thread reads is evaluated at once, not at the next interval
    (600 s here); with wake_on_event = false it waits for the interval."""
    root, store, daemon = _daemon_with_kmsg(tmp_path, wake)
    stop = threading.Event()
    t = threading.Thread(target=daemon.run_forever, args=(stop,))
    t.start()
    try:
        deadline = time.monotonic() + 20
        while "kernel_log" not in daemon.snapshot.statuses and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon.snapshot.statuses["kernel_log"].ok and _events_in(daemon) == []
        with open(root / "dev" / "kmsg", "a") as fh:
            fh.write(dmesg_to_kmsg(lab_lines("mce-corrected"), first_seq=10_000))
        deadline = time.monotonic() + (15 if wake else 3)
        while not any(c.startswith("mce") for c in _events_in(daemon)) and time.monotonic() < deadline:
            time.sleep(0.05)
        seen = _events_in(daemon)
        if wake:
            assert any(c.startswith("mce") for c in seen), seen
            assert "cpu.machine_check_corrected" in seen, seen
        else:
            assert seen == [], seen
    finally:
        stop.set()
        t.join(20)
        store.close()
    assert not t.is_alive()


def test_out_of_range_sequence_and_timestamp_are_garbage_not_a_failed_collector(tmp_path):
    """Found by the long fuzz run: a record with usec 2**63 made SQLite raise OverflowError and the
    whole kernel_log run failed, losing the real events read with it."""
    good = dmesg_to_kmsg(lab_lines("aer-uncorrected"), first_seq=50)
    bad = ("6,7,9223372036854775808,-;ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x0\n"
           "6,18446744073709551615,10,-;ata1.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x0\n")
    root = make_root(tmp_path, kmsg=bad + good)
    store = Store(tmp_path / "state.db")
    col = make_collector(root, store)
    evs, st, _ = split(col.collect())
    assert [e.cls for e in evs] == ["aer.nonfatal"]
    assert st.malformed_total >= 2
    col.close()


def test_event_store_keeps_events_with_unstorable_integers(tmp_path):
    store = Store(tmp_path / "state.db")
    ev = KernelEvent(cls="mce.corrected", severity=Severity.WARNING, component="cpu", device="cpu0",
                     raw=("x",), time=NOW, boot_id=BOOT_A, seq=1 << 64, monotonic_usec=1 << 63)
    (stored,) = EventStore(store, clock=lambda: NOW).record_events([ev], NOW)
    row = store.execute("SELECT seq, monotonic_usec, cls FROM events")
    assert row == [(None, None, "mce.corrected")] and stored.cls == "mce.corrected"
    store.close()


def _systemd_pstore(root: Path, record: str, parts: list[str], mtime: float) -> Path:
    """The layout systemd-pstore.service (Storage=external, Unlink=yes: the Debian 12 default) leaves:
    src/pstore/pstore.c moves each dmesg-<backend>-<record id> file into <archive>/<id minus its last
    6 digits>/ and writes the parts, newest part first in the name order reversed, to dmesg.txt with
    a "<file name>:" line before each."""
    d = root / "var" / "lib" / "systemd" / "pstore" / record[:-6]
    d.mkdir(parents=True, exist_ok=True)
    names = [f"dmesg-erst-{int(record) + i}" for i in range(len(parts))]
    for name, text in zip(names, parts, strict=True):
        (d / name).write_text(text)
    (d / "dmesg.txt").write_text("".join(f"{n}:\n{t}" for n, t in reversed(list(zip(names, parts, strict=True)))))
    for f in d.iterdir():
        os.utime(f, (mtime, mtime))
    return d


def test_previous_boot_panic_from_systemd_pstore_archive(tmp_path):
    db = tmp_path / "state.db"
    root = make_root(tmp_path, boot=BOOT_A, kmsg="")
    store = Store(db)
    clock = Clock(NOW)
    make_collector(root, store, clock=clock).collect()  # boot A dies without a clean stop
    store.close()
    clock.t = NOW + 3600
    root = make_root(tmp_path, boot=BOOT_B, kmsg="", uptime=30)
    tail = (LAB / "mce-fatal.console-tail.txt").read_text().splitlines()
    half = len(tail) // 2
    # kmsg_dump writes the newest text into Part1: the older half is Part2
    parts = ["Panic#1 Part2\n" + "\n".join("<4>" + ln for ln in tail[:half]) + "\n",
             "Panic#1 Part1\n" + "\n".join("<0>" + ln for ln in tail[half:]) + "\n"]
    _systemd_pstore(root, "7355608334723661825", parts[::-1], mtime=clock.t - 20)
    # an archived record of an older boot (read in its own boot, or before the agent ran) is not news
    _systemd_pstore(root, "7355600000000000001", ["Panic#1 Part1\n<0>Kernel panic - not syncing: Fatal machine check\n"],
                    mtime=NOW - 86400)
    store = Store(db)
    col = make_collector(root, store, clock=clock)
    evs, _, win = split(col.collect())
    got = sorted((e.cls, e.source, e.previous_boot, e.boot_id, e.detail.get("pstore_file")) for e in evs)
    assert got == [("mce.fatal", "pstore", True, BOOT_A, "systemd/7355608334723/dmesg.txt"),
                   ("panic.mce", "pstore", True, BOOT_A, "systemd/7355608334723/dmesg.txt"),
                   ("reboot.unexpected", "agent", False, BOOT_B, None)]
    from types import MappingProxyType

    from agent import rules
    from agent.model import Snapshot

    snap = Snapshot(time=clock.t, boot_id=BOOT_B, readings=MappingProxyType({"kernel_log": (win,)}),
                    statuses=MappingProxyType({}))
    findings, errors = rules.evaluate(snap, None, None, clock.t)
    assert not errors and {f.rule: f.severity for f in findings}["board.previous_boot_mce_panic"] == Severity.CRITICAL
    # the kernel's copy still in /sys/fs/pstore (Unlink=no) and a later scan: nothing counted twice
    pstore = root / "sys" / "fs" / "pstore"
    pstore.mkdir(parents=True)
    for i, text in enumerate(parts[::-1]):
        (pstore / f"dmesg-erst-{7355608334723661825 + i}").write_text(text)
    clock.t += 15
    evs, _, win = split(col.collect())
    assert evs == [] and win.count(("mce.fatal", "panic.mce")) == 2
    col.close()


def _fill_disk(store: Store, full: bool) -> None:
    """A real SQLITE_FULL: the database may not grow beyond its current pages."""
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages if full else 1 << 30}")


def test_disk_full_keeps_events_and_the_cursor_waits(tmp_path, caplog):
    # regression: records read while the disk was full were lost for good (the cursor moved past them) and
    # the log said "cannot rollback - no transaction is active" instead of the real error (one device per
    # line here, so no two events fold into a storm aggregate)
    import logging

    root = make_root(tmp_path, kmsg="")
    kmsg = root / "dev" / "kmsg"
    block = ["[ 10.000000] I/O error, dev sda, sector 100 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"]
    kmsg.write_text(dmesg_to_kmsg(block))
    store = Store(tmp_path / "state.db")
    clock = Clock(NOW)
    col = make_collector(root, store, clock=clock)
    evs, _, _ = split(col.collect())
    assert len(evs) == 1 and store.get("kernel_log.kmsg_cursor")["seq"] == 1
    _fill_disk(store, True)
    lines = [f"[ {20 + i}.000000] I/O error, dev nvme{i}n1, sector {1000 + i} op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"
             for i in range(300)]
    kmsg.write_text(dmesg_to_kmsg(block + lines))
    caplog.set_level(logging.WARNING, logger="hwagent.kernel_log")
    clock.t += 5
    evs, st, _ = split(col.collect())
    assert evs == [] and st.backlog == 300
    assert store.get("kernel_log.kmsg_cursor")["seq"] == 1  # not moved past records that were not stored
    assert "database or disk is full" in caplog.text and "cannot rollback" not in caplog.text
    assert any("database or disk is full" in m for m in col.take_problems()[1])
    # the agent dies while the disk is full: the next one reads those records again from the ring buffer
    col2 = make_collector(root, store, clock=clock)
    _fill_disk(store, False)
    clock.t += 5
    evs, st, _ = split(col2.collect())
    assert len(evs) == 300 and st.backlog == 0 and store.get("kernel_log.kmsg_cursor")["seq"] == 301
    # and the first agent, once space is back, stores its backlog (duplicates of the same records: ignored)
    clock.t += 5
    evs, st, _ = split(col.collect())
    assert evs == [] and st.backlog == 0
    assert store.execute("SELECT COUNT(*) FROM events WHERE cls = 'block.io_error'")[0][0] == 301
    col.close()
    col2.close()


def test_disk_full_backlog_is_bounded_and_says_so(tmp_path):
    root = make_root(tmp_path, kmsg="")
    store = Store(tmp_path / "state.db")
    clock = Clock(NOW)
    col = make_collector(root, store, clock=clock, backlog_events=50)
    col.collect()
    _fill_disk(store, True)
    lines = [f"[ {20 + i}.000000] I/O error, dev nvme{i}n1, sector {1000 + i} op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"
             for i in range(80)] + ["[ 200.000000] EDAC MC0: 1 CE memory read error on DIMM_A1 (channel:0 slot:0 page:0x1 "
                                    "offset:0x0 grain:32 syndrome:0x0)"]
    (root / "dev" / "kmsg").write_text(dmesg_to_kmsg(lines))
    clock.t += 5
    _, st, _ = split(col.collect())
    assert st.backlog == 50 and st.backlog_dropped_total == 31  # the info-level CE and the 30 oldest I/O errors
    backlog = col.enricher.events._sources["kernel_log"].backlog  # held by the enrichment step, which stores
    assert all(e.cls == "block.io_error" for e in backlog) and backlog[-1].detail["sector"] == 1079
    col.close()


JOURNAL_FIX = Path(__file__).resolve().parents[2] / "fixtures" / "kernel_log" / "journal"


def test_previous_boot_journal_does_not_count_kmsg_events_again(tmp_path):
    """Debian 12 keeps a persistent journal. The kernel records of a corrected machine check were
    read from /dev/kmsg in boot A; after a reboot `journalctl -k -b -1` returns the same records,
    whose `_BOOT_ID` is the boot id without dashes (real journal output): they must be the same
    events, not a second set (the boot ids differed in form, so the dedupe keys did too)."""
    entries = [json.loads(line) for line in (JOURNAL_FIX / "corrected-mce.debian12.json").read_text().splitlines()]
    journal_boot = entries[0]["_BOOT_ID"]
    assert len(journal_boot) == 32 and "-" not in journal_boot
    boot_a = str(__import__("uuid").UUID(hex=journal_boot))  # /proc/sys/kernel/random/boot_id of that boot
    kmsg = "".join(f"{int(e['SYSLOG_FACILITY']) * 8 + int(e['PRIORITY'])},{100 + i},{e['_SOURCE_MONOTONIC_TIMESTAMP']},-;"
                   f"{e['MESSAGE']}\n" for i, e in enumerate(entries))
    db = tmp_path / "state.db"
    root = make_root(tmp_path, boot=boot_a, kmsg=kmsg)
    store = Store(db)
    clock = Clock(NOW)
    col = make_collector(root, store, clock=clock)
    evs, _, _ = split(col.collect())
    first = sorted((e.cls, e.source) for e in evs)
    assert first and {c for c, _ in first} == {"mce.corrected"} and {s for _, s in first} == {"kmsg"}
    col.close()
    store.close()

    journal = "\n".join(json.dumps(e) for e in entries) + "\n"

    def runner(argv, timeout, env=None):
        if "-b" in argv and "-1" in argv:
            return CommandResult(tuple(argv), 0, journal.encode(), b"", 0.1)
        return CommandResult(tuple(argv), 0, b"", b"", 0.1)

    clock.t = NOW + 600
    root = make_root(tmp_path, boot=BOOT_B, kmsg="", uptime=30)
    (root / "var" / "log" / "journal").mkdir(parents=True, exist_ok=True)
    store = Store(db)
    col = make_collector(root, store, clock=clock, runner=runner)
    evs, _, win = split(col.collect())
    assert [e.cls for e in evs if e.cls != "reboot.unexpected"] == [], [(e.cls, e.source, e.boot_id) for e in evs]
    assert win.count("mce.corrected") == len(first)
    assert len(EventStore(store).query(cls="mce.corrected")) == len(first)
    col.close()
