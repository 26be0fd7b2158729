"""ipmi: the SEL decode table - an ``ipmitool sel elist`` record (sensor type, sensor, event,
detail) to a decoded class (:data:`SEL_KINDS`) and severity, after the IPMI 2.0 specification's
sensor-type and event-offset tables (section 42, table 42-3) as ipmitool prints them."""

from __future__ import annotations

import re

from agent.model import Severity
from agent.model.platform import IpmiSelEntry

# Decoded SEL classes (IpmiSelEntry.kind) and their meaning, for README and rules.
SEL_KINDS = {
    "temperature": "temperature threshold crossed",
    "fan": "fan threshold crossed / fan failure",
    "voltage": "voltage threshold crossed or power-good failure",
    "battery": "CMOS/RTC battery low or failed",
    "psu_failure": "power supply failure or predictive failure",
    "psu_redundancy_lost": "power supply redundancy lost or degraded",
    "psu_input_lost": "power supply input (AC/DC) lost",
    "power_loss": "power unit: AC lost / power down",
    "caterr": "processor CATERR / IERR (catastrophic error)",
    "thermal_trip": "processor thermal trip (shutdown for heat)",
    "cpu_error": "processor FRB/BIST/hang/configuration/machine-check error",
    "memory_ce": "memory correctable ECC",
    "memory_ue": "memory uncorrectable ECC / parity",
    "bus_error": "critical interrupt: PCI PERR/SERR, bus fatal/uncorrectable error, NMI",
    "watchdog": "BMC watchdog expired (hard reset / power cycle of a hung host)",
    "os_stop": "OS critical stop (panic) reported to the BMC",
    "system_restart": "system boot / restart initiated",
    "intrusion": "chassis intrusion",
    "drive": "drive slot fault",
    "log_cleared": "event log cleared",
    "log_full": "event log full / almost full",
    "other": "anything else",
}

SEVERITY = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
SEL_COMPONENT = {"caterr": "cpu", "thermal_trip": "cpu", "cpu_error": "cpu", "memory_ce": "memory", "memory_ue": "memory",
                 "bus_error": "pcie", "drive": "disk", "watchdog": "system", "os_stop": "system",
                 "system_restart": "system", "log_cleared": "bmc", "log_full": "bmc"}


def _threshold_severity(event: str) -> str:
    e = event.lower()
    if "non-recoverable" in e or "non-critical" not in e and "critical" in e:
        return "critical"
    if "non-critical" in e:
        return "warning"
    return "warning"


_PSU_NAME = re.compile(r"\b(ps\d*|psu\d*|pws\d*|power ?supply)\b", re.IGNORECASE)
_VBAT_NAME = re.compile(r"\b(vbat|battery|cmos|rtc)", re.IGNORECASE)
_THRESHOLD_EVENT = re.compile(r"(lower|upper) (non-critical|critical|non-recoverable)", re.IGNORECASE)


def _first(e: str, table: tuple[tuple[tuple[str, ...], str, str], ...], default: tuple[str, str]) -> tuple[str, str]:
    """The (kind, severity) of the first row whose words occur in the event text."""
    return next(((kind, sev) for words, kind, sev in table if any(w in e for w in words)), default)


# per sensor type: (words in the event, kind, severity), first match wins
_LOG_EVENTS = ((("cleared",), "log_cleared", "info"), (("full",), "log_full", "warning"))
_CPU_EVENTS = ((("thermal trip",), "thermal_trip", "critical"), (("throttl",), "temperature", "warning"),
               (("frb", "bist", "hang", "configuration error", "machine check", "uncorrectable"), "cpu_error", "critical"),
               (("presence",), "other", "info"))
_MEMORY_EVENTS = ((("uncorrectable", "parity", "fatal"), "memory_ue", "critical"),
                  (("correctable", "ecc"), "memory_ce", "warning"), (("presence",), "other", "info"))
_PSU_EVENTS = ((("input lost", "ac lost", "out-of-range"), "psu_input_lost", "warning"),
               (("fail", "configuration error", "state asserted"), "psu_failure", "critical"),
               (("redundan", "presence"), "other", "info"))  # "Fully Redundant", "Redundancy Regained"
_POWER_UNIT_EVENTS = ((("ac lost", "power off", "power down", "failure"), "power_loss", "warning"),)
_REDUNDANCY_LOST = ("redundancy lost", "redundancy degraded", "non-redundant")


def _by_threshold(e: str, otherwise: str) -> str:
    return _threshold_severity(e) if _THRESHOLD_EVENT.search(e) else otherwise


def _psu(t: str, name: str, e: str) -> tuple[str, str]:
    if "fail" in name and not any(w in e for w in ("input lost", "ac lost", "out-of-range")):
        return "psu_failure", "critical"
    return _first(e, _PSU_EVENTS, ("psu_failure", "warning"))


