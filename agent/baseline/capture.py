"""Capture a host baseline through :class:`~agent.host.Host` only (see :mod:`agent.baseline`).

Each command-backed section keeps its source (argv, exit code, error), so a missing tool reads as
"absent", never as "empty". With a host root other than ``/`` and no replay runner, commands are
not run (they would describe this machine, not the tree).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Iterable

from agent import baseline_services as svc
from agent.baseline.diff import fingerprint
from agent.baseline.format import FORMAT_VERSION
from agent.baseline.parse import (parse_dmidecode_memory, parse_efibootmgr, parse_hwclock, parse_mdadm_scan,
                                  parse_mdstat)
from agent.host import Host, ReadError

CMD_TIMEOUT = 20.0
# systemd (PID 1) works out every unit file's enablement state for `systemctl list-unit-files`: 18 s
# of waiting for it, right after boot, in the VM suite's emulated server. Past CMD_TIMEOUT the
# baseline would hold no list of enabled units.
UNIT_FILES_TIMEOUT = 90.0
UUID_REF_RE = re.compile(r"^(UUID|PARTUUID|LABEL|PARTLABEL)=\"?([^\"\s]+)\"?$")
DISK_PREFIXES = ("sd", "nvme", "vd", "hd", "xvd", "mmcblk")


def _run(host: Host, argv: list[str], timeout: float = CMD_TIMEOUT) -> dict[str, Any]:
    """Run a command; return a source record with rc/error and the text output.

    With a host root other than ``/`` and no replay runner, a command would describe the machine
    the agent runs on, not the tree being read, so it is not run (recorded as skipped)."""
    if not host.is_live and host.runner is None:
        return {"argv": list(argv), "rc": None, "error": "skipped: host root is not / (a command would describe "
                "this machine, not the tree)", "text": ""}
    try:
        res = host.run(argv, timeout)
    except Exception as exc:  # noqa: BLE001 - a broken runner must not break the capture
        return {"argv": argv, "rc": None, "error": f"{type(exc).__name__}: {exc}", "text": ""}
    rec = {"argv": list(argv), "rc": res.rc, "error": res.error, "text": res.stdout.decode("utf-8", "replace")}
    if res.error is None and res.rc != 0 and (res.stderr or b"").strip():
        rec["stderr"] = res.failure()[:300]  # its last line, e.g. "Cannot open netlink socket: ..."
    return rec


def _read(host: Host, *parts: str) -> str | None:
    return host.read_text(host.path(*parts))


def _read_file(host: Host, path: str) -> str | None:
    try:
        return host.read_file(host.path(path), limit=1024 * 1024)
    except ReadError:
        return None


# ---- sections ------------------------------------------------------------------------------------

DMI_FIELDS = ("board_vendor", "board_name", "board_serial", "board_version", "bios_vendor", "bios_version",
              "bios_date", "sys_vendor", "product_name", "product_serial", "product_uuid", "chassis_serial")


def capture_dmi(host: Host) -> dict[str, Any]:
    base = ("sys", "class", "dmi", "id")
    return {k: _read(host, *base, k) for k in DMI_FIELDS}


def capture_identity(host: Host) -> dict[str, Any]:
    return {"hostname": host.hostname(), "machine_id": _read(host, "etc", "machine-id"),
            "hostid": (_read_file(host, "/etc/hostid") or "").strip() and "present" or None}


def capture_cpu(host: Host) -> dict[str, Any]:
    text = _read_file(host, "/proc/cpuinfo") or ""
    models: set[str] = set()
    sockets: set[str] = set()
    microcode: set[str] = set()
    flags: set[str] = set()
    threads = 0
    for line in text.splitlines():
        key, _, val = line.partition(":")
        key, val = key.strip(), val.strip()
        if key == "processor":
            threads += 1
        elif key == "model name":
            models.add(val)
        elif key == "physical id":
            sockets.add(val)
        elif key == "microcode":
            microcode.add(val)
        elif key == "flags":
            flags.update(f for f in val.split() if f in ("vmx", "svm"))
    return {"threads": threads, "sockets": len(sockets) or (1 if threads else 0), "models": sorted(models),
            "microcode": sorted(microcode), "virtualization": sorted(flags)}


def capture_memory(host: Host) -> dict[str, Any]:
    total = None
    for line in (_read_file(host, "/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdecimal():
                total = int(parts[1]) * 1024
    rec = _run(host, ["dmidecode", "-t", "memory"])
    dimms = parse_dmidecode_memory(rec["text"]) if svc.ran(rec) else []
    populated = [d for d in dimms if d["size_bytes"] > 0]
    return {"total_bytes": total, "dimm_slots": len(dimms), "dimm_count": len(populated),
            "dimms": dimms, "source": svc.source(rec)}


def capture_nics(host: Host) -> dict[str, Any]:
    base = host.path("sys", "class", "net")
    nics: dict[str, Any] = {}
    virtual = []
    for name in host.listdir(base):
        d = base / name
        if not host.exists(d / "device"):
            if name != "lo":
                virtual.append(name)
            continue
        dev = host.realpath(d / "device")
        driver = host.realpath(d / "device" / "driver").name if host.exists(d / "device" / "driver") else None
        speed = host.read_int(d / "speed")
        nics[name] = {
            "mac": (host.read_text(d / "address") or "").lower() or None,
            "permanent_mac": None,
            "driver": driver,
            "pci_path": dev.name,
            "operstate": host.read_text(d / "operstate"),
            "carrier": host.read_int(d / "carrier"),
            "speed_mbps": speed if speed is not None and speed >= 0 else None,
        }
    return {"physical": nics, "virtual": virtual}


def capture_net_refs(host: Host, macs: Iterable[str]) -> list[dict[str, Any]]:
    """Every MAC address written in network configuration files, with the line it is on
    (the files are listed in :data:`agent.baseline_net.SOURCES`)."""
    from agent import baseline_net  # noqa: PLC0415

    known = {m.lower() for m in macs if m}
    return [{"file": r["file"], "line": r["line"], "mac": r["mac"], "matches_nic": r["mac"] in known}
            for r in baseline_net.scan(host)["macs"]]


def capture_net_name_refs(host: Host, names: Iterable[str]) -> list[dict[str, Any]]:
    """Every interface name written in network, firewall, sysctl and boot configuration, with
    whether an interface of that name exists now."""
    from agent import baseline_net  # noqa: PLC0415

    names = list(names)
    live = set(host.listdir(host.path("sys", "class", "net")))
    return [dict(r, present=r["name"] in live) for r in baseline_net.scan(host, names)["names"]]


def _udev_props(host: Host, devnum: str | None) -> dict[str, str]:
    if not devnum:
        return {}
    text = _read_file(host, f"/run/udev/data/b{devnum}") or ""
    props = {}
    for line in text.splitlines():
        if line.startswith("E:"):
            k, _, v = line[2:].partition("=")
            props[k] = v
    return props


def capture_disks(host: Host) -> dict[str, Any]:
    byid_dir = host.path("dev", "disk", "by-id")
    byid: dict[str, list[str]] = {}
    for link in host.listdir(byid_dir):
        try:
            target = os.path.basename(os.readlink(byid_dir / link))
        except OSError:
            continue
        byid.setdefault(target, []).append(link)
    disks = []
    base = host.path("sys", "block")
    for name in host.listdir(base):
        if not name.startswith(DISK_PREFIXES):
            continue
        d = base / name
        devnum = host.read_text(d / "dev")
        props = _udev_props(host, devnum)
        sectors = host.read_int(d / "size")
        serial = host.read_text(d / "device" / "serial") or props.get("ID_SERIAL_SHORT")
        wwn = host.read_text(d / "wwid") or host.read_text(d / "device" / "wwid") or props.get("ID_WWN")
        model = host.read_text(d / "device" / "model") or props.get("ID_MODEL")
        partitions = [p for p in host.listdir(d) if p.startswith(name)]
        entry: dict[str, Any] = {"name": name, "model": model, "serial": serial, "wwn": wwn,
                                 "size_bytes": sectors * 512 if sectors is not None else None,
                                 "rotational": host.read_int(d / "queue" / "rotational"),
                                 "by_id": sorted(byid.get(name, [])), "partitions": partitions,
                                 "partition_table": None}
        rec = _run(host, ["sfdisk", "--json", f"/dev/{name}"])
        if svc.ran(rec):
            try:
                pt = json.loads(rec["text"]).get("partitiontable", {})
                entry["partition_table"] = {
                    "label": pt.get("label"), "id": pt.get("id"),
                    "partitions": [{"node": p.get("node"), "start": p.get("start"), "size": p.get("size"),
                                    "type": p.get("type"), "uuid": p.get("uuid"), "name": p.get("name")}
                                   for p in pt.get("partitions", [])],
                }
            except (ValueError, AttributeError):
                entry["partition_table"] = {"error": "sfdisk --json output is not JSON"}
        elif rec["error"] and not rec["error"].startswith("not found"):
            entry["partition_table"] = {"error": rec["error"]}
        disks.append(entry)
    return {"disks": disks}


def capture_storage(host: Host) -> dict[str, Any]:
    scan = _run(host, ["mdadm", "--detail", "--scan"])
    conf = _read_file(host, "/etc/mdadm/mdadm.conf") or _read_file(host, "/etc/mdadm.conf") or ""
    md = {
        "arrays": parse_mdadm_scan(scan["text"]) if svc.ran(scan) else [],
        "mdstat": parse_mdstat(_read_file(host, "/proc/mdstat") or ""),
        "conf_uuids": sorted(a.get("uuid", "") for a in parse_mdadm_scan(conf)),
        "source": svc.source(scan),
    }
    lvm: dict[str, Any] = {"vgs": [], "lvs": []}
    for key, argv in (("vgs", ["vgs", "--reportformat", "json", "-o", "vg_name,vg_uuid,vg_size", "--units", "b"]),
                      ("lvs", ["lvs", "--reportformat", "json", "-o", "lv_name,vg_name,lv_uuid,lv_size", "--units", "b"])):
        rec = _run(host, argv)
        lvm[f"{key}_source"] = svc.source(rec)
        if svc.ran(rec):
            try:
                lvm[key] = json.loads(rec["text"])["report"][0][key[:-1]]
            except (ValueError, KeyError, IndexError, TypeError):
                lvm[f"{key}_source"]["error"] = "unexpected JSON layout"
    zrec = _run(host, ["zpool", "list", "-H", "-o", "name,guid,health"])
    pools = []
    if svc.ran(zrec):
        for line in zrec["text"].splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                pools.append({"name": parts[0], "guid": parts[1], "health": parts[2]})
    zstat = _run(host, ["zpool", "status", "-P"]) if pools else None
    zfs = {"pools": pools, "status": zstat["text"] if zstat and svc.ran(zstat) else None, "source": svc.source(zrec)}
    return {"md": md, "lvm": lvm, "zfs": zfs}


def _ref_exists(host: Host, kind: str, value: str) -> bool:
    sub = {"UUID": "by-uuid", "PARTUUID": "by-partuuid", "LABEL": "by-label", "PARTLABEL": "by-partlabel"}[kind]
    return host.exists(host.path("dev", "disk", sub, value)) or host.exists(host.path("dev", "disk", sub, value.lower()))


def capture_mount_refs(host: Host) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, path, col in (("fstab", "/etc/fstab", 0), ("crypttab", "/etc/crypttab", 1)):
        entries = []
        for line in (_read_file(host, path) or "").splitlines():
            parts = line.split()
            if not parts or parts[0].startswith("#") or len(parts) <= col:
                continue
            spec = parts[col]
            m = UUID_REF_RE.match(spec)
            entry: dict[str, Any] = {"spec": spec, "target": parts[1] if name == "fstab" and len(parts) > 1 else parts[0]}
            if m:
                entry["ref_kind"], entry["ref"] = m.group(1), m.group(2)
                entry["exists"] = _ref_exists(host, m.group(1), m.group(2))
            elif spec.startswith("/dev/"):
                entry["exists"] = host.exists(host.path(spec))
            entries.append(entry)
        out[name] = entries
    return out


def capture_boot(host: Host) -> dict[str, Any]:
    uefi = host.exists(host.path("sys", "firmware", "efi"))
    efi: dict[str, Any] = {"boot_current": None, "boot_order": [], "entries": {}}
    rec = None
    if uefi:
        rec = _run(host, ["efibootmgr", "-v"])
        if svc.ran(rec):
            efi = parse_efibootmgr(rec["text"])
    loaders = []
    for p in ("/boot/grub/grub.cfg", "/boot/efi/EFI/debian/shimx64.efi", "/boot/efi/EFI/debian/grubx64.efi",
              "/boot/efi/EFI/BOOT/BOOTX64.EFI", "/boot/efi/EFI/systemd/systemd-bootx64.efi"):
        if host.exists(host.path(p)):
            loaders.append(p)
    return {"mode": "uefi" if uefi else "bios", "efi": efi, "bootloader_files": loaders,
            "source": svc.source(rec) if rec else None}


def capture_software(host: Host) -> dict[str, Any]:
    kernel = {"release": _read(host, "proc", "sys", "kernel", "osrelease"),
              "cmdline": (_read_file(host, "/proc/cmdline") or "").strip() or None}
    rec = _run(host, ["dpkg-query", "-W", "-f", r"${Package}\t${Version}\t${db:Status-Abbrev}\n"])
    packages = {}
    if svc.ran(rec):
        for line in rec["text"].splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[2].startswith("ii"):
                packages[parts[0]] = parts[1]
    hold = _run(host, ["apt-mark", "showhold"])
    srec = _run(host, ["systemctl", "list-unit-files", "--state=enabled", "--no-legend", "--no-pager"], UNIT_FILES_TIMEOUT)
    services = sorted(line.split()[0] for line in srec["text"].splitlines() if line.split()) if svc.ran(srec) else []
    return {"kernel": kernel, "packages": packages, "packages_source": svc.source(rec),
            "held": sorted(hold["text"].split()) if svc.ran(hold) else [],
            "services_enabled": services, "services_source": svc.source(srec)}


def _rtc_sysfs(host: Host) -> tuple[float, str] | None:
    """The system RTC as the kernel reads it (``/sys/class/rtc/rtcN/since_epoch``, Documentation/ABI/
    testing/sysfs-class-rtc: seconds since the epoch, the RTC taken as UTC), preferring the RTC
    the kernel set the system clock from (``hctosys`` = 1). Unlike ``hwclock --show`` it does not
    wait for the next clock tick with select() on /dev/rtc0, which times out on some virtual
    machines, and needs no util-linux-extra (Debian 12)."""
    base = host.path("sys", "class", "rtc")
    names = sorted(n for n in host.listdir(base) if n.startswith("rtc"))
    names.sort(key=lambda n: host.read_text(base / n / "hctosys") != "1")
    for n in names:
        v = host.read_int(base / n / "since_epoch")
        if v is not None and v > 0:
            return float(v), f"/sys/class/rtc/{n}/since_epoch"
    return None


def capture_time(host: Host) -> dict[str, Any]:
    now = host.now()
    adj = (host.read_text(host.path("etc", "adjtime"), 4096) or "").splitlines()
    sysfs = _rtc_sysfs(host) if not (len(adj) >= 3 and adj[2].strip() == "LOCAL") else None  # LOCAL: hwclock converts
    rtc: float | None
    if sysfs is not None:
        rtc, source = sysfs[0], {"argv": None, "rc": 0, "error": None, "path": sysfs[1]}
    else:
        rec = _run(host, ["hwclock", "--show"])
        rtc, source = (parse_hwclock(rec["text"]) if svc.ran(rec) else None), svc.source(rec)
    ntp = _run(host, ["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    return {"system": now, "rtc": rtc, "rtc_offset_seconds": round(rtc - now, 3) if rtc is not None else None,
            "ntp_synchronized": ntp["text"].strip() == "yes" if svc.ran(ntp) else None, "source": source}


def capture(host: Host) -> dict[str, Any]:
    """A full baseline of the host (never raises for a missing tool or file)."""
    t0 = time.monotonic()
    nics = capture_nics(host)
    data: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "captured_at": host.now(),
        "identity": capture_identity(host),
        "dmi": capture_dmi(host),
        "cpu": capture_cpu(host),
        "memory": capture_memory(host),
        "nics": nics,
        "net_config_refs": capture_net_refs(host, (n["mac"] for n in nics["physical"].values())),
        "net_name_refs": capture_net_name_refs(host, [*nics["physical"], *nics["virtual"]]),
        "disks": capture_disks(host)["disks"],
        "storage": capture_storage(host),
        "mounts": capture_mount_refs(host),
        "boot": capture_boot(host),
        "network": svc.capture_network(host, lambda argv: _run(host, argv),
                                       {k: v["mac"] for k, v in nics["physical"].items() if v.get("mac")}),
        "listening": svc.capture_listening(host, lambda argv: _run(host, argv)),
        "firmware": svc.capture_firmware(host),
        "software": capture_software(host),
        "time": capture_time(host),
    }
    data["services"] = svc.capture_offered(host, data["listening"]["sockets"])
    data["elapsed_seconds"] = round(time.monotonic() - t0, 3)
    data["fingerprint"] = fingerprint(data)
    return data
