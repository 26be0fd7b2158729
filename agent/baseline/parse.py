"""Parsers of the command output and files a baseline is captured from: pure text in, plain data out."""

from __future__ import annotations

import re
from typing import Any

from agent import mdstat


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
    """/proc/mdstat in the baseline's shape (the one parser is :mod:`agent.mdstat`)."""
    return mdstat.baseline_arrays(text)


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



def parse_hwclock(text: str) -> float | None:
    """``hwclock --show`` (util-linux >= 2.32: ``2026-11-25 01:02:03.123456+00:00``) -> epoch."""
    from datetime import datetime  # noqa: PLC0415

    s = text.strip().splitlines()[0] if text.strip() else ""
    try:
        return datetime.fromisoformat(s.replace(" ", "T", 1)).timestamp()
    except ValueError:
        return None