def _battery(t: str, name: str, e: str) -> tuple[str, str]:
    return "battery", "critical" if ("failed" in e or "critical" in e and "non-critical" not in e) else "warning"


def _fan(t: str, name: str, e: str) -> tuple[str, str]:
    return "fan", _by_threshold(e, "critical" if "fail" in e or "critical" in e else "warning")


def _bus(t: str, name: str, e: str) -> tuple[str, str]:
    benign = ("correctable" in e and "uncorrectable" not in e) or "front panel" in e
    return "bus_error", "warning" if benign else "critical"


def _os_stop(t: str, name: str, e: str) -> tuple[str, str]:
    return ("other", "info") if "graceful" in e else ("os_stop", "warning")


def _drive(t: str, name: str, e: str) -> tuple[str, str]:
    return "drive", "critical" if "fault" in e else "warning" if "predictive" in e or "failure" in e else "info"


# The decode table, in order (first match wins): (does this row apply to (type, name, event)?,
# its (kind, severity)). Types are ipmitool's sensor type strings, lower-cased.
_DECODE: tuple[tuple, ...] = (
    (lambda t, n, e: t == "event logging disabled", lambda t, n, e: _first(e, _LOG_EVENTS, ("other", "info"))),
    (lambda t, n, e: "caterr" in n or "caterr" in e or re.search(r"\bierr\b", e), lambda t, n, e: ("caterr", "critical")),
    (lambda t, n, e: t == "processor" or "cpu" in n and "thermal trip" in e,
     lambda t, n, e: _first(e, _CPU_EVENTS, ("cpu_error", "warning"))),
    (lambda t, n, e: t == "memory" or ("ecc" in e and ("dimm" in n or "mem" in n)),
     lambda t, n, e: _first(e, _MEMORY_EVENTS, ("memory_ce", "warning"))),
    (lambda t, n, e: any(w in e for w in _REDUNDANCY_LOST), lambda t, n, e: ("psu_redundancy_lost", "warning")),
    (lambda t, n, e: t == "power supply" or (_PSU_NAME.search(n) and ("fail" in n or "fail" in e)), _psu),
    (lambda t, n, e: t == "power unit", lambda t, n, e: _first(e, _POWER_UNIT_EVENTS, ("other", "info"))),
    (lambda t, n, e: t == "battery" or (t == "voltage" and _VBAT_NAME.search(n)), _battery),
    (lambda t, n, e: t == "temperature", lambda t, n, e: ("temperature", _threshold_severity(e))),
    (lambda t, n, e: t in ("fan", "cooling device"), _fan),
    (lambda t, n, e: t == "voltage", lambda t, n, e: ("voltage", _by_threshold(e, "critical"))),
    (lambda t, n, e: t == "critical interrupt", _bus),
    (lambda t, n, e: t.startswith("watchdog"), lambda t, n, e: ("watchdog", "warning")),
    (lambda t, n, e: t == "os critical stop", _os_stop),
    (lambda t, n, e: t in ("system boot initiated", "system boot / restart initiated") or "system restart" in n,
     lambda t, n, e: ("system_restart", "info")),
    (lambda t, n, e: t == "physical security", lambda t, n, e: ("intrusion", "warning")),
    (lambda t, n, e: t == "drive slot / bay", _drive),
    (lambda t, n, e: _THRESHOLD_EVENT.search(e), lambda t, n, e: ("other", _threshold_severity(e))),
)


def decode_sel(stype: str, sensor: str, event: str, detail: str, asserted: bool) -> tuple[str, str]:
    """(kind, severity) of one SEL record, from the first row of :data:`_DECODE` that applies.
    Deasserted records (a condition clearing) are info."""
    t, name, e = stype.lower(), sensor.lower(), event.lower()
    kind, sev = next((decode(t, name, e) for applies, decode in _DECODE if applies(t, name, e)), ("other", "info"))
    if not asserted and sev != "info":
        sev = "info"
    return kind, sev


def entry_from_dict(e: dict) -> IpmiSelEntry:
    """A kept record from the store, decoded again (so decoder fixes reach old records)."""
    asserted = bool(e.get("asserted", True))
    kind, severity = decode_sel(str(e.get("sensor_type", "")), str(e.get("sensor", "")),
                                str(e.get("event", "")), str(e.get("detail", "")), asserted)
    return IpmiSelEntry(
        record_id=int(e["id"]), key=str(e["key"]),
        bmc_time=f"{e.get('date', '')} {e.get('time', '')}".strip(),
        time=float(e["seen_time"]), time_source=str(e.get("time_source", "agent")),
        sensor_type=str(e.get("sensor_type", "")), sensor=str(e.get("sensor", "")), event=str(e.get("event", "")),
        asserted=asserted, detail=str(e.get("detail", "")), kind=kind, severity=severity,
    )
