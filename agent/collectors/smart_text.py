"""The classic smartctl text report -> a dict in smartctl's JSON shape. Pure functions, no I/O.

``text_to_doc`` reads the report of ``smartctl -x``/``-a`` (as older tools and hand-made captures
have it) and builds the fields the JSON mapper (:func:`agent.collectors.smart_parse.parse_json`)
reads, so one mapper serves both. It runs in named phases: check the version banner, scan the
lines once (``Key: value`` pairs, the attribute table in either layout, the NVMe health log,
power-mode messages), then map what was found section by section through the tables below.

This module is a leaf (standard library only): :mod:`agent.collectors.smart_parse` re-exports
``text_to_doc`` and ``ParseError``, the error both parsers raise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable


class ParseError(ValueError):
    """smartctl output that is not what smartctl writes (garbage, truncated)."""


_ATTR_BRIEF = re.compile(r"^\s*(\d{1,3})\s+(\S+)\s+([POSRCK-]{6})\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s+(.*)$")
_ATTR_OLD = re.compile(
    r"^\s*(\d{1,3})\s+(\S+)\s+0x([0-9a-fA-F]{4})\s+(\d+)\s+(\d+)\s+(\d+)\s+(Pre-fail|Old_age)\s+(\S+)\s+(\S+)\s+(.*)$")
_KV = re.compile(r"^([A-Za-z][^:]{1,60}):\s+(.*)$")
_NVME_LOG_START = "SMART/Health Information (NVMe"

# WHEN_FAILED column -> the JSON "when_failed" value; the brief layout (-x) keeps an unknown word
# in lower case, the old layout (-a) drops it
_WHEN_FAILED_BRIEF = {"-": "", "FAILING_NOW": "now", "In_the_past": "past", "NOW": "now", "Past": "past"}
_WHEN_FAILED_OLD = {"-": "", "FAILING_NOW": "now", "In_the_past": "past"}

# identity: text key -> JSON key (the first of two text spellings wins)
_IDENTITY_KEYS = (("Serial Number", "serial_number"), ("Serial number", "serial_number"),
                  ("Firmware Version", "firmware_version"), ("Model Family", "model_family"),
                  ("Vendor", "scsi_vendor"), ("Revision", "scsi_revision"))
_MODEL_KEYS = ("Device Model", "Model Number", "Product")  # ATA, NVMe, SCSI
_CAPACITY_KEYS = ("User Capacity", "Total NVM Capacity")
_HEALTH_KEYS = ("SMART overall-health self-assessment test result", "SMART Health Status")

# NVMe health information log: JSON key -> text key (critical_warning is read apart: it is hex)
_NVME_LOG_FIELDS = (
    ("temperature", "Temperature"), ("available_spare", "Available Spare"),
    ("available_spare_threshold", "Available Spare Threshold"), ("percentage_used", "Percentage Used"),
    ("data_units_read", "Data Units Read"), ("data_units_written", "Data Units Written"),
    ("power_cycles", "Power Cycles"), ("power_on_hours", "Power On Hours"),
    ("unsafe_shutdowns", "Unsafe Shutdowns"), ("media_errors", "Media and Data Integrity Errors"),
    ("num_err_log_entries", "Error Information Log Entries"),
    ("warning_temp_time", "Warning  Comp. Temperature Time"),
    ("critical_comp_time", "Critical Comp. Temperature Time"),
)


def _num(text: str) -> int | None:
    m = re.match(r"\s*(-?[\d,]+)", text)
    return int(m.group(1).replace(",", "")) if m else None


# ---- phase 1: the lines ------------------------------------------------------------------------------
def _attribute_brief(m: re.Match[str]) -> dict[str, Any]:
    """A row of the ``-x`` attribute table (flags as ``PO--CK``)."""
    return {"id": int(m.group(1)), "name": m.group(2), "value": int(m.group(4)),
            "worst": int(m.group(5)), "thresh": int(m.group(6)),
            "when_failed": _WHEN_FAILED_BRIEF.get(m.group(7), m.group(7).lower()),
            "flags": {"prefailure": m.group(3)[0] == "P"},
            "raw": {"value": _num(m.group(8)) or 0, "string": m.group(8).strip()}}


def _attribute_old(m: re.Match[str]) -> dict[str, Any]:
    """A row of the ``-a`` attribute table (flags as ``0x0033``, TYPE and UPDATED columns)."""
    return {"id": int(m.group(1)), "name": m.group(2), "value": int(m.group(4)),
            "worst": int(m.group(5)), "thresh": int(m.group(6)),
            "when_failed": _WHEN_FAILED_OLD.get(m.group(9), ""),
            "flags": {"prefailure": m.group(7) == "Pre-fail"},
            "raw": {"value": _num(m.group(10)) or 0, "string": m.group(10).strip()}}


_ATTRIBUTE_LAYOUTS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], dict[str, Any]]], ...] = (
    (_ATTR_BRIEF, _attribute_brief), (_ATTR_OLD, _attribute_old))


def _attribute(line: str) -> dict[str, Any] | None:
    """An attribute table row in either layout, else None."""
    for pattern, build in _ATTRIBUTE_LAYOUTS:
        m = pattern.match(line)
        if m:
            return build(m)
    return None


@dataclass
class _Scan:
    """What one pass over the report's lines found."""

    kv: dict[str, str] = field(default_factory=dict)  # outside the NVMe log; the first value of a key
    attrs: list[dict[str, Any]] = field(default_factory=list)
    nvme_log: dict[str, str] = field(default_factory=dict)  # "SMART/Health Information (NVMe Log ...)"
    messages: list[dict[str, str]] = field(default_factory=list)


