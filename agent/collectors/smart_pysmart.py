"""smart: the pySMART backend, for a smartctl older than 7.0 (no JSON).

pySMART is imported here and nowhere else, lazily (:func:`import_pysmart`); its process-wide
side effects (``LANG=C``, the logging logger class) are undone right after the import. Its
commands go through :meth:`agent.host.Host.run` (timeouts, replay, C locale per call) with the
configured smartctl path, and :func:`pysmart_to_doc` turns its Device into smartctl's JSON shape
so one mapper (:func:`agent.collectors.smart_parse.parse_json`) serves both backends.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Sequence

_pysmart_lock = threading.Lock()
_pysmart_mod: Any = None


def import_pysmart() -> Any:
    """Import pySMART once, undoing its import-time side effects (LANG=C, logger class)."""
    global _pysmart_mod
    with _pysmart_lock:
        if _pysmart_mod is None:
            lang = os.environ.get("LANG")
            logger_class = logging.getLoggerClass()
            try:
                import pySMART  # noqa: PLC0415 - the one place pySMART is imported
            finally:
                if lang is None:
                    os.environ.pop("LANG", None)
                else:
                    os.environ["LANG"] = lang
                logging.setLoggerClass(logger_class)
            _pysmart_mod = pySMART
        return _pysmart_mod


def host_smartctl_class(pysmart: Any) -> type:
    """A pySMART Smartctl whose commands go through Host.run (timeouts, replay, C locale per call)."""

    class HostSmartctl(pysmart.Smartctl):
        def __init__(self, host, exe: str, timeout: float, nocheck: Sequence[str] = ()):
            super().__init__(smartctl_path=exe, options=[])  # explicit path: never pySMART's PATH lookup
            self._host, self._timeout, self._nocheck = host, timeout, list(nocheck)
            self.last_rc: int | None = None
            self.last_error: str | None = None
            self.last_text = ""

        def _exec(self, cmd):
            cmd = list(cmd)
            if self._nocheck and cmd and cmd[-1].startswith("/"):
                cmd = cmd[:-1] + self._nocheck + cmd[-1:]  # per call: pySMART's global options pile up
            env = dict(os.environ, LANG="C", LC_ALL="C")
            res = self._host.run(cmd, self._timeout, env)
            self.last_rc, self.last_error = res.rc, res.error
            self.last_text = res.text()
            if res.error:
                raise OSError(res.error)
            return self._decode_output(res.stdout), res.rc

    return HostSmartctl


# identity: pySMART Device attribute -> JSON key
_IDENTITY_ATTRS = (("model", "model_name"), ("serial", "serial_number"), ("firmware", "firmware_version"),
                   ("family", "model_family"))
_ASSESSMENTS = ("PASS", "WARN", "FAIL")  # pySMART's assessments: smart_status.passed unless FAIL
_WHEN_FAILED = {"FAILING_NOW": "now", "In_the_past": "past"}
# NVMe health information log: JSON key -> attribute of pySMART's NvmeAttributes (temperature is the device's)
_NVME_LOG_ATTRS = (
    ("critical_warning", "criticalWarning"), ("temperature", None), ("available_spare", "availableSpare"),
    ("available_spare_threshold", "availableSpareThreshold"), ("percentage_used", "percentageUsed"),
    ("data_units_read", "dataUnitsRead"), ("data_units_written", "dataUnitsWritten"),
    ("power_cycles", "powerCycles"), ("power_on_hours", "powerOnHours"), ("unsafe_shutdowns", "unsafeShutdowns"),
    ("media_errors", "integrityErrors"), ("num_err_log_entries", "errorEntries"),
    ("critical_comp_time", "criticalTemperatureTime"),
)


def _protocol(dev: Any, iface: str) -> str:
    """smartctl's protocol name for pySMART's interface; a MegaRAID target without an ATA
    attribute table is a SAS/SCSI disk."""
    if iface == "nvme":
        return "NVMe"
    if iface in ("scsi", "sas") or "megaraid" in iface and not getattr(dev, "attributes", None):
        return "SCSI"
    return "ATA" if iface else ""


def _identity_and_health(doc: dict[str, Any], dev: Any) -> None:
    for src, dst in _IDENTITY_ATTRS:
        v = getattr(dev, src, None)
        if v:
            doc[dst] = v
    if getattr(dev, "smart_capable", None) is not None:
        doc["smart_support"] = {"available": bool(dev.smart_capable), "enabled": bool(getattr(dev, "smart_enabled", False))}
    assessment = getattr(dev, "assessment", None)
    if assessment in _ASSESSMENTS:
        doc["smart_status"] = {"passed": assessment != "FAIL"}
    if getattr(dev, "temperature", None) is not None:
        doc["temperature"] = {"current": dev.temperature}


def _attribute(a: Any) -> dict[str, Any] | None:
    """One pySMART Attribute -> a row of ata_smart_attributes.table; None when it is malformed."""
    try:
        wf = _WHEN_FAILED.get(str(a.when_failed).strip(), "")
        return {"id": int(a.num), "name": a.name, "value": int(a.value), "worst": int(a.worst),
                "thresh": int(a.thresh), "when_failed": wf, "flags": {"prefailure": a.type == "Pre-fail"},
                "raw": {"value": a.raw_int if a.raw_int is not None else 0, "string": str(a.raw)}}
    except (TypeError, ValueError, AttributeError):
        return None


def _attributes(dev: Any) -> list[dict[str, Any]]:
    rows = (_attribute(a) for a in getattr(dev, "attributes", None) or [] if a is not None)
    return [r for r in rows if r is not None]


def _nvme_log(dev: Any, ifa: Any) -> dict[str, Any]:
    log_ = {dst: getattr(dev, "temperature", None) if src is None else getattr(ifa, src, None)
            for dst, src in _NVME_LOG_ATTRS}
    return {k: v for k, v in log_.items() if v is not None}


def _self_test(t: Any) -> dict[str, Any]:
    """One pySMART Test_Entry -> a row of the ATA self-test log (passed: None while not decided)."""
    status = str(getattr(t, "status", "") or "")
    ok = status.lower().startswith("completed without error")
    failed = any(w in status.lower() for w in ("failure", "fatal", "failed"))
    return {"type": {"string": str(getattr(t, "type", ""))},
            "status": {"string": status, "passed": True if ok else (False if failed else None)},
            "lifetime_hours": _int_or_none(getattr(t, "hours", None))}


def pysmart_to_doc(dev: Any, rc: int | None) -> dict[str, Any]:
    """A pySMART Device -> a dict in smartctl's JSON shape, so one mapper serves both backends."""
    doc: dict[str, Any] = {"json_format_version": [1, 0], "smartctl": {"exit_status": rc, "messages": []}}
    iface = (getattr(dev, "interface", None) or "").lower()
    protocol = _protocol(dev, iface)
    doc["device"] = {"name": f"/dev/{dev.name}", "type": iface, "protocol": protocol}
    _identity_and_health(doc, dev)
    table = _attributes(dev)
    if table:
        doc["ata_smart_attributes"] = {"table": table}
    ifa = getattr(dev, "if_attributes", None)
    if protocol == "NVMe" and ifa is not None:
        doc["nvme_smart_health_information_log"] = _nvme_log(dev, ifa)
    tests = [_self_test(t) for t in getattr(dev, "tests", None) or []]
    if tests:
        doc["ata_smart_self_test_log"] = {"standard": {"table": tests}}
    return doc


def _int_or_none(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None
