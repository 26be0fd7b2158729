"""md RAID collector on real /proc/mdstat shapes and md sysfs, and the raid rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.collectors.base import NoData, run_collector
from agent.collectors.mdraid import MdraidCollector, parse_mdstat, parse_sync_completed
from agent.model import Severity
from agent.model.platform import MdArray
from tests.unit.platform.common import run_rule, snap

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "platform" / "mdstat"


def arrays(make_host, fakesys, case: str | None = None, text: str | None = None):
    fakesys.write("proc/mdstat", text if text is not None else (FIX / case).read_text())
    return {a.device: a for a in MdraidCollector(make_host(fakesys.root)).collect()}


def findings(out, rule_id):
    return run_rule(rule_id, snap(*out.values()))


def test_clean(make_host, fakesys):
    a = arrays(make_host, fakesys, "raid1-clean")["md0"]
    assert (a.level, a.array_state, a.raid_disks, a.active_disks, a.degraded, a.failed_disks, a.status) == \
        ("raid1", "active", 2, 2, 0, 0, "[UU]")
    assert a.size_bytes == 976630464 * 1024 and a.sync_action == "idle" and a.sync_completed is None
    assert [m.device for m in a.members] == ["sda1", "sdb1"]
    out = arrays(make_host, fakesys, "raid1-clean")
    for rid in ("raid.degraded", "raid.member_failed", "raid.array_inactive", "raid.sync_running"):
        assert findings(out, rid) == []


def test_degraded_with_failed_member(make_host, fakesys):
    out = arrays(make_host, fakesys, "raid1-degraded")
    assert list(out) == ["md0", "md1", "md2"]
    md2 = out["md2"]
    assert (md2.degraded, md2.failed_disks, md2.status) == (1, 1, "[U_]")
    assert [(m.device, m.states) for m in md2.members] == [("sda3", ("in_sync",)), ("sdb3", ("faulty",))]
    assert out["md0"].degraded == 1 and out["md0"].failed_disks == 0  # member gone entirely
    deg = findings(out, "raid.degraded")
    assert [(f.device, f.severity, f.runbook) for f in deg] == [("md0", Severity.CRITICAL, "disk-swap-mdadm"),
                                                                ("md2", Severity.CRITICAL, "disk-swap-mdadm")]
    assert "failed: sdb3" in deg[1].summary
    failed = findings(out, "raid.member_failed")
    assert [(f.subject, f.device, f.severity) for f in failed] == [("md2/sdb3", "sdb3", Severity.CRITICAL)]


def test_recovering(make_host, fakesys):
    out = arrays(make_host, fakesys, "raid1-recovering")
    md2 = out["md2"]
    assert (md2.sync_action, md2.sync_completed, md2.degraded) == ("recover", pytest.approx(0.126), 1)
    deg = findings(out, "raid.degraded")
    assert [(f.severity, "rebuilding" in f.summary) for f in deg] == [(Severity.WARNING, True)]
    assert [f.severity for f in findings(out, "raid.sync_running")] == [Severity.INFO]


def test_resync_and_pending(make_host, fakesys):
    out = arrays(make_host, fakesys, "raid1-resync")
    assert out["md0"].sync_action == "resync" and out["md0"].sync_completed == pytest.approx(0.041)
    assert out["md3"].sync_pending == "resync=PENDING" and out["md3"].array_state == "auto-read-only"
    assert findings(out, "raid.degraded") == []
    assert {f.device for f in findings(out, "raid.sync_running")} == {"md0", "md3"}


def test_raid5_spare_inactive_raid0(make_host, fakesys):
    out = arrays(make_host, fakesys, "raid5-mixed")
    assert (out["md1"].failed_disks, out["md1"].spare_disks, out["md1"].degraded) == (1, 1, 1)
    assert out["md127"].degraded == 1 and out["md127"].sync_action == "recover"
    assert out["md4"].array_state == "inactive" and out["md5"].level == "raid0" and not out["md5"].redundant
    assert [f.device for f in findings(out, "raid.array_inactive")] == ["md4"]
    assert {(f.device, f.severity) for f in findings(out, "raid.degraded")} == {("md1", Severity.CRITICAL),
                                                                                 ("md127", Severity.WARNING)}


def test_sysfs_preferred(make_host, fakesys):
    md = "sys/block/md2/md"
    for name, value in (("level", "raid1"), ("array_state", "clean"), ("raid_disks", "2"), ("degraded", "1"),
                        ("sync_action", "recover"), ("sync_completed", "266083712 / 2111699968"), ("mismatch_cnt", "0")):
        fakesys.write(f"{md}/{name}", value + "\n")
    fakesys.write(f"{md}/dev-sda3/state", "in_sync\n")
    fakesys.write(f"{md}/dev-sda3/slot", "0\n")
    fakesys.write(f"{md}/dev-sda3/errors", "0\n")
    fakesys.write(f"{md}/dev-sdc3/state", "spare\n")
    fakesys.write(f"{md}/dev-sdc3/slot", "none\n")
    fakesys.write(f"{md}/dev-sdc3/errors", "0\n")
    a = arrays(make_host, fakesys, "raid1-recovering")["md2"]
    assert a.array_state == "clean" and a.sync_completed == pytest.approx(266083712 / 2111699968)
    assert [(m.device, m.states, m.slot) for m in a.members] == [("sda3", ("in_sync",), "0"), ("sdc3", ("spare",), "none")]
    # sysfs alone (no mdstat readable) is enough
    fakesys.write("proc/mdstat", "")
    a2 = {x.device: x for x in MdraidCollector(make_host(fakesys.root)).collect()}["md2"]
    assert a2.degraded == 1 and a2.level == "raid1"


def test_no_arrays_and_garbage(make_host, fakesys):
    with pytest.raises(NoData):
        MdraidCollector(make_host(fakesys.root)).collect()
    fakesys.write("proc/mdstat", "Personalities : \nunused devices: <none>\n")
    with pytest.raises(NoData):
        MdraidCollector(make_host(fakesys.root)).collect()
    fakesys.write("proc/mdstat", "\x00\xff garbage\nmd9 : \n   [???]\n")
    out, st = run_collector(MdraidCollector(make_host(fakesys.root)), None)
    assert st.ok and out[0].device == "md9" and out[0].degraded is None
    assert run_rule("raid.degraded", snap(*out)) == []


def test_parse_helpers():
    assert parse_sync_completed("none") is None
    assert parse_sync_completed("10 / 0") is None
    assert parse_sync_completed("5 / 10") == 0.5
    assert parse_mdstat("md0 : active raid10 sdd1[3] sdc1[2] sdb1[1] sda1[0]\n      blocks [4/4] [UUUU]\n")["md0"]["level"] == "raid10"


def test_reading_type():
    a = MdArray(device="md0", level="linear", array_state="clean", raid_disks=2, active_disks=None, degraded=None,
                failed_disks=0, spare_disks=0, sync_action=None, sync_completed=None, sync_pending=None,
                mismatch_count=None, size_bytes=None)
    assert not a.redundant
