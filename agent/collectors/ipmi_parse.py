"""ipmi: parsers of ipmitool's output (``sensor``, ``sdr elist``, ``sel info``, ``sel elist``),
pure functions tested on recorded output, and the merge of sensor and SDR rows."""

from __future__ import annotations

import re
import time as _time
from dataclasses import dataclass
from typing import Any

from agent.host import parse_float
from agent.collectors.ipmi_sel import decode_sel
from agent.model.platform import IPMI_STATES, IpmiSensor

# unit text -> (kind, scale function)
_UNITS: dict[str, tuple[str, Any]] = {
    "degrees c": ("temperature", lambda v: v),
    "degrees f": ("temperature", lambda v: (v - 32.0) * 5.0 / 9.0),
    "rpm": ("fan", lambda v: v),
    "revolutions": ("fan", lambda v: v),
    "revolution": ("fan", lambda v: v),
    "volts": ("voltage", lambda v: v),
    "amps": ("current", lambda v: v),
    "watts": ("power", lambda v: v),
    "percent": ("percent", lambda v: v / 100.0),
    "discrete": ("discrete", lambda v: v),
}
_THRESHOLDS = ("lnr", "lcr", "lnc", "unc", "ucr", "unr")

# ipmitool's sensor type strings (ipmi_sel.c / ipmi_sdr.c), longest first when matching
SENSOR_TYPES = sorted((
    "Temperature", "Voltage", "Current", "Fan", "Physical Security", "Platform Security", "Processor",
    "Power Supply", "Power Unit", "Cooling Device", "Other", "Memory", "Drive Slot / Bay",
    "POST Memory Resize", "System Firmwares", "System Firmware Progress", "Event Logging Disabled",
    "Watchdog1", "Watchdog", "System Event", "Critical Interrupt", "Button", "Module / Board",
    "Microcontroller", "Add-in Card", "Chassis", "Chip Set", "Other FRU", "Cable / Interconnect",
    "Terminator", "System Boot Initiated", "System Boot / Restart Initiated", "Boot Error", "OS Boot",
    "OS Critical Stop", "Slot / Connector", "System ACPI Power State", "Watchdog2", "Platform Alert",
    "Entity Presence", "Monitor ASIC", "LAN", "Management Subsys Health", "Battery", "Session Audit",
    "Version Change", "FRU State", "OEM",
), key=len, reverse=True)

_DATE_FORMATS = ("%m/%d/%Y", "%m/%d/%y", "%b-%d-%Y", "%Y-%m-%d")


def _num(text: str) -> float | None:
    t = text.strip()
    if not t or t.lower() in ("na", "n/a", "no reading", "disabled"):
        return None
    return parse_float(t)


def parse_sensor(text: str, problem=lambda msg: None) -> list[dict]:
    """``ipmitool sensor``: name | value | unit | state | lnr | lcr | lnc | unc | ucr | unr."""
    rows = []
    for line in text.splitlines():
        if "|" not in line:
            if line.strip():
                problem(f"ipmitool sensor: line without columns {line.strip()[:60]!r}")
            continue
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 4 or not cols[0]:
            problem(f"ipmitool sensor: truncated row {line.strip()[:60]!r}")
            continue
        name, value_s, unit, state = cols[0], cols[1], cols[2], cols[3]
        unit_l = unit.lower()
        kind, scale = _UNITS.get(unit_l, ("other", lambda v: v))
        row: dict[str, Any] = {"name": name, "unit": unit, "kind": kind}
        if kind == "discrete":
            row["value"] = None
            row["raw_state"] = state or None
            row["state"] = "na" if value_s.lower() == "na" else "ok"
        else:
            v = _num(value_s)
            if v is None and value_s.strip().lower() not in ("na", "n/a", ""):
                problem(f"ipmitool sensor {name}: value not a number {value_s[:20]!r}")
            row["value"] = scale(v) if v is not None else None
            st = state.lower()
            row["state"] = st if st in IPMI_STATES else ("na" if row["value"] is None else "ok")
            if st and st not in IPMI_STATES:
                problem(f"ipmitool sensor {name}: unknown state {state[:12]!r}")
            for i, th in enumerate(_THRESHOLDS):
                tv = _num(cols[4 + i]) if len(cols) > 4 + i else None
                row[th] = scale(tv) if tv is not None else None
        rows.append(row)
    return rows