def _scan(lines: list[str]) -> _Scan:
    found = _Scan()
    in_nvme = False
    for line in lines:
        if line.startswith(_NVME_LOG_START):
            in_nvme = True
            continue
        if in_nvme and not line.strip():
            in_nvme = False
        if not in_nvme:
            attr = _attribute(line)
            if attr is not None:
                found.attrs.append(attr)
                continue
        mk = _KV.match(line)
        if mk:
            key, val = mk.group(1).strip(), mk.group(2).strip()
            if in_nvme:
                found.nvme_log[key] = val
            else:
                found.kv.setdefault(key, val)
        if "Device is in" in line and "mode" in line:
            found.messages.append({"string": line.strip(), "severity": "information"})
    return found


# ---- phase 2: the sections -----------------------------------------------------------------------------
def _wwn(text: str | None) -> dict[str, int] | None:
    """``LU WWN Device Id: 5 0014ee 2b7c1f8e`` -> {naa, oui, id}; a malformed WWN is left out."""
    parts = (text or "").split()
    if len(parts) != 3:
        return None
    try:
        return {"naa": int(parts[0], 16), "oui": int(parts[1], 16), "id": int(parts[2], 16)}
    except ValueError:
        return None  # the rest of the identity stands


def _first(kv: dict[str, str], keys: tuple[str, ...]) -> str | None:
    """The value of the first key present with a non-empty value."""
    for k in keys:
        if kv.get(k):
            return kv[k]
    return None


def _identity(doc: dict[str, Any], kv: dict[str, str]) -> None:
    model = _first(kv, _MODEL_KEYS)
    if model:
        doc["model_name"] = model
    for src, dst in _IDENTITY_KEYS:
        if src in kv:
            doc.setdefault(dst, kv[src])
    wwn = _wwn(kv["LU WWN Device Id"]) if "LU WWN Device Id" in kv else None
    if wwn is not None:
        doc["wwn"] = wwn
    cap = _first(kv, _CAPACITY_KEYS)
    if cap and _num(cap):
        doc["user_capacity"] = {"bytes": _num(cap)}
    if "Rotation Rate" in kv:
        doc["rotation_rate"] = 0 if "Solid State" in kv["Rotation Rate"] else (_num(kv["Rotation Rate"]) or 0)


def _health(doc: dict[str, Any], kv: dict[str, str]) -> None:
    health = _first(kv, _HEALTH_KEYS)
    if health:
        doc["smart_status"] = {"passed": health.upper().startswith(("PASSED", "OK"))}
    if "SMART support is" in kv:
        doc["smart_support"] = {"available": kv["SMART support is"].startswith("Available")}
    wct, cct = kv.get("Warning  Comp. Temp. Threshold"), kv.get("Critical Comp. Temp. Threshold")
    if wct or cct:
        doc["nvme_composite_temperature_threshold"] = {k: _num(v) for k, v in (("warning", wct), ("critical", cct)) if v}


def _device(found: _Scan, path: str, dev_type: str) -> dict[str, str]:
    nvme_proto = bool(found.nvme_log) or path.startswith("/dev/nvme") or dev_type == "nvme"
    protocol = "NVMe" if nvme_proto else ("SCSI" if "SMART Health Status" in found.kv else "ATA")
    return {"name": path, "type": dev_type or ("nvme" if nvme_proto else ""), "protocol": protocol}


def _nvme_health_log(nvme_log: dict[str, str]) -> dict[str, int]:
    cw = nvme_log.get("Critical Warning")
    log: dict[str, int | None] = {"critical_warning": int(cw, 16) if cw and cw.startswith("0x") else _num(cw or "")}
    for dst, src in _NVME_LOG_FIELDS:
        v = nvme_log.get(src)
        log[dst] = _num(v) if v is not None else None
    return {k: v for k, v in log.items() if v is not None}


def _scsi_and_error_log(doc: dict[str, Any], found: _Scan, text: str) -> None:
    kv = found.kv
    temp = kv.get("Current Drive Temperature")
    if temp and _num(temp) is not None:
        doc["temperature"] = {"current": _num(temp)}
    if "Elements in grown defect list" in kv:
        doc["scsi_grown_defect_list"] = _num(kv["Elements in grown defect list"])
    m_err = re.search(r"^ATA Error Count:\s+(\d+)", text, re.MULTILINE)
    if m_err:
        doc["ata_smart_error_log"] = {"summary": {"count": int(m_err.group(1))}}
    elif "No Errors Logged" in text and found.attrs:
        doc["ata_smart_error_log"] = {"summary": {"count": 0}}


def text_to_doc(text: str, *, rc: int | None = None, path: str = "", dev_type: str = "") -> dict[str, Any]:
    """Classic smartctl text report -> a dict in smartctl's JSON shape (the fields we use)."""
    lines = text.splitlines()
    if not any(l.startswith("smartctl ") for l in lines[:5]):
        raise ParseError(f"{path or 'device'}: not smartctl output (no version banner)")
    m = re.search(r"^smartctl (\d+)\.(\d+)", text, re.MULTILINE)
    found = _scan(lines)
    doc: dict[str, Any] = {"json_format_version": [1, 0],
                           "smartctl": {"version": [int(m.group(1)), int(m.group(2))] if m else [0, 0],
                                        "exit_status": rc, "messages": found.messages}}
    _identity(doc, found.kv)
    _health(doc, found.kv)
    doc["device"] = _device(found, path, dev_type)
    if found.attrs:
        doc["ata_smart_attributes"] = {"table": found.attrs}
    if found.nvme_log:
        doc["nvme_smart_health_information_log"] = _nvme_health_log(found.nvme_log)
    _scsi_and_error_log(doc, found, text)
    return doc
