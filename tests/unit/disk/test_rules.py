"""Disk rules as tables of small hand-built devices and the findings each should produce."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.model import Severity
from agent.model.disk import AtaAttribute, NvmeHealth, ScsiHealth, SelfTest, SmartDevice

from .helpers import NOW, evaluate


def ata(*attrs: AtaAttribute, **kw) -> SmartDevice:
    base = dict(device="sda", path="/dev/sda", dev_type="sat", protocol="ATA", read_status="ok",
                model="WDC WD40EFRX", serial="WD-1", wwn="0x50014ee2b1c2d3e4", smart_passed=True,
                read_time=NOW, last_success=NOW, ata_attributes=attrs)
    base.update(kw)
    return SmartDevice(**base)


def attr(i: int, count: int, *, when_failed: str = "", prefailure: bool = False, name: str | None = None):
    return AtaAttribute(id=i, name=name or f"Attr_{i}", value=100, worst=100, threshold=10, raw=count,
                        raw_string=str(count), count=count, prefailure=prefailure, when_failed=when_failed)


def nvme(**kw) -> SmartDevice:
    h = dict(critical_warning=0, available_spare_ratio=1.0, available_spare_threshold_ratio=0.1,
             percentage_used_ratio=0.03, media_errors=0, num_err_log_entries=0, unsafe_shutdowns=3,
             data_units_read_bytes=0, data_units_written_bytes=0, power_cycles=5, warning_temp_time_seconds=0,
             critical_comp_time_seconds=0)
    h.update(kw.pop("health", {}))
    base = dict(device="nvme0", path="/dev/nvme0", dev_type="nvme", protocol="NVMe", read_status="ok",
                model="SAMSUNG MZQL21T9", serial="S64G", smart_passed=True, read_time=NOW, last_success=NOW,
                nvme=NvmeHealth(**h))
    base.update(kw)
    return SmartDevice(**base)


def rules_of(findings):
    return sorted((f.rule, f.severity.label) for f in findings)


def test_healthy_disk_has_no_findings():
    assert evaluate(ata(attr(5, 0), attr(197, 0), attr(199, 0))) == []
    assert evaluate(nvme()) == []


@pytest.mark.parametrize("aid,rule", [(5, "disk.reallocated_sectors"), (187, "disk.reported_uncorrectable"),
                                      (188, "disk.command_timeout"), (197, "disk.pending_sectors"),
                                      (198, "disk.offline_uncorrectable")])
def test_static_counts_warn(aid, rule):
    fs = evaluate(ata(attr(aid, 3)))
    assert rules_of(fs) == [(rule, "warning")]
    assert fs[0].component == "disk:0x50014ee2b1c2d3e4" and fs[0].subject == "0x50014ee2b1c2d3e4"
    assert fs[0].device == "sda"


@pytest.mark.parametrize("aid,rule,sev", [(5, "disk.reallocated_sectors_growing", "warning"),
                                          (187, "disk.reported_uncorrectable_growing", "critical"),
                                          (197, "disk.pending_sectors_growing", "critical"),
                                          (198, "disk.offline_uncorrectable_growing", "critical")])
def test_growth_since_baseline(aid, rule, sev):
    d = ata(attr(aid, 6), baseline={f"ata_{aid}": 4.0}, baseline_since=NOW - 86400)
    fs = [f for f in evaluate(d) if f.rule == rule]
    assert [(f.rule, f.severity.label) for f in fs] == [(rule, sev)]
    assert fs[0].evidence["growth"] == 2 and fs[0].fingerprint == "6"
    if sev == "critical":
        assert fs[0].runbook == "disk-swap-mdadm"
    # no growth -> only the static warning
    same = ata(attr(aid, 4), baseline={f"ata_{aid}": 4.0})
    assert not [f for f in evaluate(same) if f.rule == rule]


def test_reallocation_fast_growth_is_critical():
    d = ata(attr(5, 20), baseline={"ata_5": 4.0})
    assert ("disk.reallocated_sectors_growing", "critical") in rules_of(evaluate(d))


def test_crc_errors_are_the_board():
    d = ata(attr(199, 12), baseline={"ata_199": 2.0})
    fs = evaluate(d)
    assert rules_of(fs) == [("disk.crc_errors", "warning"), ("disk.crc_errors_growing", "warning")]
    assert all(f.component == "board" for f in fs)
    assert all(f.runbook is None for f in fs)  # a cable is not a disk swap


def test_seagate_188_is_only_judged_by_growth():
    d = ata(attr(188, 4), model="ST8000NM0055-1RM112")
    assert evaluate(d) == []
    grown = replace(d, baseline={"ata_188": 2.0})
    assert rules_of(evaluate(grown)) == [("disk.command_timeout_growing", "warning")]


def test_failing_now_and_past():
    fs = evaluate(ata(attr(5, 0, when_failed="now", prefailure=True)))
    assert rules_of(fs) == [("disk.attribute_failing", "critical")]
    fs = evaluate(ata(attr(233, 1, when_failed="now")))  # old-age SSD wear at its threshold: end of life
    assert rules_of(fs) == [("disk.attribute_failing", "critical")] and fs[0].runbook == "disk-swap-mdadm"
    fs = evaluate(ata(attr(194, 71, when_failed="now")))  # too hot now: not a disk swap
    assert rules_of(fs) == [("disk.attribute_failing", "critical")] and fs[0].runbook is None
    fs = evaluate(ata(attr(3, 0, when_failed="past")))
    assert rules_of(fs) == [("disk.attribute_failed_past", "warning")]
    fs = evaluate(ata(attr(194, 40, when_failed="past")))
    assert rules_of(fs) == [("disk.attribute_failed_past", "warning")] and "too hot once" in fs[0].summary
    assert evaluate(ata(attr(194, 40, when_failed="past")),
                    params={"disk.attribute_failed_past": {"ignore_ids": [190, 194]}}) == []


def test_smart_failed():
    fs = evaluate(ata(smart_passed=False, exit_status=8))
    assert rules_of(fs) == [("disk.smart_failed", "critical")]
    assert fs[0].runbook == "disk-swap-mdadm"
    assert evaluate(ata(smart_passed=None)) == []  # unknown is not failed


@pytest.mark.parametrize("bits,runbook", [(0x01, "disk-swap-mdadm"), (0x02, None), (0x04, "disk-swap-mdadm"),
                                          (0x08, "disk-swap-mdadm"), (0x10, "disk-swap-mdadm"),
                                          (0x20, "disk-swap-mdadm"), (0x03, "disk-swap-mdadm")])
def test_nvme_critical_warning_bits(bits, runbook):
    fs = [f for f in evaluate(nvme(health={"critical_warning": bits}, smart_passed=False))
          if f.rule == "disk.nvme_critical_warning"]
    assert [(f.rule, f.severity.label) for f in fs] == [("disk.nvme_critical_warning", "critical")]
    assert fs[0].fingerprint == f"0x{bits:02x}" and fs[0].runbook == runbook
    # smart_failed does not duplicate the NVMe finding
    assert not [f for f in evaluate(nvme(health={"critical_warning": bits}, smart_passed=False))
                if f.rule == "disk.smart_failed"]


def test_nvme_spare_wear_media():
    assert rules_of(evaluate(nvme(health={"available_spare_ratio": 0.05}))) == [("disk.nvme_spare_low", "critical")]
    assert rules_of(evaluate(nvme(health={"available_spare_ratio": 0.15}))) == [("disk.nvme_spare_low", "warning")]
    # threshold 0 (emulated drives) never fires
    assert evaluate(nvme(health={"available_spare_ratio": 0.0, "available_spare_threshold_ratio": 0.0})) == []
    assert rules_of(evaluate(nvme(health={"percentage_used_ratio": 0.85}))) == [("disk.nvme_wear", "warning")]
    assert rules_of(evaluate(nvme(health={"percentage_used_ratio": 1.02}))) == [("disk.nvme_wear", "critical")]
    fs = evaluate(nvme(health={"media_errors": 7}, baseline={"nvme_media_errors": 3.0}))
    assert rules_of(fs) == [("disk.nvme_media_errors", "critical")]
    assert fs[0].evidence["growth"] == 4


def test_scsi():
    s = SmartDevice(device="sdb", path="/dev/sdb", dev_type="scsi", protocol="SCSI", read_status="ok",
                    model="SEAGATE ST4000NM", serial="Z1", smart_passed=True,
                    scsi=ScsiHealth(grown_defects=12, read_uncorrected=0, write_uncorrected=0, verify_uncorrected=0,
                                    read_corrected=5, write_corrected=0, verify_corrected=0),
                    baseline={"scsi_grown_defects": 1.0})
    assert rules_of(evaluate(s)) == [("disk.scsi_grown_defects", "warning"),
                                     ("disk.scsi_grown_defects_growing", "critical")]
    bad = replace(s, scsi=replace(s.scsi, write_uncorrected=535), baseline={})
    assert ("disk.scsi_uncorrected_errors", "critical") in rules_of(evaluate(bad))


def test_selftests():
    failed = SelfTest("short", "Completed: read failure", False, 7, 1200, lba=116751080)
    ok_ext = SelfTest("extended", "Completed without error", True, 0, 1300)
    ok_short = SelfTest("short", "Completed without error", True, 0, 1300)
    fs = evaluate(ata(self_tests=(failed,)))
    assert rules_of(fs) == [("disk.selftest_failed", "critical")]
    assert "116751080" in fs[0].summary
    assert rules_of(evaluate(ata(self_tests=(ok_short, failed)))) == [("disk.selftest_failed", "critical")]
    # outdated by a newer passed extended test (smartd and smartctl ignore it): kept as evidence, a warning
    fs = evaluate(ata(self_tests=(ok_short, ok_ext, failed)))
    assert rules_of(fs) == [("disk.selftest_failed", "warning")] and fs[0].runbook is None
    # smartctl's exit bit 7 without a failed entry we could read (pySMART, truncated log)
    assert rules_of(evaluate(ata(self_tests=(), exit_status=128))) == [("disk.selftest_failed", "warning")]


def test_error_log_and_temperature():
    assert rules_of(evaluate(ata(exit_status=64, ata_error_count=2))) == [("disk.error_log", "warning")]
    hot = nvme(temperature_celsius=72.0, temperature_warning_celsius=70.0, temperature_critical_celsius=80.0)
    assert rules_of(evaluate(hot)) == [("disk.temperature", "warning")]
    assert rules_of(evaluate(replace(hot, temperature_celsius=85.0))) == [("disk.temperature", "critical")]
    # no limits from the drive: the configured level, off by default
    assert evaluate(ata(temperature_celsius=61.0)) == []
    fs = evaluate(ata(temperature_celsius=61.0), params={"disk.temperature": {"warning_celsius": 60.0}})
    assert rules_of(fs) == [("disk.temperature", "warning")]


def test_unreadable_and_standby():
    down = SmartDevice(device="sdc", path="/dev/sdc", dev_type="sat", protocol="ATA", read_status="timeout",
                       message="sdc: smartctl did not answer", serial="X", model="M", last_success=NOW - 7200,
                       ata_attributes=())
    fs = evaluate(down)
    assert rules_of(fs) == [("disk.unreadable", "warning")]
    assert fs[0].subject == "M_X" and fs[0].evidence["read_status"] == "timeout"
    asleep = replace(down, read_status="standby", power_state="standby", message=None)
    assert evaluate(asleep) == []  # a skip is no failure
    # stale data on an unreadable reading is never judged (the rules only read fresh devices)
    stale = replace(down, ata_attributes=(attr(5, 100),))
    assert rules_of(evaluate(stale)) == [("disk.unreadable", "warning")]
    assert evaluate(down, params={"disk.unreadable": {"grace_seconds": 86400.0}}) == []


def test_per_device_override():
    d = ata(attr(188, 30))
    assert evaluate(d, devices_params={"sda": {"warning": 50}}) == []
    assert evaluate(d, devices_params={"0x50014ee2b1c2d3e4": {"enabled": False}}) == []


def test_rules_are_pure_and_deterministic():
    d = ata(attr(5, 8), attr(197, 2), baseline={"ata_5": 1.0, "ata_197": 0.0})
    a, b = evaluate(d), evaluate(d)
    assert a == b and all(f.severity in (Severity.WARNING, Severity.CRITICAL) for f in a)


def test_runbook_only_where_a_disk_should_be_replaced():
    warn = [f for f in evaluate(ata(attr(5, 6), baseline={"ata_5": 4.0})) if f.rule.endswith("_growing")]
    assert [(f.severity.label, f.runbook) for f in warn] == [("warning", None)]
    crit = [f for f in evaluate(ata(attr(5, 40), baseline={"ata_5": 4.0})) if f.rule.endswith("_growing")]
    assert [(f.severity.label, f.runbook) for f in crit] == [("critical", "disk-swap-mdadm")]
    for f in evaluate(ata(attr(199, 500), attr(188, 3), baseline={"ata_199": 1.0, "ata_188": 1.0},
                          exit_status=64, ata_error_count=3, temperature_celsius=80.0)):
        assert f.runbook is None, f.rule


def test_end_to_end_and_spin_retry_growth():
    d = ata(attr(184, 2), attr(10, 5), baseline={"ata_184": 0.0, "ata_10": 1.0})
    assert rules_of(evaluate(d)) == [("disk.end_to_end_errors_growing", "critical"),
                                     ("disk.spin_retries_growing", "warning")]
    assert evaluate(ata(attr(184, 2), attr(10, 5), baseline={"ata_184": 2.0, "ata_10": 5.0})) == []
