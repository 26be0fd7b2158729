"""The named comparisons of ``baseline_compare``: what each check proves, and the checks that are a
pure predicate over the stored baseline (``old``) and a live capture (``new``) returning the problems
found (empty: the check passes).

Checks that need the host or more than a predicate live beside the engine (:data:`EXTERNAL`,
``module:function(old, new, host) -> (problems, ok detail, text)``) and run with an
:class:`~agent.recovery.action_base.EvidenceHost`, so a dry run may only read.
"""

from __future__ import annotations

from typing import Callable, Mapping

from agent.recovery import boot, nic_map, probes, services

CHECKS = {
    "stale_mac_refs": "network config names no MAC that belonged to the old hardware and is gone now",
    "mount_refs": "every UUID/PARTUUID/LABEL in fstab and crypttab exists and `findmnt --verify` is clean",
    "disks_present": "every baseline disk serial is visible",
    "md_arrays": "every baseline md array UUID is assembled and no array is degraded",
    "memory": "DIMM count equals the baseline and MemTotal is within 1 %",
    "services": "every service enabled in the baseline is still enabled, and no unit failed",
    "boot_mode": "firmware boot mode (UEFI/BIOS) equals the baseline",
    "efi_boot": "the first active BootOrder entry is an OS loader on an ESP of a present disk (prints BootOrder)",
    "nic_refs": "every interface name and MAC named in network/firewall/boot config resolves to a present "
                "interface (prints the old -> new NIC table)",
    "bios_version": "the running BIOS version is at or above the baseline's",
    "board_changed": "the running board (DMI serial) differs from the baseline's",
    "clock": "the system clock is not before the baseline's capture time",
    "initramfs": "the running kernel's initramfs is newer than mdadm.conf, .link files and udev rules and holds "
                 "the storage and NIC drivers in use now",
    "new_board": "board_changed, and the DIMM count and MemTotal (within 1 %) equal the baseline",
    "service_probes": "from the host: every web vhost (HTTP status < 500, TLS with SNI, certificate valid >= 7 "
                      "days), SMTP banner + STARTTLS, IMAPS/POP3S greeting and DNS SOA of each zone the "
                      "baseline offered",
    "outside_commands": "never passes: lists the exact commands to run from another network (a check of a "
                        "manual step whose proof can only be typed)",
    "listening": "every TCP/UDP socket the baseline listened on listens again (with its unit)",
    "network": "baseline addresses (except EUI-64 of old MACs), default gateways and resolvers are back",
    "firmware_settings": "boot mode, Secure Boot, SATA/RAID controller mode, VT-x/AMD-V and RTC in UTC as "
                         "the baseline (disk-first: efi_boot)",
    "machine_id": "/etc/machine-id equals the baseline",
    "rtc": "the hardware clock is within 2 s of system time",
    "virtualization": "CPU virtualization flags (vmx/svm) present when the baseline had them",
}

# checks implemented beside the engine: function(old, new, host) -> (problems, ok detail, text)
EXTERNAL: Mapping[str, Callable[..., tuple[list[str], str, str]]] = {
    "efi_boot": boot.compare_efi, "nic_refs": nic_map.compare, "bios_version": boot.compare_bios,
    "board_changed": boot.compare_board, "listening": services.compare_listening,
    "network": services.compare_network, "firmware_settings": boot.compare_firmware,
    "clock": boot.compare_clock, "initramfs": boot.compare_initramfs, "new_board": boot.compare_board_and_memory,
    "services": services.compare_services, "service_probes": probes.compare, "mount_refs": boot.compare_mounts,
    "outside_commands": probes.compare_outside}


def stale_mac_refs(old, new):
    live = {n["mac"] for n in new.get("nics", {}).get("physical", {}).values() if n.get("mac")}
    before = {n["mac"] for n in old.get("nics", {}).get("physical", {}).values() if n.get("mac")}
    return [f"{r['file']}:{r['line']} names {r['mac']} (old hardware, no NIC has it now)"
            for r in new.get("net_config_refs", []) if r["mac"] not in live and (r["mac"] in before or not before)]


def disks_present(old, new):
    live = {d.get("serial") for d in new.get("disks", [])}
    return [f"disk {d.get('serial')} ({d.get('model')}, was {d.get('name')}) is missing"
            for d in old.get("disks", []) if d.get("serial") and d.get("serial") not in live]


def md_arrays(old, new):
    out = []
    live = {a.get("uuid") for a in new.get("storage", {}).get("md", {}).get("arrays", [])}
    for a in old.get("storage", {}).get("md", {}).get("arrays", []):
        if a.get("uuid") not in live:
            out.append(f"array {a.get('device')} UUID {a.get('uuid')} is not assembled")
    for a in new.get("storage", {}).get("md", {}).get("mdstat", []):
        if a.get("status") and "_" in a["status"]:
            out.append(f"{a['name']} is degraded [{a['status']}]")
    return out


def memory(old, new):
    out = []
    mo, mn = old.get("memory", {}), new.get("memory", {})
    if mo.get("dimm_count") and mo.get("dimm_count") != mn.get("dimm_count"):
        out.append(f"{mn.get('dimm_count')} DIMMs, baseline had {mo.get('dimm_count')}")
    if mo.get("total_bytes") and mn.get("total_bytes") and abs(mn["total_bytes"] - mo["total_bytes"]) > 0.01 * mo["total_bytes"]:
        out.append(f"MemTotal {mn['total_bytes']} bytes, baseline {mo['total_bytes']}")
    return out


def boot_mode(old, new):
    a, b = old.get("boot", {}).get("mode"), new.get("boot", {}).get("mode")
    return [] if a == b else [f"boot mode {b}, baseline {a}"]


def machine_id(old, new):
    a, b = old.get("identity", {}).get("machine_id"), new.get("identity", {}).get("machine_id")
    return [] if a == b else [f"machine-id {b}, baseline {a}"]


def virtualization(old, new):
    want = set(old.get("cpu", {}).get("virtualization", []))
    have = set(new.get("cpu", {}).get("virtualization", []))
    return [f"CPU flag {f} missing (enable VT-x/AMD-V in the firmware)" for f in sorted(want - have)]


def rtc(old, new):
    t = new.get("time", {})
    off = t.get("rtc_offset_seconds")
    if off is None:
        src = t.get("source") or {}
        err = str(src.get("error") or "")
        if err.startswith("not found"):
            # Debian 12 moved hwclock to util-linux-extra (priority standard: a minimal install lacks it)
            return ["hwclock is not installed (Debian 12: package util-linux-extra), so the hardware clock can be "
                    "neither read nor set"]
        why = err or (f"exit {src['rc']}" if src.get("rc") not in (None, 0) else "")
        return [f"hardware clock could not be read (hwclock --show{': ' + why if why else ''})"]
    return [] if abs(off) <= 2 else [f"hardware clock is {off:+.1f} s off system time"]


# the checks that are a pure predicate (old, new) -> problems
INTERNAL = {"stale_mac_refs": stale_mac_refs, "disks_present": disks_present, "md_arrays": md_arrays,
            "memory": memory, "boot_mode": boot_mode,
            "machine_id": machine_id, "virtualization": virtualization, "rtc": rtc}
