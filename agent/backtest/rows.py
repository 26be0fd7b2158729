"""Daily SMART rows -> smartctl JSON documents.

The open drive-stats format has one CSV file per day and one row per drive:
``date,serial_number,model,capacity_bytes,failure,smart_1_normalized,smart_1_raw,...``; a drive's
last row carries ``failure=1``. Files may be gzip-compressed (``.gz``). The agent's own export
(``agent disk export``) writes the same columns, so one reader serves both.

Each row becomes the JSON document ``smartctl --json -x`` would have printed for those fields,
so the replay runs the collector's own parser on it. Fields the format lacks (the drive's own
verdict, attribute thresholds) are absent, never guessed: ``smart_status`` is left out (unknown,
not failed), as ``parse_json`` treats a missing verdict.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Iterator

_ATTR = re.compile(r"^smart_(\d+)_(raw|normalized)$")
REQUIRED = ("date", "serial_number", "model", "failure")


class RowError(ValueError):
    """A file that is not in the daily-rows format; the message names file and line."""


@dataclass(frozen=True, slots=True)
class DriveDay:
    day: date
    serial: str
    model: str
    capacity_bytes: int | None
    failure: bool
    attributes: tuple[tuple[int, int | None, int | None], ...]  # (id, normalized, raw)


def _open(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _num(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return int(v) if v == v and abs(v) < 2 ** 63 else None


def read_file(path: str | Path) -> Iterator[DriveDay]:
    """Rows of one file; a row with a bad date or serial is skipped, a bad header is an error."""
    path = Path(path)
    try:
        fh = _open(path)
    except OSError as exc:
        raise RowError(f"{path}: {exc.strerror or exc}") from None
    with fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, OSError, EOFError) as exc:
            raise RowError(f"{path}: unreadable: {exc}") from None
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise RowError(f"{path}: not daily SMART rows: missing column(s) {', '.join(missing)}")
        idx = {h: i for i, h in enumerate(header)}
        attrs: dict[int, list[int | None]] = {}
        for i, h in enumerate(header):
            m = _ATTR.match(h)
            if m:
                attrs.setdefault(int(m.group(1)), [None, None])[0 if m.group(2) == "normalized" else 1] = i
        cols = sorted(attrs.items())
        i_date, i_serial, i_model, i_fail = idx["date"], idx["serial_number"], idx["model"], idx["failure"]
        i_cap = idx.get("capacity_bytes")
        width = len(header)
        try:
            for row in reader:
                if len(row) < width:
                    continue
                try:
                    day = date.fromisoformat(row[i_date].strip())
                except ValueError:
                    continue
                serial = row[i_serial].strip()
                if not serial:
                    continue
                values = []
                for aid, (ni, ri) in cols:
                    norm = _num(row[ni]) if ni is not None else None
                    raw = _num(row[ri]) if ri is not None else None
                    if norm is not None or raw is not None:
                        values.append((aid, norm, raw))
                yield DriveDay(day, serial, row[i_model].strip(), _num(row[i_cap]) if i_cap is not None else None,
                               row[i_fail].strip() in ("1", "1.0", "true", "True"), tuple(values))
        except (csv.Error, OSError, EOFError) as exc:
            raise RowError(f"{path}: unreadable: {exc}") from None


def day_time(day: date) -> float:
    """Unix time of the day's reading (noon UTC)."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc).timestamp()


def to_doc(r: DriveDay) -> dict:
    """The smartctl JSON document for one row (only the fields the row has)."""
    table = []
    hours = None
    for aid, norm, raw in r.attributes:
        if aid == 9 and raw is not None:
            hours = raw
        entry: dict = {"id": aid, "name": f"Attribute_{aid}", "when_failed": ""}
        if norm is not None:
            entry["value"] = entry["worst"] = norm
        if raw is not None:
            entry["raw"] = {"value": raw, "string": str(raw)}
        table.append(entry)
    doc: dict = {"smartctl": {"exit_status": 0}, "device": {"name": r.serial, "type": "sat", "protocol": "ATA"},
                 "model_name": r.model, "serial_number": r.serial, "ata_smart_attributes": {"table": table}}
    if r.capacity_bytes and r.capacity_bytes > 0:
        doc["user_capacity"] = {"bytes": r.capacity_bytes}
    if hours is not None:
        doc["power_on_time"] = {"hours": hours}
    return doc
