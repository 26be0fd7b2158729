"""IPMI rules: BMC sensor states and decoded System Event Log records.

Sensor states are the BMC's own judgement against its thresholds (trusted over hard-coded rail
limits): non-critical is a warning, critical and non-recoverable are critical. SEL records are
judged within a window (7 days by default) on the time the agent first read them (or the BMC's
time for records already in the log at first start, when plausible); a record whose condition was
later deasserted for the same sensor and event no longer counts.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from agent.model import Finding, Severity, Snapshot
from agent.model.platform import IpmiSelEntry, IpmiSelInfo, IpmiSensor
from agent.rules.base import RuleContext, rule

DAY = 86400.0
_SEV = {"info": Severity.INFO, "warning": Severity.WARNING, "critical": Severity.CRITICAL}
_CPU = re.compile(r"\b(cpu|proc|processor|socket|pkg)\d*\b", re.IGNORECASE)
# discrete sensor text that means trouble (sdr elist reading column)
_DISCRETE_BAD = (
    ("failure detected", Severity.CRITICAL), ("predictive failure", Severity.WARNING),
    ("power supply ac lost", Severity.WARNING), ("ac lost", Severity.WARNING), ("input lost", Severity.WARNING),
    ("redundancy lost", Severity.WARNING), ("non-redundant", Severity.WARNING), ("redundancy degraded", Severity.WARNING),
    ("ierr", Severity.CRITICAL), ("thermal trip", Severity.CRITICAL), ("uncorrectable ecc", Severity.CRITICAL),
    ("drive fault", Severity.CRITICAL), ("general chassis intrusion", Severity.WARNING),
)
_STATE_TEXT = {"nc": "non-critical", "cr": "critical", "nr": "non-recoverable",
               "lnc": "below lower non-critical", "lcr": "below lower critical", "lnr": "below lower non-recoverable",
               "unc": "above upper non-critical", "ucr": "above upper critical", "unr": "above upper non-recoverable"}
_UNIT = {"temperature": "°C", "fan": "RPM", "voltage": "V", "current": "A", "power": "W"}


def sensor_component(s: IpmiSensor) -> str:
    return "cpu" if s.kind == "temperature" and _CPU.search(s.name) else "board"


def discrete_trouble(s: IpmiSensor) -> Severity | None:
    text = (s.detail or "").lower()
    if not text or "fully redundant" in text and "lost" not in text:
        return None
    worst = None
    for needle, sev in _DISCRETE_BAD:
        if needle in text and (worst is None or sev > worst):
            worst = sev
    return worst


@rule("board.ipmi_sensor",
      description="A BMC sensor is outside its thresholds (non-critical: warning; critical or non-recoverable: critical) "
                  "or a discrete sensor reports a failure.")
def ipmi_sensor(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(IpmiSensor):
        if not ctx.enabled_for(f"ipmi/{s.name}", s.name):
            continue
        level = s.severity_level
        if level:
            sev = Severity.WARNING if level == 1 else Severity.CRITICAL
            unit = _UNIT.get(s.kind, "")
            val = f" at {s.value:g} {unit}".rstrip() if s.value is not None else ""
            limits = {k: getattr(s, k) for k in ("lnr", "lcr", "lnc", "unc", "ucr", "unr") if getattr(s, k) is not None}
            yield ctx.finding(component=sensor_component(s), subject=f"ipmi/{s.name}", device=s.name, severity=sev,
                              summary=f"BMC sensor {s.name}{val}: {_STATE_TEXT.get(s.state, s.state)}",
                              evidence={"sensor": s.name, "kind": s.kind, "value": s.value, "unit": s.unit,
                                        "state": s.state, **limits},
                              fingerprint=s.state,
                              runbook="mainboard-swap" if s.kind == "voltage" and level >= 2 else None)
            continue
        if s.kind == "discrete":
            trouble = discrete_trouble(s)
            if trouble is not None:
                yield ctx.finding(component="board", subject=f"ipmi/{s.name}", device=s.name, severity=trouble,
                                  summary=f"BMC sensor {s.name}: {s.detail}",
                                  evidence={"sensor": s.name, "kind": s.kind, "detail": s.detail or "",
                                            "raw_state": s.raw_state or ""},
                                  fingerprint=s.detail or "")


def active_sel(entries: Iterable[IpmiSelEntry], now: float, window: float) -> list[IpmiSelEntry]:
    """Asserted, non-info records within the window whose condition was not deasserted later."""
    ordered = sorted(entries, key=lambda e: (e.time, e.record_id))
    cleared: dict[tuple[str, str, str], float] = {}
    for e in ordered:
        if not e.asserted:
            k = (e.sensor_type, e.sensor, e.event)
            cleared[k] = max(cleared.get(k, float("-inf")), e.time)
    out = []
    for e in ordered:
        if not e.asserted or e.severity == "info":
            continue
        if now - e.time > window:
            continue
        c = cleared.get((e.sensor_type, e.sensor, e.event))
        if c is not None and c >= e.time:
            continue
        out.append(e)
    return out


def _sel_findings(ctx: RuleContext, kinds: dict[str, str], component: str, runbook: str | None = None) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    groups: dict[tuple[str, str], list[IpmiSelEntry]] = {}
    for e in active_sel(ctx.snapshot.of_type(IpmiSelEntry), ctx.now, ctx.window(window)):
        if e.kind in kinds:
            groups.setdefault((e.kind, e.sensor or e.sensor_type), []).append(e)
    for (kind, sensor), items in sorted(groups.items()):
        if not ctx.enabled_for(f"sel/{sensor}", sensor):
            continue
        sev = max(_SEV.get(e.severity, Severity.WARNING) for e in items)
        last = items[-1]
        yield ctx.finding(component=component, subject=f"sel/{kind}/{sensor}", device=sensor or kind, severity=sev,
                          summary=f"BMC event log: {kinds[kind]} ({last.text}"
                                  f"{', ' + last.detail if last.detail else ''})"
                                  f"{f', {len(items)} records' if len(items) > 1 else ''}",
                          evidence={"kind": kind, "records": len(items), "last_record_id": last.record_id,
                                    "last_event": last.text, "last_bmc_time": last.bmc_time,
                                    "last_detail": last.detail, "window_seconds": window},
                          fingerprint=f"{sev.label}:{last.record_id}", runbook=runbook)


_WINDOW = {"window_seconds": 7 * DAY}
_WINDOW_DOC = {"window_seconds": "how long a SEL record keeps the finding active (unless deasserted)"}


@rule("board.sel_power_supply", defaults=_WINDOW, param_docs=_WINDOW_DOC,
      description="SEL: power supply failure (critical), redundancy lost, input lost or power unit AC loss (warning).")
def sel_power_supply(ctx: RuleContext) -> Iterator[Finding]:
    yield from _sel_findings(ctx, {"psu_failure": "power supply failure", "psu_redundancy_lost": "power supply redundancy lost",
                                   "psu_input_lost": "power supply input lost", "power_loss": "power unit power loss"}, "board")


@rule("board.sel_cpu_error", defaults=_WINDOW, param_docs=_WINDOW_DOC, runbook="mainboard-swap",
      description="SEL: processor CATERR/IERR, thermal trip, FRB/BIST/hang or machine-check error (critical).")
def sel_cpu_error(ctx: RuleContext) -> Iterator[Finding]:
    yield from _sel_findings(ctx, {"caterr": "processor catastrophic error (CATERR/IERR)",
                                   "thermal_trip": "processor thermal trip", "cpu_error": "processor error"}, "cpu")


@rule("memory.sel_ecc", defaults=_WINDOW, param_docs=_WINDOW_DOC, runbook="memory-ecc-errors",
      description="SEL: memory ECC errors reported by the BMC (correctable: warning; uncorrectable/parity: critical).")
def sel_ecc(ctx: RuleContext) -> Iterator[Finding]:
    yield from _sel_findings(ctx, {"memory_ce": "correctable memory ECC", "memory_ue": "uncorrectable memory ECC"}, "memory")


@rule("board.sel_event", defaults=_WINDOW, param_docs=_WINDOW_DOC,
      description="SEL: temperature, fan, voltage and battery thresholds, bus errors (PERR/SERR), watchdog resets, "
                  "OS critical stops, intrusion and drive faults.")
def sel_event(ctx: RuleContext) -> Iterator[Finding]:
    yield from _sel_findings(ctx, {"temperature": "temperature", "fan": "fan", "voltage": "voltage",
                                   "battery": "CMOS battery", "bus_error": "critical interrupt / bus error",
                                   "watchdog": "watchdog expired", "os_stop": "OS critical stop",
                                   "intrusion": "chassis intrusion", "drive": "drive slot fault",
                                   "log_full": "event log full"}, "board")


@rule("board.sel_full", defaults={"warning_free_bytes": 512},
      param_docs={"warning_free_bytes": "free SEL space (bytes) at or below which to warn; 0 = only on overflow"},
      description="The BMC event log is full or overflowed: new hardware events are dropped (or overwrite old ones); "
                  "save and clear it (ipmitool sel save FILE; ipmitool sel clear).")
def sel_full(ctx: RuleContext) -> Iterator[Finding]:
    for info in ctx.snapshot.of_type(IpmiSelInfo):
        if not ctx.enabled_for("sel"):
            continue
        low = info.free_bytes is not None and info.free_bytes <= float(ctx.param("warning_free_bytes"))
        if not (info.overflow or low):
            continue
        what = "overflowed" if info.overflow else f"nearly full ({info.free_bytes} bytes free)"
        yield ctx.finding(component="board", subject="sel/capacity", device="bmc", severity=Severity.WARNING,
                          summary=f"BMC event log {what}, {info.entries} records: new events may be lost",
                          evidence={"entries": info.entries, "free_bytes": info.free_bytes, "overflow": bool(info.overflow)},
                          fingerprint="overflow" if info.overflow else "low")


RULES = (ipmi_sensor, sel_power_supply, sel_cpu_error, sel_ecc, sel_event, sel_full)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    return {}
