"""The smart collector end to end through a fake `smartctl` executable on PATH (the real runner:
subprocess, timeout, kill), and through the ReplayRunner."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest

from agent.collectors.base import NoData, run_collector
from agent.collectors.smart import STANDBY_RC, SmartCollector, import_pysmart, parse_device_spec, parse_scan
from agent.config import CollectorConfig, ConfigError
from agent.host import Host, HostPaths
from agent.state.enrich import Enricher
from agent.state.store import Store
from tests.support.replay import ReplayRunner

from .conftest import NOW, Recorder, corpus_doc, standby_doc
from .helpers import evaluate

HEALTHY_SATA = "sce-WDC_WD20EFRX-68EUZN0_17.json"
REALLOCATED = "sce-ST3500418AS_12.json"
NVME_FAILING = "sce-nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"
HEALTHY_NVME = "sce-INTEL_SSDPE2KX080T8_1.json"


_DEVFS: list[str] = []


@pytest.fixture(autouse=True)
def private_devfs(tmp_path):
    """Live root (so smartctl runs) but /dev from a private tree: no test reads this machine's
    /dev/disk/by-id."""
    (tmp_path / "dev").mkdir(exist_ok=True)
    _DEVFS[:] = [str(tmp_path / "dev")]
    yield tmp_path / "dev"
    _DEVFS.clear()


def make(opts: dict | None = None, store=None, host: Host | None = None, clock=None) -> SmartCollector:
    host = host or Host(paths=HostPaths(devfs=_DEVFS[0]), clock=clock or (lambda: NOW))
    return SmartCollector(host, CollectorConfig(options=opts or {}), store)


def sweep(col: SmartCollector) -> list:
    """One sweep as the daemon runs it: collect, then the enrichment step with the same store (a
    new collector + enricher per call is a restarted agent)."""
    return list(Enricher(col.store).enrich(col.name, col.collect(), col.host.now())[0])


def by_dev(readings):
    return {r.device: r for r in readings}


def three_disks(rec):
    rec.scan(("/dev/sda", "sat", "ATA"), ("/dev/sdb", "sat", "ATA"), ("/dev/nvme0", "nvme", "NVMe"))
    rec.read("/dev/sda", "sat", corpus_doc(HEALTHY_SATA))
    rec.read("/dev/sdb", "sat", corpus_doc(REALLOCATED))
    rec.read("/dev/nvme0", "nvme", corpus_doc(NVME_FAILING), rc=8)


def test_sweep_through_fake_smartctl_on_path(fake_smartctl):
    three_disks(fake_smartctl)
    col = make()
    assert col.exe == str(fake_smartctl.exe)  # found on PATH
    out = by_dev(col.collect())
    assert set(out) == {"sda", "sdb", "nvme0"}
    assert all(d.fresh and d.read_time == NOW and d.last_success == NOW for d in out.values())
    assert out["nvme0"].exit_status == 8 and out["nvme0"].nvme.critical_warning == 0x10
    findings = evaluate(*out.values())
    assert {(f.rule, f.device, f.severity.label) for f in findings} == {
        ("disk.reallocated_sectors", "sdb", "warning"), ("disk.nvme_critical_warning", "nvme0", "critical")}
    nv = next(f for f in findings if f.device == "nvme0")
    assert nv.component == "disk:" + out["nvme0"].stable_id and nv.runbook == "disk-swap-mdadm"


def test_hang_is_killed_and_other_disks_unaffected(fake_smartctl):
    three_disks(fake_smartctl)
    fake_smartctl.read("/dev/sda", "sat", corpus_doc(HEALTHY_SATA), sleep=120)
    col = make({"command_timeout_seconds": 6.0})  # generous: the other (python) fakes must not time out on a busy machine
    t0 = time.monotonic()
    out = by_dev(col.collect())
    assert time.monotonic() - t0 < 60
    assert out["sda"].read_status == "timeout" and "killed" in out["sda"].message
    assert out["sda"].temperature_celsius is None and out["sda"].ata_attributes == ()
    assert out["sdb"].fresh and out["nvme0"].fresh
    skipped, msgs = col.take_problems()
    assert skipped == 1 and msgs[0].startswith("sda:")


@pytest.mark.parametrize("body,status,words", [
    ("<<< garbage >>>\n", "parse_error", "not JSON"),
    (json.dumps(corpus_doc(HEALTHY_SATA))[:700], "parse_error", "truncated JSON"),
    ("", "parse_error", "no output"),
    (json.dumps({"json_format_version": [1, 0], "smartctl": {"exit_status": 2, "messages": [
        {"string": "Smartctl open device: /dev/sda [SAT] failed: Permission denied", "severity": "error"}]}}),
     "permission_denied", "Permission denied"),
    (json.dumps({"json_format_version": [1, 0], "smartctl": {"exit_status": 2, "messages": [
        {"string": "Smartctl open device: /dev/sda failed: No such device", "severity": "error"}]}}),
     "open_failed", "No such device"),
])
def test_bad_output_gives_clear_per_device_status(fake_smartctl, body, status, words, caplog):
    three_disks(fake_smartctl)
    fake_smartctl.read("/dev/sda", "sat", body, rc=2 if "open device" in body else 0)
    with caplog.at_level(logging.WARNING, logger="hwagent.collectors.smart"):
        out = by_dev(make().collect())
    sda = out["sda"]
    assert sda.read_status == status and words in sda.message and sda.message.startswith("sda:")
    assert sda.read_time is None and sda.smart_passed is None
    assert out["sdb"].fresh and out["nvme0"].fresh
    assert any("sda:" in r.message for r in caplog.records)


def test_not_root_without_permission_on_the_binary(tmp_path, fake_smartctl):
    exe = tmp_path / "smartctl-noexec"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o644)
    col = make({"smartctl": str(exe), "devices": ["/dev/sda -d sat"], "scan": False})
    out = run_collector(col, None)
    # a binary we cannot run counts as "no smartctl": every configured disk says so
    readings, status = out
    assert status.ok and [r.read_status for r in readings] == ["no_smartctl"]
    assert "smartctl-noexec" in readings[0].message


def test_missing_smartctl(tmp_path):
    col = make({"smartctl": str(tmp_path / "nope" / "smartctl")})
    readings, status = run_collector(col, None)
    assert status.no_data and "smartctl not found" in status.error


def test_missing_smartctl_keeps_known_disks_visible(tmp_path, fake_smartctl):
    three_disks(fake_smartctl)
    store = Store(tmp_path / "state.db")
    sweep(make(store=store))
    store.close()
    store = Store(tmp_path / "state.db")
    col = make({"smartctl": str(tmp_path / "gone")}, store=store)
    out = by_dev(col.collect())
    assert {d.read_status for d in out.values()} == {"no_smartctl"}
    assert out["sdb"].last_success == NOW and out["sdb"].serial  # identity and last good read, no values
    assert out["sdb"].ata_attributes == ()
    assert {f.rule for f in evaluate(*out.values())} == {"disk.unreadable"}


def test_device_vanishes_between_sweeps(tmp_path, fake_smartctl):
    three_disks(fake_smartctl)
    store = Store(tmp_path / "state.db")
    sweep(make(store=store))
    fake_smartctl.scan(("/dev/sda", "sat", "ATA"), ("/dev/nvme0", "nvme", "NVMe"))  # sdb pulled
    out = by_dev(sweep(make(store=store, clock=lambda: NOW + 1800)))
    assert out["sdb"].read_status == "open_failed" and "no longer listed" in out["sdb"].message
    assert out["sdb"].last_success == NOW and out["sdb"].ata_attributes == ()
    # forgotten after forget_seconds
    out = by_dev(sweep(make({"forget_seconds": 3600.0}, store=store, clock=lambda: NOW + 7200)))
    assert "sdb" not in out


def test_renamed_disk_keeps_identity(tmp_path, fake_smartctl):
    three_disks(fake_smartctl)
    store = Store(tmp_path / "state.db")
    first = by_dev(sweep(make(store=store)))
    fake_smartctl.scan(("/dev/sda", "sat", "ATA"), ("/dev/sdc", "sat", "ATA"), ("/dev/nvme0", "nvme", "NVMe"))
    fake_smartctl.read("/dev/sdc", "sat", corpus_doc(REALLOCATED))
    out = by_dev(sweep(make(store=store, clock=lambda: NOW + 60)))
    assert "sdb" not in out and out["sdc"].stable_id == first["sdb"].stable_id
    assert out["sdc"].baseline["ata_5"] == 304  # the baseline followed the disk


def test_growth_survives_restart(tmp_path, fake_smartctl):
    three_disks(fake_smartctl)
    store = Store(tmp_path / "state.db")
    d0 = by_dev(sweep(make(store=store)))["sdb"]
    assert d0.baseline["ata_5"] == 304 and d0.growth("ata_5") == 0
    store.close()
    grown = corpus_doc(REALLOCATED)
    for row in grown["ata_smart_attributes"]["table"]:
        if row["id"] == 5:
            row["raw"] = {"value": 320, "string": "320"}
    fake_smartctl.read("/dev/sdb", "sat", grown)
    store = Store(tmp_path / "state.db")  # a restarted agent
    d1 = by_dev(sweep(make(store=store, clock=lambda: NOW + 86400)))["sdb"]
    assert d1.baseline["ata_5"] == 304 and d1.growth("ata_5") == 16
    assert d1.history["ata_5"] == ((NOW, 304.0), (NOW + 86400, 320.0))  # change points survive a restart
    fs = [f for f in evaluate(d1, now=NOW + 86400) if f.rule == "disk.reallocated_sectors"]
    assert fs and fs[0].severity.label == "critical" and fs[0].evidence["growth_critical_window"] == 16
    assert fs[0].runbook == "disk-swap-mdadm"
    store.close()
    # a week later nothing grew: the rate is judged per window, the magnitude alone is a warning
    store = Store(tmp_path / "state.db")
    d2 = by_dev(sweep(make(store=store, clock=lambda: NOW + 9 * 86400)))["sdb"]
    fs = [f for f in evaluate(d2, now=NOW + 9 * 86400) if f.rule == "disk.reallocated_sectors"]
    assert [(f.severity.label, f.runbook) for f in fs] == [("warning", None)]


def test_standby_is_not_woken_and_rechecked_after_n_skips(fake_smartctl):
    fake_smartctl.scan(("/dev/sdc", "sat", "ATA"))
    fake_smartctl.read("/dev/sdc", "sat", standby_doc("/dev/sdc"), rc=STANDBY_RC)
    fake_smartctl.read("/dev/sdc", "sat", corpus_doc(HEALTHY_SATA), standby=False)  # without -n
    col = make({"standby_max_skips": 2})
    for _ in range(2):
        (d,) = col.collect()
        assert d.read_status == "standby" and d.power_state == "standby" and d.read_time is None
        assert evaluate(d) == []  # a skip is not a failure
    (d,) = col.collect()  # third sweep: checked anyway
    assert d.fresh and d.power_state == "active"
    (d,) = col.collect()  # and back to not waking it
    assert d.read_status == "standby"


def test_standby_ignore_override(fake_smartctl):
    fake_smartctl.scan(("/dev/sdc", "sat", "ATA"))
    fake_smartctl.read("/dev/sdc", "sat", corpus_doc(HEALTHY_SATA), standby=False)
    (d,) = make({"standby_ignore": ["^/dev/sdc$"]}).collect()
    assert d.fresh


def test_standby_plain_exit_2_message(fake_smartctl):
    """smartctl run with plain `-n standby` (exit 2): recognised by its message, not as open failure."""
    fake_smartctl.scan(("/dev/sdc", "sat", "ATA"))
    fake_smartctl.read("/dev/sdc", "sat", corpus_doc("sce-standby-sdc.json"), rc=2)
    (d,) = make().collect()
    assert d.read_status == "standby"


def test_include_exclude_and_explicit_devices(fake_smartctl):
    three_disks(fake_smartctl)
    fake_smartctl.add(["--json", "-x", "-d", "megaraid,1", "-n", "standby,253", "/dev/bus/0"],
                      corpus_doc("sce-megaraid,1-null-TOSHIBA_MG08SCA16TEY-0.json"))
    col = make({"exclude": "^/dev/sd[ab]$", "devices": ["/dev/bus/0 -d megaraid,1"]})
    out = by_dev(col.collect())
    assert set(out) == {"nvme0", "bus_0_megaraid_1"}
    assert out["bus_0_megaraid_1"].protocol == "SCSI" and out["bus_0_megaraid_1"].fresh
    only = by_dev(make({"include": "nvme"}).collect())
    assert set(only) == {"nvme0"}


def _sys_with_holders(tmp_path, holders: dict[str, list[str]]):
    for disk, hs in holders.items():
        d = tmp_path / "sys" / "block" / disk / "holders"
        d.mkdir(parents=True)
        for h in hs:
            (d / h).mkdir()
    return Host(paths=HostPaths(devfs=_DEVFS[0], sysfs=str(tmp_path / "sys")), clock=lambda: NOW)


def test_multipath_duplicates_read_once(fake_smartctl, tmp_path):
    # two paths to one LUN: both held by the same dm-multipath device
    fake_smartctl.scan(("/dev/sda", "sat", "ATA"), ("/dev/sdb", "sat", "ATA"))
    fake_smartctl.read("/dev/sda", "sat", corpus_doc(REALLOCATED))
    fake_smartctl.read("/dev/sdb", "sat", corpus_doc(REALLOCATED))
    out = make({"ignore_rootfs": True}, host=_sys_with_holders(tmp_path, {"sda": ["dm-0"], "sdb": ["dm-0"]})).collect()
    assert [d.device for d in out] == ["sda"] and out[0].shared_identity_path == ""


def test_disks_sharing_an_identity_are_kept_apart_and_said_so(fake_smartctl, tmp_path, caplog):
    # regression: two different disks reporting one identity (cloned VM disks, a USB bridge passing the same
    # serial) were dropped as "multipath duplicates" at debug level
    from agent.exporter.collector import collect_samples
    from agent.model import Snapshot

    fake_smartctl.scan(("/dev/sda", "sat", "ATA"), ("/dev/sdb", "sat", "ATA"))
    fake_smartctl.read("/dev/sda", "sat", corpus_doc(REALLOCATED))
    fake_smartctl.read("/dev/sdb", "sat", corpus_doc(REALLOCATED))
    caplog.set_level(logging.INFO, logger="hwagent.collectors.smart")
    out = make({"ignore_rootfs": True}, host=_sys_with_holders(tmp_path, {"sda": [], "sdb": []})).collect()
    assert [d.device for d in out] == ["sda", "sdb"]
    assert out[0].stable_id != out[1].stable_id and out[0].reported_id == out[1].reported_id
    assert out[1].stable_id == out[1].reported_id + "@/dev/sdb#sat"
    assert "kept apart by device path" in caplog.text
    snap = Snapshot(time=NOW, boot_id="b", readings={"smart": tuple(out)}, statuses={})
    shared = collect_samples(snap)["hwagent_disk_identity_shared"]
    assert sorted((labels["device"], value) for labels, value in shared) == [("sda", 1.0), ("sdb", 1.0)]


@pytest.mark.parametrize("opts,key", [({"include": "("}, "collectors.smart.include"),
                                      ({"standby_mode": "deep"}, "collectors.smart.standby_mode"),
                                      ({"devices": ["sda"]}, "collectors.smart.devices[0]"),
                                      ({"backend": "magic"}, "collectors.smart.backend")])
def test_bad_config_names_the_key(opts, key):
    with pytest.raises(ConfigError) as exc:
        make(opts)
    assert key in str(exc.value)


def test_parse_helpers():
    assert parse_device_spec("/dev/bus/0 -d megaraid,3").device == "bus_0_megaraid_3"
    assert parse_device_spec("/dev/sdb --device=sat").dev_type == "sat"
    assert parse_device_spec("/dev/sdd -d sat+megaraid,5").device == "sdd_megaraid_5"
    old = "/dev/sda -d sat # /dev/sda [SAT], ATA device\n/dev/nvme0 -d nvme # /dev/nvme0, NVMe device\n"
    assert [(t.path, t.dev_type) for t in parse_scan(old)] == [("/dev/sda", "sat"), ("/dev/nvme0", "nvme")]


def test_replay_runner_sweep(tmp_path):
    """The same sweep through tests/support/replay.py (argv-named recordings, no subprocess)."""
    rec = Recorder(tmp_path, "smartctl")
    rec.version()
    rec.scan(("/dev/sda", "sat", "ATA"), ("/dev/nvme0", "nvme", "NVMe"))
    rec.read("/dev/sda", "sat", corpus_doc("sce-sat-Western_Digital_RE4-WDC_WD1003FBYX-01Y7B0-sda.json"))
    rec.read("/dev/nvme0", "nvme", corpus_doc(HEALTHY_NVME))
    runner = ReplayRunner(tmp_path)
    col = make(host=Host(runner=runner, clock=lambda: NOW))
    out = by_dev(col.collect())
    assert runner.calls[0] == ("smartctl", "--version")
    assert ("smartctl", "--json", "-x", "-d", "nvme", "/dev/nvme0") in runner.calls  # no -n for NVMe
    fs = evaluate(*out.values())
    assert [(f.rule, f.component) for f in fs] == [("disk.crc_errors", "board")]
    assert fs[0].device == "sda" and fs[0].subject == out["sda"].stable_id


def test_pysmart_backend_for_old_smartctl(tmp_path):
    """smartctl 6.x: no JSON; pySMART parses the text, through our runner, with our smartctl path."""
    from .conftest import LAB

    lines = (LAB / "nvme-critical-warning" / "after-smartctl-nvme0.txt").read_text().splitlines()
    rec = Recorder(tmp_path, "smartctl")
    rec.version("smartctl 6.6 2016-05-31 r4324 [x86_64-linux-4.9.0] (local build)\n")
    rec.add(["--scan-open"], "/dev/nvme0 -d nvme # /dev/nvme0, NVMe device\n")
    rec.add(["-d", "nvme", "--all", "/dev/nvme0"], "\n".join(lines[2:]) + "\n", rc=8)
    lang, logger_class = os.environ.get("LANG"), logging.getLoggerClass()
    col = make(host=Host(runner=ReplayRunner(tmp_path), clock=lambda: NOW))
    (d,) = col.collect()
    assert os.environ.get("LANG") == lang and logging.getLoggerClass() is logger_class
    assert import_pysmart().__name__ == "pySMART"
    assert d.backend == "pysmart" and d.fresh and d.serial == "LABNVME0001"
    assert d.nvme.critical_warning == 0x07
    fs = evaluate(d)
    assert ("disk.nvme_critical_warning", "critical") in {(f.rule, f.severity.label) for f in fs}


def test_pysmart_backend_garbage_is_a_device_status(tmp_path):
    rec = Recorder(tmp_path, "smartctl")
    rec.version("smartctl 6.6 2016-05-31 r4324 [x86_64-linux-4.9.0] (local build)\n")
    rec.add(["--scan-open"], "/dev/sda -d sat # /dev/sda [SAT], ATA device\n")
    rec.add(["-d", "sat", "--all", "-n", "standby,253", "/dev/sda"],
            "smartctl 6.6\nCopyright\n\nSmartctl open device: /dev/sda failed: Permission denied\n", rc=2)
    (d,) = make(host=Host(runner=ReplayRunner(tmp_path), clock=lambda: NOW)).collect()
    assert d.read_status == "permission_denied" and d.message.startswith("sda:") and "CAP_SYS_RAWIO" in d.message


def test_real_smartctl_version_and_missing_device():
    """The installed smartctl (Debian smartmontools): version parsing, and a device that does not exist."""
    host = Host()
    if host.which("smartctl") is None:
        pytest.skip("smartmontools not installed")
    col = SmartCollector(host, CollectorConfig(options={"scan": False, "devices": ["/dev/hwagent-test-nonexistent"]}))
    ver = col.smartctl_version()
    assert ver is not None and ver >= (5, 0)
    (d,) = col.collect()
    assert d.device == "hwagent-test-nonexistent" and d.read_status == "open_failed"
    assert "Unable to detect device type" in d.message or "No such" in d.message


def test_captured_root_does_not_read_this_machine(tmp_path, fake_smartctl):
    three_disks(fake_smartctl)
    (tmp_path / "tree").mkdir()
    host = Host(paths=HostPaths(rootfs=str(tmp_path / "tree")), clock=lambda: NOW)
    with pytest.raises(NoData, match="captured tree"):
        SmartCollector(host, CollectorConfig()).collect()
    out = SmartCollector(host, CollectorConfig(options={"ignore_rootfs": True})).collect()
    assert len(out) == 3


def test_by_id_names_from_udev_links(private_devfs, fake_smartctl):
    three_disks(fake_smartctl)
    byid = private_devfs / "disk" / "by-id"
    byid.mkdir(parents=True)
    for name, target in (("ata-ST3500418AS_REDACTED", "sdb"), ("wwn-0x5000c500499602d2", "sdb"),
                         ("ata-ST3500418AS_REDACTED-part1", "sdb1"), ("nvme-eui.002538b1", "nvme0n1"),
                         ("nvme-SAMSUNG_MZWLL3T2HAJQ_X", "nvme0n1")):
        (byid / name).symlink_to(f"../../{target}")
    out = by_dev(make().collect())
    assert out["sdb"].by_id == "wwn-0x5000c500499602d2"  # WWN preferred over model_serial
    assert out["nvme0"].by_id == "nvme-eui.002538b1"  # controller named after its namespace
    assert out["sda"].by_id is None


def test_failed_scan_reads_the_known_disks(tmp_path, fake_smartctl):
    three_disks(fake_smartctl)
    store = Store(tmp_path / "state.db")
    sweep(make(store=store))
    fake_smartctl.add(["--scan-open", "--json"], "", sleep=120)  # the scan hangs
    col = make({"command_timeout_seconds": 6.0}, store=store, clock=lambda: NOW + 1800)
    out = by_dev(col.collect())
    assert set(out) == {"sda", "sdb", "nvme0"} and all(d.fresh for d in out.values())
    skipped, msgs = col.take_problems()
    assert any("--scan-open: timeout" in m for m in msgs)


def test_explicit_controller_disks_next_to_scanned_ones(fake_smartctl):
    fake_smartctl.scan(("/dev/bus/0", "megaraid,0", "SCSI"))
    doc = corpus_doc("sce-megaraid,1-null-TOSHIBA_MG08SCA16TEY-0.json")
    fake_smartctl.add(["--json", "-x", "-d", "megaraid,0", "-n", "standby,253", "/dev/bus/0"],
                      corpus_doc("sce-megaraid,0-null-TOSHIBA_AL15SEB24EQY-0_megaraid_0.json"))
    fake_smartctl.add(["--json", "-x", "-d", "megaraid,1", "-n", "standby,253", "/dev/bus/0"], doc)
    out = by_dev(make({"devices": ["/dev/bus/0 -d megaraid,1"]}).collect())
    assert set(out) == {"bus_0_megaraid_0", "bus_0_megaraid_1"} and all(d.fresh for d in out.values())


def test_pysmart_backend_does_not_wake_a_sleeping_disk(tmp_path):
    rec = Recorder(tmp_path, "smartctl")
    rec.version("smartctl 6.6 2016-05-31 r4324 [x86_64-linux-4.9.0] (local build)\n")
    rec.add(["--scan-open"], "/dev/sda -d sat # /dev/sda [SAT], ATA device\n")
    rec.add(["-d", "sat", "--all", "-n", "standby,253", "/dev/sda"],
            "smartctl 6.6 2016-05-31 r4324\nCopyright\n\nDevice is in STANDBY mode, exit(253)\n", rc=253)
    runner = ReplayRunner(tmp_path)
    (d,) = make(host=Host(runner=runner, clock=lambda: NOW)).collect()
    assert d.read_status == "standby" and d.power_state == "standby"
    assert all("--all" not in c or "standby,253" in c for c in runner.calls)


def test_disk_replaced_in_a_slot_is_recorded(tmp_path, fake_smartctl, private_devfs):
    """A new serial behind the same /dev/disk/by-path link: an info finding and the slot's record moves;
    it survives a restart, and a controller target counts as a slot too."""
    slot = "pci-0000:00:1f.2-ata-2"
    (private_devfs / "disk" / "by-path").mkdir(parents=True)
    (private_devfs / "sdb").write_text("")
    os.symlink("../../sdb", private_devfs / "disk" / "by-path" / slot)
    fake_smartctl.scan(("/dev/sdb", "sat", "ATA"))
    fake_smartctl.read("/dev/sdb", "sat", corpus_doc(REALLOCATED))
    store = Store(tmp_path / "state.db")
    (d0,) = sweep(make(store=store))
    assert d0.slot == slot and d0.replaced_time is None
    assert not [f for f in evaluate(d0) if f.rule == "disk.replaced"]
    old_serial = d0.serial
    new = corpus_doc(REALLOCATED)
    new["serial_number"], new["wwn"] = "5VMNEW01", {"naa": 5, "oui": 3152, "id": 1234567}
    fake_smartctl.read("/dev/sdb", "sat", new)
    later = NOW + 3600
    (d1,) = sweep(make(store=store, clock=lambda: later))
    assert (d1.serial, d1.replaced_serial, d1.replaced_time, d1.slot) == ("5VMNEW01", old_serial, later, slot)
    fs = [f for f in evaluate(d1, now=later) if f.rule == "disk.replaced"]
    assert [(f.severity.label, f.runbook) for f in fs] == [("info", None)]
    assert fs[0].evidence["previous_serial"] == old_serial and "was " + old_serial in fs[0].summary
    assert fs[0].subject == d1.stable_id != d0.stable_id
    store.close()
    store = Store(tmp_path / "state.db")  # a restarted agent still knows the swap, and not as a new one
    (d2,) = sweep(make(store=store, clock=lambda: later + 86400))
    assert (d2.replaced_serial, d2.replaced_time) == (old_serial, later)
    # a week after the swap the info finding is gone; the slot keeps the new disk
    assert not [f for f in evaluate(d2, now=later + 8 * 86400) if f.rule == "disk.replaced"]
    assert store.execute("SELECT serial, previous_serial FROM disk_slots WHERE slot = ?", (slot,)) == [
        ("5VMNEW01", old_serial)]
