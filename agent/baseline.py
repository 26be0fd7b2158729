"""Host baseline: what this machine looked like, so recovery can compare "before" with "now".

After a board failure the host cannot say what it used to look like, yet nearly every recovery
step is "compare with before". :func:`capture` reads, through :class:`~agent.host.Host` only,
the hardware identity (DMI, CPUs, memory and DIMM layout, NICs, disks), the storage layout
(md/LVM/ZFS and their UUIDs, partition tables), what configuration references (MACs in udev,
netplan, ifupdown and systemd-networkd files; UUIDs in fstab and crypttab), the boot setup (EFI
entries, bootloader), kernel, packages, enabled services and the clock.

A baseline is a plain JSON-able dict with ``format_version``; each command-backed section keeps
its source (argv, exit code, error), so a missing tool reads as "absent", never as "empty".
:func:`fingerprint` hashes everything except volatile values (time, link state), so the daemon
stores a new version only when something changed. :func:`diff` compares two baselines with
list items keyed by identity (NIC by name, disk by serial, array by UUID, EFI entry by number),
which answers "what changed since before the failure".
"""

from __future__ import annotations

import builtins
import copy
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable

from agent import baseline_services as svc
from agent.fileutil import atomic_write
from agent.host import Host, ReadError

FORMAT_VERSION = 1
KEEP_VERSIONS = 30
CMD_TIMEOUT = 20.0
MAC_RE = re.compile(r"(?<![0-9a-f:])((?:[0-9a-f]{2}:){5}[0-9a-f]{2})(?![0-9a-f:])", re.I)
UUID_REF_RE = re.compile(r"^(UUID|PARTUUID|LABEL|PARTLABEL)=\"?([^\"\s]+)\"?$")
DISK_PREFIXES = ("sd", "nvme", "vd", "hd", "xvd", "mmcblk")
# Keys left out of the fingerprint: they change without the machine changing.
VOLATILE_KEYS = {"captured_at", "time", "operstate", "speed_mbps", "carrier", "elapsed_seconds"}

MIGRATIONS = (
    """
    CREATE TABLE baselines (
        id TEXT PRIMARY KEY,
        captured REAL NOT NULL,
        fingerprint TEXT NOT NULL,
        known_good INTEGER NOT NULL DEFAULT 0,
        data TEXT NOT NULL
    );
    CREATE INDEX baselines_captured ON baselines (captured);
    """,
)


class BaselineError(Exception):
    """A baseline cannot be captured, stored or read; the message names the file or version."""


# ---- internals -------------------------------------------------------------------------------------

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
    return {"argv": list(argv), "rc": res.rc, "error": res.error, "text": res.stdout.decode("utf-8", "replace")}


def _src(rec: dict[str, Any]) -> dict[str, Any]:
    return {"argv": rec["argv"], "rc": rec["rc"], "error": rec["error"]}


def _ok(rec: dict[str, Any]) -> bool:
    return rec["error"] is None and rec["rc"] == 0


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


