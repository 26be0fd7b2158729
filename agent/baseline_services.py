"""Baseline sections that prove customers are served, and firmware settings a new board resets.

* ``network``: IPv4/IPv6 addresses per interface (``ip -j addr``; an IPv6 address whose
  interface identifier is the EUI-64 of the NIC's MAC, RFC 4291 appendix A, is marked
  ``eui64``: it changes with the MAC), default routes (``ip -j route show default``, both
  families) and the resolvers of /etc/resolv.conf.
* ``listening``: TCP/UDP sockets in LISTEN/UNCONN state (``ss -tulnpH --cgroup``) with the owning
  process and its systemd unit (from /proc/PID/cgroup, else from the socket's own cgroup).
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
    out: list[dict[str, Any]] = []
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
                    pass  # not an address whose interface id can be compared: leave eui64 unknown
            out.append(entry)
    return out


def parse_routes(text: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    return [{"gateway": r.get("gateway"), "dev": r.get("dev")} for r in data if isinstance(r, dict) and r.get("dst") == "default"]


def parse_ss(text: str) -> list[dict[str, Any]]:
    """``ss -tulnpH [--cgroup]`` lines -> sockets {proto, address, port, process, pids, cgroup}."""
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
        cg = re.search(r"\scgroup:(\S+)", line)
        out.append({"proto": parts[0], "address": addr, "port": int(port),
                    "process": procs[0][0] if procs else None, "pids": sorted({int(p) for _, p in procs}),
                    "cgroup": cg.group(1) if cg else None})
    return out


def unit_in(cgroup_path: str) -> str | None:
    """The systemd unit a cgroup path belongs to (its innermost .service/.socket/.scope)."""
    units = [p for p in cgroup_path.split("/") if p.endswith((".service", ".socket", ".scope"))]
    return units[-1] if units else None


def unit_of(host, pid: int) -> str | None:
    text = host.read_text(host.path("proc", str(pid), "cgroup"), 8192) or ""
    for line in text.splitlines():
        unit = unit_in(line.split(":", 2)[-1])
        if unit:
            return unit
    return None


def source(rec: dict[str, Any]) -> dict[str, Any]:
    """Where a section came from: the command, its exit code, the runner's error and, when it
    failed, its last line of stderr."""
    out = {"argv": rec["argv"], "rc": rec["rc"], "error": rec["error"]}
    if rec.get("stderr"):
        out["stderr"] = rec["stderr"]
    return out


def ran(rec: dict[str, Any]) -> bool:
    """The command ran and exited 0 (its output can be parsed)."""
    return failure_text(rec) is None


def failure_text(src: dict[str, Any]) -> str | None:
    """Why a section's command failed, in its own words (None when it worked)."""
    if src.get("error"):
        return str(src["error"])
    if src.get("rc") in (None, 0):
        return None
    return f"rc {src['rc']}" + (f", {src['stderr']}" if src.get("stderr") else "")


def service_gaps(data: dict[str, Any]) -> list[str]:
    """The sections that prove customers are served (addresses, listening sockets) whose command
    failed: steps comparing them with this baseline cannot pass."""
    out = []
    for sec in ("network", "listening"):
        src = (data.get(sec) or {}).get("source") or {}
        why = failure_text(src)
        if why:
            out.append(f"{sec}: `{' '.join(src.get('argv') or [])}` failed ({why})")
    return out


def capture_network(host, run, macs: dict[str, str]) -> dict[str, Any]:
    rec = run(["ip", "-j", "addr", "show"])
    r4 = run(["ip", "-j", "route", "show", "default"])
    r6 = run(["ip", "-j", "-6", "route", "show", "default"])
    resolv = host.read_text(host.path("etc", "resolv.conf"), 65536) or ""
    return {"addresses": parse_ip_addr(rec["text"], macs) if ran(rec) else [],
            "default_routes": (parse_routes(r4["text"]) if ran(r4) else []) + (parse_routes(r6["text"]) if ran(r6) else []),
            "resolvers": re.findall(r"^\s*nameserver\s+(\S+)", resolv, re.M),
            "source": source(rec)}


def capture_listening(host, run) -> dict[str, Any]:
    """The unit of a socket comes from its owner's /proc/PID/cgroup, else from the socket's own
    cgroup (``ss --cgroup``, sock_diag's INET_DIAG_CGROUP_ID, Linux 5.7 and iproute2 5.9): the
    agent's sandbox may not see other services' processes (``ss -p`` needs ptrace access to read
    /proc/PID/fd), and a baseline without units cannot say which service to restart (MB-25)."""
    rec = run(["ss", "-tulnpH", "--cgroup"])
    if not ran(rec):  # an older ss: "unrecognized option '--cgroup'"
        rec = run(["ss", "-tulnpH"])
    socks = parse_ss(rec["text"]) if ran(rec) else []
    for s in socks:
        cg = s.pop("cgroup")
        s["unit"] = next((u for u in (unit_of(host, p) for p in s.pop("pids")) if u), None) or \
            (unit_in(cg) if cg else None)
    return {"sockets": socks, "source": source(rec)}


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


