"""smartctl output -> :class:`agent.model.disk.SmartDevice`. Pure functions, no I/O.

``parse_json`` reads the document of ``smartctl --json -x`` (smartmontools >= 7.0; every section
optional, unknown fields ignored, wrong types tolerated). ``text_to_doc``
(:mod:`agent.collectors.smart_text`) turns the classic text report (``smartctl -x``/``-a``, as
older tools and hand-made captures have it) into the same JSON shape for the fields the rules use,
so one mapper serves both.

Vendor raw encodings are decoded before anything judges them: Seagate packs several counters
into the 48-bit raw value of attributes 1, 7, 188 and 195; power-on time may be ``12345h+34m+56s``;
temperatures carry ``(Min/Max 20/45)``. Implausible values (a temperature of 65535 °C, negative
counters) are dropped and named in ``rejected``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# the text report parser lives in its own module; both names stay importable from here
from agent.collectors.smart_text import ParseError, text_to_doc  # noqa: F401 - text_to_doc re-exported
from agent.collectors.smart_values import decode_count, parse_duration_hours  # noqa: F401 - parse_duration_hours re-exported
from agent.collectors.smart_values import Rejects as _Rejects
from agent.collectors.smart_values import as_bool as _bool
from agent.collectors.smart_values import as_int as _int
from agent.collectors.smart_values import as_list as _list
from agent.collectors.smart_values import as_str as _str
from agent.collectors.smart_values import get as _get
from agent.model.disk import is_seagate  # noqa: F401 - re-exported
from agent.model.disk import AtaAttribute, NvmeHealth, ScsiHealth, SelfTest, SmartDevice

NVME_DATA_UNIT_BYTES = 512_000
MAX_POWER_ON_HOURS = 1_000_000  # ~114 years
STANDBY_RE = re.compile(r"Device is in (STANDBY|SLEEP|IDLE)[\w ()]*mode", re.IGNORECASE)
PERMISSION_RE = re.compile(r"permission denied|operation not permitted|must be root|are you root", re.IGNORECASE)
OPEN_FAILED_RE = re.compile(r"no such (file|device)|unable to detect device type|failed: |smart open|open device",
                            re.IGNORECASE)


def _wwn(doc: Mapping) -> str | None:
    w = _get(doc, "wwn")
    if isinstance(w, Mapping):
        naa, oui, id_ = _int(w.get("naa")), _int(w.get("oui")), _int(w.get("id"))
        if naa is not None and oui is not None and id_ is not None:
            return f"0x{naa:x}{oui:06x}{id_:09x}"
    lu = _get(doc, "logical_unit_id")
    if isinstance(lu, str) and lu.strip():
        return lu.strip().lower()
    for ns in _list(_get(doc, "nvme_namespaces")):
        eui = _get(ns, "eui64")
        if isinstance(eui, Mapping) and _int(eui.get("oui")) is not None and _int(eui.get("ext_id")) is not None:
            return f"eui.{_int(eui['oui']):06x}{_int(eui['ext_id']):010x}"
    return None


# ---- the JSON mapper ------------------------------------------------------------------------------------
def classify_failure(rc: int | None, messages: list[str]) -> tuple[str, str]:
    """(read_status, power_state) for a run that produced no SMART data."""
    text = " ".join(messages)
    m = STANDBY_RE.search(text)
    if m:
        return "standby", m.group(1).lower()
    if PERMISSION_RE.search(text):
        return "permission_denied", "unknown"
    if rc is not None and rc & 0x02 or OPEN_FAILED_RE.search(text):
        return "open_failed", "unknown"
    return "error", "unknown"


def has_smart_data(doc: Mapping) -> bool:
    return any(k in doc for k in ("smart_status", "ata_smart_attributes", "nvme_smart_health_information_log",
                                  "scsi_grown_defect_list", "scsi_error_counter_log", "ata_smart_self_test_log",
                                  "nvme_self_test_log", "scsi_self_test_0"))


def parse_json(doc: Any, *, device: str, path: str, dev_type: str = "", now: float | None = None,
               rc: int | None = None, backend: str = "json") -> SmartDevice:
    """Map one smartctl JSON document to a SmartDevice (read_status says whether it holds data).

    In named phases, in the order their rejected values are reported: identity, SMART status,
    temperature and its limits, power-on time, the ATA attribute table, the ATA error log,
    self-tests, the NVMe health log, the SCSI error counters, then the fallbacks between them."""
    if not isinstance(doc, Mapping):
        raise ParseError(f"{device}: smartctl JSON is a {type(doc).__name__}, not an object")
    if "smartctl" not in doc and "json_format_version" not in doc:
        raise ParseError(f"{device}: not smartctl JSON (no smartctl/json_format_version)")
    rej = _Rejects(device)
    exit_status = _int(_get(doc, "smartctl", "exit_status"))
    if exit_status is None:
        exit_status = rc
    messages = [str(m.get("string", "")) for m in _list(_get(doc, "smartctl", "messages")) if isinstance(m, Mapping)]
    ident = _identity(doc, rej, device=device, path=path, dev_type=dev_type, exit_status=exit_status, backend=backend)
    if not has_smart_data(doc):
        status, ps = classify_failure(exit_status, messages)
        msg = "; ".join(m for m in messages if m) or f"smartctl exit status {exit_status} without SMART data"
        return SmartDevice(read_status=status, power_state=ps if status == "standby" else "unknown",
                           message=f"{device}: {msg}", **ident)
    seagate = is_seagate(ident["model"], ident["model_family"], ident["vendor"])
    avail, enabled = _support(doc)
    passed = _bool(_get(doc, "smart_status", "passed"))
    temp, warn_limit, crit_limit = _temperatures(doc, rej)
    power_on = _power_on(doc, rej, device)
    attrs = _ata_attributes(doc, rej, device, seagate)
    if temp is None:  # ATA drives without temperature.current: 194/190 raw
        temp = _attribute_temperature(attrs, rej)
    err_count = _ata_error_count(doc, rej)
    tests, running, remaining = _self_tests(doc)
    minutes = _selftest_minutes(doc)
    nvme, temp, power_on = _nvme_health(doc, rej, temp, power_on)
    scsi = _scsi_health(doc, rej)
    power_cycles = _power_cycles(doc, rej, nvme, attrs)
    if power_on is None:
        a9 = next((a for a in attrs if a.id == 9), None)
        if a9 is not None and a9.count is not None and 0 <= a9.count <= MAX_POWER_ON_HOURS:
            power_on = a9.count * 3600.0
    return SmartDevice(
        read_status="ok", power_state=_power_state(doc), read_time=now, last_success=now,
        message="; ".join(rej.items) or None,
        smart_available=avail, smart_enabled=enabled, smart_passed=passed,
        temperature_celsius=temp, temperature_warning_celsius=warn_limit, temperature_critical_celsius=crit_limit,
        power_on_seconds=power_on, power_cycles=power_cycles,
        ata_attributes=tuple(attrs), ata_error_count=err_count,
        self_tests=tuple(tests), selftest_running=running, selftest_remaining_ratio=remaining,
        selftest_minutes=minutes, nvme=nvme, scsi=scsi, rejected=tuple(rej.items), **ident,
    )


def _identity(doc: Mapping, rej: _Rejects, *, device: str, path: str, dev_type: str, exit_status: int | None,
              backend: str) -> dict[str, Any]:
    """Who the disk is: the SmartDevice fields every reading carries, readable or not."""
    protocol = _str(_get(doc, "device", "protocol")) or ""
    model = _str(doc.get("model_name")) or _str(doc.get("scsi_model_name")) or _str(doc.get("product")) \
        or _str(doc.get("scsi_product"))
    vendor = _str(doc.get("scsi_vendor")) or _str(doc.get("vendor"))
    if vendor and model and protocol == "SCSI" and not model.lower().startswith(vendor.lower()):
        model = f"{vendor} {model}"
    return dict(
        device=device, path=path, dev_type=_str(_get(doc, "device", "type")) or dev_type, protocol=protocol,
        exit_status=exit_status, backend=backend,
        model=model, serial=_str(doc.get("serial_number")), wwn=_wwn(doc),
        firmware=_str(doc.get("firmware_version")) or _str(doc.get("scsi_revision")) or _str(doc.get("revision")),
        model_family=_str(doc.get("model_family")), vendor=vendor,
        capacity_bytes=rej.count("user_capacity", _get(doc, "user_capacity", "bytes")) or _nvme_capacity(doc),
        rotation_rate_rpm=_int(doc.get("rotation_rate")),
    )


def _power_state(doc: Mapping) -> str:
    pm = _str(_get(doc, "power_mode", "name"))
    if not pm:
        return "active"
    pml = pm.lower()
    return next((s for s in ("standby", "sleep", "idle") if s in pml), "active")


def _support(doc: Mapping) -> tuple[bool | None, bool | None]:
    """(SMART available, SMART enabled)."""
    sup = doc.get("smart_support")
    if isinstance(sup, Mapping):
        return _bool(sup.get("available")), _bool(sup.get("enabled"))
    v = _bool(sup)
    return v, v


# (label, JSON path) of the drive's own temperature limits, the first present wins: warning, critical
_WARN_LIMITS = (("nvme warning temperature limit", ("nvme_composite_temperature_threshold", "warning")),
                ("temperature op_limit_max limit", ("temperature", "op_limit_max")),  # smartctl >= 7.4
                ("sct op temperature limit", ("ata_sct_status", "temperature", "op_limit_max")))
_CRIT_LIMITS = (("nvme critical temperature limit", ("nvme_composite_temperature_threshold", "critical")),
                ("temperature critical_limit_max limit", ("temperature", "critical_limit_max")),  # smartctl >= 7.4
                ("temperature drive_trip limit", ("temperature", "drive_trip")),
                ("sct temperature limit", ("ata_sct_status", "temperature", "limit_max")))
# the order the limits were always read (and their rejects reported) in
_LIMIT_ORDER = ("temperature drive_trip limit", "nvme warning temperature limit", "nvme critical temperature limit",
                "sct temperature limit", "sct op temperature limit", "temperature op_limit_max limit",
                "temperature critical_limit_max limit")


def _temperatures(doc: Mapping, rej: _Rejects) -> tuple[float | None, float | None, float | None]:
    """(current, warning limit, critical limit) in Celsius."""
    temp = rej.temp("temperature", _get(doc, "temperature", "current"))
    paths = dict(_WARN_LIMITS + _CRIT_LIMITS)
    got = {label: rej.temp(label, _get(doc, *paths[label])) for label in _LIMIT_ORDER}
    warn = next((got[label] for label, _p in _WARN_LIMITS if got[label] is not None), None)
    crit = next((got[label] for label, _p in _CRIT_LIMITS if got[label] is not None), None)
    return temp, warn, crit


def _power_on(doc: Mapping, rej: _Rejects, device: str) -> float | None:
    poh = rej.count("power_on_time.hours", _get(doc, "power_on_time", "hours"))
    pom = rej.count("power_on_time.minutes", _get(doc, "power_on_time", "minutes")) or 0
    if poh is None:
        return None
    if poh > MAX_POWER_ON_HOURS:
        rej.items.append(f"{device}: power_on_time {poh} h is implausible, ignored")
        return None
    return poh * 3600.0 + pom * 60.0


def _ata_attributes(doc: Mapping, rej: _Rejects, device: str, seagate: bool) -> list[AtaAttribute]:
    attrs = []
    for row in _list(_get(doc, "ata_smart_attributes", "table")):
        if not isinstance(row, Mapping):
            continue
        aid = _int(row.get("id"))
        if aid is None or not 0 < aid < 256:
            continue
        raw = _int(_get(row, "raw", "value"))
        raw_string = _str(_get(row, "raw", "string")) or ("" if raw is None else str(raw))
        count = decode_count(aid, raw, raw_string, seagate)
        if count is not None and count < 0:
            rej.items.append(f"{device}: attribute {aid} raw {count} is negative, ignored")
            count = None
        wf = _str(row.get("when_failed")) or ""
        attrs.append(AtaAttribute(
            id=aid, name=_str(row.get("name")) or f"Unknown_Attribute_{aid}",
            value=_int(row.get("value")), worst=_int(row.get("worst")), threshold=_int(row.get("thresh")),
            raw=raw, raw_string=raw_string, count=count,
            prefailure=bool(_get(row, "flags", "prefailure")),
            when_failed=wf.lower() if wf.lower() in ("now", "past") else "",
        ))
    return attrs


def _attribute_temperature(attrs: list[AtaAttribute], rej: _Rejects) -> float | None:
    for aid in (194, 190):
        a = next((x for x in attrs if x.id == aid), None)
        if a is not None and a.count is not None:
            temp = rej.temp(f"attribute {aid} temperature", a.count)
            if temp is not None:
                return temp
    return None


def _ata_error_count(doc: Mapping, rej: _Rejects) -> int | None:
    err_count = None
    for p in (("ata_smart_error_log", "extended", "count"), ("ata_smart_error_log", "summary", "count")):
        v = rej.count("ata error log count", _get(doc, *p))
        if v is not None:
            err_count = v if err_count is None else max(err_count, v)
    return err_count


def _selftest_minutes(doc: Mapping) -> dict[str, int]:
    minutes = {}
    for k in ("short", "extended", "conveyance"):
        v = _int(_get(doc, "ata_smart_data", "self_test", "polling_minutes", k))
        if v is not None and v >= 0:
            minutes[k] = v
    return minutes


def _ratio(v: int | None, top: int) -> float | None:
    return v / 100.0 if v is not None and v <= top else None


def _nvme_health(doc: Mapping, rej: _Rejects, temp: float | None,
                 power_on: float | None) -> tuple[NvmeHealth | None, float | None, float | None]:
    """(the NVMe health log, the temperature and power-on seconds, from the log where they were
    not known yet); the log is None without one."""
    log = _get(doc, "nvme_smart_health_information_log")
    if not isinstance(log, Mapping):
        return None, temp, power_on
    spare, spare_thr = rej.count("available_spare", log.get("available_spare")), \
        rej.count("available_spare_threshold", log.get("available_spare_threshold"))
    used = rej.count("percentage_used", log.get("percentage_used"))
    sensors = []
    for t in _list(log.get("temperature_sensors")):
        tv = rej.temp("nvme temperature sensor", t)
        if tv is not None:
            sensors.append(tv)
    du_r = rej.count("data_units_read", log.get("data_units_read"))
    du_w = rej.count("data_units_written", log.get("data_units_written"))
    wtt = rej.count("warning_temp_time", log.get("warning_temp_time"))
    cct_t = rej.count("critical_comp_time", log.get("critical_comp_time"))
    cw = rej.count("critical_warning", log.get("critical_warning"))
    if cw is None:
        cw = rej.count("smart_status.nvme.value", _get(doc, "smart_status", "nvme", "value"))
    nvme = NvmeHealth(
        critical_warning=cw,
        available_spare_ratio=_ratio(spare, 100),
        available_spare_threshold_ratio=_ratio(spare_thr, 100),
        percentage_used_ratio=_ratio(used, 255),
        media_errors=rej.count("media_errors", log.get("media_errors")),
        num_err_log_entries=rej.count("num_err_log_entries", log.get("num_err_log_entries")),
        unsafe_shutdowns=rej.count("unsafe_shutdowns", log.get("unsafe_shutdowns")),
        data_units_read_bytes=du_r * NVME_DATA_UNIT_BYTES if du_r is not None else None,
        data_units_written_bytes=du_w * NVME_DATA_UNIT_BYTES if du_w is not None else None,
        power_cycles=rej.count("power_cycles", log.get("power_cycles")),
        warning_temp_time_seconds=wtt * 60.0 if wtt is not None else None,
        critical_comp_time_seconds=cct_t * 60.0 if cct_t is not None else None,
        temperature_sensors_celsius=tuple(sensors),
    )
    if temp is None:
        temp = rej.temp("nvme temperature", log.get("temperature"))
    if power_on is None:
        h = rej.count("nvme power_on_hours", log.get("power_on_hours"))
        if h is not None and h <= MAX_POWER_ON_HOURS:
            power_on = h * 3600.0
    return nvme, temp, power_on


def _scsi_health(doc: Mapping, rej: _Rejects) -> ScsiHealth | None:
    if "scsi_grown_defect_list" not in doc and "scsi_error_counter_log" not in doc:
        return None
    ecl = doc.get("scsi_error_counter_log")

    def part(name: str, key: str) -> int | None:
        return rej.count(f"scsi {name}.{key}", _get(ecl, name, key))

    return ScsiHealth(
        grown_defects=rej.count("scsi_grown_defect_list", doc.get("scsi_grown_defect_list")),
        read_uncorrected=part("read", "total_uncorrected_errors"),
        write_uncorrected=part("write", "total_uncorrected_errors"),
        verify_uncorrected=part("verify", "total_uncorrected_errors"),
        read_corrected=part("read", "total_errors_corrected"),
        write_corrected=part("write", "total_errors_corrected"),
        verify_corrected=part("verify", "total_errors_corrected"),
    )


def _power_cycles(doc: Mapping, rej: _Rejects, nvme: NvmeHealth | None, attrs: list[AtaAttribute]) -> int | None:
    power_cycles = rej.count("power_cycle_count", doc.get("power_cycle_count"))
    if power_cycles is None and nvme is not None:
        power_cycles = nvme.power_cycles
    if power_cycles is None:
        a12 = next((a for a in attrs if a.id == 12), None)
        power_cycles = a12.count if a12 else None
    return power_cycles


def _nvme_capacity(doc: Mapping) -> int | None:
    total = _int(_get(doc, "nvme_total_capacity"))
    if total:
        return total
    caps = [c for c in (_int(_get(ns, "capacity", "bytes")) for ns in _list(_get(doc, "nvme_namespaces"))) if c]
    return sum(caps) if caps else None


def _ata_self_test(r: Mapping) -> SelfTest:
    sv = _int(_get(r, "status", "value"))
    result = (sv >> 4) if sv is not None else None
    passed = _bool(_get(r, "status", "passed"))
    if result == 15:  # in progress: not decided
        passed = None
    return SelfTest(kind=_kind(_str(_get(r, "type", "string"))), status=_str(_get(r, "status", "string")) or "",
                    passed=passed, result=result, lifetime_hours=_int(r.get("lifetime_hours")), lba=_int(r.get("lba")))


def _ata_self_tests(doc: Mapping) -> list[SelfTest]:
    """ATA: the extended log first (more entries), else the standard one."""
    for part in ("extended", "standard"):
        rows = _get(doc, "ata_smart_self_test_log", part, "table")
        if isinstance(rows, list) and rows:
            return [_ata_self_test(r) for r in rows if isinstance(r, Mapping)]
    return []


def _ata_running(doc: Mapping) -> tuple[bool, float | None] | None:
    """(True, fraction remaining) while an ATA self-test runs (status 15), else None."""
    st = _get(doc, "ata_smart_data", "self_test", "status")
    if not isinstance(st, Mapping):
        return None
    v = _int(st.get("value"))
    if v is None or (v >> 4) != 15:
        return None
    pct_left = _int(st.get("remaining_percent"))
    return True, pct_left / 100.0 if pct_left is not None else (v & 0x0F) / 10.0


def _nvme_running(nlog: Mapping) -> tuple[bool, float | None] | None:
    """(True, fraction remaining) while an NVMe self-test operation runs, else None."""
    if not _int(_get(nlog, "current_self_test_operation", "value")):
        return None
    pct = _int(_get(nlog, "current_self_test_completion_percent"))
    return True, (100 - pct) / 100.0 if pct is not None else None


def _nvme_self_test(r: Mapping) -> SelfTest:
    # result: 0 ok, 1 aborted by command, 2 aborted by reset, 3 namespace removed,
    # 4 aborted by format, 5 fatal, 6 unknown segment failed, 7 segment failed
    res = _int(_get(r, "self_test_result", "value"))
    passed = None if res is None else (True if res == 0 else False if res in (5, 6, 7) else None)
    return SelfTest(kind=_kind(_str(_get(r, "self_test_code", "string"))),
                    status=_str(_get(r, "self_test_result", "string")) or "",
                    passed=passed, result=res, lifetime_hours=_int(r.get("power_on_hours")), lba=_int(r.get("lba")))


def _scsi_self_test(r: Mapping) -> SelfTest:
    res = _int(_get(r, "result", "value"))
    return SelfTest(kind=_kind(_str(_get(r, "code", "string"))), status=_str(_get(r, "result", "string")) or "",
                    passed=False if res is not None and 3 <= res <= 7 else (True if res == 0 else None),
                    result=res, lifetime_hours=_int(_get(r, "power_on_time", "hours")))


def _self_tests(doc: Mapping) -> tuple[list[SelfTest], bool, float | None]:
    """The self-test log of every protocol (ATA, NVMe, SCSI in that order) and whether one runs."""
    tests = _ata_self_tests(doc)
    running, remaining = _ata_running(doc) or (False, None)
    nlog = _get(doc, "nvme_self_test_log")
    if isinstance(nlog, Mapping):
        running, remaining = _nvme_running(nlog) or (running, remaining)
        tests.extend(_nvme_self_test(r) for r in _list(nlog.get("table")) if isinstance(r, Mapping))
    # SCSI: scsi_self_test_0..19
    scsi = (doc.get(f"scsi_self_test_{i}") for i in range(20))
    tests.extend(_scsi_self_test(r) for r in scsi if isinstance(r, Mapping))
    return tests, running, remaining


def _kind(text: str | None) -> str:
    t = (text or "").lower()
    for k in ("short", "extended", "conveyance", "selective", "offline"):
        if k in t:
            return k
    if "long" in t or "background long" in t:
        return "extended"
    return t or "unknown"