def parse_dmidecode_memory(text: str) -> list[dict[str, Any]]:
    """``dmidecode -t memory`` -> one dict per populated or empty slot (Memory Device blocks)."""
    out = []
    for block in re.split(r"\n(?=Handle )", text):
        if "\nMemory Device" not in block and not block.lstrip().startswith("Memory Device"):
            continue
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith("\t") and not line.startswith("\t\t") and ":" in line:
                k, _, v = line.strip().partition(":")
                fields[k.strip()] = v.strip()
        size = fields.get("Size", "")
        m = re.match(r"(\d+)\s*(MB|GB|TB|kB)", size)
        mult = {"kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
        out.append({
            "locator": fields.get("Locator"), "bank": fields.get("Bank Locator"),
            "size_bytes": int(m.group(1)) * mult[m.group(2)] if m else 0,
            "type": fields.get("Type"), "speed": fields.get("Speed"),
            "manufacturer": fields.get("Manufacturer"), "serial": fields.get("Serial Number"),
            "part_number": fields.get("Part Number"),
        })
    return out


def capture_memory(host: Host) -> dict[str, Any]:
    total = None
    for line in (_read_file(host, "/proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdecimal():
                total = int(parts[1]) * 1024
    rec = _run(host, ["dmidecode", "-t", "memory"])
    dimms = parse_dmidecode_memory(rec["text"]) if _ok(rec) else []
    populated = [d for d in dimms if d["size_bytes"] > 0]
    return {"total_bytes": total, "dimm_slots": len(dimms), "dimm_count": len(populated),
            "dimms": dimms, "source": _src(rec)}


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
                 "by_id": sorted(byid.get(name, [])), "partitions": partitions, "partition_table": None}
        rec = _run(host, ["sfdisk", "--json", f"/dev/{name}"])
        if _ok(rec):
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


def parse_mdadm_scan(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] != "ARRAY":
            continue
        item = {"device": parts[1]}
        for p in parts[2:]:
            k, _, v = p.partition("=")
            if k in ("metadata", "name", "UUID", "level", "num-devices"):
                item[k.lower().replace("-", "_")] = v
        out.append(item)
    return out


def parse_mdstat(text: str) -> list[dict[str, Any]]:
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(md\S+)\s*:\s*(\S+)\s+(?:\((?:auto-)?read-only\)\s+)?(\S+)\s+(.*)$", line)
        if not m:
            continue
        name, state, level, rest = m.groups()
        if not level.startswith("raid") and level not in ("linear",):
            rest = f"{level} {rest}"
            level = None
        members = sorted(re.sub(r"\[\d+\]", "", t) for t in rest.split() if re.match(r"^\w.*\[\d+\]", t))
        status = lines[i + 1] if i + 1 < len(lines) else ""
        sm = re.search(r"\[([U_]+)\]", status)
        out.append({"name": name, "state": state, "level": level, "members": members,
                    "status": sm.group(1) if sm else None})
    return out


def capture_storage(host: Host) -> dict[str, Any]:
    scan = _run(host, ["mdadm", "--detail", "--scan"])
    conf = _read_file(host, "/etc/mdadm/mdadm.conf") or _read_file(host, "/etc/mdadm.conf") or ""
    md = {
        "arrays": parse_mdadm_scan(scan["text"]) if _ok(scan) else [],
        "mdstat": parse_mdstat(_read_file(host, "/proc/mdstat") or ""),
        "conf_uuids": sorted(a.get("uuid", "") for a in parse_mdadm_scan(conf)),
        "source": _src(scan),
    }
    lvm: dict[str, Any] = {"vgs": [], "lvs": []}
    for key, argv in (("vgs", ["vgs", "--reportformat", "json", "-o", "vg_name,vg_uuid,vg_size", "--units", "b"]),
                      ("lvs", ["lvs", "--reportformat", "json", "-o", "lv_name,vg_name,lv_uuid,lv_size", "--units", "b"])):
        rec = _run(host, argv)
        lvm[f"{key}_source"] = _src(rec)
        if _ok(rec):
            try:
                lvm[key] = json.loads(rec["text"])["report"][0][key[:-1]]
            except (ValueError, KeyError, IndexError, TypeError):
                lvm[f"{key}_source"]["error"] = "unexpected JSON layout"
    zrec = _run(host, ["zpool", "list", "-H", "-o", "name,guid,health"])
    pools = []
    if _ok(zrec):
        for line in zrec["text"].splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                pools.append({"name": parts[0], "guid": parts[1], "health": parts[2]})
    zstat = _run(host, ["zpool", "status", "-P"]) if pools else None
    zfs = {"pools": pools, "status": zstat["text"] if zstat and _ok(zstat) else None, "source": _src(zrec)}
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


def parse_efibootmgr(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"boot_current": None, "boot_order": [], "entries": {}}
    for line in text.splitlines():
        if line.startswith("BootCurrent:"):
            out["boot_current"] = line.split(":", 1)[1].strip()
        elif line.startswith("BootOrder:"):
            out["boot_order"] = [x for x in line.split(":", 1)[1].strip().split(",") if x]
        else:
            m = re.match(r"^Boot([0-9A-Fa-f]{4})(\*?)\s+(.*)$", line)
            if not m:
                continue
            num, active, rest = m.groups()
            label, _, path = rest.partition("\t")
            guid = re.search(r"HD\(\d+,GPT,([0-9a-fA-F-]{36})", path)
            out["entries"][num] = {"label": label.strip(), "active": bool(active), "path": path.strip(),
                                   "partuuid": guid.group(1).lower() if guid else None}
    return out


def capture_boot(host: Host) -> dict[str, Any]:
    uefi = host.exists(host.path("sys", "firmware", "efi"))
    efi: dict[str, Any] = {"boot_current": None, "boot_order": [], "entries": {}}
    rec = None
    if uefi:
        rec = _run(host, ["efibootmgr", "-v"])
        if _ok(rec):
            efi = parse_efibootmgr(rec["text"])
    loaders = []
    for p in ("/boot/grub/grub.cfg", "/boot/efi/EFI/debian/shimx64.efi", "/boot/efi/EFI/debian/grubx64.efi",
              "/boot/efi/EFI/BOOT/BOOTX64.EFI", "/boot/efi/EFI/systemd/systemd-bootx64.efi"):
        if host.exists(host.path(p)):
            loaders.append(p)
    return {"mode": "uefi" if uefi else "bios", "efi": efi, "bootloader_files": loaders,
            "source": _src(rec) if rec else None}


def capture_software(host: Host) -> dict[str, Any]:
    kernel = {"release": _read(host, "proc", "sys", "kernel", "osrelease"),
              "cmdline": (_read_file(host, "/proc/cmdline") or "").strip() or None}
    rec = _run(host, ["dpkg-query", "-W", "-f", r"${Package}\t${Version}\t${db:Status-Abbrev}\n"])
    packages = {}
    if _ok(rec):
        for line in rec["text"].splitlines():
            parts = line.split("\t")
            if len(parts) >= 3 and parts[2].startswith("ii"):
                packages[parts[0]] = parts[1]
    hold = _run(host, ["apt-mark", "showhold"])
    srec = _run(host, ["systemctl", "list-unit-files", "--state=enabled", "--no-legend", "--no-pager"])
    services = sorted(line.split()[0] for line in srec["text"].splitlines() if line.split()) if _ok(srec) else []
    return {"kernel": kernel, "packages": packages, "packages_source": _src(rec),
            "held": sorted(hold["text"].split()) if _ok(hold) else [],
            "services_enabled": services, "services_source": _src(srec)}


def parse_hwclock(text: str) -> float | None:
    """``hwclock --show`` (util-linux >= 2.32: ``2026-11-25 01:02:03.123456+00:00``) -> epoch."""
    from datetime import datetime  # noqa: PLC0415

    s = text.strip().splitlines()[0] if text.strip() else ""
    try:
        return datetime.fromisoformat(s.replace(" ", "T", 1)).timestamp()
    except ValueError:
        return None


def capture_time(host: Host) -> dict[str, Any]:
    now = host.now()
    rec = _run(host, ["hwclock", "--show"])
    rtc = parse_hwclock(rec["text"]) if _ok(rec) else None
    ntp = _run(host, ["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    return {"system": now, "rtc": rtc, "rtc_offset_seconds": round(rtc - now, 3) if rtc is not None else None,
            "ntp_synchronized": ntp["text"].strip() == "yes" if _ok(ntp) else None, "source": _src(rec)}


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


# ---- fingerprint and diff ----------------------------------------------------------------------

def _strip(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in VOLATILE_KEYS and k != "fingerprint"
                and not k.endswith("source") and k != "rc"}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    return obj


def fingerprint(data: dict[str, Any]) -> str:
    canon = json.dumps(_strip(data), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canon.encode()).hexdigest()


# identity of list items, so a reordered list is not a change
LIST_KEYS = {"disks": "serial", "storage.md.arrays": "uuid", "storage.md.mdstat": "name",
             "storage.lvm.vgs": "vg_uuid", "storage.lvm.lvs": "lv_uuid", "storage.zfs.pools": "guid",
             "memory.dimms": "locator", "mounts.fstab": "target", "mounts.crypttab": "target",
             "net_config_refs": None, "listening.sockets": ("proto", "address", "port"), "network.addresses": "address"}


def _flatten(obj: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        if not obj and prefix:
            out[prefix] = {}
        for k, v in obj.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(obj, list) and prefix in LIST_KEYS and all(isinstance(x, dict) for x in obj):
        key = LIST_KEYS[prefix]
        for i, item in enumerate(obj):
            ident = (item.get(key) if isinstance(key, str) else
                     " ".join(str(item.get(k)) for k in key) if key else None)
            if not ident:
                ident = (item.get("name") or item.get("file", "") + f":{item.get('line', i)}:{item.get('mac', '')}"
                         if key is None else f"#{i}")
            _flatten(item, f"{prefix}[{ident}]", out)
        if not obj:
            out[prefix] = []
    else:
        out[prefix] = obj


def flatten(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    top = {k: v for k, v in data.items() if k != "id"}  # the store's version id is not host state
    _flatten(_strip(top), "", out)
    return out


def diff(old: dict[str, Any], new: dict[str, Any], sections: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Changes between two baselines: ``[{"path", "kind": changed|added|removed, "old", "new"}]``.

    ``sections`` limits the comparison to paths starting with one of the given prefixes
    (``nics``, ``dmi.board_serial``, ``boot.efi``).
    """
    a, b = flatten(old), flatten(new)
    prefixes = tuple(sections or ())
    out = []
    for path in sorted(set(a) | set(b)):
        if prefixes and not any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in prefixes):
            continue
        if path not in a:
            out.append({"path": path, "kind": "added", "old": None, "new": b[path]})
        elif path not in b:
            out.append({"path": path, "kind": "removed", "old": a[path], "new": None})
        elif a[path] != b[path]:
            out.append({"path": path, "kind": "changed", "old": a[path], "new": b[path]})
    return out


def render_diff(changes: list[dict[str, Any]]) -> str:
    if not changes:
        return "no changes"
    lines = []
    for c in changes:
        sign = {"added": "+", "removed": "-", "changed": "~"}[c["kind"]]
        if c["kind"] == "changed":
            lines.append(f"{sign} {c['path']}: {_short(c['old'])} -> {_short(c['new'])}")
        else:
            lines.append(f"{sign} {c['path']}: {_short(c['new'] if c['kind'] == 'added' else c['old'])}")
    return "\n".join(lines)


def _short(v: Any) -> str:
    s = json.dumps(v, default=str) if not isinstance(v, str) else v
    return s if len(s) <= 120 else s[:117] + "..."


def lookup(data: dict[str, Any], path: str) -> Any:
    """``nics.physical.eno1.mac`` -> value; raises KeyError naming the missing part."""
    cur: Any = data
    done: list[str] = []
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdecimal() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(f"baseline has no {'.'.join([*done, part])}")
        done.append(part)
    return cur


# ---- storage -------------------------------------------------------------------------------------

def load_file(path: str | Path) -> dict[str, Any]:
    """A baseline from an export file (or a raw capture), validated."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise BaselineError(f"{p}: no such file") from None
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{p}: not a baseline file ({exc})") from None
    if isinstance(data, dict) and "baseline" in data and isinstance(data["baseline"], dict):
        data = data["baseline"]
    if not isinstance(data, dict) or "format_version" not in data:
        raise BaselineError(f"{p}: not a baseline file (no format_version)")
    if data["format_version"] > FORMAT_VERSION:
        raise BaselineError(f"{p}: baseline format {data['format_version']} is newer than this agent understands "
                            f"({FORMAT_VERSION}); upgrade hwagent")
    return data


def export(data: dict[str, Any], path: str | Path) -> Path:
    """Write a baseline export (mode 0600, atomic) meant to be kept off-host with the backups."""
    p = Path(path)
    doc = {"kind": "hwagent-baseline", "format_version": FORMAT_VERSION, "exported_at": time.time(),
           "baseline": data}
    return atomic_write(p, (json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n").encode())


class BaselineStore:
    """Versions of the baseline in the SQLite state store (component ``baseline``)."""

    def __init__(self, store):
        self.store = store
        store.migrate("baseline", MIGRATIONS)

    def save(self, data: dict[str, Any], known_good: bool = False) -> tuple[str, bool]:
        """Store ``data`` unless the newest version has the same fingerprint. -> (id, stored)."""
        fp = data.get("fingerprint") or fingerprint(data)
        latest = self.latest()
        if latest is not None and latest.get("fingerprint") == fp:
            return latest["id"], False
        ident = f"{int(data.get('captured_at') or time.time())}-{fp[:8]}"
        stored = dict(data, id=ident, fingerprint=fp)
        self.store.execute("INSERT OR REPLACE INTO baselines (id, captured, fingerprint, known_good, data) VALUES (?,?,?,?,?)",
                           (ident, float(data.get("captured_at") or time.time()), fp, int(known_good),
                            json.dumps(stored, sort_keys=True, default=str)))
        rows = self.store.execute("SELECT id FROM baselines WHERE known_good = 0 ORDER BY captured DESC")
        for (old,) in rows[KEEP_VERSIONS:]:
            self.store.execute("DELETE FROM baselines WHERE id = ?", (old,))
        return ident, True

    def list(self) -> list[dict[str, Any]]:
        rows = self.store.execute("SELECT id, captured, fingerprint, known_good FROM baselines ORDER BY captured DESC")
        return [{"id": r[0], "captured": r[1], "fingerprint": r[2], "known_good": bool(r[3])} for r in rows]

    def get(self, ident: str) -> dict[str, Any]:
        rows = self.store.execute("SELECT id, data FROM baselines WHERE id = ? OR id LIKE ? ORDER BY captured DESC",
                                  (ident, ident + "%"))
        if not rows:
            raise BaselineError(f"no stored baseline {ident!r} (see `agent baseline show --list`)")
        if len(rows) > 1 and rows[0][0] != ident:
            raise BaselineError(f"baseline id {ident!r} is ambiguous: {', '.join(r[0] for r in rows)}")
        return json.loads(rows[0][1])

    def latest(self, offset: int = 0) -> dict[str, Any] | None:
        rows = self.store.execute("SELECT data FROM baselines ORDER BY captured DESC LIMIT 1 OFFSET ?", (offset,))
        return json.loads(rows[0][0]) if rows else None

    def mark_known_good(self, ident: str) -> None:
        self.store.execute("UPDATE baselines SET known_good = 1 WHERE id = ?", (ident,))

    def rows(self) -> builtins.list[dict[str, Any]]:
        """Every stored version with its data, newest first (for :mod:`agent.baseline_select`)."""
        rows = self.store.execute("SELECT id, captured, known_good, data FROM baselines ORDER BY captured DESC")
        return [{"id": r[0], "captured": r[1], "known_good": bool(r[2]), "data": json.loads(r[3])} for r in rows]

    def active_findings(self) -> int:
        """Active warning/critical findings outside component ``recovery`` (readiness findings
        must not keep the baseline from becoming known-good)."""
        try:
            rows = self.store.execute("SELECT count(*) FROM findings WHERE resolved IS NULL AND component != 'recovery' "
                                      "AND severity IN ('warning', 'critical')")
        except Exception:  # noqa: BLE001 - no findings table yet (a store without the daemon's schema)
            return 0
        return int(rows[0][0]) if rows else 0

    def auto_known_good(self, now: float, after_days: float) -> str | None:
        """Mark the newest version known-good when it qualifies (see baseline_select.auto_known_good)."""
        from agent import baseline_select  # noqa: PLC0415

        ident = baseline_select.auto_known_good(self.rows(), now=now, after_days=after_days,
                                                active_findings=self.active_findings())
        if ident is not None:
            self.mark_known_good(ident)
        return ident


def copy_without_volatile(data: dict[str, Any]) -> dict[str, Any]:
    return _strip(copy.deepcopy(data))


def read_all_stored(db_path: str | Path) -> list[dict[str, Any]]:
    """Every stored version ``{id, captured, known_good, data}`` read without writing anything."""
    import sqlite3  # noqa: PLC0415

    db = Path(db_path)
    flags = "mode=ro" + ("" if Path(f"{db}-wal").exists() else "&immutable=1")
    try:
        conn = sqlite3.connect(f"file:{db}?{flags}", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'baselines'").fetchone():
            return []
        rows = conn.execute("SELECT id, captured, known_good, data FROM baselines ORDER BY captured DESC").fetchall()
        return [{"id": r[0], "captured": r[1], "known_good": bool(r[2]), "data": json.loads(r[3])} for r in rows]
    except (sqlite3.Error, ValueError) as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
    finally:
        conn.close()


def read_stored(db_path: str | Path, ident: str | None = None) -> dict[str, Any] | None:
    """A stored baseline read without writing anything (SQLite read-only): ``ident`` (id or
    prefix), else the newest known-good, else the newest. None when there is none; raises
    :class:`BaselineError` for an unknown id or an unreadable database."""
    import sqlite3  # noqa: PLC0415

    db = Path(db_path)
    # no -wal file = no writer and nothing uncheckpointed: read it as immutable, so SQLite does not
    # create -wal/-shm files either; with a running daemon, read through its WAL
    flags = "mode=ro" + ("" if Path(f"{db}-wal").exists() else "&immutable=1")
    try:
        conn = sqlite3.connect(f"file:{db}?{flags}", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'baselines'").fetchone():
            if ident:
                raise BaselineError(f"no stored baseline {ident!r} (none stored yet)")
            return None
        if ident:
            rows = conn.execute("SELECT id, data FROM baselines WHERE id = ? OR id LIKE ? ORDER BY captured DESC",
                                (ident, ident + "%")).fetchall()
            if not rows:
                raise BaselineError(f"no stored baseline {ident!r} (see `agent baseline show --list`)")
            if len(rows) > 1 and rows[0][0] != ident:
                raise BaselineError(f"baseline id {ident!r} is ambiguous: {', '.join(r[0] for r in rows)}")
            return json.loads(rows[0][1])
        row = conn.execute("SELECT data FROM baselines ORDER BY known_good DESC, captured DESC LIMIT 1").fetchone()
        return json.loads(row[0]) if row else None
    except sqlite3.Error as exc:
        raise BaselineError(f"{db_path}: {exc}") from None
    finally:
        conn.close()
