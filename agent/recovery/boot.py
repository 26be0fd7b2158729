"""Boot checks after a board swap: the firmware must boot the OS loader on a present ESP first.

UEFI firmware walks BootOrder and boots the first *active* entry that works (UEFI spec 2.10,
3.1.1 "Boot Manager"); entries without ``*`` in ``efibootmgr -v`` are inactive and skipped. A new
board's NVRAM typically holds only its PXE entries and the EFI shell: the first bootable entry
is then a network boot, and the host never reaches the disks. The check therefore requires that
the first active BootOrder entry is a file on a GPT partition (``HD(n,GPT,<PARTUUID>,...)/File(...)``)
that exists on a present disk, is an EFI System Partition, and is not the EFI shell.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

ESP_TYPE = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
SHELL_NAMES = ("shell.efi", "shellx64.efi")


def _partitions(b: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for d in b.get("disks", []) or []:
        for p in ((d.get("partition_table") or {}).get("partitions") or []):
            if p.get("uuid"):
                out[p["uuid"].lower()] = dict(p, disk=d.get("name"))
    return out


def boot_order_text(efi: Mapping[str, Any]) -> str:
    order = efi.get("boot_order") or []
    entries = efi.get("entries") or {}
    parts = [f"Boot{n}{'*' if (entries.get(n) or {}).get('active') else ''} {(entries.get(n) or {}).get('label', '(no entry)')}"
             for n in order]
    return "BootOrder " + (",".join(order) or "(empty)") + (": " + "; ".join(parts) if parts else "")


def efi_problems(new: Mapping[str, Any]) -> list[str]:
    """Why the firmware would not boot the installed OS first (empty: it would). The first line
    always quotes the BootOrder seen."""
    boot = new.get("boot") or {}
    if boot.get("mode") != "uefi":
        return []
    efi = boot.get("efi") or {}
    order = efi.get("boot_order") or []
    seen = boot_order_text(efi)
    if not order:
        return [f"no BootOrder (NVRAM empty?); {seen}"]
    entries = efi.get("entries") or {}
    active = [n for n in order if (entries.get(n) or {}).get("active")]
    if not active:
        return [f"no active entry in BootOrder; {seen}"]
    first = active[0]
    e = entries.get(first) or {}
    label = e.get("label")
    path = (e.get("path") or "")
    if not e.get("partuuid") or "File(" not in path:
        what = "a network (PXE/HTTP) boot" if any(k in path for k in ("MAC(", "IPv4(", "IPv6(", "Uri(")) else "not a file on a disk partition"
        return [f"first bootable entry Boot{first} ({label}) is {what}, not an OS loader; {seen}"]
    loader = path.split("File(", 1)[1].split(")", 1)[0]
    if loader.lower().rsplit("\\", 1)[-1] in SHELL_NAMES:
        return [f"first bootable entry Boot{first} ({label}) is the EFI shell {loader}; {seen}"]
    parts = _partitions(new)
    p = parts.get(e["partuuid"])
    if p is None:
        unread = [d.get("name") for d in new.get("disks") or []
                  if not (d.get("partition_table") or {}).get("partitions") and d.get("partitions")]
        if unread:  # partitions exist but their table was not read: where the loader lies is unknown
            return [f"first bootable entry Boot{first} ({label}) loads {loader} from PARTUUID {e['partuuid']}; cannot "
                    f"tell whether that is an ESP: the partition table of {', '.join(map(str, unread))} could not be "
                    f"read (sfdisk, package fdisk, missing?); {seen}"]
        return [f"first bootable entry Boot{first} ({label}) loads {loader} from PARTUUID {e['partuuid']}, "
                f"which is on no present disk; {seen}"]
    if (p.get("type") or "").lower() != ESP_TYPE:
        return [f"first bootable entry Boot{first} ({label}) points at {p.get('node')}, which is not an EFI System "
                f"Partition; {seen}"]
    return []


def efi_ok_text(new: Mapping[str, Any]) -> str:
    efi = (new.get("boot") or {}).get("efi") or {}
    return boot_order_text(efi)


def compare_efi(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    problems = efi_problems(new)
    text = efi_ok_text(new)
    return problems, f"boots the OS loader first: {text}", "\n".join([text, *problems])


def version_key(v: str) -> list[tuple[int, Any]]:
    """``2.3a`` -> [(0, 2), (0, 3), (1, 'a')]: numbers compare as numbers, letters as text."""
    import re  # noqa: PLC0415

    return [(0, int(t)) if t.isdigit() else (1, t.lower()) for t in re.findall(r"\d+|[A-Za-z]+", v or "")]


def compare_bios(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    """The running BIOS (DMI, read from the board: never a typed value) against the baseline."""
    a = ((old.get("dmi") or {}).get("bios_version") or "").strip()
    b = ((new.get("dmi") or {}).get("bios_version") or "").strip()
    text = f"BIOS now {b or '?'} ({(new.get('dmi') or {}).get('bios_date') or '?'}), baseline {a or '?'}"
    if not a:
        return [], f"baseline has no BIOS version; running {b or '?'}", text
    if not b:
        return [f"the running BIOS version cannot be read (/sys/class/dmi/id/bios_version); baseline {a}"], "", text
    ka, kb = version_key(a), version_key(b)
    if not ka or not kb or ka[0][0] != kb[0][0]:
        return [f"BIOS versions {b} and {a} (baseline) have different formats; compare them by hand and record it "
                "with --skip and --reason"], "", text
    if kb < ka:
        return [f"BIOS {b} is older than the baseline's {a}: update the board firmware"], "", text
    return [], f"BIOS {b} >= baseline {a}", text


def compare_board(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    a = ((old.get("dmi") or {}).get("board_serial") or "").strip()
    b = ((new.get("dmi") or {}).get("board_serial") or "").strip()
    text = f"board serial now {b or '?'}, baseline {a or '?'}"
    if not b:
        return ["the running board's serial cannot be read (/sys/class/dmi/id/board_serial)"], "", text
    if a and a == b:
        return [f"the running board has the baseline's serial {a}: this is not the new board (or the "
                "baseline was captured after the swap)"], "", text
    return [], f"new board serial {b} (read from DMI), baseline {a or '?'}", text


def compare_firmware(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    """The firmware settings MB-06 lists, each checked where the OS can see it: boot mode,
    Secure Boot, storage controller mode, VT-x/AMD-V, RTC in UTC, and the power-restore policy
    through the BMC (``ipmitool chassis status``) when /dev/ipmi0 exists. Disk-first is the
    boot-entry check (efi_boot)."""
    out, lines = [], []
    mode_a, mode_b = (old.get("boot") or {}).get("mode"), (new.get("boot") or {}).get("mode")
    lines.append(f"boot mode {mode_b} (baseline {mode_a})")
    if mode_a and mode_a != mode_b:
        out.append(f"boot mode {mode_b}, baseline {mode_a}: switch the firmware to {mode_a}")
    fa, fb = old.get("firmware") or {}, new.get("firmware") or {}
    sa, sb = fa.get("secure_boot"), fb.get("secure_boot")
    lines.append(f"Secure Boot {sb} (baseline {sa})")
    if sa is not None and sb is not None and sa != sb:
        out.append(f"Secure Boot {'on' if sb else 'off'}, baseline {'on' if sa else 'off'} (unsigned DKMS modules "
                   "such as ZFS do not load with it newly on)")
    ca = sorted({(c.get("kind"), c.get("driver")) for c in fa.get("storage_controllers") or []})
    cb = sorted({(c.get("kind"), c.get("driver")) for c in fb.get("storage_controllers") or []})
    lines.append("storage controllers " + (", ".join(f"{k}/{d}" for k, d in cb) or "-")
                 + " (baseline " + (", ".join(f"{k}/{d}" for k, d in ca) or "-") + ")")
    for kind, drv in ca:
        if (kind, drv) not in cb:
            hint = " (RST/RAID mode hides the disks: set AHCI)" if kind == "sata" else ""
            out.append(f"storage controller {kind} with driver {drv} is gone{hint}")
    va = set((old.get("cpu") or {}).get("virtualization") or [])
    vb = set((new.get("cpu") or {}).get("virtualization") or [])
    lines.append(f"virtualization {','.join(sorted(vb)) or '-'} (baseline {','.join(sorted(va)) or '-'})")
    for f in sorted(va - vb):
        out.append(f"CPU flag {f} missing: enable VT-x/AMD-V in the firmware")
    if fb.get("rtc_local"):
        out.append("/etc/adjtime keeps the RTC in local time: set it to UTC (timedatectl set-local-rtc 0)")
    lines.append(f"RTC in {'local time' if fb.get('rtc_local') else 'UTC'}")
    if host is not None and any(host.exists(host.path("dev", d)) for d in ("ipmi0", "ipmi/0", "ipmidev/0")):
        res = host.run(["ipmitool", "chassis", "status"], 30)
        text = (res.stdout or b"").decode("utf-8", "replace")
        m = re.search(r"^Power Restore Policy\s*:\s*(\S+)", text, re.M)
        if m is None:
            out.append(f"power-restore policy unreadable (ipmitool chassis status: {res.error or 'exit ' + str(res.rc)})")
        else:
            lines.append(f"power restore policy {m.group(1)}")
            if m.group(1) not in ("always-on", "previous"):
                out.append(f"power restore policy {m.group(1)}: set 'on' or 'last state' (the next power blip "
                           "would leave the host off)")
    else:
        lines.append("power restore policy: no BMC device; confirmed by hand in MB-06")
    lines.append("disk first / PXE off: checked with the boot entries (MB-08, efi_boot)")
    return out, "; ".join(lines[:6]), "\n".join(lines)


def compare_clock(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    """The system clock is not before the baseline's capture (a new board's RTC often starts in
    the past; fsck, TLS, APT and this run's record all trust the clock)."""
    now = (new.get("time") or {}).get("system")
    then = old.get("captured_at")
    import time as _t  # noqa: PLC0415

    text = (f"system clock {_t.strftime('%Y-%m-%d %H:%M:%S', _t.gmtime(now))}Z" if now else "system clock unknown")
    if then:
        text += f"; baseline captured {_t.strftime('%Y-%m-%d %H:%M', _t.gmtime(then))}Z"
    if now is None:
        return ["the system clock could not be read"], "", text
    if then and now < float(then) - 300:
        return [f"the clock reads {_t.strftime('%Y-%m-%d %H:%M', _t.gmtime(now))}Z, before the baseline was captured: "
                "it is wrong"], "", text
    return [], text, text


