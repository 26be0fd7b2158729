"""The one ``/proc/mdstat`` parser: the mdraid collector's arrays and the host baseline's storage
section both come from :func:`parse_mdstat` (the baseline keeps its stored shape through
:func:`baseline_arrays`).

Format (``drivers/md/md.c``, ``md_seq_show``/``status_resync``): one head line per array,
``md0 : active (auto-read-only) raid1 sdb1[1](F) sda1[0]``, then indented lines with the size in
1 KiB blocks, the ``[n/m] [UU_]`` member map and the progress of a running sync
(``recovery = 12.6%``) or a waiting one (``resync=PENDING``, ``DELAYED``).
"""

from __future__ import annotations

import re
from typing import Any

_HEAD = re.compile(r"^(md[\w/-]*)\s*:\s*(.*)$")
_MEMBER = re.compile(r"^([\w.:/-]+)\[(\d+)\]((?:\([A-Z]\))*)$")
_STATUS = re.compile(r"\[(\d+)/(\d+)\]\s*\[([U_]+)\]")
_BLOCKS = re.compile(r"^(\d+)\s+blocks")
_PROGRESS = re.compile(r"\b(resync|recovery|check|reshape|repair)\s*=\s*(\d+(?:\.\d+)?)%")
_PENDING = re.compile(r"\b(resync|recovery|reshape|check)\s*=\s*(PENDING|DELAYED)\b")
_LEVEL = re.compile(r"^(raid\d+|linear|multipath|faulty|container)$")
FLAG_STATES = {"F": "faulty", "S": "spare", "W": "write_mostly", "R": "replacement", "J": "journal"}
# mdstat progress word -> md sync_action name
_ACTION = {"recovery": "recover", "resync": "resync", "check": "check", "reshape": "reshape", "repair": "repair"}


def parse_mdstat(text: str) -> dict[str, dict]:
    """Arrays in /proc/mdstat -> {name: fields}. Unknown lines are ignored."""
    arrays: dict[str, dict] = {}
    cur: dict | None = None
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        if line.startswith(("Personalities", "unused devices", "read_ahead")):
            cur = None
            continue
        m = _HEAD.match(line)
        if m and not raw[:1].isspace():
            words = m.group(2).split()
            cur = {"name": m.group(1), "state": None, "level": None, "members": [], "readonly": None,
                   "raid_disks": None, "active_disks": None, "status": None, "size_bytes": None,
                   "action": None, "progress": None, "pending": None}
            arrays[cur["name"]] = cur
            if words:
                cur["state"] = words[0]  # active | inactive
                words = words[1:]
            while words and words[0].startswith("("):
                cur["readonly"] = words[0].strip("()")
                words = words[1:]
            if words and _LEVEL.match(words[0]):
                cur["level"] = words[0]
                words = words[1:]
            for w in words:
                mm = _MEMBER.match(w)
                if mm:
                    flags = tuple(FLAG_STATES.get(f, f) for f in re.findall(r"\(([A-Z])\)", mm.group(3)))
                    cur["members"].append((mm.group(1), mm.group(2), flags))
            continue
        if cur is None:
            continue
        s = line.strip()
        mb = _BLOCKS.match(s)
        if mb:
            cur["size_bytes"] = int(mb.group(1)) * 1024  # mdstat "blocks" are 1 KiB
        ms = _STATUS.search(s)
        if ms:
            cur["raid_disks"], cur["active_disks"], cur["status"] = int(ms.group(1)), int(ms.group(2)), f"[{ms.group(3)}]"
        mp = _PROGRESS.search(s)
        if mp:
            cur["action"], cur["progress"] = _ACTION[mp.group(1)], float(mp.group(2)) / 100.0
        mq = _PENDING.search(s)
        if mq:
            cur["pending"] = f"{mq.group(1)}={mq.group(2)}"
    return arrays


_FLAG_LETTERS = {v: k for k, v in FLAG_STATES.items()}


def baseline_arrays(text: str) -> list[dict[str, Any]]:
    """The baseline's view of mdstat: ``{name, state, level, members, status}`` per array, members
    as sorted ``name`` + flag letters (``sdb3(F)``), level only for ``raid*``/``linear`` and the
    member map without brackets (``U_``) - the shape stored baselines have."""
    out = []
    for a in parse_mdstat(text).values():
        level = a["level"] if a["level"] and (a["level"].startswith("raid") or a["level"] == "linear") else None
        members = sorted(name + "".join(f"({_FLAG_LETTERS.get(f, f)})" for f in flags) for name, _slot, flags in a["members"])
        out.append({"name": a["name"], "state": a["state"], "level": level, "members": members,
                    "status": a["status"].strip("[]") if a["status"] else None})
    return out
