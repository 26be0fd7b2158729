"""Old -> new NIC mapping after a board swap, the check that every reference resolves, and the fix.

The mapping is proven per old NIC of the baseline, strongest evidence first: the same name and
the same MAC (nothing changed); the same PCI address (slot) as before; the same MAC (a card moved
to another slot); the only new NIC left with the same driver; last, when exactly one old NIC and
exactly one new NIC are left over, those two (a board whose single onboard port is another chip in
another slot). A NIC with none of these stays unmapped and blocks the automatic fix.

The fix keeps every existing config valid with one confirmation:

* ``link`` (default): a systemd.link(5) file per renamed NIC pins the OLD name to the NEW MAC
  (``/etc/systemd/network/10-hwagent-<old>.link``; the first matching .link file wins over
  Debian's 99-default.link, so ``Name=`` applies), and every old MAC in the referencing files is
  replaced by the new one. udev applies the names at the next boot; the initramfs carries .link
  files, so it is rebuilt (follow-up) before that reboot.
* ``rewrite``: no .link files; old names and old MACs in the referencing files are replaced by
  the new ones.

Originals are copied to ``/var/backups/hwagent/<run-id>/`` before any edit (not beside them:
ifupdown's ``source interfaces.d/*`` would read a backup there).
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Mapping

from agent import baseline_net

LINK_DIR = "/etc/systemd/network"
BACKUP_DIR = "/var/backups/hwagent"


def _phys(b: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(((b.get("nics") or {}).get("physical") or {}))


def mapping(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One entry per NIC of the old baseline: old/new name and MAC, and the evidence."""
    before, now = _phys(old), _phys(new)
    claimed: set[str] = set()
    out = []
    for name in sorted(before):
        o = before[name]
        entry = {"old": name, "old_mac": o.get("mac"), "new": None, "new_mac": None,
                 "pci_path": o.get("pci_path"), "driver": o.get("driver"), "evidence": ""}
        if name in now and name not in claimed:
            n = now[name]
            ev = "same name, same MAC" if n.get("mac") == o.get("mac") else "same name"
            if n.get("pci_path") == o.get("pci_path") and n.get("pci_path"):
                ev += f", same slot {n['pci_path']}"
            entry.update(new=name, new_mac=n.get("mac"), evidence=ev + f", driver {n.get('driver')}")
            claimed.add(name)
            out.append(entry)
            continue
        free = {k: v for k, v in now.items() if k not in claimed and k not in before}
        pick, why = None, ""
        slot = [k for k, v in free.items() if o.get("pci_path") and v.get("pci_path") == o.get("pci_path")]
        same_mac = [k for k, v in free.items() if o.get("mac") and v.get("mac") == o.get("mac")]
        drv = [k for k, v in free.items() if o.get("driver") and v.get("driver") == o.get("driver")]
        if len(slot) == 1:
            pick = slot[0]
            why = f"same slot {o['pci_path']}" + (", driver " + str(o.get("driver"))
                                                 if free[pick].get("driver") == o.get("driver") else
                                                 f", driver {o.get('driver')} -> {free[pick].get('driver')}")
        elif len(same_mac) == 1:
            pick, why = same_mac[0], f"same MAC (moved from slot {o.get('pci_path')} to {free[same_mac[0]].get('pci_path')})"
        elif len(drv) == 1 and sum(1 for k in before if k not in now and before[k].get("driver") == o.get("driver")) == 1:
            pick, why = drv[0], f"the only new NIC with driver {o.get('driver')}"
        if pick is None:
            entry["evidence"] = "no NIC with the same slot, MAC or (unique) driver: map it by hand"
        else:
            claimed.add(pick)
            entry.update(new=pick, new_mac=free[pick].get("mac"), evidence=why)
        out.append(entry)
    return _the_only_ones_left(out, before, now, claimed)


def _the_only_ones_left(out: list[dict[str, Any]], before: Mapping[str, Any], now: Mapping[str, Any],
                        claimed: set[str]) -> list[dict[str, Any]]:
    """The weakest evidence, after all the others: exactly one old NIC is left unmapped and exactly
    one new NIC is left unclaimed (an onboard port replaced by another chip in another slot). The
    pair is unambiguous; the table says why, and the fix still waits for the confirmation."""
    left = [e for e in out if e["new"] is None]
    free = [k for k in sorted(now) if k not in claimed and k not in before]
    if len(left) != 1 or len(free) != 1:
        return out
    e, n = left[0], now[free[0]]
    e.update(new=free[0], new_mac=n.get("mac"),
             evidence=f"the only NIC left on both sides (slot {e.get('pci_path')} -> {n.get('pci_path')}, driver "
                      f"{e.get('driver')} -> {n.get('driver')})")
    return out


def render_mapping(entries: list[dict[str, Any]]) -> list[str]:
    return [f"{e['old']} {e['old_mac']} -> " + (f"{e['new']} {e['new_mac']}, {e['evidence']}" if e["new"]
                                                 else f"UNMAPPED: {e['evidence']}") for e in entries]


