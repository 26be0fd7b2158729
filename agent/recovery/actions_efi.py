"""``efi_boot_restore``: put the baseline's OS boot entries back into a new board's NVRAM.

The EFI boot entries lived in the old board's NVRAM; the disks and their ESPs came along. A new
board boots its PXE entry or the EFI shell first (UEFI 2.10 §3.1.1: the boot manager tries BootOrder
in order), so the host never reaches its disks. The entries the baseline recorded say exactly what
to recreate: label, partition (``HD(n,GPT,<PARTUUID>,...)``) and loader file
(``File(\\EFI\\debian\\shimx64.efi)``). For each *active* OS-loader entry of the baseline's BootOrder
that the live NVRAM lacks and whose PARTUUID is an EFI System Partition on a present disk,
``efibootmgr --create --disk D --part N --label L --loader P`` adds it (efibootmgr puts a new entry
first in BootOrder, so they are created last-to-first and end up in the baseline's order). Nothing
is deleted. An ESP that is mounted has its loader file checked first (FAT: case-insensitive); an
entry whose partition is on no present disk is reported, never pointed elsewhere.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from agent.recovery import actions as A
from agent.recovery.boot import ESP_TYPE, SHELL_NAMES, _partitions

_HD = re.compile(r"HD\((\d+),GPT,", re.IGNORECASE)


def _loader(path: str) -> str:
    return path.split("File(", 1)[1].split(")", 1)[0] if "File(" in path else ""


def _os_loader(e: Mapping[str, Any]) -> tuple[str, str] | None:
    """(loader, partition number) of an active OS-loader entry on a GPT partition, else None
    (network boot, firmware applications, the EFI shell, inactive entries: the board's own)."""
    path = str(e.get("path") or "")
    loader, hd = _loader(path), _HD.search(path)
    if not e.get("active") or not e.get("partuuid") or not loader or hd is None:
        return None
    if loader.lower().rsplit("\\", 1)[-1] in SHELL_NAMES:
        return None
    return loader, hd.group(1)


def _why_not(label: str, uuid: str, loader: str, live: set[tuple[Any, str]], p: Mapping[str, Any] | None) -> str | None:
    if (uuid, loader.lower()) in live:
        return f"{label}: already in the NVRAM ({loader} on PARTUUID {uuid})"
    if p is None:
        return f"{label}: PARTUUID {uuid} is on no present disk: not recreated"
    if (p.get("type") or "").lower() != ESP_TYPE:
        return f"{label}: {p.get('node')} is not an EFI System Partition: not recreated"
    return None


def restore_plan(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """(entries to create, in the baseline's BootOrder; notes on the entries left alone)."""
    oefi = (old.get("boot") or {}).get("efi") or {}
    nefi = (new.get("boot") or {}).get("efi") or {}
    live = {((e or {}).get("partuuid"), _loader((e or {}).get("path") or "").lower())
            for e in (nefi.get("entries") or {}).values()}
    parts = _partitions(new)
    plan, notes = [], []
    for num in oefi.get("boot_order") or []:
        e = (oefi.get("entries") or {}).get(num) or {}
        found = _os_loader(e)
        if found is None:
            continue
        loader, part = found
        label, uuid = str(e.get("label") or f"Boot{num}"), str(e["partuuid"])
        p = parts.get(uuid)
        why = _why_not(label, uuid, loader, live, p)
        if why is not None or p is None:
            notes.append(why or "")
            continue
        plan.append({"label": label, "disk": f"/dev/{p['disk']}", "part": part, "loader": loader,
                     "partuuid": uuid, "node": str(p.get("node") or "")})
    return plan, notes


def _mountpoint(host, node: str) -> str | None:
    text = host.read_text(host.path("proc", "mounts"), 1 << 20) or ""
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] == node:
            return f[1].replace("\\040", " ")
    return None


def loader_present(host, mountpoint: str, loader: str) -> bool:
    """The loader file under the mounted ESP, matched case-insensitively as FAT does."""
    cur = host.path(mountpoint)
    for part in [x for x in loader.split("\\") if x]:
        names = {n.lower(): n for n in host.listdir(cur)}
        if part.lower() not in names:
            return False
        cur = cur / names[part.lower()]
    return host.exists(cur)


class EfiBootRestore(A.Action):
    name = "efi_boot_restore"
    read_only = False
    summary = ("Recreate the baseline's active OS boot entries the NVRAM lacks, each on the present ESP with the "
               "same PARTUUID (`efibootmgr --create`, baseline order first); entries on absent disks are reported, "
               "nothing is deleted.")

    @classmethod
    def describe(cls, args):
        return "recreate the baseline's EFI boot entries on the present ESPs (efibootmgr --create)"

    def run(self, args, ctx):
        if ctx.baseline is None:
            return A.Outcome(passed=False, detail="no baseline: the entries to recreate are unknown")
        plan, notes = restore_plan(ctx.baseline, ctx.live_baseline())
        lines, evidence = list(notes), []
        todo = []
        for e in plan:
            mnt = _mountpoint(ctx.host, e["node"]) if e["node"] else None
            if mnt is not None and not loader_present(ctx.host, mnt, e["loader"]):
                lines.append(f"{e['label']}: {e['loader']} is not on {e['node']} (mounted at {mnt}): not recreated; "
                             "reinstall the boot loader (grub-install) instead")
                continue
            todo.append(e)
        if not todo:
            text = "; ".join(lines) or "the baseline has no OS boot entry on a present ESP"
            return A.Outcome(passed=False, detail=f"nothing to recreate: {text}", output="\n".join(lines))
        failed = []
        for e in reversed(todo):  # --create puts each new entry first: the baseline's first ends first
            res, ev = ctx.run(["efibootmgr", "--create", "--disk", e["disk"], "--part", e["part"], "--label",
                               e["label"], "--loader", e["loader"]])
            evidence.append(ev)
            if not res.ok:
                failed.append(f"{e['label']}: efibootmgr failed: {res.failure()}")
            else:
                lines.append(f"created {e['label']}: {e['loader']} on {e['disk']} partition {e['part']} "
                             f"(PARTUUID {e['partuuid']})")
        text = "\n".join(lines + failed)
        return A.Outcome(passed=not failed, detail="; ".join(failed) or f"{len(todo)} boot entr{'y' if len(todo) == 1 else 'ies'} "
                         "recreated from the baseline", output=text, commands=evidence)


A.ACTIONS[EfiBootRestore.name] = EfiBootRestore
