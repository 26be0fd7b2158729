"""Checks of the board-swap day that used to prove nothing (defects 3 and 4), one by one."""

from __future__ import annotations

import pytest

from agent import baseline as bl
from agent.recovery import boot, nic_map
from agent.recovery.actions import ActionContext, Answer

ESP = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"


def _efi(text: str, parts=(("aaaaaaaa-0001-4000-8000-000000000001", ESP),)):
    return {"boot": {"mode": "uefi", "efi": bl.parse_efibootmgr(text)},
            "disks": [{"name": "sda", "partition_table": {"partitions": [{"uuid": u.upper(), "type": t.upper(), "node": "/dev/sda1"}
                                                                        for u, t in parts]}}]}


LOADER = "Boot0003* debian\tHD(1,GPT,aaaaaaaa-0001-4000-8000-000000000001,0x800,0x100000)/File(\\EFI\\debian\\shimx64.efi)\n"
PXE = "Boot0004* UEFI: PXE IP4 Intel\tPciRoot(0x0)/Pci(0x1f,0x6)/MAC(3cecef000002,0)/IPv4(0.0.0.00.0.0.0,0,0)..BO\n"
SHELL = "Boot0000* UEFI: Built-in EFI Shell\tVenMedia(5023b95c-db26-429b-a648-bd47664c8012)..BO\n"
SHELL_FILE = "Boot0005* Shell\tHD(1,GPT,aaaaaaaa-0001-4000-8000-000000000001,0x800,0x100000)/File(\\EFI\\tools\\Shell.efi)\n"


def test_efi_pxe_first_fails_and_quotes_the_boot_order():
    """Before: the check skipped the ESP test when the first entry had no PARTUUID (PXE passed)."""
    p = boot.efi_problems(_efi("BootOrder: 0004,0003\n" + LOADER + PXE))
    assert p == ["first bootable entry Boot0004 (UEFI: PXE IP4 Intel) is a network (PXE/HTTP) boot, not an OS "
                 "loader; BootOrder 0004,0003: Boot0004* UEFI: PXE IP4 Intel; Boot0003* debian"]
    assert boot.efi_problems(_efi("BootOrder: 0003,0004\n" + LOADER + PXE)) == []


def test_efi_shell_only_nvram_and_inactive_entries():
    assert "not a file on a disk partition" in boot.efi_problems(_efi("BootOrder: 0000\n" + SHELL))[0]
    assert "is the EFI shell" in boot.efi_problems(_efi("BootOrder: 0005,0003\n" + SHELL_FILE + LOADER))[0]
    # an inactive first entry is skipped by the firmware: the first ACTIVE one counts
    inactive_pxe = PXE.replace("Boot0004*", "Boot0004")
    assert boot.efi_problems(_efi("BootOrder: 0004,0003\n" + LOADER + inactive_pxe)) == []
    assert boot.efi_problems(_efi("BootOrder: 0004\n" + inactive_pxe))[0].startswith("no active entry in BootOrder")
    assert boot.efi_problems(_efi("")) == ["no BootOrder (NVRAM empty?); BootOrder (empty)"]


def test_efi_loader_must_be_on_a_present_esp():
    gone = _efi("BootOrder: 0003\n" + LOADER, parts=(("bbbbbbbb-0001-4000-8000-000000000002", ESP),))
    assert "which is on no present disk" in boot.efi_problems(gone)[0]
    not_esp = _efi("BootOrder: 0003\n" + LOADER, parts=(("aaaaaaaa-0001-4000-8000-000000000001",
                                                          "0fc63daf-8483-4772-8e79-3d69d8477de4"),))
    assert "not an EFI System Partition" in boot.efi_problems(not_esp)[0]
    assert boot.efi_problems({"boot": {"mode": "bios"}}) == []


def test_efi_unreadable_partition_tables_are_not_reported_as_a_missing_disk():
    """Before: without sfdisk (no partition tables in the snapshot) a correct debian entry was
    reported as loading from a PARTUUID 'on no present disk' (the rehearsal's MB-08)."""
    snap = _efi("BootOrder: 0003\n" + LOADER)
    snap["disks"] = [{"name": "nvme0n1", "partitions": ["nvme0n1p1", "nvme0n1p2"], "partition_table": None}]
    msg = boot.efi_problems(snap)[0]
    assert "cannot tell whether that is an ESP" in msg and "nvme0n1" in msg and "no present disk" not in msg


