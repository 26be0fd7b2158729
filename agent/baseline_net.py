"""Where configuration names a network interface: by MAC address and by interface name.

A new mainboard brings new onboard MACs and, when the firmware indexes its onboard ports
differently, new predictable names (``eno1`` -> ``enp1s0f0``, systemd.net-naming-scheme(7)).
Every file that names the old MAC or the old name then silently stops matching: ifupdown brings
up nothing, an nftables ``iifname "eno1"`` rule under ``policy drop`` drops all inbound traffic.
:func:`scan` reads the usual places (list below) line by line and returns every MAC and every
interface-name reference with file and line; comment lines are skipped.

Names found are the predictable-name shapes (``en``/``wl``/``ww``/``ib`` + ``o``/``s``/``p..s``/
``x<mac>``/``P..p..s``..., and ``ethN``) plus any name passed in (a renamed ``lan0``, the
baseline's own NIC names).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from agent.host import ReadError

MAC_RE = re.compile(r"(?<![0-9a-f:])((?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2})(?![0-9a-f:])", re.I)
_SHAPE = (r"(?:(?:en|wl|ww|ib|sl)(?:o\d+|s\d+|x[0-9a-f]{12}|P\d+p\d+s\d+|p\d+s\d+|b\d+|c\d+|v\d+|a\d+|u\d+|i\d+)"
          r"(?:f\d+)?(?:[nd]\d+)?(?:u\d+)*|eth\d+)")
NAME_RE = re.compile(r"(?<![\w-])(" + _SHAPE + r")(?![\w-])")

# (file or directory, suffixes of files in the directory ("" = any), what reads it)
SOURCES: tuple[tuple[str, tuple[str, ...] | None, str], ...] = (
    ("/etc/network/interfaces", None, "ifupdown"),
    ("/etc/network/interfaces.d", ("",), "ifupdown"),
    ("/etc/netplan", (".yaml", ".yml"), "netplan"),
    ("/etc/systemd/network", (".link", ".network", ".netdev"), "systemd-networkd"),
    ("/etc/NetworkManager/system-connections", ("",), "NetworkManager"),
    ("/etc/udev/rules.d", (".rules",), "udev"),
    ("/etc/nftables.conf", None, "nftables"),
    ("/etc/nftables.d", (".nft", ".conf"), "nftables"),
    ("/etc/iptables/rules.v4", None, "iptables"),
    ("/etc/iptables/rules.v6", None, "iptables"),
    ("/etc/ufw", (".rules",), "ufw"),
    ("/etc/fail2ban/jail.local", None, "fail2ban"),
    ("/etc/fail2ban/jail.d", (".conf", ".local"), "fail2ban"),
    ("/etc/dnsmasq.conf", None, "dnsmasq"),
    ("/etc/dnsmasq.d", ("",), "dnsmasq"),
    ("/etc/sysctl.conf", None, "sysctl"),
    ("/etc/sysctl.d", (".conf",), "sysctl"),
    ("/etc/default/grub", None, "kernel cmdline (ip=)"),
    ("/etc/kernel/cmdline", None, "kernel cmdline (ip=)"),
    ("/etc/dropbear-initramfs/config", None, "dropbear-initramfs (IP=)"),
    ("/etc/dropbear/initramfs/dropbear.conf", None, "dropbear-initramfs (IP=)"),
    ("/etc/initramfs-tools/initramfs.conf", None, "initramfs (IP=)"),
)
MAX_FILE = 1024 * 1024


def config_files(host) -> list[tuple[str, str]]:
    """(path, kind) of every existing file in :data:`SOURCES`, in a stable order."""
    out = []
    for path, suffixes, kind in SOURCES:
        p = host.path(path)
        if suffixes is None:
            if p.is_file():
                out.append((path, kind))
            continue
        for name in sorted(host.listdir(p)):
            if (p / name).is_file() and any(name.endswith(s) for s in suffixes) and not name.endswith(("~", ".bak", ".dpkg-old")):
                out.append((f"{path}/{name}", kind))
    return out


def _comment(line: str) -> bool:
    s = line.lstrip()
    return s.startswith(("#", ";", "//"))


def read(host, path: str) -> str | None:
    try:
        return host.read_file(host.path(path), limit=MAX_FILE)
    except ReadError:
        return None


def scan(host, names: Iterable[str] = ()) -> dict[str, list[dict[str, Any]]]:
    """``{"macs": [{file, line, kind, mac}], "names": [{file, line, kind, name}]}``."""
    extra = sorted({n for n in names if n and not NAME_RE.fullmatch(n) and n != "lo"}, key=len, reverse=True)
    extra_re = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, extra)) + r")(?![\w-])") if extra else None
    macs, refs = [], []
    for path, kind in config_files(host):
        text = read(host, path) or ""
        for lineno, line in enumerate(text.splitlines(), 1):
            if _comment(line):
                continue
            for m in MAC_RE.finditer(line):
                macs.append({"file": path, "line": lineno, "kind": kind, "mac": m.group(1).lower().replace("-", ":")})
            # a MAC like ...:e0:... never reads as a name: drop MACs first
            clean = MAC_RE.sub(" ", line)
            found = {m.group(1) for m in NAME_RE.finditer(clean)}
            if extra_re is not None:
                found |= {m.group(1) for m in extra_re.finditer(clean)}
            for name in sorted(found):
                refs.append({"file": path, "line": lineno, "kind": kind, "name": name})
    cmdline = read(host, "/proc/cmdline") or ""
    for m in re.finditer(r"(?:^|\s)ip=(\S+)", cmdline):
        parts = m.group(1).split(":")
        if len(parts) >= 6 and parts[5]:
            refs.append({"file": "/proc/cmdline", "line": 1, "kind": "running kernel (ip=)", "name": parts[5]})
    return {"macs": macs, "names": refs}


def present(host) -> dict[str, str | None]:
    """Every interface in /sys/class/net now: name -> MAC (virtual ones included)."""
    net = host.path("sys", "class", "net")
    return {name: (host.read_text(net / name / "address") or "").lower() or None for name in host.listdir(net)}


def pinned_names(host) -> dict[str, str]:
    """Names .link files give to a MAC (``[Match] MACAddress=`` + ``[Link] Name=``): applied by
    udev at the next boot, so a reference to such a name resolves once that MAC is present."""
    out: dict[str, str] = {}
    for path, _kind in config_files(host):
        if not path.startswith("/etc/systemd/network/") or not path.endswith(".link"):
            continue
        text = read(host, path) or ""
        mac = re.search(r"^\s*(?:Permanent)?MACAddress\s*=\s*(\S+)", text, re.M)
        name = re.search(r"^\s*Name\s*=\s*(\S+)", text, re.M)
        if mac and name and " " not in mac.group(1).strip():
            out[name.group(1)] = mac.group(1).lower()
    return out
