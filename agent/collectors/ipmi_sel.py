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


def decode_sel(stype: str, sensor: str, event: str, detail: str, asserted: bool) -> tuple[str, str]:
    """(kind, severity) of one SEL record. Deasserted records (a condition clearing) are info."""
    t = stype.lower()
    e = event.lower()
    name = sensor.lower()
    kind, sev = "other", "info"
    if t == "event logging disabled":
        if "cleared" in e:
            kind, sev = "log_cleared", "info"
        elif "full" in e:
            kind, sev = "log_full", "warning"
        else:
            kind, sev = "other", "info"
    elif "caterr" in name or "caterr" in e or re.search(r"\bierr\b", e):
        kind, sev = "caterr", "critical"
    elif t == "processor" or "cpu" in name and "thermal trip" in e:
        if "thermal trip" in e:
            kind, sev = "thermal_trip", "critical"
        elif "throttl" in e:
            kind, sev = "temperature", "warning"
        elif any(k in e for k in ("frb", "bist", "hang", "configuration error", "machine check", "uncorrectable")):
            kind, sev = "cpu_error", "critical"
        elif "presence" in e:
            kind, sev = "other", "info"
        else:
            kind, sev = "cpu_error", "warning"
    elif t == "memory" or ("ecc" in e and ("dimm" in name or "mem" in name)):
        if "uncorrectable" in e or "parity" in e or "fatal" in e:
            kind, sev = "memory_ue", "critical"
        elif "correctable" in e or "ecc" in e:
            kind, sev = "memory_ce", "warning"
        elif "presence" in e:
            kind, sev = "other", "info"
        else:
            kind, sev = "memory_ce", "warning"
    elif "redundancy lost" in e or "redundancy degraded" in e or "non-redundant" in e:
        kind, sev = "psu_redundancy_lost", "warning"
    elif t == "power supply" or (_PSU_NAME.search(name) and ("fail" in name or "fail" in e)):
        if "input lost" in e or "ac lost" in e or "out-of-range" in e:
            kind, sev = "psu_input_lost", "warning"
        elif "fail" in e or "fail" in name or "configuration error" in e or "state asserted" in e:
            kind, sev = "psu_failure", "critical"
        elif "redundan" in e:  # "Fully Redundant", "Redundancy Regained"
            kind, sev = "other", "info"
        elif "presence" in e:
            kind, sev = "other", "info"
        else:
            kind, sev = "psu_failure", "warning"
    elif t == "power unit":
        if "ac lost" in e or "power off" in e or "power down" in e or "failure" in e:
            kind, sev = "power_loss", "warning"
        else:
            kind, sev = "other", "info"
    elif t == "battery" or (t == "voltage" and _VBAT_NAME.search(name)):
        kind = "battery"
        sev = "critical" if ("failed" in e or "critical" in e and "non-critical" not in e) else "warning"
    elif t == "temperature":
        kind, sev = "temperature", _threshold_severity(e)
    elif t == "fan" or (t == "cooling device"):
        kind, sev = "fan", _threshold_severity(e) if _THRESHOLD_EVENT.search(e) else "critical" if "fail" in e or "critical" in e else "warning"
    elif t == "voltage":
        kind = "voltage"
        sev = _threshold_severity(e) if _THRESHOLD_EVENT.search(e) else "critical"
    elif t == "critical interrupt":
        kind = "bus_error"
        sev = "warning" if ("correctable" in e and "uncorrectable" not in e) or "front panel" in e else "critical"
    elif t.startswith("watchdog"):
        kind, sev = "watchdog", "warning"
    elif t == "os critical stop":
        kind, sev = "os_stop", "warning" if "graceful" not in e else "info"
        if "graceful" in e:
            kind = "other"
    elif t in ("system boot initiated", "system boot / restart initiated") or "system restart" in name:
        kind, sev = "system_restart", "info"
    elif t == "physical security":
        kind, sev = "intrusion", "warning"
    elif t == "drive slot / bay":
        kind = "drive"
        sev = "critical" if "fault" in e else "warning" if "predictive" in e or "failure" in e else "info"
    elif _THRESHOLD_EVENT.search(e):
        kind, sev = "other", _threshold_severity(e)
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
