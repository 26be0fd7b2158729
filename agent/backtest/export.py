"""The agent's own stored counter history as daily SMART rows (the backtest's input format)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Mapping

from agent.state.disks import STATE_SCRIPTS, stored_history


def export_rows(store: Any, failed: Mapping[str, str | None] | None = None) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: one row per drive and UTC day with a stored change, each counter carried
    forward from its last change. ``failed`` maps a serial to its failure day (None: the last day)."""
    store.migrate("disk", STATE_SCRIPTS)
    failed = dict(failed or {})
    attrs: set[int] = set()
    per_drive: dict[str, dict[str, Any]] = {}
    for sid, ident, counter, ts, value in stored_history(store):
        if not (counter.startswith("ata_") and counter[4:].isdigit()):
            continue  # ata_error_count, NVMe and SCSI counters have no column in the format
        aid = int(counter[4:])
        attrs.add(aid)
        d = per_drive.setdefault(sid, {"ident": ident, "days": {}, "cur": {}})
        day = datetime.fromtimestamp(ts, timezone.utc).date()
        d["cur"][aid] = value
        d["days"][day] = dict(d["cur"])
    cols = sorted(attrs)
    header = ["date", "serial_number", "model", "capacity_bytes", "failure"]
    for aid in cols:
        header += [f"smart_{aid}_normalized", f"smart_{aid}_raw"]
    rows: list[list[Any]] = []
    for sid, d in sorted(per_drive.items()):
        ident = d["ident"]
        serial = ident.get("serial") or sid
        days = sorted(d["days"])
        fail_day = None
        if serial in failed:
            failed_on = failed[serial]
            fail_day = date.fromisoformat(failed_on) if failed_on else days[-1]
        for day in days:
            if fail_day is not None and day > fail_day:
                break
            vals = d["days"][day]
            row: list[Any] = [day.isoformat(), serial, ident.get("model") or "", ident.get("capacity_bytes") or "",
                              1 if fail_day == day else 0]
            for aid in cols:
                v = vals.get(aid)
                row += ["", "" if v is None else int(v)]
            rows.append(row)
    return header, sorted(rows, key=lambda r: (r[0], r[1]))