@pytest.mark.parametrize("running,baseline,ok", [
    ("2.3", "2.3", True), ("2.4", "2.3", True), ("2.10", "2.9", True), ("1.0a", "2.3", False),
    ("2.3", "2.3a", False), ("2.3b", "2.3a", True), ("F20", "F19", True), ("F18", "F19", False),
])
def test_bios_version_is_read_from_dmi_and_compared(running, baseline, ok):
    """Before: MB-20 compared the running BIOS with the TYPED value (1.0a passed against 2.3)."""
    problems, _, _ = boot.compare_bios({"dmi": {"bios_version": baseline}}, {"dmi": {"bios_version": running}})
    assert (not problems) == ok, problems


def test_bios_versions_of_different_formats_are_not_guessed():
    problems, _, _ = boot.compare_bios({"dmi": {"bios_version": "2.3"}}, {"dmi": {"bios_version": "F20"}})
    assert "different formats" in problems[0]


class _Clock:
    def __init__(self, t):
        self.t = t


def _answer(value: str, now: float, limit: str = "24"):
    ctx = ActionContext(None, timeout=1, dry_run=False, operator="x", baseline=None, answers={"MB-03": value},
                        step_id="MB-03", clock=lambda: now)
    return Answer().run({"pattern": r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$", "max_age_hours": limit}, ctx)


def test_backup_time_is_compared_with_the_rpo_at_the_boundary():
    """Before: any well-formed time passed, however old."""
    t = 1_764_000_000.0 - 1_764_000_000.0 % 60  # a whole minute
    import time
    typed = time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))
    assert _answer(typed, t + 24 * 3600).passed  # exactly the RPO
    out = _answer(typed, t + 24 * 3600 + 60)
    assert not out.passed and "more than 24 h" in out.detail
    assert not _answer(typed, t - 3600).passed  # in the future: a typo or a wrong clock
    assert not _answer("2025-13-40 99:99", t).passed


def test_new_board_serial_and_memory_are_read_not_typed():
    old = {"dmi": {"board_serial": "OLD1"}, "memory": {"dimm_count": 4, "total_bytes": 100 * 2**30}}
    same = {"dmi": {"board_serial": "OLD1"}, "memory": {"dimm_count": 4, "total_bytes": 100 * 2**30}}
    assert "not the new board" in boot.compare_board_and_memory(old, same)[0][0]
    new = {"dmi": {"board_serial": "NEW2"}, "memory": {"dimm_count": 3, "total_bytes": 75 * 2**30}}
    problems, _, _ = boot.compare_board_and_memory(old, new)
    assert problems == ["3 DIMMs, baseline had 4", f"MemTotal {75 * 2**30} bytes, baseline {100 * 2**30} (more than 1 % apart)"]


def test_clock_before_the_baseline_is_wrong():
    old = {"captured_at": 1_764_000_000.0}
    assert boot.compare_clock(old, {"time": {"system": 1_764_000_000.0 - 301}})[0]
    assert not boot.compare_clock(old, {"time": {"system": 1_764_000_000.0 - 299}})[0]


def _nics(**kw):
    return {"nics": {"physical": {n: dict(zip(("mac", "pci_path", "driver"), v, strict=True)) for n, v in kw.items()}}}


def test_nic_mapping_evidence_order_and_unmapped():
    old = _nics(eno1=("aa:00:00:00:00:01", "0000:01:00.0", "igb"), ens3f0=("bb:00:00:00:00:01", "0000:03:00.0", "ixgbe"),
                eno2=("aa:00:00:00:00:02", "0000:02:00.0", "igb"))
    new = _nics(enp1s0f0=("cc:00:00:00:00:01", "0000:01:00.0", "igb"),  # same slot
                ens5f0=("bb:00:00:00:00:01", "0000:05:00.0", "ixgbe"),  # the card moved: same MAC
                enp7s0=("dd:00:00:00:00:07", "0000:07:00.0", "e1000e"))  # eno2 has no match
    m = {e["old"]: e for e in nic_map.mapping(old, new)}
    assert (m["eno1"]["new"], m["eno1"]["evidence"]) == ("enp1s0f0", "same slot 0000:01:00.0, driver igb")
    assert m["ens3f0"]["new"] == "ens5f0" and m["ens3f0"]["evidence"].startswith("same MAC")
    # eno2 has no slot, MAC or driver match, but it and enp7s0 are the only ones left on each side
    assert (m["eno2"]["new"], m["eno2"]["evidence"]) == (
        "enp7s0", "the only NIC left on both sides (slot 0000:02:00.0 -> 0000:07:00.0, driver igb -> e1000e)")
    # one more new NIC and nothing is certain: eno2 stays unmapped
    extra = dict(new["nics"]["physical"], enp8s0={"mac": "dd:00:00:00:00:08", "pci_path": "0000:08:00.0", "driver": "e1000e"})
    m = {e["old"]: e for e in nic_map.mapping(old, {"nics": {"physical": extra}})}
    assert m["eno2"]["new"] is None and "map it by hand" in m["eno2"]["evidence"]
    # the server of the rehearsal: one onboard port before, another model in another slot after
    solo = nic_map.mapping(_nics(enp0s3=("52:54:00:0a:00:01", "0000:00:03.0", "e1000")),
                           _nics(enp3s0=("52:54:00:0b:00:01", "0000:03:00.0", "igb")))
    assert solo[0]["new"] == "enp3s0" and solo[0]["evidence"].startswith("the only NIC left on both sides")
    # the only NIC left with the same driver maps only when it is unambiguous
    one = nic_map.mapping(_nics(eno1=("aa:00:00:00:00:01", "0000:01:00.0", "igb")),
                          _nics(enp9s0=("cc:00:00:00:00:09", "0000:09:00.0", "igb")))
    assert one[0]["new"] == "enp9s0" and one[0]["evidence"] == "the only new NIC with driver igb"
    two = nic_map.mapping(_nics(eno1=("a1:00:00:00:00:01", "0000:01:00.0", "igb"), eno2=("a1:00:00:00:00:02", "0000:02:00.0", "igb")),
                          _nics(enp8s0=("c1:00:00:00:00:08", "0000:08:00.0", "igb"), enp9s0=("c1:00:00:00:00:09", "0000:09:00.0", "igb")))
    assert [e["new"] for e in two] == [None, None]