@dataclass(frozen=True)
class SelInfo:
    entries: int | None
    free_bytes: int | None
    last_add: str | None
    last_del: str | None
    overflow: bool | None

    @property
    def signature(self) -> list:
        """What changes whenever a record is added or deleted (stored as JSON)."""
        return [self.entries, self.last_add, self.last_del]


def parse_sel_info(text: str) -> SelInfo | None:
    """``ipmitool sel info``: ``Key : value`` lines. None unless it has Entries and Last Add Time."""
    kv: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            kv[k.strip().lower()] = v.strip()
    entries = kv.get("entries")
    if entries is None or not entries.isdecimal() or "last add time" not in kv:
        return None
    free = kv.get("free space", "").split()
    return SelInfo(entries=int(entries), free_bytes=int(free[0]) if free and free[0].isdecimal() else None,
                   last_add=kv.get("last add time"), last_del=kv.get("last del time"),
                   overflow={"true": True, "false": False}.get(kv.get("overflow", "").lower()))


_SDR_READING = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+(.+?)\s*$")


def parse_sdr_elist(text: str, problem=lambda msg: None) -> list[dict]:
    """``ipmitool sdr elist``: name | id | status | entity | reading."""
    rows = []
    for line in text.splitlines():
        if "|" not in line:
            if line.strip():
                problem(f"ipmitool sdr elist: line without columns {line.strip()[:60]!r}")
            continue
        cols = [c.strip() for c in line.split("|")]
        if len(cols) < 3 or not cols[0]:
            problem(f"ipmitool sdr elist: truncated row {line.strip()[:60]!r}")
            continue
        st = cols[2].lower()
        rows.append({
            "name": cols[0],
            "sensor_id": cols[1] or None,
            "state": st if st in IPMI_STATES else None,
            "entity": cols[3] if len(cols) > 3 and cols[3] else None,
            "reading": cols[4] if len(cols) > 4 else "",
        })
    return rows


def _directional(state: str, value: float | None, th: dict) -> str:
    """Map ``nc``/``cr``/``nr`` to lower/upper using the thresholds the value crossed."""
    if state not in ("nc", "cr", "nr") or value is None:
        return state
    low, high = {"nc": ("lnc", "unc"), "cr": ("lcr", "ucr"), "nr": ("lnr", "unr")}[state]
    if th.get(low) is not None and value <= th[low]:
        return low
    if th.get(high) is not None and value >= th[high]:
        return high
    return state


def merge_sensors(sensor_rows: list[dict], sdr_rows: list[dict]) -> list[IpmiSensor]:
    """Join `sensor` and `sdr elist` rows on (name, n-th occurrence of that name)."""
    def index(rows):
        counts: dict[str, int] = {}
        out = {}
        for r in rows:
            n = counts.get(r["name"], 0)
            counts[r["name"]] = n + 1
            out[(r["name"], n)] = r
        return out

    s_idx, d_idx = index(sensor_rows), index(sdr_rows)
    keys = list(s_idx) + [k for k in d_idx if k not in s_idx]
    out = []
    for key in keys:
        name, n = key
        s, d = s_idx.get(key), d_idx.get(key)
        display = name if n == 0 else f"{name}#{n + 1}"
        if s is None:  # only in sdr elist: take its reading text
            m = _SDR_READING.match(d["reading"] or "")
            kind, scale, value, unit = "discrete", (lambda v: v), None, ""
            if m and m.group(2).lower() in _UNITS:
                unit = m.group(2)
                kind, scale = _UNITS[unit.lower()]
                value = scale(float(m.group(1)))
            if d.get("sensor_id") is None and kind == "discrete" and not d["reading"]:
                continue
            if "dynamic mc" in (d["reading"] or "").lower() or "fru" in (d["reading"] or "").lower()[:4]:
                continue  # management-controller and FRU locator records are not sensors
            out.append(IpmiSensor(name=display, kind=kind, value=value, unit=unit or "discrete",
                                  state=d["state"] or "ok", sensor_id=d.get("sensor_id"), entity=d.get("entity"),
                                  detail=None if kind != "discrete" else (d["reading"] or None)))
            continue
        th = {t: s.get(t) for t in _THRESHOLDS}
        state = s["state"]
        if d is not None and d.get("state") and d["state"] not in ("ok",) and state not in ("na",):
            state = d["state"]  # the directional form (lnr, ucr) when sdr has it
        elif d is not None and d.get("state") == "ns":
            state = "ns"
        state = _directional(state, s.get("value"), th)
        detail = None
        if s["kind"] == "discrete" and d is not None and d.get("reading"):
            detail = d["reading"]
        out.append(IpmiSensor(
            name=display, kind=s["kind"], value=s.get("value"), unit=s["unit"], state=state,
            sensor_id=d.get("sensor_id") if d else None, entity=d.get("entity") if d else None,
            detail=detail, raw_state=s.get("raw_state"), **th,
        ))
    return out


