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
    for sid in ("MB-09", "MB-10", "MB-18", "MB-25"):
        assert items[sid].status == "ok", (sid, items[sid].detail)
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
        "/etc/netplan/01-netcfg.yaml:6 names 3c:ec:ef:00:00:01 (old hardware, no NIC has it now)",
        "/etc/udev/rules.d/70-persistent-net.rules:1 names 3c:ec:ef:00:00:02 (old hardware, no NIC has it now)"]


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
    text = report.checklist(rb, Context(params={"backup_max_age_hours": "24", "bmc": "yes", "repo_host": "deb.debian.org"},
                                        baseline=before, run={"id": "<run-id>", "operator": "x", "host": "h"}))
    assert "OLDBOARD0001" in text and "{baseline." not in text
    for s in rb.steps:
        assert f"{s.id} · " in text


def test_execute_across_a_reboot_and_hand_over_the_report(tmp_path, make_host, before):
    """The 'done when' of the issue: execute mainboard-swap, stop at the reboot after the boot
    entries, resume in the new boot, finish, and render the report for a colleague."""
    from agent import baseline as bl
    from agent.recovery import report
    from agent.recovery.record import RunStore
    from tests.unit.recovery.hosttree import build
    from tests.unit.recovery.support import ScriptedRunner

    fs, replay = build(tmp_path / "after", board_serial="NEWBOARD0002", macs=NEW_MACS, efi="after",
                       netplan_mac=NEW_MACS["eno1"], udev_mac=NEW_MACS["eno2"])
    after = bl.capture(make_host(fs.root, runner=replay))
    answers = {("cat", "/sys/class/dmi/id/board_serial"): "NEWBOARD0002\n",
               ("cat", "/sys/class/dmi/id/bios_version"): "2.4\n",
               ("ipmitool", "lan", "print", "1"): "IP Address Source       : Static Address\nIP Address              : 10.0.0.5\n",
               ("lsinitramfs", "/boot/initrd.img-6.1.0-26-amd64"): "usr/lib/modules/6.1.0-26-amd64/kernel/drivers/ata/ahci.ko\n",
               ("getent", "hosts", "deb.debian.org"): "151.101.2.132   deb.debian.org\n",
               ("timedatectl", "show", "-p", "NTPSynchronized", "--value"): "yes\n"}
    runner = ScriptedRunner(lambda argv: (0, answers.get(argv, "")))
    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    store = RunStore(tmp_path / "state")
    typed = ["none", "2026-11-24 03:00", "OLDBOARD0001", "NEWBOARD0002", "yes", "10.0.0.5"]

    class Reboot(BaseException):  # like a power cut: not an error the engine may handle
        pass

    def reboot_after_boot_entries(step_id, state):
        if step_id == "MB-09" and state == "checking" or step_id == "MB-09" and state == "verifying":
            raise Reboot
    boot1 = make_host(fs.root, runner=runner)
    ex = Executor(rb, boot1, baseline=before, ui=NullUI(list(typed)), operator="alice", store=store,
                  live_baseline=lambda: after, on_transition=reboot_after_boot_entries)
    try:
        ex.start()
    except Reboot:
        pass
    else:
        d = store.load(store.list()[0]["run_id"]).data
        pytest.fail(f"run ended before the reboot: {d['status']} {d.get('failed_step')} "
                    f"{d['steps'].get(d.get('failed_step') or '', {}).get('detail')}")
    run_id = store.list()[0]["run_id"]
    d = store.load(run_id).data
    assert d["steps"]["MB-08"]["state"] == "already_done"  # the new entry points at a present ESP
    assert d["steps"]["MB-07"]["state"] == "verified" and d["answers"]["MB-04"] == "OLDBOARD0001"
    # new boot: another boot id, another operator
    (fs.root / "proc/sys/kernel/random/boot_id").write_text("00000000-0000-4000-8000-000000000002\n")
    boot2 = make_host(fs.root, runner=runner)
    rest = ["yes", "yes", "2.4", "skipped: kernel current", "kept", "yes"]
    ex2 = Executor(rb, boot2, baseline=before, ui=NullUI(rest), operator="bob", store=store,
                   live_baseline=lambda: after)
    rec = ex2.resume(run_id)
    d = rec.data
    assert d["status"] == "completed", {k: (v["state"], v.get("detail")) for k, v in d["steps"].items() if v["state"] == "failed"}
    assert d["boot_ids"] == ["00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"]
    assert d["operators"] == ["alice", "bob"]
    assert d["steps"]["MB-12a"]["state"] == "already_done" and d["steps"]["MB-12c"]["state"] == "not_applicable"
    assert d["steps"]["MB-31"]["state"] == "verified"
    assert [(f["step"], f["closed_by"]) for f in d["followups"]] == [("MB-02", "step MB-30")]
    mutating = [c for c in runner.calls if c[0] in ("update-initramfs", "mdadm", "timedatectl", "hwclock", "agent")
                and c[:2] != ("timedatectl", "show")]
    assert mutating == [("update-initramfs", "-u", "-k", "all"), ("agent", "baseline", "capture", "--known-good")]
    md = report.run_markdown(d, rb)
    assert "| Status | **completed** |" in md and "| Operators | alice, bob |" in md
    assert "answer `OLDBOARD0001` by alice" in md and "answer `2.4` by bob" in md
    assert "~ dmi.board_serial: OLDBOARD0001 -> NEWBOARD0002" in md  # MB-09b's diff is in the evidence
    assert all(n["sent"] is False for n in d["notifications"])  # notify not configured: noted, not sent
