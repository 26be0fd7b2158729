"""The board epoch: since when the running mainboard carries this host (state key ``board.epoch``).

After a mainboard swap the disks, and with them the agent's state, move to the new board. The
event history and counter samples still hold the old board's machine checks, AER errors and
unexpected resets; counted in a 1-7 day window they would report the new board as failing and
keep the customer status page on "hardware warning" for days. The identity of the running board
is its DMI board serial and system UUID (``/sys/class/dmi/id/board_serial``, ``product_uuid``,
SMBIOS type 2 and type 1, DMTF DSP0134); when it changes, the epoch starts at the boot of the
first run on the new board, and board-scoped rules count from there. The history itself is kept
(`agent events` still shows the old board's errors).

Values firmware leaves in unset fields ("To be filled by O.E.M.", "Default string", all-zero or
the well-known placeholder UUID) say nothing about the board; a host with only such values (or
without root, when the serial files are unreadable) gets no epoch and every window counts in
full, as before.
"""

from __future__ import annotations

from typing import Iterable

from agent.model import BoardEpoch, HostInventory, Reading, SystemReading
from agent.state.store import Store

KEY = "board.epoch"
PLACEHOLDERS = frozenset(s.lower() for s in (
    "", "0", "none", "n/a", "na", "not specified", "not applicable", "not available", "to be filled by o.e.m.",
    "to be filled by oem", "default string", "system serial number", "base board serial number", "serial",
    "0123456789", "1234567890", "xxxxxxxxxx", "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff", "03000200-0400-0500-0006-000700080009"))


def identity(inv: HostInventory) -> str:
    """``board_serial/product_uuid`` with placeholders dropped; "" when neither says anything."""
    serials = dict(inv.serials)
    parts = [(serials.get(k) or "").strip() for k in ("board_serial", "product_uuid")]
    parts = [p if p.lower() not in PLACEHOLDERS else "" for p in parts]
    return "/".join(parts) if any(parts) else ""


def _changed(before: str, now: str) -> bool:
    """Both identities name the same fields; a field unreadable on one side is not a change."""
    old, new = before.split("/"), now.split("/")
    if len(old) != len(new):
        return before != now
    pairs = [(a, b) for a, b in zip(old, new, strict=True) if a and b]
    return bool(pairs) and any(a != b for a, b in pairs)


def epoch(store: Store | None, readings: Iterable[Reading], now: float) -> BoardEpoch | None:
    """The epoch for a system collector run (its HostInventory and SystemReading); stores a change.
    None when the run has no usable identity or there is no store."""
    inv = next((r for r in readings if isinstance(r, HostInventory)), None)
    if inv is None or store is None:
        return None
    ident = identity(inv)
    if not ident:
        return None
    rec = store.get(KEY)
    if not isinstance(rec, dict) or not isinstance(rec.get("board"), str):
        store.put(KEY, {"board": ident, "since": 0.0, "previous": ""})
        return BoardEpoch(since=0.0, board=ident)
    if not _changed(rec["board"], ident):
        since = rec.get("since")
        return BoardEpoch(since=float(since) if isinstance(since, (int, float)) else 0.0, board=rec["board"],
                          previous=str(rec.get("previous") or ""))
    system = next((r for r in readings if isinstance(r, SystemReading)), None)
    since = system.boot_time_seconds if system is not None and 0 < system.boot_time_seconds <= now else now
    store.put(KEY, {"board": ident, "since": since, "previous": rec["board"]})
    return BoardEpoch(since=since, board=ident, previous=rec["board"])
