"""Memory rules from EDAC counters (ids ``memory.*``), and the windowing function the platform
rule families share.

Kernel counters reset on reboot and driver reload, so a rule never judges a raw total: it asks
for the growth within a window (24 h by default, mcelog's leaky-bucket period) from the store's
boot-aware history. Until the history covers the window, the count since the counters were
reset stands in for it: entirely when the reset lies within the window, else prorated by the
time since the reset (the average rate over the window). So a fresh agent on a host that has
been up for months does not read months of errors as a storm, and a host that just booted with
errors is not silent until the history fills.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from agent.model import Finding, Severity, Snapshot, SystemReading
from agent.model.platform import EdacController, EdacDimm
from agent.rules.base import RuleContext, rule

DAY = 86400.0


def uptime(snapshot: Snapshot) -> float | None:
    for r in snapshot.of_type(SystemReading):
        return r.uptime_seconds
    return None


def windowed(ctx: RuleContext, key: str, current: int | None, window: float, since_reset: float | None) -> float:
    """Counter growth within ``window`` seconds (see the module doc); 0 when unknown."""
    if current is None:
        return 0.0
    window = ctx.window(window)  # a board-scoped rule after a board swap: from the new board's epoch only
    d = ctx.history.delta(key, window, current, ctx.snapshot.boot_id) if ctx.history is not None else None
    if since_reset is not None and 0 <= since_reset <= window:
        return float(max(d or 0.0, current))  # every error the kernel counted happened within the window
    if d is not None:
        return float(d)
    if since_reset is not None and since_reset > 0:
        return current * window / since_reset  # average rate since the reset, over the window
    return float(current)


def _dimm_since_reset(snapshot: Snapshot) -> dict[str, float | None]:
    """seconds_since_reset per controller, falling back to the uptime."""
    up = uptime(snapshot)
    out: dict[str, float | None] = {}
    for c in snapshot.of_type(EdacController):
        out[c.controller] = float(c.seconds_since_reset) if c.seconds_since_reset is not None else up
    return out


def dimm_ce_in_window(ctx: RuleContext, window: float) -> list[tuple[EdacDimm, float]]:
    since = _dimm_since_reset(ctx.snapshot)
    up = uptime(ctx.snapshot)
    out = []
    for d in ctx.snapshot.of_type(EdacDimm):
        n = windowed(ctx, f"edac.ce:{d.slot}", d.ce_count, window, since.get(d.controller, up))
        out.append((d, n))
    return out


def _sev(n: float, warn: float, crit: float) -> Severity | None:
    if crit and n >= crit:
        return Severity.CRITICAL
    if warn and n >= warn:
        return Severity.WARNING
    return None


@rule("memory.ce_storm", defaults={"window_seconds": DAY, "warning": 10, "critical": 1000},
      param_docs={"window_seconds": "window over which corrected errors are counted (reset-aware)",
                  "warning": "corrected errors per DIMM per window that warn (mcelog: 10 per 24 h)",
                  "critical": "corrected errors per DIMM per window that are critical (0 = never)"},
      runbook="memory-ecc-errors",
      description="Corrected memory errors on one DIMM at or above a rate (EDAC per-DIMM counters).")
def ce_storm(ctx: RuleContext) -> Iterator[Finding]:
    for d, n in dimm_ce_in_window(ctx, float(ctx.param("window_seconds"))):
        if not n or not ctx.enabled_for(d.subject, d.slot):
            continue
        sev = _sev(n, float(ctx.param("warning", d.subject, d.slot)), float(ctx.param("critical", d.subject, d.slot)))
        if sev is None:
            continue
        window = float(ctx.param("window_seconds"))
        yield ctx.finding(component="memory", subject=d.subject, device=d.slot, severity=sev,
                          summary=f"{int(round(n))} corrected memory errors in {window / 3600:g} h on "
                                  f"{d.label or d.slot} ({d.controller}): replace the DIMM before errors turn uncorrectable",
                          evidence={"controller": d.controller, "dimm": d.dimm, "label": d.label or "",
                                    "location": d.location or "", "errors_in_window": int(round(n)),
                                    "ce_count_since_reset": d.ce_count, "window_seconds": window},
                          fingerprint=sev.label)


@rule("memory.controller_ce_storm", defaults={"window_seconds": DAY, "warning": 100, "critical": 0},
      param_docs={"window_seconds": "window over which corrected errors are counted",
                  "warning": "corrected errors per memory controller per window that warn (mcelog: 100 per socket per 24 h)",
                  "critical": "corrected errors per controller per window that are critical (0 = never)"},
      runbook="memory-ecc-errors",
      description="Corrected memory errors on one memory controller (all its DIMMs plus unattributed) at or above a rate.")
def controller_ce_storm(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    up = uptime(ctx.snapshot)
    per_dimm: dict[str, list[str]] = defaultdict(list)
    for d, n in dimm_ce_in_window(ctx, window):
        if n >= 1:
            per_dimm[d.controller].append(d.label or d.dimm)
    for c in ctx.snapshot.of_type(EdacController):
        if not ctx.enabled_for(c.controller):
            continue
        since = float(c.seconds_since_reset) if c.seconds_since_reset is not None else up
        n = windowed(ctx, f"edac.mc.ce:{c.controller}", c.ce_count, window, since)
        sev = _sev(n, float(ctx.param("warning", c.controller)), float(ctx.param("critical", c.controller)))
        if sev is None:
            continue
        dimms = per_dimm.get(c.controller, [])
        yield ctx.finding(component="memory", subject=f"edac/{c.controller}", device=c.controller, severity=sev,
                          summary=f"{int(round(n))} corrected memory errors in {window / 3600:g} h on controller "
                                  f"{c.controller}{f' ({c.mc_name})' if c.mc_name else ''}"
                                  f"{f' across {len(dimms)} DIMMs' if len(dimms) > 1 else ''}",
                          evidence={"controller": c.controller, "mc_name": c.mc_name or "",
                                    "errors_in_window": int(round(n)), "dimms_with_errors": ",".join(dimms),
                                    "window_seconds": window},
                          fingerprint=sev.label)


@rule("memory.uncorrected_error", defaults={"window_seconds": 7 * DAY},
      param_docs={"window_seconds": "how long an uncorrected error keeps the finding active (across reboots)"},
      runbook="memory-ecc-errors",
      description="Any uncorrected memory error counted by EDAC (per DIMM where attributable, else per controller): critical.")
def uncorrected_error(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    attributed: dict[str, float] = defaultdict(float)
    for d in ctx.snapshot.of_type(EdacDimm):
        # UEs are rare and never averaged away: any in this boot, or grown within the window
        # (which reaches back across reboots), keeps the finding
        n = max(windowed(ctx, f"edac.ue:{d.slot}", d.ue_count, window, None), float(d.ue_count or 0))
        if n < 1 or not ctx.enabled_for(d.subject, d.slot):
            continue
        attributed[d.controller] += n
        yield ctx.finding(component="memory", subject=d.subject, device=d.slot, severity=Severity.CRITICAL,
                          summary=f"{int(n)} uncorrected memory error(s) on {d.label or d.slot} ({d.controller}): "
                                  f"data was lost or a process killed; replace the DIMM",
                          evidence={"controller": d.controller, "dimm": d.dimm, "label": d.label or "",
                                    "location": d.location or "", "errors_in_window": int(n),
                                    "ue_count_since_reset": d.ue_count},
                          fingerprint="ue")
    for c in ctx.snapshot.of_type(EdacController):
        n = max(windowed(ctx, f"edac.mc.ue:{c.controller}", c.ue_count, window, None), float(c.ue_count or 0))
        rest = n - attributed.get(c.controller, 0.0)
        if rest < 1 or not ctx.enabled_for(c.controller):
            continue
        yield ctx.finding(component="memory", subject=f"edac/{c.controller}", device=c.controller,
                          severity=Severity.CRITICAL,
                          summary=f"{int(rest)} uncorrected memory error(s) on controller {c.controller} "
                                  f"not attributed to a DIMM",
                          evidence={"controller": c.controller, "mc_name": c.mc_name or "", "errors_in_window": int(rest),
                                    "ue_count_since_reset": c.ue_count, "ue_noinfo_count": c.ue_noinfo_count},
                          fingerprint="ue")


@rule("memory.ce_noinfo", defaults={"window_seconds": DAY, "warning": 1},
      param_docs={"window_seconds": "window over which unattributed corrected errors are counted",
                  "warning": "unattributed corrected errors per window that warn"},
      runbook="memory-ecc-errors",
      description="Corrected errors the EDAC driver could not attribute to a DIMM (ce_noinfo_count): controller, socket or board.")
def ce_noinfo(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    up = uptime(ctx.snapshot)
    for c in ctx.snapshot.of_type(EdacController):
        if not ctx.enabled_for(c.controller):
            continue
        since = float(c.seconds_since_reset) if c.seconds_since_reset is not None else up
        n = windowed(ctx, f"edac.mc.ce_noinfo:{c.controller}", c.ce_noinfo_count, window, since)
        warn = float(ctx.param("warning", c.controller))
        if n < max(warn, 1):
            continue
        yield ctx.finding(component="memory", subject=f"edac/{c.controller}/noinfo", device=c.controller,
                          severity=Severity.WARNING,
                          summary=f"{int(round(n))} corrected memory errors on {c.controller} without DIMM attribution "
                                  f"in {window / 3600:g} h: the controller, socket or board may be at fault",
                          evidence={"controller": c.controller, "errors_in_window": int(round(n)),
                                    "ce_noinfo_count_since_reset": c.ce_noinfo_count, "window_seconds": window},
                          fingerprint="noinfo")


RULES = (ce_storm, controller_ce_storm, uncorrected_error, ce_noinfo)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in snapshot.of_type(EdacController):
        for key, v in (("edac.mc.ce", c.ce_count), ("edac.mc.ue", c.ue_count), ("edac.mc.ce_noinfo", c.ce_noinfo_count)):
            if v is not None:
                out[f"{key}:{c.controller}"] = v
    for d in snapshot.of_type(EdacDimm):
        if d.ce_count is not None:
            out[f"edac.ce:{d.slot}"] = d.ce_count
        if d.ue_count is not None:
            out[f"edac.ue:{d.slot}"] = d.ue_count
    return out
