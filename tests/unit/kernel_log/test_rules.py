"""Kernel-event rules: table tests over hand-built event histories."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from agent.state.events import window_from_events
from agent.model import Severity, Snapshot
from agent.model.events import BootRecord, EventWindow, KernelEvent, leaky_bucket
from agent.rules import RULES_BY_ID
from agent.rules.base import Params, RuleContext

NOW = 1_764_003_600.0
H = 3600.0
C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO


def ev(cls, sev, comp, dev, age=60.0, count=1, boot="b1", **detail):
    return KernelEvent(cls=cls, severity=sev, component=comp, device=dev, detail=detail, raw=(f"{cls} {dev}",),
                       boot_id=boot, monotonic_usec=int((NOW - age) * 1e6) % 10**12, time=NOW - age, count=count,
                       previous_boot=detail.pop("previous_boot", False))


def run(rule_id, events, params=None, boots=(), now=NOW):
    win = window_from_events(events, now, boots=boots, current_boot="b1")
    snap = Snapshot(time=now, boot_id="b1", readings=MappingProxyType({"kernel_log": (win,)}), statuses=MappingProxyType({}))
    meta = RULES_BY_ID[rule_id]
    ctx = RuleContext(snapshot=snap, history=None, params=Params(meta.defaults, params or {}, {}), now=now, rule=meta)
    return sorted(((f.severity, f.device) for f in meta.fn(ctx)), key=str)


CASES = [
    # id, events, params, expected [(severity, device)]
    ("cpu.machine_check_uncorrected", [ev("mce.uncorrected", C, "cpu", "socket0")], None, [(C, "socket0")]),
    ("cpu.machine_check_uncorrected", [ev("mce.fatal", C, "memory", "socket1")], None, [(C, "socket1")]),
    ("cpu.machine_check_uncorrected", [ev("mce.deferred", W, "cpu", "cpu3")], None, [(W, "cpu3")]),
    ("cpu.machine_check_uncorrected", [ev("mce.uncorrected", C, "cpu", "socket0", age=8 * 86400)], None, []),
    ("cpu.machine_check_uncorrected", [ev("mce.corrected", I, "cpu", "socket0")], None, []),
    ("cpu.machine_check_corrected", [ev("mce.corrected", I, "memory", "socket0")], None, [(W, "socket0")]),
    ("cpu.machine_check_corrected", [ev("mce.corrected", I, "memory", "socket0")], {"warning": 0}, []),
    ("cpu.machine_check_corrected", [ev("mce.corrected", I, "cpu", "socket0", age=2 * 86400)], None, []),
    # corrected MCE storm: 100 per 24 h per socket (mcelog's socket threshold)
    ("cpu.machine_check_storm", [ev("mce.corrected", I, "cpu", "socket0", age=60 * i) for i in range(99)], None, []),
    ("cpu.machine_check_storm", [ev("mce.corrected", I, "cpu", "socket0", age=60 * i) for i in range(120)], None, [(W, "socket0")]),
    ("cpu.machine_check_storm", [ev("mce.storm", W, "cpu", "cpu")], None, [(W, "cpu")]),
    ("cpu.lockup", [ev("cpu.soft_lockup", W, "cpu", "cpu7")], None, [(W, "cpu7")]),
    ("cpu.lockup", [ev("cpu.hard_lockup", C, "cpu", "cpu3")], None, [(C, "cpu3")]),
    ("cpu.hung_task", [ev("cpu.hung_task", W, "cpu", "cpu")], None, [(W, "cpu")]),
    ("cpu.hung_task", [ev("cpu.hung_task", W, "cpu", "cpu")], {"warning": 3}, []),
    ("cpu.rcu_stall", [ev("cpu.rcu_stall", W, "cpu", "cpu")], None, [(W, "cpu")]),
    # memory: first UE alerts; CE storm per DIMM with a leaky bucket (10 per 24 h)
    ("memory.ue_logged", [ev("edac.ue", C, "memory", "DIMM_A1")], None, [(C, "DIMM_A1")]),
    ("memory.ue_logged", [ev("memory.failure", W, "memory", "memory")], None, [(W, "memory")]),
    ("memory.ue_logged", [ev("ghes.fatal", C, "pcie", "0000:af:00.0")], None, []),
    ("memory.ce_log_storm", [ev("edac.ce", I, "memory", "DIMM_A1", count=5)], None, []),
    ("memory.ce_log_storm", [ev("edac.ce", I, "memory", "DIMM_A1", count=128)], None, [(C, "DIMM_A1")]),
    ("memory.ce_log_storm", [ev("edac.ce", I, "memory", "DIMM_A1", count=3, age=H * i) for i in range(6)]
     + [ev("edac.ce", I, "memory", "DIMM_B1", count=1)], None, [(W, "DIMM_A1")]),
    # the bucket leaks: 11 errors spread evenly over 23 h stay under 10/24 h
    ("memory.ce_log_storm", [ev("edac.ce", I, "memory", "DIMM_A1", age=2.3 * H * i) for i in range(11)], None, []),
    ("pcie.aer_uncorrected_logged", [ev("aer.fatal", C, "pcie", "0000:01:00.0")], None, [(C, "0000:01:00.0")]),
    ("pcie.aer_uncorrected_logged", [ev("aer.nonfatal", W, "pcie", "0000:01:00.0")], None, [(W, "0000:01:00.0")]),
    ("pcie.aer_uncorrected_logged", [ev("pcie.parity_error", W, "pcie", "0000:00:1f.2")], None, [(W, "0000:00:1f.2")]),
    ("pcie.aer_corrected_log_storm", [ev("aer.corrected", I, "pcie", "0000:00:1d.0", age=i) for i in range(150)], None,
     [(W, "0000:00:1d.0")]),
    ("pcie.aer_corrected_log_storm", [ev("aer.corrected", I, "pcie", "0000:00:1d.0", age=i) for i in range(50)], None, []),
    # per root port: 60 + 60 messages from two devices below 0000:00:1c.0 (each alone under 100)
    ("pcie.aer_corrected_log_storm", [ev("aer.corrected", I, "pcie", "0000:01:00.0", age=i, root_port="0000:00:1c.0")
                                      for i in range(60)]
     + [ev("aer.corrected", I, "pcie", "0000:02:00.0", age=i, root_port="0000:00:1c.0") for i in range(60)], None,
     [(W, "0000:00:1c.0")]),
    ("pcie.link_down", [ev("pcie.link_down", C, "pcie", "0000:00:1c.0")], None, [(C, "0000:00:1c.0")]),
    ("pcie.link_down", [ev("nvme.reset", C, "disk:nvme0", "nvme0", off_bus=True)], None, [(C, "nvme0")]),
    ("pcie.link_down", [ev("nvme.reset", W, "disk:nvme0", "nvme0")], None, []),
    # a failed AER/DPC recovery escalates: the device is lost
    ("pcie.link_down", [ev("aer.nonfatal", W, "pcie", "0000:01:00.0"),
                        ev("pcie.recovery_failed", C, "pcie", "0000:01:00.0")], None, [(C, "0000:01:00.0")]),
    # disks
    ("disk.io_errors", [ev("block.io_error", W, "disk:sda", "sda")], None, [(W, "sda")]),
    ("disk.io_errors", [ev("block.io_error", W, "disk:sda", "sda1", age=i) for i in range(6)]
     + [ev("block.io_error", W, "disk:sda", "sda2", age=i) for i in range(6)], None, [(C, "sda")]),
    ("disk.io_errors", [ev("block.io_error", W, "disk:sda", "sda", age=2 * 86400)], None, []),
    ("disk.device_gone", [ev("block.device_gone", C, "disk:sdd", "sdd")], None, [(C, "sdd")]),
    ("disk.device_gone", [ev("block.device_gone", W, "disk:sdb", "sdb")], None, [(W, "sdb")]),
    ("disk.device_gone", [ev("ata.link_down", C, "disk:sdc", "ata3", off_bus=True)], None, [(C, "ata3")]),
    ("disk.device_gone", [ev("ata.link_down", W, "disk:sdc", "ata3")], None, []),  # link down after a reset: link rule
    ("disk.device_gone", [ev("block.device_gone", C, "disk:sdd", "sdd", age=2 * 86400)], None, []),
    ("disk.link_errors", [ev("ata.link_reset", W, "disk:sdb", "ata2", age=i) for i in range(3)], None, [(W, "ata2")]),
    ("disk.link_errors", [ev("ata.link_reset", W, "disk:sdb", "ata2")], None, []),
    ("disk.nvme_controller_errors", [ev("nvme.timeout", W, "disk:nvme0", "nvme0")], None, [(W, "nvme0")]),
    ("disk.nvme_controller_errors", [ev("nvme.timeout", W, "disk:nvme5", "nvme5"),
                                     ev("nvme.controller_failed", C, "disk:nvme5", "nvme5")], None, [(C, "nvme5")]),
    ("disk.md_failure_logged", [ev("raid.disk_failed", C, "raid", "md0", member="sdb1")], None, [(C, "md0")]),
    ("disk.md_failure_logged", [ev("raid.resync", I, "raid", "md0")], None, []),
    ("disk.md_failure_logged", [ev("raid.array_failed", C, "raid", "md127")], None, [(C, "md127")]),
    ("disk.md_failure_logged", [ev("raid.superblock_error", C, "raid", "md")], None, [(C, "md")]),
    ("fs.errors", [ev("fs.error", W, "fs", "sda1")], None, [(W, "sda1")]),
    ("fs.errors", [ev("fs.error", W, "fs", "sda1"), ev("fs.readonly", C, "fs", "sda1")], None, [(C, "sda1")]),
    ("board.nmi_platform_error", [ev("nmi.serr", C, "board", "cpu0")], None, [(C, "cpu0")]),
    ("board.nmi_platform_error", [ev("nmi.unknown", W, "board", "cpu0")], None, [(W, "cpu0")]),
    ("board.thermal_trip", [ev("thermal.critical", C, "board", "thermal_zone0")], None, [(C, "thermal_zone0")]),
    ("board.fatal_hardware_error", [ev("ghes.fatal", C, "board", "ghes", previous_boot=True, boot="b0"),
                                    ev("panic.hardware", C, "board", "ghes", previous_boot=True, boot="b0")], None, [(C, "ghes")]),
    ("board.fatal_hardware_error", [ev("ghes.fatal", C, "memory", "DIMM_A1")], None, []),  # memory.ue_logged's
    ("board.fatal_hardware_error", [ev("ghes.corrected", I, "board", "ghes")], None, []),
    ("board.previous_boot_mce_panic", [ev("panic.mce", C, "cpu", "cpu", boot="b0", previous_boot=True)], None, [(C, "host")]),
    ("board.previous_boot_mce_panic", [ev("mce.fatal", C, "cpu", "socket0", early_boot=True)], None, [(C, "host")]),
    ("board.previous_boot_mce_panic", [ev("mce.fatal", C, "cpu", "socket0")], None, []),
    ("board.unexpected_reboot", [ev("reboot.unexpected", W, "board", "host")], None, [(W, "host")]),
    ("board.repeated_unexpected_reboots", [ev("reboot.unexpected", W, "board", "host", boot=f"b{i}", age=86400 * i)
                                           for i in range(2)], None, [(C, "host")]),
    ("board.repeated_unexpected_reboots", [ev("reboot.unexpected", W, "board", "host")], None, []),
]


@pytest.mark.parametrize("rule_id,events,params,expected", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_table(rule_id, events, params, expected):
    assert run(rule_id, events, params) == expected


def test_rules_without_event_window_are_silent():
    snap = Snapshot.empty("b1", NOW)
    for rid in ("cpu.lockup", "memory.ue_logged", "disk.io_errors", "board.unexpected_reboot", "fs.errors"):
        meta = RULES_BY_ID[rid]
        ctx = RuleContext(snapshot=snap, history=None, params=Params(meta.defaults, {}, {}), now=NOW, rule=meta)
        assert list(meta.fn(ctx)) == []


def test_findings_carry_evidence():
    win = window_from_events([ev("mce.uncorrected", C, "cpu", "socket0", bank=4, address="0x1234")], NOW, current_boot="b1")
    snap = Snapshot(time=NOW, boot_id="b1", readings=MappingProxyType({"k": (win,)}), statuses=MappingProxyType({}))
    meta = RULES_BY_ID["cpu.machine_check_uncorrected"]
    f = next(iter(meta.fn(RuleContext(snapshot=snap, history=None, params=Params(meta.defaults, {}, {}), now=NOW, rule=meta))))
    assert f.evidence["bank"] == 4 and f.evidence["address"] == "0x1234" and f.evidence["events"] == 1
    assert f.runbook == "mainboard-swap" and f.component == "cpu"


def test_leaky_bucket():
    assert leaky_bucket([(0, 5), (60, 6)], 10, 86400)[1] == 60
    peak, crossed = leaky_bucket([(0, 9), (43200, 5)], 10, 86400)  # half the bucket leaked in 12 h
    assert crossed is None and peak == 9


def test_window_queries():
    win = window_from_events([ev("aer.corrected", I, "pcie", "a", age=10), ev("aer.fatal", C, "pcie", "b", age=7200),
                              ev("edac.ce", I, "memory", "D1", count=7)], NOW,
                             boots=[BootRecord("b0", NOW - 9000, NOW - 8000, None)], current_boot="b1")
    assert isinstance(win, EventWindow)
    assert win.count("aer.") == 2 and win.count("aer.", since=NOW - 3600) == 1
    assert win.count(component="memory", errors=True) == 7 and win.count(device="b") == 1
    assert win.by_device("aer.") == {("pcie", "a"): 1, ("pcie", "b"): 1}
    assert [e.cls for e in win.events()] == ["aer.fatal"] and win.boots[0].clean_stop is None


def test_a_storm_does_not_hide_other_events():
    storm = [ev("fs.error", W, "fs", "sda1", age=10 + i) for i in range(500)]
    storm.append(ev("fs.readonly", C, "fs", "sda1", age=5000))
    assert run("fs.errors", storm) == [(C, "sda1")]


def test_event_store_for_sel_records():
    from agent.state.events import EventStore
    from agent.state.store import Store

    st = EventStore(Store.memory())

    def sel(boot):
        return KernelEvent(cls="sel.psu_failure", severity=C, component="board", device="PS2", source="sel", boot_id=boot,
                           detail={"sel_id": "6", "bmc_time": 1725984879.0}, raw=("6 | Sep-10-2024 | 16:14:39 | PS2 PG FAIL",),
                           time=NOW - 100)
    assert len(st.record_events([sel("b1")], NOW)) == 1
    assert st.record_events([sel("b2")], NOW) == []  # the same BMC record read again after a reboot
    rows = st.query(component="board", cls="sel")
    assert [(r["class"], r["source"], r["device"]) for r in rows] == [("sel.psu_failure", "sel", "PS2")]
