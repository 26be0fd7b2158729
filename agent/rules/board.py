"""Board rules: hwmon sensors against their own limits and alarms, fans, voltages, CMOS battery.

Limits come from the chip (``tempN_crit``, ``inN_min``...) first; where a board sets none, a
voltage whose label names its rail (``+12V``, ``+3.3V``, ``5VSB``) is held to a tolerance around
the nominal value (ATX allows +-5 % on +12/+5/+3.3 V; the default here is a looser 10 %).
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from agent.model import Finding, HwmonSensor, Severity, Snapshot, ThermalZone, ThrottleCounter
from agent.rules.base import RuleContext, rule

# hwmon drivers that belong to a disk rather than the board
DISK_CHIPS = {"nvme", "drivetemp"}
_RAIL = re.compile(r"^\s*([+-]?\d+(?:\.\d+)?)\s*v(?:sb|cc|dd|in)?\b", re.IGNORECASE)
_RAIL_ANY = re.compile(r"(?<![\w.])([+-]?\d+(?:\.\d+)?)\s*v(?![a-z])", re.IGNORECASE)
_NOMINAL_BY_NAME = {  # labels that carry no number but a well-known rail
    "vbat": 3.0, "vbat_rtc": 3.0, "3vsb": 3.3, "3vcc": 3.3, "vcc3": 3.3, "avcc": 3.3, "avsb": 3.3, "vsb3": 3.3,
    "5vsb": 5.0, "5vcc": 5.0, "12v": 12.0,
}
BATTERY_LABELS = re.compile(r"^(vbat|vbat_rtc|battery|cmos|rtc.?bat|vbatt)", re.IGNORECASE)


def component_of(s: HwmonSensor) -> tuple[str, str]:
    """(component, device) for a sensor: disk chips belong to their disk."""
    if s.chip_name in DISK_CHIPS:
        return f"disk:{s.chip}", s.chip
    if s.chip_name in ("coretemp", "k10temp", "zenpower"):
        return "cpu", s.chip
    return "board", s.chip


def nominal_volts(label: str | None) -> float | None:
    """Nominal rail voltage from a label: "+12V" -> 12, "3VSB" -> 3.3, "VBAT" -> 3.0."""
    if not label:
        return None
    key = label.strip().lower().replace(" ", "").replace("+", "")
    if key in _NOMINAL_BY_NAME:
        return _NOMINAL_BY_NAME[key]
    m = _RAIL.match(label) or _RAIL_ANY.search(label)
    if not m:
        return None
    v = abs(float(m.group(1)))
    if v == 3.0 and "3.3" not in label:
        v = 3.3  # "3VSB", "3VCC" are 3.3 V rails
    return v if v > 0 else None


def _ev(s: HwmonSensor, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"chip": s.chip, "chip_name": s.chip_name, "sensor": s.sensor}
    if s.label:
        ev["label"] = s.label
    if s.value is not None:
        ev["value"] = round(s.value, 3)
    ev.update({k: v for k, v in extra.items() if v is not None})
    return ev


@rule("board.sensor_alarm", runbook=None,
      description="A hwmon chip raised an alarm file (crit/emergency/lcrit alarms are critical).")
def sensor_alarm(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(HwmonSensor):
        if not s.alarms or s.fault or not ctx.enabled_for(s.subject, s.chip):
            continue
        critical = any(a.startswith(("crit", "emergency", "lcrit")) for a in s.alarms)
        if s.kind == "intrusion":
            sev, what = Severity.WARNING, "chassis intrusion detected"
        else:
            sev = Severity.CRITICAL if critical else Severity.WARNING
            what = f"{s.kind} alarm ({', '.join(s.alarms)})"
        comp, dev = component_of(s)
        yield ctx.finding(component=comp, subject=s.subject, device=f"{s.chip}/{s.sensor}", severity=sev,
                          summary=f"{s.display}: {what}",
                          evidence=_ev(s, alarms=",".join(s.alarms), max=s.max, crit=s.crit, min=s.min),
                          fingerprint=",".join(s.alarms))


@rule("board.temp_critical", defaults={"margin_celsius": 0.0, "warning_celsius": 0.0, "critical_celsius": 0.0},
      param_docs={"margin_celsius": "degrees below the chip's max/crit at which to warn early",
                  "warning_celsius": "absolute warning level where the chip sets no max (0 = off)",
                  "critical_celsius": "absolute critical level where the chip sets no crit (0 = off)"},
      description="A temperature at or above its crit/emergency limit (critical) or max (warning).")
def temp_critical(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(HwmonSensor):
        if s.kind != "temp" or s.value is None or s.fault or not ctx.enabled_for(s.subject, s.chip):
            continue
        breach = _temp_breach(ctx, s, s.value)
        if breach is None:
            continue
        sev, which, limit = breach
        comp, _dev = component_of(s)
        yield ctx.finding(component=comp, subject=s.subject, device=f"{s.chip}/{s.sensor}", severity=sev,
                          summary=f"{s.display} at {s.value:.1f} °C, {which} limit {limit:.1f} °C",
                          evidence=_ev(s, limit=limit, limit_kind=which), fingerprint=which)
    yield from _thermal_zone_trips(ctx)


# (severity, which limit, the limit) of a reading past one of its limits
Breach = tuple[Severity, str, float]


def _temp_breach(ctx: RuleContext, s: HwmonSensor, value: float) -> Breach | None:
    """crit (else emergency, else the configured level) is critical, max (else the configured
    level) a warning; both reached ``margin_celsius`` early. A limit of 0 or below is no limit."""
    margin = float(ctx.param("margin_celsius", s.subject, s.chip))
    crit = s.crit if s.crit is not None else s.emergency
    if crit is None or crit <= 0:
        crit = float(ctx.param("critical_celsius", s.subject, s.chip)) or None
    hi = s.max if s.max is not None and s.max > 0 else (float(ctx.param("warning_celsius", s.subject, s.chip)) or None)
    if crit is not None and value >= crit - margin:
        return Severity.CRITICAL, "crit", crit
    if hi is not None and value >= hi - margin:
        return Severity.WARNING, "max", hi
    return None


def _thermal_zone_trips(ctx: RuleContext) -> Iterator[Finding]:
    for z in ctx.snapshot.of_type(ThermalZone):
        if z.temp_celsius is None or not ctx.enabled_for(z.zone):
            continue
        for kind, t in z.trip_points:
            if kind == "critical" and t > 0 and z.temp_celsius >= t - float(ctx.param("margin_celsius", z.zone)):
                yield ctx.finding(component="board", subject=f"thermal/{z.zone}", device=z.zone,
                                  severity=Severity.CRITICAL,
                                  summary=f"thermal zone {z.zone} ({z.type}) at {z.temp_celsius:.1f} °C, critical trip {t:.1f} °C",
                                  evidence={"zone": z.zone, "type": z.type, "value": z.temp_celsius, "limit": t},
                                  fingerprint="critical")
                break


@rule("board.fan_stopped", defaults={"stopped_rpm": 0.0},
      param_docs={"stopped_rpm": "a fan at or below this speed counts as stopped"},
      description="A fan reads 0 RPM while driven (pwm > 0), while it has a minimum set, or after it was seen spinning.")
def fan_stopped(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(HwmonSensor):
        if s.kind != "fan" or s.value is None or s.fault or not ctx.enabled_for(s.subject, s.chip):
            continue
        stopped = float(ctx.param("stopped_rpm", s.subject, s.chip))
        if s.value > stopped:
            continue
        # Unpopulated fan headers read 0 forever: only a fan that should spin is a finding.
        seen = ctx.history.max(f"hwmon.fan:{s.subject}") if ctx.history is not None else None
        reasons = []
        if s.pwm is not None and s.pwm > 0:
            reasons.append(f"pwm {s.pwm}/255")
        if s.min is not None and s.min > 0:
            reasons.append(f"min {s.min:.0f} RPM")
        if seen is not None and seen > stopped:
            reasons.append(f"was spinning at {seen:.0f} RPM")
        if s.target is not None and s.target > 0:
            reasons.append(f"target {s.target:.0f} RPM")
        if not reasons:
            continue
        yield ctx.finding(component="board", subject=s.subject, device=f"{s.chip}/{s.sensor}",
                          severity=Severity.CRITICAL,
                          summary=f"{s.display} stopped ({s.value:.0f} RPM; {', '.join(reasons)})",
                          evidence=_ev(s, pwm=s.pwm, min=s.min, max_seen_rpm=seen), fingerprint="stopped")


@rule("board.fan_slow", description="A fan spins below the minimum its chip sets.")
def fan_slow(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(HwmonSensor):
        if s.kind != "fan" or s.value is None or s.fault or not s.min or not ctx.enabled_for(s.subject, s.chip):
            continue
        if 0 < s.value < s.min:
            yield ctx.finding(component="board", subject=s.subject, device=f"{s.chip}/{s.sensor}",
                              severity=Severity.WARNING,
                              summary=f"{s.display} at {s.value:.0f} RPM, below its minimum {s.min:.0f} RPM",
                              evidence=_ev(s, min=s.min), fingerprint="slow")


@rule("board.voltage_out_of_range", defaults={"tolerance_ratio": 0.10, "critical_tolerance_ratio": 0.20},
      param_docs={"tolerance_ratio": "allowed deviation from a labelled rail's nominal voltage (warning)",
                  "critical_tolerance_ratio": "deviation from nominal that is critical"},
      description="A voltage outside its chip limits (lcrit/crit critical, min/max warning) or, without limits, off its labelled nominal rail.")
def voltage_out_of_range(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(HwmonSensor):
        if s.kind != "in" or s.value is None or s.fault or not ctx.enabled_for(s.subject, s.chip):
            continue
        if BATTERY_LABELS.match(s.label or ""):
            continue  # board.cmos_battery_low judges the battery
        v = s.value
        no_limits = s.min is None and s.max is None and s.lcrit is None and s.crit is None
        breach = _nominal_breach(ctx, s, v) if no_limits else _chip_voltage_breach(s, v)
        if breach is None:
            continue
        sev, why, limit = breach
        yield ctx.finding(component="board", subject=s.subject, device=f"{s.chip}/{s.sensor}", severity=sev,
                          summary=f"{s.display} at {v:.3f} V, outside {why} ({limit:g} V)",
                          evidence=_ev(s, min=s.min, max=s.max, lcrit=s.lcrit, crit=s.crit, limit=limit, limit_kind=why),
                          fingerprint=str(why), runbook="mainboard-swap")


def _chip_voltage_breach(s: HwmonSensor, v: float) -> Breach | None:
    """Against the chip's own limits: at/below lcrit or at/above crit is critical, outside min..max a warning."""
    if s.lcrit is not None and v <= s.lcrit:
        return Severity.CRITICAL, "lcrit", s.lcrit
    if s.crit is not None and s.crit > 0 and v >= s.crit:
        return Severity.CRITICAL, "crit", s.crit
    if s.min is not None and s.max is not None and s.max > s.min and not (s.min <= v <= s.max):
        return (Severity.WARNING, "min", s.min) if v < s.min else (Severity.WARNING, "max", s.max)
    return None


