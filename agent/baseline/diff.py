"""Fingerprint and diff of baselines.

:func:`fingerprint` hashes everything except volatile values (time, link state, command sources),
so the daemon stores a new version only when something changed. :func:`diff` compares two
baselines with list items keyed by identity (disk by serial, array by UUID, DIMM by locator, ...),
which answers "what changed since before the failure".
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

# Keys left out of the fingerprint: they change without the machine changing.
VOLATILE_KEYS = {"captured_at", "time", "operstate", "speed_mbps", "carrier", "elapsed_seconds"}


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
