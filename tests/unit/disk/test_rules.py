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


DAY = 86400.0
OLD = 40_000 * 3600.0  # power-on seconds of a drive well past its first year


@pytest.mark.parametrize("aid,rule,sev", [(5, "disk.reallocated_sectors", "info"),
                                          (187, "disk.reported_uncorrectable", "warning"),
                                          (188, "disk.command_timeout", "info"),
                                          (197, "disk.pending_sectors", "warning"),
                                          (198, "disk.offline_uncorrectable", "warning"),
                                          (199, "disk.crc_errors", "info"),
                                          (10, "disk.spin_retries", "info"),
                                          (184, "disk.end_to_end_errors", "warning")])
def test_small_stable_counts_on_an_old_drive(aid, rule, sev):
    """First reading, count 3, 40,000 power-on hours: only counters whose first unit carries risk warn."""
    fs = evaluate(ata(attr(aid, 3), power_on_seconds=OLD))
    assert [(f.rule, f.severity.label, f.runbook) for f in fs] == [(rule, sev, None)]
    assert fs[0].subject == "0x50014ee2b1c2d3e4" and fs[0].device == "sda"
    assert fs[0].component == ("board" if aid == 199 else "disk:0x50014ee2b1c2d3e4")


def test_young_drive_small_count_warns():
    fs = evaluate(ata(attr(5, 3), power_on_seconds=2000 * 3600.0))
    assert rules_of(fs) == [("disk.reallocated_sectors", "warning")] and "young" in fs[0].summary
    assert rules_of(evaluate(ata(attr(5, 3)))) == [("disk.reallocated_sectors", "info")]  # age unknown


def test_large_existing_damage_is_critical_on_the_first_reading():
    """A drive first seen with thousands of reallocated and dozens of pending sectors."""
    fs = evaluate(ata(attr(5, 3100), attr(197, 40), power_on_seconds=OLD))
    assert rules_of(fs) == [("disk.pending_sectors", "critical"), ("disk.reallocated_sectors", "critical")]
    assert all(f.runbook == "disk-swap-mdadm" for f in fs)


@pytest.mark.parametrize("aid,rule,grow,sev", [(5, "disk.reallocated_sectors", 2, "warning"),
                                               (5, "disk.reallocated_sectors", 8, "critical"),
                                               (187, "disk.reported_uncorrectable", 2, "warning"),
                                               (187, "disk.reported_uncorrectable", 10, "critical"),
                                               (197, "disk.pending_sectors", 2, "critical"),
                                               (198, "disk.offline_uncorrectable", 1, "critical"),
                                               (188, "disk.command_timeout", 3, "warning")])
def test_growth_within_the_critical_window(aid, rule, grow, sev):
    d = ata(attr(aid, 4 + grow), history={f"ata_{aid}": ((NOW - 30 * DAY, 4.0), (NOW - DAY, 4.0 + grow))},
            power_on_seconds=OLD)
    fs = [f for f in evaluate(d) if f.rule == rule]
    assert [(f.severity.label, f.runbook) for f in fs] == [
        (sev, "disk-swap-mdadm" if sev == "critical" else None)]
    assert fs[0].evidence["growth_critical_window"] == grow and fs[0].fingerprint == f"{4 + grow}"


def test_growth_is_a_rate_not_since_forever():
    """The same growth spread over two months is no longer critical: it is judged per window."""
    d = ata(attr(197, 6), history={"ata_197": ((NOW - 60 * DAY, 2.0), (NOW - 40 * DAY, 6.0))}, power_on_seconds=OLD)
    assert rules_of(evaluate(d)) == [("disk.pending_sectors", "warning")]
    slow = ata(attr(5, 10), history={"ata_5": ((NOW - 60 * DAY, 2.0), (NOW - 20 * DAY, 10.0))}, power_on_seconds=OLD)
    fs = evaluate(slow)  # grew within 30 days, not within 7: a warning
    assert rules_of(fs) == [("disk.reallocated_sectors", "warning")] and "grew by 8" in fs[0].summary


def test_pending_that_clears_vs_pending_that_turns_into_reallocations():
    cleared = ata(attr(5, 0), attr(197, 0), power_on_seconds=OLD,
                  history={"ata_197": ((NOW - 20 * DAY, 0.0), (NOW - 10 * DAY, 3.0), (NOW - DAY, 0.0)),
                           "ata_5": ((NOW - 20 * DAY, 0.0),)})
    fs = evaluate(cleared)
    assert rules_of(fs) == [("disk.pending_sectors", "info")] and fs[0].evidence["pending_resolved"] == "cleared"
    converted = ata(attr(5, 3), attr(197, 0), power_on_seconds=OLD,
                    history={"ata_197": ((NOW - 20 * DAY, 0.0), (NOW - 10 * DAY, 3.0), (NOW - DAY, 0.0)),
                             "ata_5": ((NOW - 20 * DAY, 0.0), (NOW - DAY, 3.0))})
    fs = {f.rule: f for f in evaluate(converted)}
    assert fs["disk.pending_sectors"].severity is Severity.WARNING
    assert fs["disk.pending_sectors"].evidence["pending_resolved"] == "reallocated"
    assert fs["disk.reallocated_sectors"].severity is Severity.WARNING  # grew by 3 within 30 days


def test_crc_errors_are_the_board():
    d = ata(attr(199, 12), baseline={"ata_199": 2.0}, power_on_seconds=OLD)
    fs = evaluate(d)
    assert rules_of(fs) == [("disk.crc_errors", "warning")]
    assert all(f.component == "board" for f in fs)
    assert all(f.runbook is None for f in fs)  # a cable is not a disk swap
    assert rules_of(evaluate(ata(attr(199, 644), power_on_seconds=OLD))) == [("disk.crc_errors", "warning")]