def test_parsers_survive_broken_tool_output_and_config():
    from agent import baseline_services as svc
    from agent.recovery import readiness

    assert svc.parse_ss("garbage\ntcp LISTEN 0 5 nonsense\nudp UNCONN 0 0 [::]:x [::]:*\n\x00\xff") == []
    assert svc.parse_ip_addr("not json", {}) == [] and svc.parse_ip_addr('{"a": 1}', {}) == []
    assert svc.parse_ip_addr('[{"ifname": "eno1", "addr_info": [{"family": "inet6", "local": "zz::1", '
                             '"prefixlen": 64, "scope": "global"}]}]', {"eno1": "3c:ec:ef:00:00:01"})[0]["address"] == "zz::1/64"
    assert svc.parse_routes("[1, null, {}]") == [] and svc.parse_routes("") == []
    assert svc.parse_nginx("server { server_name a.example.org; listen 443 ssl;") == [
        {"name": "a.example.org", "port": 443, "tls": True}]  # unbalanced: read to the end, never loops
    assert svc.parse_apache("<VirtualHost *:abc>ServerName x.example.org</VirtualHost>") == []
    assert svc.parse_bind_zones('zone "x" {') == []
    assert readiness.parse_restic_latest("[{}]") is None and readiness.parse_restic_latest("{") is None
    assert readiness.parse_borg_latest('{"archives": [{"start": "yesterday"}]}') is None
    assert boot.version_key("") == [] and boot.compare_bios({"dmi": {"bios_version": "2.3"}}, {"dmi": {}})[0]


def test_network_compare_fails_closed_on_a_baseline_without_addresses():
    from agent.recovery.services import compare_network

    # what capture_network stores when `ip -j addr show` failed on the old board: nothing to compare
    # with is no proof that the network is back (the rehearsal's MB-16c once passed that way)
    live = {"network": {"addresses": [{"address": "10.0.2.15/24", "ifname": "enp0s3"}],
                        "default_routes": [{"gateway": "10.0.2.2", "dev": "enp0s3"}], "resolvers": ["10.0.2.3"]}}
    broken = {"network": {"addresses": [], "default_routes": [], "resolvers": [],
                          "source": {"argv": ["ip", "-j", "addr", "show"], "rc": None, "error": "timed out after 30 s"}}}
    problems, _, _ = compare_network(broken, live)
    assert problems and "baseline recorded no address" in problems[0] and "timed out after 30 s" in problems[0]
    # a baseline with only SLAAC addresses of the old MAC has nothing that must come back either
    slaac = {"network": {"addresses": [{"address": "2001:db8::3eec:efff:fe00:1/64", "ifname": "eno1", "eui64": True}],
                         "default_routes": [], "resolvers": []}}
    assert compare_network(slaac, live)[0]
    # the same host with its address recorded passes when it is back
    good = {"network": {"addresses": [{"address": "10.0.2.15/24", "ifname": "enp0s3"}],
                        "default_routes": [{"gateway": "10.0.2.2"}], "resolvers": ["10.0.2.3"]}}
    assert compare_network(good, live)[0] == []
