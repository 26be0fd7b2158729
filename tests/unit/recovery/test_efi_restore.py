"""``efi_boot_restore`` (MB-08): the baseline's OS boot entries recreated on a new board's empty
NVRAM, from entries in efibootmgr 18 ``-v`` form parsed by the baseline parser."""

from __future__ import annotations

import pytest

from agent.baseline.parse import parse_efibootmgr
from agent.host import Host, HostPaths
from agent.recovery import actions as A
from agent.recovery.action_base import ActionContext
from agent.recovery.actions_efi import loader_present, restore_plan
from agent.recovery.errors import DryRunViolation
from tests.unit.recovery.support import ScriptedRunner

ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
LINUX = "0fc63daf-8483-4772-8e79-3d69d8477de4"
OLD_NVRAM = """BootCurrent: 0001
Timeout: 1 seconds
BootOrder: 0001,0002,0005,0000,0003,0004
Boot0000* UEFI: Built-in EFI Shell\tVenMedia(5023b95c-db26-429b-a648-bd47664c8012)..BO
Boot0001* debian sda\tHD(1,GPT,aaaaaaaa-0001-4000-8000-000000000001,0x800,0x100000)/File(\\EFI\\debian\\shimx64.efi)
Boot0002* debian sdb\tHD(1,GPT,bbbbbbbb-0001-4000-8000-000000000002,0x800,0x100000)/File(\\EFI\\debian\\shimx64.efi)
Boot0003  old disk\tHD(1,GPT,cccccccc-0001-4000-8000-000000000003,0x800,0x100000)/File(\\EFI\\debian\\grubx64.efi)
Boot0004* UEFI: PXE IP4\tPciRoot(0x0)/Pci(0x1c,0x0)/Pci(0x0,0x0)/MAC(3cecef000001,0)/IPv4(0.0.0.00.0.0.0,0,0)..BO
Boot0005* gone disk\tHD(2,GPT,dddddddd-0001-4000-8000-000000000004,0x800,0x100000)/File(\\EFI\\debian\\grubx64.efi)
"""
NEW_NVRAM = """BootCurrent: 0002
Timeout: 1 seconds
BootOrder: 0001,0000
Boot0000* UEFI: Built-in EFI Shell\tVenMedia(5023b95c-db26-429b-a648-bd47664c8012)..BO
Boot0001* UEFI: PXE IP4 Intel(R) I210 Gigabit  Network Connection\tPciRoot(0x0)/Pci(0x1c,0x0)/MAC(ac1f6b000001,0)/IPv4(0.0.0.00.0.0.0,0,0)..BO
"""


def disk(name, *parts):
    return {"name": name, "partition_table": {"label": "gpt", "partitions": [
        {"node": f"/dev/{name}{i + 1}", "uuid": u, "type": t} for i, (u, t) in enumerate(parts)]}}


def baseline(nvram, disks):
    return {"boot": {"mode": "uefi", "efi": parse_efibootmgr(nvram)}, "disks": disks}


OLD = baseline(OLD_NVRAM, [])
NEW_DISKS = [disk("sda", ("aaaaaaaa-0001-4000-8000-000000000001", ESP), ("11111111-0000-4000-8000-000000000001", LINUX)),
             disk("sdb", ("bbbbbbbb-0001-4000-8000-000000000002", LINUX))]  # sdb1 is no ESP (re-partitioned)


def test_the_plan_recreates_only_os_loaders_on_present_esps_in_order():
    plan, notes = restore_plan(OLD, baseline(NEW_NVRAM, NEW_DISKS))
    assert plan == [{"label": "debian sda", "disk": "/dev/sda", "part": "1", "loader": "\\EFI\\debian\\shimx64.efi",
                     "partuuid": "aaaaaaaa-0001-4000-8000-000000000001", "node": "/dev/sda1"}]
    assert notes == ["debian sdb: /dev/sdb1 is not an EFI System Partition: not recreated",
                     "gone disk: PARTUUID dddddddd-0001-4000-8000-000000000004 is on no present disk: not recreated"]
    # the inactive entry, the shell and PXE are never recreated


def test_an_entry_already_in_the_nvram_is_left_alone():
    plan, notes = restore_plan(OLD, baseline(OLD_NVRAM, NEW_DISKS))
    assert plan == [] and notes[0].startswith("debian sda: already in the NVRAM")


def _host(tmp_path, runner, mounts=""):
    (tmp_path / "proc").mkdir(exist_ok=True)
    (tmp_path / "proc/mounts").write_text(mounts)
    return Host(paths=HostPaths(rootfs=str(tmp_path)), runner=runner)


def _ctx(host, new, dry_run=False):
    return ActionContext(host, timeout=30, dry_run=dry_run, operator="t", baseline=OLD, live_baseline=lambda: new)


def test_a_mounted_esp_without_the_loader_is_not_pointed_at(tmp_path):
    (tmp_path / "boot/efi/EFI/Debian").mkdir(parents=True)  # FAT: any case
    runner = ScriptedRunner(lambda argv: (0, ""))
    host = _host(tmp_path, runner, "/dev/sda1 /boot/efi vfat rw 0 0\n")
    assert not loader_present(host, "/boot/efi", "\\EFI\\debian\\shimx64.efi")
    out = A.ACTIONS["efi_boot_restore"]().run({}, _ctx(host, baseline(NEW_NVRAM, NEW_DISKS)))
    assert not out.passed and "\\EFI\\debian\\shimx64.efi is not on /dev/sda1 (mounted at /boot/efi)" in out.detail
    assert runner.calls == []
    (tmp_path / "boot/efi/EFI/Debian/SHIMX64.EFI").write_bytes(b"MZ")
    out = A.ACTIONS["efi_boot_restore"]().run({}, _ctx(host, baseline(NEW_NVRAM, NEW_DISKS)))
    assert out.passed and runner.calls == [("efibootmgr", "--create", "--disk", "/dev/sda", "--part", "1", "--label",
                                            "debian sda", "--loader", "\\EFI\\debian\\shimx64.efi")]
    assert "created debian sda" in out.output and out.commands[0]["argv"][0] == "efibootmgr"


def test_a_refused_create_fails_the_step_with_efibootmgrs_words(tmp_path):
    from agent.runner import CommandResult

    runner = ScriptedRunner(lambda argv: CommandResult(argv, 5, b"", b"efibootmgr: EFI variables are not supported "
                                                                       b"on this system.\n", 0.0, None))
    out = A.ACTIONS["efi_boot_restore"]().run({}, _ctx(_host(tmp_path, runner), baseline(NEW_NVRAM, NEW_DISKS)))
    assert not out.passed and out.detail == "debian sda: efibootmgr failed: efibootmgr: EFI variables are not " \
                                            "supported on this system."


def test_a_dry_run_never_writes_the_nvram(tmp_path):
    runner = ScriptedRunner(lambda argv: (0, ""))
    with pytest.raises(DryRunViolation):
        A.ACTIONS["efi_boot_restore"]().run({}, _ctx(_host(tmp_path, runner), baseline(NEW_NVRAM, NEW_DISKS), True))
    assert runner.calls == []