def test_seagate_188_is_only_judged_by_growth():
    d = ata(attr(188, 4), model="ST8000NM0055-1RM112")
    assert evaluate(d) == []
    grown = replace(d, baseline={"ata_188": 1.0})  # three new timeouts
    assert rules_of(evaluate(grown)) == [("disk.command_timeout", "warning")]


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
    assert rules_of(evaluate(s)) == [("disk.scsi_grown_defects", "critical")]
    assert rules_of(evaluate(replace(s, baseline={}))) == [("disk.scsi_grown_defects", "info")]
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
    assert rules_of(evaluate(d)) == [("disk.command_timeout", "info")]
    assert evaluate(d, devices_params={"sda": {"info": 50}}) == []
    assert evaluate(d, devices_params={"0x50014ee2b1c2d3e4": {"enabled": False}}) == []


def test_rules_are_pure_and_deterministic():
    d = ata(attr(5, 8), attr(197, 2), baseline={"ata_5": 1.0, "ata_197": 0.0})
    a, b = evaluate(d), evaluate(d)
    assert a == b and all(f.severity in (Severity.WARNING, Severity.CRITICAL) for f in a)


def test_runbook_only_where_a_disk_should_be_replaced():
    warn = evaluate(ata(attr(5, 6), baseline={"ata_5": 4.0}))
    assert [(f.severity.label, f.runbook) for f in warn] == [("warning", None)]
    crit = evaluate(ata(attr(5, 40), baseline={"ata_5": 4.0}))
    assert [(f.severity.label, f.runbook) for f in crit] == [("critical", "disk-swap-mdadm")]
    for f in evaluate(ata(attr(199, 500), attr(188, 3), baseline={"ata_199": 1.0, "ata_188": 1.0},
                          exit_status=64, ata_error_count=3, temperature_celsius=80.0)):
        assert f.runbook is None, f.rule


def test_end_to_end_and_spin_retry_growth():
    d = ata(attr(184, 2), attr(10, 5), baseline={"ata_184": 0.0, "ata_10": 1.0})
    assert rules_of(evaluate(d)) == [("disk.end_to_end_errors", "critical"), ("disk.spin_retries", "warning")]
    assert rules_of(evaluate(ata(attr(184, 2), attr(10, 5), baseline={"ata_184": 2.0, "ata_10": 5.0}))) == [
        ("disk.end_to_end_errors", "warning"), ("disk.spin_retries", "info")]


def test_worst_axis_wins():
    """A large count that also grew a little is critical (magnitude), not the growth's warning."""
    d = ata(attr(5, 1001), history={"ata_5": ((NOW - 40 * DAY, 1000.0), (NOW - 20 * DAY, 1001.0))},
            power_on_seconds=OLD)
    fs = evaluate(d)
    assert [(f.rule, f.severity.label, f.runbook) for f in fs] == [
        ("disk.reallocated_sectors", "critical", "disk-swap-mdadm")]
    assert fs[0].evidence["reasons"] == "count 1001 >= 1000; grew by 1 within 720 h"


def test_thresholds_of_one_are_not_off():
    """0 turns a check off; 1 is the lowest real setting (critical at the first unit, young below 1 h)."""
    d = ata(attr(184, 1), power_on_seconds=OLD)
    assert rules_of(evaluate(d, params={"disk.end_to_end_errors": {"critical": 1}})) == [
        ("disk.end_to_end_errors", "critical")]
    fresh = ata(attr(5, 1), power_on_seconds=1800.0)
    assert rules_of(evaluate(fresh, params={"disk.reallocated_sectors": {"young_hours": 1}})) == [
        ("disk.reallocated_sectors", "warning")]
    assert rules_of(evaluate(fresh, params={"disk.reallocated_sectors": {"young_hours": 0}})) == [
        ("disk.reallocated_sectors", "info")]


def test_counter_findings_name_the_disk_rate_and_age():
    fs = evaluate(ata(attr(197, 6), history={"ata_197": ((NOW - 30 * DAY, 2.0), (NOW - DAY, 6.0))},
                      power_on_seconds=2000 * 3600.0))
    (f,) = fs
    assert f.summary == "sda (WDC WD40EFRX, WD-1): pending sectors: 6 (grew by 4 within 168 h)"
    assert f.evidence["power_on_hours"] == 2000 and f.evidence["growth_critical_window"] == 4
    nomodel = ata(attr(5, 20), model=None, power_on_seconds=OLD)
    assert evaluate(nomodel)[0].summary.startswith("sda (ATA, WD-1): reallocated sectors: 20")


def test_every_disk_is_judged():
    """A disk without findings (or a stale one) before another does not end the rule's sweep."""
    quiet = ata(attr(5, 0), device="sda", wwn="0x1")
    stale = ata(attr(5, 500), device="sdb", wwn="0x2", read_status="timeout")
    loud = ata(attr(5, 20), device="sdc", wwn="0x3", power_on_seconds=OLD)
    got = [(f.rule, f.device) for f in evaluate(quiet, stale, loud) if f.rule == "disk.reallocated_sectors"]
    assert got == [("disk.reallocated_sectors", "sdc")]


def test_pending_partly_reallocated_counts_what_went_away():
    d = ata(attr(5, 1), attr(197, 2), power_on_seconds=OLD,
            history={"ata_197": ((NOW - 20 * DAY, 0.0), (NOW - 10 * DAY, 5.0), (NOW - DAY, 2.0)),
                     "ata_5": ((NOW - 20 * DAY, 0.0), (NOW - DAY, 1.0))})
    f = next(f for f in evaluate(d) if f.rule == "disk.pending_sectors")
    assert f.evidence["pending_resolved"] == "reallocated"
    assert "3 pending sectors turned into 1 reallocations" in f.evidence["reasons"]
