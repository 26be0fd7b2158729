"""mainboard-swap against two baselines of the same host: before the failure and after the board
swap (new MACs, new board serial, new EFI entries). Its comparison steps must find exactly those
changes, flag config still naming old MACs, and pass everything that did not change."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from tests.unit.recovery.hosttree import NEW_MACS, capture

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def before(tmp_path, make_host):
    return capture(tmp_path / "before", make_host)[0]


def plan(tmp_path, make_host, before, **after_kw):
    from tests.unit.recovery.hosttree import build

    fs, runner = build(tmp_path / "after", board_serial="NEWBOARD0002", macs=NEW_MACS, efi="after", **after_kw)
    host = make_host(fs.root, runner=runner)
    from agent import baseline as bl

    after = bl.capture(host)
    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    ex = Executor(rb, host, baseline=before, ui=NullUI(), operator="alice", live_baseline=lambda: after)
    return {i.step.id: i for i in ex.plan()}, runner


def test_diff_step_finds_exactly_the_hardware_changes(tmp_path, make_host, before):
    items, _ = plan(tmp_path, make_host, before)
    mb09b = items["MB-09b"]
    assert mb09b.status == "ok", mb09b.detail
    changes = [r for r in mb09b.results if r["phase"] == "verify"][0]["value"]
    paths = {c["path"] for c in changes}
    simple = {p for p in paths if not p.startswith("boot.efi.entries.")}
    assert simple == {"dmi.board_serial", "nics.physical.eno1.mac", "nics.physical.eno2.mac",
                      "boot.efi.boot_current", "boot.efi.boot_order"}
    by_entry = {}
    for c in changes:
        if c["path"].startswith("boot.efi.entries."):
            by_entry.setdefault(c["path"].split(".")[3], set()).add(c["kind"])
    assert by_entry == {"0000": {"removed"}, "0001": {"removed"}, "0002": {"removed"}, "0003": {"added"}, "0004": {"added"}}
    serial = [c for c in changes if c["path"] == "dmi.board_serial"][0]
    assert (serial["old"], serial["new"]) == ("OLDBOARD0001", "NEWBOARD0002")


def test_clean_diff_and_unchanged_checks_pass(tmp_path, make_host, before):
    items, _ = plan(tmp_path, make_host, before, netplan_mac=NEW_MACS["eno1"], udev_mac=NEW_MACS["eno2"])
    assert items["MB-31"].status == "ok", items["MB-31"].detail  # nothing but the expected identity changed
    for sid in ("MB-05b", "MB-10"):  # MB-05b: new_board, bios_version, firmware_settings
        assert items[sid].status == "ok", (sid, items[sid].detail)
    mb25 = [r for r in items["MB-25"].results if r["phase"] == "check"][0]["value"]
    assert mb25["services"] == []  # services as before; this fixture records no `ss` output for `listening`
    for sid in ("MB-08", "MB-13", "MB-15"):  # checks pass: nothing to do
        assert items[sid].status == "already_done", (sid, items[sid].detail)
    assert items["MB-12c"].status == "not_applicable"  # no ZFS in the baseline
    assert items["MB-12a"].status == "already_done"  # md arrays as the baseline


def test_config_naming_old_macs_is_found(tmp_path, make_host, before):
    items, _ = plan(tmp_path, make_host, before)
    mb15 = items["MB-15"]
    assert mb15.status == "would_run"  # its check (no stale MAC) failed
    check = [r for r in mb15.results if r["phase"] == "check"][0]
    assert not check["passed"]
    assert sorted(check["value"]) == [
        "/etc/netplan/01-netcfg.yaml:6 (netplan) names MAC 3c:ec:ef:00:00:01, which no interface has",
        "/etc/udev/rules.d/70-persistent-net.rules:1 (udev) names MAC 3c:ec:ef:00:00:02, which no interface has"]


def test_missing_disk_and_fstab_uuid_are_found(tmp_path, make_host, before):
    from tests.unit.recovery.hosttree import build
    from agent import baseline as bl

    fs, runner = build(tmp_path / "after", board_serial="NEWBOARD0002", macs=NEW_MACS, efi="after", missing_fstab_uuid=True)
    import shutil
    shutil.rmtree(fs.root / "sys/block/sdb")
    host = make_host(fs.root, runner=runner)
    after = bl.capture(host)
    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    items = {i.step.id: i for i in Executor(rb, host, baseline=before, ui=NullUI(), live_baseline=lambda: after).plan()}
    assert items["MB-10"].status == "failing" and "WD-WCAYUS000002" in items["MB-10"].detail
    assert items["MB-13"].status == "failing" and "9999dead" in items["MB-13"].detail
    assert items["MB-31"].status == "failing"


def test_filled_checklist_shows_baseline_values(before):
    from agent.recovery import report
    from agent.recovery.template import Context

    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    text = report.checklist(rb, Context(params={"backup_max_age_hours": "24", "bmc": "yes", "repo_host": "deb.debian.org",
                                                "nic_fix": "link"},
                                        baseline=before, run={"id": "<run-id>", "operator": "x", "host": "h"}))
    assert "firmware to 2.3 (03/11/2024) or newer" in text and "{baseline." not in text
    assert "OLDBOARD0001" not in text  # MB-04 confirms the old serial: the checklist does not give it away
    for s in rb.steps:
        assert f"{s.id} · " in text
