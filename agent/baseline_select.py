"""Which stored baseline is "before": board identity, known-good marks and the default choice.

After a board swap the daemon stores the new hardware as the newest baseline. Comparing the new
board with that capture proves nothing ("no changes"), so the default "before" is chosen here,
the same way for `agent recover` and `agent baseline diff`:

* the pool is the known-good versions (marked by hand, by MB-31b, or automatically: unchanged for
  ``known_good_after_days`` with no active warning/critical finding); without any known-good
  version, every stored version;
* a version whose board serial, system UUID or physical NIC MAC set differs from the last
  known-good one is never marked known-good automatically, so it never becomes the default;
* a runbook declaring ``before = "other_board"`` (mainboard-swap) takes the newest version from a
  board *other* than the live one and says which and how old; when every candidate is the live
  board, it says so loudly (the run would compare the new board with itself).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


def identity(data: Mapping[str, Any]) -> dict[str, Any]:
    """Board serial, system UUID and the set of physical NIC MACs of a baseline."""
    dmi = data.get("dmi") or {}
    nics = ((data.get("nics") or {}).get("physical") or {})
    return {"board_serial": (dmi.get("board_serial") or "").strip() or None,
            "product_uuid": (dmi.get("product_uuid") or "").strip().lower() or None,
            "macs": sorted({(n.get("mac") or "").lower() for n in nics.values() if n.get("mac")})}


def live_identity(host) -> dict[str, Any]:
    """The same identity read cheaply from sysfs (no commands): for choosing before capturing."""
    dmi = host.path("sys", "class", "dmi", "id")
    net = host.path("sys", "class", "net")
    macs = set()
    for name in host.listdir(net):
        if host.exists(net / name / "device"):
            mac = (host.read_text(net / name / "address") or "").lower()
            if mac:
                macs.add(mac)
    return {"board_serial": (host.read_text(dmi / "board_serial") or "").strip() or None,
            "product_uuid": (host.read_text(dmi / "product_uuid") or "").strip().lower() or None,
            "macs": sorted(macs)}


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """What differs between two identities (empty: the same hardware). A value missing on either
    side (no DMI in a VM, no NIC) is not a difference."""
    out = []
    for key, label in (("board_serial", "board serial"), ("product_uuid", "system UUID")):
        if a.get(key) and b.get(key) and a[key] != b[key]:
            out.append(f"{label} {a[key]} -> {b[key]}")
    if a.get("macs") and b.get("macs") and set(a["macs"]) != set(b["macs"]):
        gone = sorted(set(a["macs"]) - set(b["macs"]))
        new = sorted(set(b["macs"]) - set(a["macs"]))
        out.append(f"NIC MACs {', '.join(gone) or '-'} -> {', '.join(new) or '-'}")
    return out


def same_hardware(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return not differences(a, b)


def age_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


@dataclass
class Choice:
    data: dict[str, Any] | None
    ident: str | None
    note: str  # one line: which baseline and why
    warnings: list[str] = field(default_factory=list)


def _label(row: Mapping[str, Any], now: float) -> str:
    ident = identity(row["data"])
    return (f"baseline {row['id']} captured {time.strftime('%Y-%m-%d %H:%M', time.gmtime(row['captured']))}Z "
            f"({age_text(now - row['captured'])} old{', known-good' if row.get('known_good') else ''}), "
            f"board serial {ident['board_serial'] or '?'}")


def choose(rows: Sequence[Mapping[str, Any]], *, live: Mapping[str, Any] | None = None,
           other_board: bool = False, now: float | None = None) -> Choice:
    """The default "before" among stored rows ``{id, captured, known_good, data}`` (any order).

    ``live`` is the live hardware :func:`identity` (or None when unknown)."""
    now = time.time() if now is None else now
    rows = sorted(rows, key=lambda r: r["captured"], reverse=True)
    if not rows:
        return Choice(None, None, "no stored baseline (steps that compare with it will fail; pass --baseline FILE)")
    known = [r for r in rows if r.get("known_good")]
    warnings: list[str] = []
    if known:
        pool = known
        why = "newest known-good"
    else:
        # no known-good yet: the oldest stored hardware is the lineage; captures of other hardware
        # (a swapped board the daemon saw) never become the default
        first = identity(rows[-1]["data"])
        pool = [r for r in rows if same_hardware(identity(r["data"]), first)]
        why = "newest stored (no known-good baseline yet)"
        warnings.append("no baseline is marked known-good; `agent baseline capture --known-good` on a healthy host")
    pick = pool[0]
    if other_board and live is not None:
        others = [r for r in known if not same_hardware(identity(r["data"]), live)]
        why_other = "newest known-good baseline from a different board than the live one"
        if not others:  # the old board was never marked known-good: its newest capture still beats the live board
            others = [r for r in rows if not same_hardware(identity(r["data"]), live)]
            why_other = "newest baseline from a different board than the live one (not marked known-good)"
        if others:
            pick, why = others[0], why_other
    chosen = identity(pick["data"])
    if live is not None:
        diffs = differences(chosen, live)
        if diffs:
            note = f"before: {_label(pick, now)}; {why}; live hardware differs: {'; '.join(diffs)}"
        else:
            note = f"before: {_label(pick, now)}; {why}"
            if other_board:
                warnings.insert(0, f"WARNING: the chosen \"before\" is the LIVE board (board serial "
                                   f"{chosen['board_serial'] or '?'}): every comparison would pass. If the board "
                                   "was swapped, pass --baseline FILE with the export from before the failure.")
    else:
        note = f"before: {_label(pick, now)}; {why}"
    return Choice(dict(pick["data"], id=pick["id"]), pick["id"], note, warnings)


def auto_known_good(rows: Sequence[Mapping[str, Any]], *, now: float, after_days: float,
                    active_findings: int) -> str | None:
    """The id of the newest version to mark known-good automatically, or None.

    The newest version qualifies when it has been the newest (unchanged) for ``after_days``, no
    warning/critical finding is active, and its hardware equals the last known-good version's
    (a board swap needs a person: MB-31b or `agent baseline capture --known-good`)."""
    if not rows or after_days <= 0:
        return None
    rows = sorted(rows, key=lambda r: r["captured"], reverse=True)
    newest = rows[0]
    if newest.get("known_good") or active_findings > 0:
        return None
    if now - newest["captured"] < after_days * 86400:
        return None
    known = [r for r in rows if r.get("known_good")]
    if known and not same_hardware(identity(known[0]["data"]), identity(newest["data"])):
        return None
    return newest["id"]
