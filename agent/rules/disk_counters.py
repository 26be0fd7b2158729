"""Disk evidence counters: one declared table, one rule per counter, severity from four axes.

Each row of :data:`COUNTERS` is a lifetime counter with published failure correlation, and its
thresholds are data (rule defaults, overridable in config per rule and per device). A row's rule
judges, in this order, the worst that applies:

1. **magnitude of existing damage** (``critical``/``warning``/``info`` counts): the failure risk
   rises steeply with the count (Backblaze's per-count failure rates; Pinheiro et al., FAST'07,
   Figs. 9-12), so a large count is critical on the *first* reading, without waiting for growth;
2. **rate of growth per time** (``growth_critical`` within ``critical_window_seconds``,
   ``growth_warning`` within ``warning_window_seconds``): a counter that is still climbing is a
   surface that is still failing (Backblaze replaces drives whose 197/198 keep rising);
3. **drive age** (``young_hours``): a drive younger than this with any count is a warning, not
   info (Pinheiro et al.: the effect of reallocations and scan errors on survival is strongest
   in young drives);
4. everything else that is non-zero (a small, old, stable count) is **info**: shown, exported,
   never an alert.

Pending sectors (197) get one more distinction: pending sectors that disappeared within the
window either turned into reallocations (5 grew: the defect was real, a warning) or cleared on
rewrite (5 did not grow: the sector was readable after all, info).

Attribute semantics decide which counters have rows at all: 188 is judged on its decoded low word
(Seagate packs three counters into the raw value) and never statically on Seagate; 187 counts
errors the host saw (data loss, AFR 33.9 % at a count of 1 in Backblaze's data) while 197/198 count
sectors the drive knows are bad; 199 is the cable, backplane or controller (component ``board``,
no disk swap). Thresholds and sources of every row: docs/findings/disk.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from agent.model import Finding, Severity
from agent.model.disk import SmartDevice, is_seagate
from agent.rules.base import Rule, RuleContext, rule

DAY = 86400.0
SWAP = "disk-swap-mdadm"


@dataclass(frozen=True)
class Counter:
    """One row of the table: a counter, what it means, its default thresholds and their source."""

    rule_id: str
    counter: str  # key in SmartDevice.counters(): "ata_5", "scsi_grown_defects"
    what: str  # "reallocated sectors"
    attribute: str  # "ATA 5 Reallocated_Sector_Ct" (for people)
    info: int  # existing count shown as info (0 = off)
    warning: int  # existing count that warns on its own, first reading included (0 = off)
    critical: int  # existing count that is critical on its own, first reading included (0 = off)
    growth_warning: int  # growth within warning_window_seconds that warns (0 = off)
    growth_critical: int  # growth within critical_window_seconds that is critical (0 = off)
    warning_window_days: float = 30.0
    critical_window_days: float = 7.0
    young_hours: float = 0.0  # younger drives: any count >= info is a warning (0 = off)
    component: str | None = None  # None: the disk; "board" for interface errors
    runbook: str | None = SWAP  # attached to critical findings only
    static_unless: Callable[[SmartDevice], bool] | None = None  # True: judge growth only (packed raw)
    source: str = ""

    def defaults(self) -> dict[str, Any]:
        return {"info": self.info, "warning": self.warning, "critical": self.critical,
                "growth_warning": self.growth_warning, "growth_critical": self.growth_critical,
                "warning_window_seconds": self.warning_window_days * DAY,
                "critical_window_seconds": self.critical_window_days * DAY,
                "young_hours": self.young_hours}


PARAM_DOCS = {
    "info": "existing count shown as an info finding (0 = off)",
    "warning": "existing count that warns on its own, also on the first reading (0 = off)",
    "critical": "existing count that is critical on its own, also on the first reading (0 = off)",
    "growth_warning": "growth within warning_window_seconds that warns (0 = off)",
    "growth_critical": "growth within critical_window_seconds that is critical (0 = off)",
    "warning_window_seconds": "window of growth_warning",
    "critical_window_seconds": "window of growth_critical (the rate: growth per this window)",
    "young_hours": "a drive with fewer power-on hours and any count >= info warns (0 = off)",
}

_seagate: Callable[[SmartDevice], bool] = lambda d: is_seagate(d.model, d.model_family, d.vendor)  # noqa: E731

COUNTERS: tuple[Counter, ...] = (
    Counter("disk.reallocated_sectors", "ata_5", "reallocated sectors", "ATA 5 Reallocated_Sector_Ct",
            info=1, warning=17, critical=1000, growth_warning=1, growth_critical=8, young_hours=8760,
            source="Backblaze SMART stats (2014/2016): failure rate by count 0: 2.5 %, 2-4: 2.7 %, 5-16: 7.5 %, "
                   "17-70: 23.6 % AFR; Pinheiro et al. FAST'07: first reallocation 14x, strongest in young drives"),
    Counter("disk.reported_uncorrectable", "ata_187", "reported uncorrectable errors", "ATA 187 Reported_Uncorrect",
            info=0, warning=1, critical=100, growth_warning=1, growth_critical=10,
            source="Backblaze SMART stats: AFR 33.9 % at a count of 1; errors the host saw (data lost on read)"),
    Counter("disk.command_timeout", "ata_188", "command timeouts", "ATA 188 Command_Timeout",
            info=1, warning=0, critical=0, growth_warning=3, growth_critical=0, critical_window_days=7,
            warning_window_days=7, runbook=None, static_unless=_seagate,
            source="Backblaze SMART stats (one of the five); the noisiest of them on healthy drives (raw 8-33 on "
                   "healthy Micron 5300; single timeouts follow resets and power events), so a stable count is "
                   "info and only several new timeouts within a week warn; Seagate packs three 16-bit counters "
                   "(decoded low word judged)"),
    Counter("disk.pending_sectors", "ata_197", "pending sectors", "ATA 197 Current_Pending_Sector",
            info=0, warning=1, critical=8, growth_warning=1, growth_critical=2, young_hours=8760,
            source="Pinheiro et al. FAST'07: pending 16x; Backblaze: AFR 34 % at a count of 2, drives with "
                   "rising 197/198 replaced; may return to 0 after a rewrite (cleared, info)"),
    Counter("disk.offline_uncorrectable", "ata_198", "offline uncorrectable sectors", "ATA 198 Offline_Uncorrectable",
            info=0, warning=1, critical=8, growth_warning=1, growth_critical=1, young_hours=8760,
            source="Pinheiro et al. FAST'07: after the first scan error 39x likelier to fail within 60 days; "
                   "Backblaze: AFR 81 % at counts 1-2"),
    Counter("disk.crc_errors", "ata_199", "interface CRC errors (cable/backplane)", "ATA 199 UDMA_CRC_Error_Count",
            info=1, warning=100, critical=0, growth_warning=1, growth_critical=100, critical_window_days=1,
            warning_window_days=7, component="board", runbook=None,
            source="ATA/ATAPI ACS: CRC errors on the link (cable, backplane, controller), never reset; a stable old "
                   "count is history, growth is a link that is failing now"),
    Counter("disk.end_to_end_errors", "ata_184", "end-to-end (internal data path) errors", "ATA 184 End-to-End_Error",
            info=0, warning=1, critical=0, growth_warning=1, growth_critical=1,
            source="Vendor semantics (HGST/Seagate): parity mismatch between host interface and media buffer; "
                   "any new one means data corrupted inside the drive"),
    Counter("disk.spin_retries", "ata_10", "spin-up retries", "ATA 10 Spin_Retry_Count",
            info=1, warning=0, critical=0, growth_warning=1, growth_critical=0, runbook=None,
            source="Pinheiro et al. FAST'07: no failed drive showed it (weak signal): growth warns only"),
    Counter("disk.scsi_grown_defects", "scsi_grown_defects", "grown defects", "SCSI grown defect list",
            info=1, warning=17, critical=1000, growth_warning=1, growth_critical=10,
            source="SBC-3 grown defect list (sectors reassigned after manufacture; the SCSI analogue of ATA 5); "
                   "thresholds as for ATA 5"),
)


def _worst(sevs: list[tuple[Severity, str]]) -> tuple[Severity, str] | None:
    return max(sevs, key=lambda s: s[0]) if sevs else None


def judge(row: Counter, d: SmartDevice, p: Callable[[str], float], now: float) -> tuple[Severity, list[str], dict[str, Any]] | None:
    """Severity, reasons and evidence of one row on one device (None: nothing to report)."""
    cur = d.counter(row.counter)
    if cur is None:
        return None
    gw_win, gc_win = p("warning_window_seconds"), p("critical_window_seconds")
    g_warn = d.growth_within(row.counter, gw_win, now) or 0.0
    g_crit = d.growth_within(row.counter, gc_win, now) or 0.0
    hours = d.power_on_seconds / 3600.0 if d.power_on_seconds is not None else None
    static = not (row.static_unless is not None and row.static_unless(d))
    magnitude = _magnitude(cur, p, hours) if static and cur > 0 else None
    growth = _growth(p, g_crit, gc_win, g_warn, gw_win)
    sevs = [s for s in (magnitude, growth) if s is not None]
    ev: dict[str, Any] = {"counter": row.counter, "count": cur, "growth_critical_window": g_crit,
                          "growth_warning_window": g_warn}
    if row.counter == "ata_197":
        extra = _pending_resolution(d, gw_win, now)
        if extra is not None:
            sevs.append(extra[0])
            ev["pending_resolved"] = extra[1]
    worst = _worst(sevs)
    if worst is None:
        return None
    if hours is not None:
        ev["power_on_hours"] = round(hours)
    reasons = [r for s, r in sorted(sevs, key=lambda s: -s[0])]
    return worst[0], reasons, ev


def _magnitude(cur: float, p: Callable[[str], float], hours: float | None) -> tuple[Severity, str] | None:
    """The existing damage: critical/warning counts, any count on a young drive, a stable small count (info)."""
    info, warn, crit = p("info"), p("warning"), p("critical")
    young = p("young_hours")
    if crit > 0 and cur >= crit:
        return Severity.CRITICAL, f"count {cur:g} >= {crit:g}"
    if warn > 0 and cur >= warn:
        return Severity.WARNING, f"count {cur:g} >= {warn:g}"
    if young > 0 and hours is not None and hours < young and cur >= max(info, 1):
        return Severity.WARNING, f"count {cur:g} on a young drive ({hours:.0f} h < {young:g} h)"
    if info > 0 and cur >= info:
        return Severity.INFO, f"count {cur:g}, stable"
    return None


def _growth(p: Callable[[str], float], g_crit: float, gc_win: float, g_warn: float,
            gw_win: float) -> tuple[Severity, str] | None:
    """Growth per time: within the critical window, else within the warning window."""
    gc, gw = p("growth_critical"), p("growth_warning")
    if gc > 0 and g_crit >= gc:
        return Severity.CRITICAL, f"grew by {g_crit:g} within {gc_win / 3600:g} h"
    if gw > 0 and g_warn >= gw:
        return Severity.WARNING, f"grew by {g_warn:g} within {gw_win / 3600:g} h"
    return None


def _pending_resolution(d: SmartDevice, window: float, now: float) -> tuple[tuple[Severity, str], str] | None:
    """Pending sectors that went away within the window: turned into reallocations, or cleared."""
    cur = d.counter("ata_197")
    peak = d.max_within("ata_197", window, now)
    if cur is None or peak is None or peak <= cur:
        return None
    gone = peak - cur
    realloc = d.growth_within("ata_5", window, now) or 0.0
    if realloc > 0:
        return (Severity.WARNING, f"{gone:g} pending sectors turned into {realloc:g} reallocations"), "reallocated"
    return (Severity.INFO, f"{gone:g} pending sectors cleared without reallocation (readable after rewrite)"), "cleared"


def _make(row: Counter) -> Rule:
    @rule(row.rule_id, defaults=row.defaults(), runbook=row.runbook, param_docs=PARAM_DOCS,
          description=f"{row.attribute}: {row.what} by magnitude, growth per time and drive age "
                      f"(critical{' with runbook ' + row.runbook if row.runbook else ''}; info for small stable "
                      f"counts). Source: {row.source}.")
    def counter_rule(ctx: RuleContext) -> Iterator[Finding]:
        shared = None if ctx.params.per_device else {n: float(ctx.param(n)) for n in PARAM_DOCS}
        for d in ctx.snapshot.of_type(SmartDevice):
            if not d.fresh or not ctx.enabled_for(d.stable_id, d.device):
                continue
            get = shared.__getitem__ if shared is not None else \
                (lambda n, d=d: float(ctx.param(n, d.stable_id, d.device)))
            res = judge(row, d, get, ctx.now)
            if res is None:
                continue
            sev, reasons, ev = res
            name = f"{d.device} ({d.model or d.protocol or 'disk'}{', ' + d.serial if d.serial else ''})"
            evidence = {"device": d.device, "identity": d.stable_id, **({"model": d.model} if d.model else {}),
                        **({"serial": d.serial} if d.serial else {}), **ev, "reasons": "; ".join(reasons)}
            f = ctx.finding(component=row.component or d.component, subject=d.stable_id, device=d.device,
                            severity=sev, summary=f"{name}: {row.what}: {ev['count']:g} ({reasons[0]})",
                            evidence=evidence, fingerprint=f"{ev['count']:g}",
                            runbook=row.runbook if sev is Severity.CRITICAL else None)
            if sev is not Severity.CRITICAL and f.runbook is not None:
                f = replace(f, runbook=None)  # ctx.finding() falls back to the rule's runbook
            yield f

    counter_rule.__name__ = row.rule_id.split(".", 1)[1]
    return counter_rule


COUNTER_RULES = tuple(_make(r) for r in COUNTERS)