def compare_board_and_memory(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    problems, ok, text = compare_board(old, new, host)
    mo, mn = old.get("memory") or {}, new.get("memory") or {}
    if mo.get("dimm_count") and mo.get("dimm_count") != mn.get("dimm_count"):
        problems.append(f"{mn.get('dimm_count')} DIMMs, baseline had {mo.get('dimm_count')}")
    if mo.get("total_bytes") and mn.get("total_bytes") and abs(mn["total_bytes"] - mo["total_bytes"]) > 0.01 * mo["total_bytes"]:
        problems.append(f"MemTotal {mn['total_bytes']} bytes, baseline {mo['total_bytes']} (more than 1 % apart)")
    text += f"\nDIMMs {mn.get('dimm_count')} (baseline {mo.get('dimm_count')}), MemTotal {mn.get('total_bytes')} bytes"
    return problems, ok + f"; {mn.get('dimm_count')} DIMMs as before", text


def compare_initramfs(old: Mapping[str, Any], new: Mapping[str, Any], host) -> tuple[list[str], str, str]:
    """The running kernel's initramfs was rebuilt after every input changed (mdadm.conf, .link
    files, udev rules: newer mtime) and holds the drivers the storage controllers and NICs use
    now (``lsinitramfs``)."""
    rel = ((new.get("software") or {}).get("kernel") or {}).get("release")
    if not rel:
        return ["running kernel release unknown"], "", ""
    img = f"/boot/initrd.img-{rel}"
    p = host.path(img)
    try:
        mtime = p.stat().st_mtime
    except OSError:
        return [f"{img} does not exist"], "", ""
    import re  # noqa: PLC0415
    import time  # noqa: PLC0415

    problems = []
    inputs = ["/etc/mdadm/mdadm.conf", "/etc/crypttab"]
    for d, suf in (("/etc/systemd/network", ".link"), ("/etc/udev/rules.d", ".rules")):
        inputs += [f"{d}/{n}" for n in host.listdir(host.path(d)) if n.endswith(suf)]
    for f in inputs:
        try:
            if host.path(f).stat().st_mtime > mtime:
                problems.append(f"{f} changed after {img} was built: rebuild it")
        except OSError:
            continue
    drivers = sorted({c.get("driver") for c in ((new.get("firmware") or {}).get("storage_controllers") or []) if c.get("driver")}
                     | {n.get("driver") for n in ((new.get("nics") or {}).get("physical") or {}).values() if n.get("driver")})
    res = host.run(["lsinitramfs", img], 120)
    listing = res.stdout.decode("utf-8", "replace") if res.rc == 0 and not res.error else ""
    if not listing:
        problems.append(f"lsinitramfs {img} failed: {res.error or 'exit ' + str(res.rc)}")
    else:
        for drv in drivers:
            if not re.search(rf"/{re.escape(drv)}\.ko(\.[a-z]+)?$", listing, re.M):
                problems.append(f"{img} lacks the {drv} driver the hardware uses now")
    text = f"{img} built {time.strftime('%Y-%m-%d %H:%M', time.gmtime(mtime))}Z; drivers needed: {', '.join(drivers) or '-'}"
    return problems, f"{img} newer than its inputs, has {', '.join(drivers) or 'no listed'} driver(s)", text


def compare_mounts(old: Mapping[str, Any], new: Mapping[str, Any], host=None) -> tuple[list[str], str, str]:
    """Every UUID/PARTUUID/LABEL in fstab and crypttab exists, and ``findmnt --verify`` is clean."""
    out = []
    for tab in ("fstab", "crypttab"):
        for e in (new.get("mounts") or {}).get(tab, []):
            if e.get("exists") is False:
                out.append(f"{tab}: {e['spec']} ({e.get('target')}) does not exist")
    text = ""
    if host is not None:
        res = host.run(["findmnt", "--verify"], 30)
        text = (res.stdout or b"").decode("utf-8", "replace")
        if res.error and str(res.error).startswith("not found"):
            text = "findmnt not available"
        elif res.error or res.rc != 0:
            first = next((line.strip() for line in text.splitlines() if line.strip()), res.error or f"exit {res.rc}")
            out.append(f"findmnt --verify: {first}")
    n = sum(len((new.get("mounts") or {}).get(t, [])) for t in ("fstab", "crypttab"))
    return out, f"{n} fstab/crypttab entries resolve; findmnt --verify clean", text