def _nominal_breach(ctx: RuleContext, s: HwmonSensor, v: float) -> Breach | None:
    """A chip without limits: the deviation from the rail its label names (12V, 5V, 3.3V ...)."""
    nom = nominal_volts(s.label)
    if not nom:
        return None
    dev = abs(v - nom) / nom
    if dev >= float(ctx.param("critical_tolerance_ratio", s.subject, s.chip)):
        return Severity.CRITICAL, f"nominal {nom:g} V", nom
    if dev >= float(ctx.param("tolerance_ratio", s.subject, s.chip)):
        return Severity.WARNING, f"nominal {nom:g} V", nom
    return None


@rule("board.cmos_battery_low", defaults={"warning_volts": 2.8, "critical_volts": 2.5},
      param_docs={"warning_volts": "VBAT below this warns (CR2032 nominal 3.0 V)",
                  "critical_volts": "VBAT below this is critical (clock and BIOS settings at risk)"},
      description="The CMOS/RTC battery voltage (VBAT) is low: BIOS settings and clock are lost on the next power cut.")
def cmos_battery_low(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(HwmonSensor):
        if s.kind != "in" or s.value is None or s.fault or not BATTERY_LABELS.match(s.label or ""):
            continue
        if not ctx.enabled_for(s.subject, s.chip) or s.value <= 0.1:
            continue  # 0 V: not wired on this board
        crit = float(ctx.param("critical_volts", s.subject, s.chip))
        warn = float(ctx.param("warning_volts", s.subject, s.chip))
        sev = Severity.CRITICAL if s.value < crit else Severity.WARNING if s.value < warn else None
        if sev:
            yield ctx.finding(component="board", subject=s.subject, device=f"{s.chip}/{s.sensor}", severity=sev,
                              summary=f"CMOS battery at {s.value:.2f} V (replace the CR2032)",
                              evidence=_ev(s, warning_volts=warn, critical_volts=crit), fingerprint=sev.label)


@rule("board.sensor_fault", description="A hwmon sensor reports a fault: its reading cannot be trusted.")
def sensor_fault(ctx: RuleContext) -> Iterator[Finding]:
    for s in ctx.snapshot.of_type(HwmonSensor):
        if s.fault and ctx.enabled_for(s.subject, s.chip):
            comp, _ = component_of(s)
            yield ctx.finding(component=comp, subject=s.subject, device=f"{s.chip}/{s.sensor}",
                              severity=Severity.WARNING, summary=f"{s.display}: sensor fault (reading untrustworthy)",
                              evidence=_ev(s), fingerprint="fault")


@rule("board.thermal_throttling", defaults={"window_seconds": 3600.0, "warning_events": 1, "critical_events": 100},
      param_docs={"window_seconds": "window over which throttle events are counted",
                  "warning_events": "throttle events per window (all CPUs of a package) that warn",
                  "critical_events": "throttle events per window that are critical"},
      description="CPUs throttled for heat within the window (kernel thermal_throttle counters, reset-aware).")
def thermal_throttling(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    per_scope: dict[str, float] = {}
    cpus: dict[str, list[int]] = {}
    for c in ctx.snapshot.of_type(ThrottleCounter):
        d = ctx.history.delta(f"throttle:{c.scope}:cpu{c.cpu}", window, c.count, ctx.snapshot.boot_id) if ctx.history else None
        if d:
            per_scope[c.scope] = per_scope.get(c.scope, 0) + d
            cpus.setdefault(c.scope, []).append(c.cpu)
    for scope, n in sorted(per_scope.items()):
        if not ctx.enabled_for(scope):
            continue
        crit = float(ctx.param("critical_events", scope))
        warn = float(ctx.param("warning_events", scope))
        sev = Severity.CRITICAL if n >= crit else Severity.WARNING if n >= warn else None
        if sev:
            yield ctx.finding(component="cpu", subject=f"throttle/{scope}", device=scope, severity=sev,
                              summary=f"{int(n)} {scope} thermal throttle events in the last {window / 3600:g} h "
                                      f"on {len(cpus[scope])} CPU(s): check cooling (fans, heatsink, airflow)",
                              evidence={"events": int(n), "window_seconds": window, "cpus": ",".join(map(str, sorted(cpus[scope])))},
                              fingerprint=sev.label)


RULES = (sensor_alarm, temp_critical, fan_stopped, fan_slow, voltage_out_of_range, cmos_battery_low,
         sensor_fault, thermal_throttling)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    """Values the daemon stores for these rules' history (fan peaks, throttle counters)."""
    out: dict[str, float] = {}
    for s in snapshot.of_type(HwmonSensor):
        if s.kind == "fan" and s.value is not None and s.value > 0 and not s.fault:
            out[f"hwmon.fan:{s.subject}"] = s.value
    for c in snapshot.of_type(ThrottleCounter):
        out[f"throttle:{c.scope}:cpu{c.cpu}"] = c.count
    return out