def problems(host, old: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Every interface-name and MAC reference in config that does not resolve to a present
    interface (a name pinned by a .link file to a present MAC resolves at the next boot).
    -> (problem lines, scan/mapping details)."""
    live = baseline_net.present(host)
    net = host.path("sys", "class", "net")
    # a MAC in config matches hardware (netplan match, udev ATTR{address}, .link MACAddress=): only
    # physical NICs count; a bridge can carry any MAC
    live_macs = {m for n, m in live.items() if m and host.exists(net / n / "device")}
    pinned = baseline_net.pinned_names(host)
    refs = baseline_net.scan(host, [*_phys(old), *live])
    out = []
    for r in refs["names"]:
        name = r["name"]
        if name in live or (pinned.get(name) in live_macs):
            continue
        out.append(f"{r['file']}:{r['line']} ({r['kind']}) names interface {name}, which does not exist")
    old_macs = {n.get("mac") for n in _phys(old).values() if n.get("mac")}
    for r in refs["macs"]:
        if r["mac"] in live_macs:
            continue
        if old_macs and r["mac"] not in old_macs:
            continue  # not a NIC of this host before either (a DHCP host entry, a neighbour)
        out.append(f"{r['file']}:{r['line']} ({r['kind']}) names MAC {r['mac']}, which no interface has")
    return out, {"refs": refs, "pinned": pinned}


def link_file(name: str, mac: str) -> str:
    return ("# Written by hwagent after a board swap: keeps the name this host's configuration uses\n"
            "# for the NIC that replaced it (systemd.link(5)); rebuild the initramfs after changing it.\n"
            f"[Match]\nMACAddress={mac}\n\n[Link]\nName={name}\n")


def plan(host, old: Mapping[str, Any], new: Mapping[str, Any], mode: str = "link") -> dict[str, Any]:
    """What the fix would write: ``{"mapping", "unmapped", "files": {path: (before|None, after)}}``."""
    entries = mapping(old, new)
    renamed = [e for e in entries if e["new"] and e["new"] != e["old"]]
    macs = {e["old_mac"]: e["new_mac"] for e in entries if e["new"] and e["old_mac"] and e["new_mac"]
            and e["old_mac"] != e["new_mac"]}
    files: dict[str, tuple[str | None, str]] = {}
    if mode == "link":
        for e in renamed:
            files[f"{LINK_DIR}/10-hwagent-{e['old']}.link"] = (baseline_net.read(host, f"{LINK_DIR}/10-hwagent-{e['old']}.link"),
                                                               link_file(e["old"], e["new_mac"]))
    names = {e["old"]: e["new"] for e in renamed} if mode == "rewrite" else {}
    mac_re = baseline_net.MAC_RE
    name_re = (re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")(?![\w-])")
               if names else None)
    for path, _kind in baseline_net.config_files(host):
        if path in files:
            continue
        text = baseline_net.read(host, path)
        if text is None:
            continue
        lines = text.splitlines(keepends=True)
        changed = False
        for i, line in enumerate(lines):
            if baseline_net._comment(line):
                continue
            new_line = mac_re.sub(lambda m: _swap_mac(m.group(1), macs), line)
            if name_re is not None:
                new_line = name_re.sub(lambda m: names[m.group(1)], new_line)
            if new_line != line:
                lines[i], changed = new_line, True
        if changed:
            files[path] = (text, "".join(lines))
    return {"mode": mode, "mapping": entries, "unmapped": [e for e in entries if not e["new"]], "files": files}


def _swap_mac(found: str, macs: Mapping[str, str]) -> str:
    new = macs.get(found.lower().replace("-", ":"))
    if new is None:
        return found
    return new.upper() if found.isupper() else new


def render_plan(p: Mapping[str, Any]) -> str:
    out = ["NIC mapping (old -> new):", *("  " + line for line in render_mapping(p["mapping"]))]
    if not p["files"]:
        out.append("nothing to write")
    for path, (before, after) in p["files"].items():
        out.extend(line.rstrip("\n") for line in difflib.unified_diff(
            (before or "").splitlines(keepends=True), after.splitlines(keepends=True),
            fromfile=f"a{path}" if before is not None else "/dev/null", tofile=f"b{path}"))
    return "\n".join(out)


def write(host, p: Mapping[str, Any], run_id: str) -> list[str]:
    """Write the plan: originals copied to BACKUP_DIR/<run-id>/ first, files replaced atomically."""
    from agent.fileutil import atomic_write  # noqa: PLC0415

    done = []
    for path, (before, after) in p["files"].items():
        if before is not None:
            backup = host.path(BACKUP_DIR, run_id or "manual", path.lstrip("/"))
            backup.parent.mkdir(parents=True, exist_ok=True)
            if not backup.exists():
                atomic_write(backup, before.encode())
        target = host.path(path)
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
        atomic_write(target, after.encode(), mode)
        done.append(path)
    return done


def compare(old: Mapping[str, Any], new: Mapping[str, Any], host) -> tuple[list[str], str, str]:
    """The check/verify of the NIC step: problems, the one-line OK text, and the data to show
    (old -> new table, unresolved references, what the fix would write)."""
    found, details = problems(host, old)
    p = plan(host, old, new)
    table, _, diffs = render_plan(p).partition("\n--- ")
    text = "\n".join([table, *(["References that do not resolve:", *("  " + x for x in found)] if found else []),
                      *([f"What the fix writes ({p['mode']}):", "--- " + diffs] if diffs else [])])
    refs = details["refs"]
    ok = (f"{len(refs['names'])} interface-name and {len(refs['macs'])} MAC reference(s) resolve; "
          + "; ".join(render_mapping(p["mapping"])))
    return found, ok, text
