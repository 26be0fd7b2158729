"""Baseline sections that prove customers are served, and firmware settings a new board resets.

* ``network``: IPv4/IPv6 addresses per interface (``ip -j addr``; an IPv6 address whose
  interface identifier is the EUI-64 of the NIC's MAC, RFC 4291 appendix A, is marked
  ``eui64``: it changes with the MAC), default routes (``ip -j route show default``, both
  families) and the resolvers of /etc/resolv.conf.
* ``listening``: TCP/UDP sockets in LISTEN/UNCONN state (``ss -tulnpH``) with the owning
  process and its systemd unit (from /proc/PID/cgroup).
* ``firmware``: Secure Boot state (efivars ``SecureBoot-8be4df61-...``: last byte 1 = on),
  storage controllers by PCI class (SATA AHCI 0x0106, RAID 0x0104, SAS 0x0107, NVMe 0x0108)
  with their driver, and whether /etc/adjtime keeps the RTC in UTC.
"""

from __future__ import annotations

import json
import re
from typing import Any

SECURE_BOOT_VAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
PCI_STORAGE = {"0x0101": "ide", "0x0104": "raid", "0x0106": "sata", "0x0107": "sas", "0x0108": "nvme"}


def eui64(mac: str) -> str:
    """The modified EUI-64 interface identifier of a MAC (RFC 4291 appendix A), as 4 hex groups."""
    b = [int(x, 16) for x in mac.split(":")]
    b[0] ^= 0x02
    full = b[:3] + [0xFF, 0xFE] + b[3:]
    return ":".join(f"{full[i]:02x}{full[i + 1]:02x}" for i in range(0, 8, 2))


def _iid(addr: str) -> str:
    import ipaddress  # noqa: PLC0415

    packed = ipaddress.IPv6Address(addr.split("/")[0]).packed[8:]
    return ":".join(f"{packed[i]:02x}{packed[i + 1]:02x}" for i in range(0, 8, 2))


def parse_ip_addr(text: str, macs: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return out
    for link in data if isinstance(data, list) else []:
        name = link.get("ifname")
        mac = (link.get("address") or macs.get(name) or "").lower()
        for a in link.get("addr_info") or []:
            if a.get("scope") not in ("global", None) or a.get("family") not in ("inet", "inet6"):
                continue
            addr = f"{a.get('local')}/{a.get('prefixlen')}"
            entry = {"ifname": name, "family": a["family"], "address": addr,
                     "dynamic": bool(a.get("dynamic")), "temporary": bool(a.get("temporary"))}
            if a["family"] == "inet6" and re.fullmatch(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}", mac):
                try:
                    entry["eui64"] = _iid(addr) == eui64(mac)
                except ValueError:
                    pass
            out.append(entry)
    return out


def parse_routes(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    return [{"gateway": r.get("gateway"), "dev": r.get("dev")} for r in data if isinstance(r, dict) and r.get("dst") == "default"]


def parse_ss(text: str) -> list[dict[str, Any]]:
    """``ss -tulnpH`` lines -> sockets {proto, address, port, process, pids}."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] not in ("tcp", "udp"):
            continue
        local = parts[4]
        addr, _, port = local.rpartition(":")
        if not port.isdecimal():
            continue
        addr = addr.strip("[]")
        addr = addr.split("%", 1)[0]  # 0.0.0.0%lo -> 0.0.0.0
        procs = re.findall(r'\("([^"]+)",pid=(\d+)', line)
        out.append({"proto": parts[0], "address": addr, "port": int(port),
                    "process": procs[0][0] if procs else None, "pids": sorted({int(p) for _, p in procs})})
    return out


def unit_of(host, pid: int) -> str | None:
    text = host.read_text(host.path("proc", str(pid), "cgroup"), 8192) or ""
    for line in text.splitlines():
        path = line.split(":", 2)[-1]
        units = [p for p in path.split("/") if p.endswith((".service", ".socket", ".scope"))]
        if units:
            return units[-1]
    return None


def capture_network(host, run, macs: dict[str, str]) -> dict[str, Any]:
    rec = run(["ip", "-j", "addr", "show"])
    r4 = run(["ip", "-j", "route", "show", "default"])
    r6 = run(["ip", "-j", "-6", "route", "show", "default"])
    resolv = host.read_text(host.path("etc", "resolv.conf"), 65536) or ""
    ok = lambda r: r["error"] is None and r["rc"] == 0  # noqa: E731
    return {"addresses": parse_ip_addr(rec["text"], macs) if ok(rec) else [],
            "default_routes": (parse_routes(r4["text"]) if ok(r4) else []) + (parse_routes(r6["text"]) if ok(r6) else []),
            "resolvers": re.findall(r"^\s*nameserver\s+(\S+)", resolv, re.M),
            "source": {"argv": rec["argv"], "rc": rec["rc"], "error": rec["error"]}}


def capture_listening(host, run) -> dict[str, Any]:
    rec = run(["ss", "-tulnpH"])
    socks = parse_ss(rec["text"]) if rec["error"] is None and rec["rc"] == 0 else []
    for s in socks:
        s["unit"] = next((u for u in (unit_of(host, p) for p in s.pop("pids")) if u), None)
    return {"sockets": socks, "source": {"argv": rec["argv"], "rc": rec["rc"], "error": rec["error"]}}


def capture_firmware(host) -> dict[str, Any]:
    sb = None
    p = host.path("sys", "firmware", "efi", "efivars", SECURE_BOOT_VAR)
    try:
        raw = p.read_bytes()
        sb = bool(raw[-1]) if raw else None
    except OSError:
        sb = None
    controllers = []
    base = host.path("sys", "bus", "pci", "devices")
    for dev in sorted(host.listdir(base)):
        cls = (host.read_text(base / dev / "class") or "")[:6]
        if cls in PCI_STORAGE:
            drv = host.realpath(base / dev / "driver").name if host.exists(base / dev / "driver") else None
            controllers.append({"pci": dev, "kind": PCI_STORAGE[cls], "driver": drv})
    adj = host.read_text(host.path("etc", "adjtime"), 4096)
    lines = (adj or "").splitlines()
    return {"secure_boot": sb, "storage_controllers": controllers,
            "rtc_local": (lines[2].strip() == "LOCAL") if len(lines) >= 3 else False}