def _split_sensor(col: str) -> tuple[str, str]:
    for t in SENSOR_TYPES:
        if col == t or col.startswith(t + " "):
            return t, col[len(t):].strip()
        if col.lower().startswith(t.lower() + " #") or col.lower().startswith(t.lower() + " "):
            return t, col[len(t):].strip()
    return "", col


def parse_sel_elist(text: str) -> tuple[list[dict], list[str]]:
    """``ipmitool sel elist`` -> records (id, date, time, sensor type/name, event, direction, detail).

    Handles ``MM/DD/YYYY``/``MM/DD/YY`` dates, times with a zone suffix, ``Pre-Init`` timestamps
    and OEM records. "SEL has no entries" is an empty log.
    """
    rows, errors = [], []
    for line in text.splitlines():
        s = line.strip()
        if not s or s.lower().startswith("sel has no entries"):
            continue
        cols = [c.strip() for c in s.split("|")]
        if len(cols) < 4:
            errors.append(s)
            continue
        try:
            rid = int(cols[0], 16)
        except ValueError:
            errors.append(s)
            continue
        if len(cols) >= 5 and (_looks_date(cols[1]) or cols[1].lower() == "pre-init"):
            date, tm, rest = cols[1], cols[2], cols[3:]
        else:  # OEM record without timestamp: id | OEM record xx | data...
            date, tm, rest = "", "", cols[1:]
        sensor_col = rest[0] if rest else ""
        event = rest[1] if len(rest) > 1 else ""
        direction = rest[2] if len(rest) > 2 else ""
        detail_cols = rest[3:]
        if direction.lower() not in ("asserted", "deasserted"):
            if direction:
                detail_cols = [direction, *detail_cols]
            direction = "Asserted"
        stype, sname = _split_sensor(sensor_col)
        detail = " | ".join(c for c in detail_cols if c)
        asserted = direction.lower() == "asserted"
        kind, severity = decode_sel(stype, sname, event, detail, asserted)
        key = f"{rid:x}|{date} {tm}|{sensor_col}|{event}|{direction}"
        rows.append({"id": rid, "key": key, "line": s[:300], "date": date, "time": tm, "sensor_type": stype, "sensor": sname,
                     "event": event, "asserted": asserted, "detail": detail, "kind": kind, "severity": severity})
    return rows, errors


def _looks_date(text: str) -> bool:
    return bool(re.match(r"^(\d{1,2}/\d{1,2}/\d{2,4}|[A-Za-z]{3}-\d{1,2}-\d{4}|\d{4}-\d{2}-\d{2})$", text.strip()))


def parse_bmc_time(date: str, tm: str) -> float | None:
    """BMC date and time as unix seconds, read as UTC (BMCs rarely say which zone they keep);
    ``None`` for Pre-Init and anything unparseable."""
    date = (date or "").strip()
    if not date or date.lower() == "pre-init":
        return None
    clock = (tm or "").strip().split()[0] if tm and tm.strip() else ""
    for fmt in _DATE_FORMATS:
        try:
            st = _time.strptime(f"{date} {clock}", f"{fmt} %H:%M:%S")
        except ValueError:
            continue
        import calendar  # noqa: PLC0415 - strptime has imported it by now; a host without a BMC never does

        return float(calendar.timegm(st))
    return None