MAIL_PORTS = (25, 465, 587, 993, 995)


def _files(host, d: str, suffix: str = "") -> list[tuple[str, str]]:
    out = []
    p = host.path(d)
    for name in sorted(host.listdir(p)):
        if (p / name).is_file() and name.endswith(suffix):
            out.append((f"{d}/{name}", host.read_text(p / name, 1 << 20) or ""))
    return out


def _strip_comments(text: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def parse_nginx(text: str) -> list[dict[str, Any]]:
    """``server { listen ...; server_name ...; }`` blocks -> vhosts (name, port, tls)."""
    out = []
    text = _strip_comments(text)
    for m in re.finditer(r"\bserver\s*\{", text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        block = text[m.end():i]
        # only this block's own directives, not nested location blocks
        flat = re.sub(r"\{[^{}]*\}", "", block)
        names = [n for d in re.findall(r"(?<![\w-])server_name\s+([^;]+);", flat) for n in d.split()]
        names = [n for n in names if n not in ("_", "localhost") and not n.startswith(("~", "*", ".")) and "." in n]
        ports = []
        for lst in re.findall(r"(?<![\w-])listen\s+([^;]+);", flat):
            parts = lst.split()
            port = parts[0].rsplit(":", 1)[-1].strip("[]")
            if port.isdecimal():
                ports.append((int(port), "ssl" in parts or "quic" in parts))
        for name in names:
            for port, tls in ports or [(80, False)]:
                out.append({"name": name, "port": port, "tls": tls})
    return out


def parse_apache(text: str) -> list[dict[str, Any]]:
    out = []
    text = _strip_comments(text)
    for m in re.finditer(r"<VirtualHost\s+([^>]+)>(.*?)</VirtualHost>", text, re.S | re.I):
        port = m.group(1).split()[0].rsplit(":", 1)[-1]
        if not port.isdecimal():
            continue
        body = m.group(2)
        tls = bool(re.search(r"^\s*SSLEngine\s+on\b", body, re.M | re.I))
        names = re.findall(r"^\s*ServerName\s+(\S+)", body, re.M | re.I)
        names += [n for a in re.findall(r"^\s*ServerAlias\s+(.+)$", body, re.M | re.I) for n in a.split()]
        for name in names:
            name = name.split(":")[0]
            if "." in name and not name.startswith("*"):
                out.append({"name": name, "port": int(port), "tls": tls})
    return out


def parse_bind_zones(text: str) -> list[str]:
    """Zones this server is primary for (``zone "x" { type master|primary; ... }``)."""
    out = []
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", _strip_comments(text), flags=re.S)
    for m in re.finditer(r'\bzone\s+"([^"]+)"\s*(?:IN\s*)?\{([^{}]*)\}', text):
        if re.search(r"\btype\s+(master|primary)\s*;", m.group(2)) and m.group(1) not in ("localhost", ".") \
                and not m.group(1).endswith(".arpa"):
            out.append(m.group(1))
    return out


def capture_offered(host, sockets: list[dict[str, Any]]) -> dict[str, Any]:
    """The services customers use: web vhosts, mail ports, DNS zones (from config and sockets)."""
    vhosts: list[dict[str, Any]] = []
    for path, text in (_files(host, "/etc/nginx/sites-enabled") + _files(host, "/etc/nginx/conf.d", ".conf")):
        vhosts += [dict(v, source=path) for v in parse_nginx(text)]
    for path, text in _files(host, "/etc/apache2/sites-enabled", ".conf"):
        vhosts += [dict(v, source=path) for v in parse_apache(text)]
    seen, unique = set(), []
    for v in vhosts:
        if (v["name"], v["port"]) not in seen:
            seen.add((v["name"], v["port"]))
            unique.append(v)
    listening = {(s.get("proto"), s.get("port")) for s in sockets}
    zones: list[str] = []
    for path in ("/etc/bind/named.conf", "/etc/bind/named.conf.local"):
        zones += parse_bind_zones(host.read_text(host.path(path), 1 << 20) or "")
    return {"vhosts": unique, "mail_ports": sorted(p for p in MAIL_PORTS if ("tcp", p) in listening),
            "mail_name": _mail_tls_name(host) or (host.read_text(host.path("etc", "mailname"), 256) or "").strip()
            or host.hostname(),
            "zones": sorted(set(zones)) if ("udp", 53) in listening else []}


def _mail_tls_name(host) -> str:
    """The first DNS name on the mail server's configured certificate ("" when none is readable)."""
    from agent.tls_names import configured_cert_files, pem_dns_names  # noqa: PLC0415

    dovecot = [host.read_text(host.path(p), 1 << 20) or "" for p in
               ("/etc/dovecot/dovecot.conf", "/etc/dovecot/conf.d/10-ssl.conf")]
    for f in configured_cert_files(host.read_text(host.path("etc", "postfix", "main.cf"), 1 << 20) or "", dovecot):
        names = pem_dns_names(host.read_text(host.path(f), 1 << 20) or "")
        if names:
            return names[0]
    return ""
