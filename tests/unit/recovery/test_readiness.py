"""Readiness findings (component `recovery`): each fires on a host tree lacking its property and
all stay silent on a tree that has them all. The trees run through the real baseline collector
(file reads, the state store) and the rule engine; the findings reach the exporter."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from agent import baseline as bl
from agent import rules
from agent.collectors.baseline import BaselineCollector
from agent.config import CollectorConfig
from agent.host import Host, HostPaths
from agent.model import Snapshot
from agent.state.store import Store
from tests.support.enriched import Enriched
from tests.unit.recovery.hosttree import MD_UUID_SYSFS, build

DAY = 86400.0
T0 = 1_764_003_600.0
MD_UUID = "3e1c2a7b:5d4f6e8a:9b0c1d2e:3f4a5b6c"


def _ready(tmp_path):
    """A host that comes back by itself: fallback loader, no hardware-bound names or MACs,
    mdadm.conf as assembled, no TPM-bound LUKS."""
    fs, runner = build(tmp_path)
    fs.write("proc/mounts", "/dev/md0 / ext4 rw 0 0\n/dev/sda1 /boot/efi vfat rw,umask=0077 0 0\n")
    fs.write("boot/efi/EFI/BOOT/BOOTX64.EFI", "")
    fs.write("etc/netplan/01-netcfg.yaml", "network:\n  version: 2\n  ethernets:\n    uplink:\n      match:\n"
                                           "        driver: igb\n      dhcp4: true\n")
    (fs.root / "etc/udev/rules.d/70-persistent-net.rules").unlink()
    return fs, runner


def _findings(fs, runner, *, known_good_days: float | None = 1, exported: str | None = "current",
              params: dict | None = None, options: dict | None = None):
    now = {"t": T0}
    host = Host(paths=HostPaths(rootfs=str(fs.root)), runner=runner, clock=lambda: now["t"])
    store = Store(fs.root.parent / "state.db")
    col = Enriched(BaselineCollector(host, CollectorConfig(options={"known_good_after_days": 0.0, **(options or {})}), store))  # as the daemon runs it
    col.collect()
    bs = bl.BaselineStore(store)
    if known_good_days is not None:
        ident = bs.list()[0]["id"]
        bs.mark_known_good(ident)
        store.execute("UPDATE baselines SET captured = ? WHERE id = ?", (T0 - known_good_days * DAY, ident))
        if exported:
            store.put("baseline.export", {"time": T0 - 3600, "baseline_id": ident if exported == "current" else "other",
                                          "target": "/backup"})
    readings = tuple(col.collect())
    store.close()
    snap = Snapshot(time=T0, boot_id="b", readings=MappingProxyType({"baseline": readings}), statuses=MappingProxyType({}))
    from agent.schema import from_mapping

    cfg = from_mapping({"rules": params or {}})
    found, errors = rules.evaluate(snap, None, cfg, T0)
    assert errors == []
    return {f.rule: f for f in found if f.component == "recovery"}


def test_a_ready_host_has_no_readiness_findings(tmp_path):
    fs, runner = _ready(tmp_path)
    assert MD_UUID == MD_UUID_SYSFS
    assert _findings(fs, runner) == {}


def test_no_fallback_loader(tmp_path):
    fs, runner = _ready(tmp_path)
    (fs.root / "boot/efi/EFI/BOOT/BOOTX64.EFI").unlink()
    f = _findings(fs, runner)
    assert list(f) == ["recovery.no_fallback_loader"]
    assert "/boot/efi" in f["recovery.no_fallback_loader"].summary and "--force-extra-removable" in f[
        "recovery.no_fallback_loader"].summary and f["recovery.no_fallback_loader"].runbook == "mainboard-swap"


def test_network_bound_to_macs_and_board_names(tmp_path):
    fs, runner = build(tmp_path)  # netplan matches the MAC and sets eno1; a udev rule names eno2's MAC
    fs.write("proc/mounts", "/dev/sda1 /boot/efi vfat rw 0 0\n")
    fs.write("boot/efi/EFI/BOOT/BOOTX64.EFI", "")
    f = _findings(fs, runner)
    assert list(f) == ["recovery.network_bound_to_hardware"]
    assert f["recovery.network_bound_to_hardware"].severity.label == "info"
    assert "2 MAC and 2 board-derived" in f["recovery.network_bound_to_hardware"].summary


@pytest.mark.parametrize("days,fires", [(7.0, False), (7.01, True)])
def test_known_good_baseline_age_boundary(tmp_path, days, fires):
    fs, runner = _ready(tmp_path)
    assert ("recovery.baseline_stale" in _findings(fs, runner, known_good_days=days)) == fires


def test_no_known_good_and_not_offhost(tmp_path):
    fs, runner = _ready(tmp_path)
    assert list(_findings(fs, runner, known_good_days=None)) == ["recovery.baseline_stale"]
    fs2, runner2 = _ready(tmp_path / "b")
    assert list(_findings(fs2, runner2, exported=None)) == ["recovery.baseline_not_offhost"]
    fs3, runner3 = _ready(tmp_path / "c")
    f = _findings(fs3, runner3, exported="old")
    assert list(f) == ["recovery.baseline_not_offhost"] and "not the current" in f["recovery.baseline_not_offhost"].summary


def test_luks_bound_to_tpm_without_recovery(tmp_path):
    fs, runner = _ready(tmp_path)
    fs.write("etc/crypttab", "# <target> <source> <key> <options>\n"
                             "data UUID=0b7c1f0e-root-4000-8000-000000000000 - luks,discard,tpm2-device=auto\n")
    assert list(_findings(fs, runner)) == ["recovery.luks_tpm_without_recovery"]
    fs2, runner2 = _ready(tmp_path / "b")
    fs2.write("etc/crypttab", "data UUID=x - luks,tpm2-device=auto\n")
    assert _findings(fs2, runner2, params={"recovery.luks_tpm_without_recovery": {"recorded": "data"}}) == {}


def test_mdadm_conf_not_matching_the_arrays(tmp_path):
    fs, runner = _ready(tmp_path)
    fs.write("etc/mdadm/mdadm.conf", "ARRAY /dev/md/0 metadata=1.2 name=testhost:0 UUID=00000000:00000000:00000000:00000001\n")
    f = _findings(fs, runner)
    assert list(f) == ["recovery.mdadm_conf_mismatch"]
    assert f"assembled array UUID={MD_UUID} is not in mdadm.conf" in f["recovery.mdadm_conf_mismatch"].summary


def test_grub_pc_install_devices_naming_absent_disks(tmp_path):
    fs, runner = _ready(tmp_path)
    import shutil
    shutil.rmtree(fs.root / "sys/firmware/efi")
    fs.write("var/cache/debconf/config.dat",
             "Name: grub-pc/install_devices\nTemplate: grub-pc/install_devices\nValue: /dev/disk/by-id/"
             "ata-WDC_WD5000AAKX-0_WD-WCAYUS000001, /dev/disk/by-id/ata-OLD_DISK_GONE\nOwners: grub-pc\n"
             "Flags: seen\n\nName: grub-pc/timeout\nTemplate: grub-pc/timeout\nValue: 5\nOwners: grub-pc\n")
    f = _findings(fs, runner)
    assert list(f) == ["recovery.grub_install_devices_missing"]
    assert "ata-OLD_DISK_GONE" in f["recovery.grub_install_devices_missing"].summary
    assert "WCAYUS000001" not in f["recovery.grub_install_devices_missing"].summary


def test_readiness_findings_are_exported(tmp_path):
    from agent.exporter import families

    fs, runner = _ready(tmp_path)
    (fs.root / "boot/efi/EFI/BOOT/BOOTX64.EFI").unlink()
    f = _findings(fs, runner)
    snap = Snapshot(time=T0, boot_id="b", readings=MappingProxyType({}), statuses=MappingProxyType({}),
                    findings=tuple(f.values()))
    out = []
    families.findings(snap, lambda name, labels, value: out.append((name, dict(labels), value)))
    assert any(n == "hwagent_finding_active" and lab.get("rule") == "recovery.no_fallback_loader" for n, lab, _ in out), out


RESTIC = ('[{"time":"2025-11-23T18:00:00.123456789+01:00","tree":"ab12","paths":["/srv"],"hostname":"testhost",'
          '"username":"root","id":"4f1e0c7a","short_id":"4f1e0c7a"}]\n')  # 17:00 UTC the day before T0
BORG = ('{"archives":[{"archive":"testhost-2025-11-23","barchive":"testhost-2025-11-23","id":"9d3f",'
        '"name":"testhost-2025-11-23","start":"2025-11-23T17:00:00.000000","time":"2025-11-23T17:00:00.000000"}],'
        '"encryption":{"mode":"repokey"},"repository":{"id":"c0ffee","last_modified":"2025-11-23T17:05:00.000000",'
        '"location":"/backup/borg"}}\n')


def _backup_runner(replay, out, rc=0):
    from tests.unit.recovery.support import ScriptedRunner

    def fn(argv):
        if argv[0] in ("restic", "borg"):
            return rc, out
        return replay(argv, 10)
    return ScriptedRunner(fn)


@pytest.mark.parametrize("rpo,fires", [(24.0, False), (23.99, True)])
def test_restic_backup_against_the_rpo_boundary(tmp_path, rpo, fires):
    fs, replay = _ready(tmp_path)
    runner = _backup_runner(replay, RESTIC)
    f = _findings(fs, runner, options={"backup_tool": "restic", "backup_rpo_hours": rpo})
    assert ("recovery.backup_older_than_rpo" in f) == fires
    assert ("restic", "snapshots", "--latest", "1", "--json", "--no-lock", "--no-cache") in runner.calls


def test_borg_backup_and_a_failing_listing(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    import time
    time.tzset()
    try:
        fs, replay = _ready(tmp_path)
        f = _findings(fs, _backup_runner(replay, BORG), options={"backup_tool": "borg", "backup_repository": "/backup/borg",
                                                                 "backup_rpo_hours": 12})
        assert "24.0 h old, more than the RPO of 12 h" in f["recovery.backup_older_than_rpo"].summary
        fs2, replay2 = _ready(tmp_path / "b")
        f = _findings(fs2, _backup_runner(replay2, "", rc=2), options={"backup_tool": "borg", "backup_repository": "/b"})
        assert f["recovery.backup_older_than_rpo"].summary.startswith("backup freshness unknown: borg list failed")
        fs3, replay3 = _ready(tmp_path / "c")
        assert "recovery.backup_older_than_rpo" not in _findings(fs3, replay3)  # not configured: not checked
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_the_daemon_reads_the_configured_password_file(tmp_path):
    fs, replay = _ready(tmp_path)
    runner = _backup_runner(replay, RESTIC)
    f = _findings(fs, runner, options={"backup_tool": "restic", "backup_password_file": "/etc/restic.pass"})
    assert f["recovery.backup_older_than_rpo"].summary.startswith("backup freshness unknown: backup password file "
                                                                  "/etc/restic.pass does not exist")
    assert not [c for c in runner.calls if c[0] == "restic"]  # nothing run without the file
    fs2, replay2 = _ready(tmp_path / "b")
    (fs2.root / "etc").mkdir(exist_ok=True)
    (fs2.root / "etc/restic.pass").write_text("pw\n")
    runner = _backup_runner(replay2, RESTIC)
    f = _findings(fs2, runner, options={"backup_tool": "restic", "backup_password_file": "/etc/restic.pass"})
    assert "recovery.backup_older_than_rpo" not in f
    assert ("restic", "snapshots", "--latest", "1", "--json", "--no-lock", "--no-cache", "--password-file",
            "/etc/restic.pass") in runner.calls
