"""The board verdict: do the errors of several parts point at the mainboard?

One part failing shows on that part: one DIMM's corrected errors, one disk's I/O errors, one
device's AER errors. A failing mainboard shows as errors that *spread* over parts which share
only the board (several DIMMs and channels of one memory controller, several PCIe devices behind
one root port, several disks at once), as power trouble (rails out of range, resets without a
clean shutdown), and as platform errors the CPU or BMC report (CATERR/IERR, PCI SERR/PERR).

The score is a sum of evidence points per signal class (each class capped), within a window of
24 h by default; see :data:`SIGNALS` and the README. ``health = max(0, 1 - points / 100)``.

* ``board.failing``: points >= ``warning_points`` (30) is a warning; points >=
  ``critical_points`` (60) from at least ``min_signals`` (2) classes is critical. The finding lists
  every piece of evidence and suggests the mainboard-swap runbook.
* ``board.health``: info, when at least ``min_signals`` classes contribute but less than
  ``warning_points``.

The scorer reads whatever is in the snapshot: EDAC, AER, IPMI sensors and SEL, hwmon, and the
kernel-log event window (disk I/O errors, machine checks, boots without a clean stop) when the
kernel_log collector runs. Missing sources contribute nothing; they never fail the rule.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterator

from agent.model import Finding, HwmonSensor, Severity, Snapshot
from agent.model.platform import AerCounters, EdacController, EdacDimm, IpmiSelEntry, IpmiSensor
from agent.rules.base import RuleContext, rule
from agent.rules.ipmi import active_sel
from agent.rules.platform import DAY, uptime, windowed

from agent.model.events import EventWindow

# signal class -> (cap, description)
SIGNALS = {
    "memory_spread": (40, "corrected memory errors on several DIMMs/channels of one controller, or unattributed"),
    "pcie_spread": (40, "AER errors on several devices behind one root port, or under several root ports"),
    "multi_disk_io": (35, "I/O errors on several disks at once (kernel log)"),
    "power": (30, "voltage rails out of range (BMC state, SEL, hwmon limits)"),
    "vrm_temperature": (15, "VRM/PCH/chipset temperature above its limits"),
    "resets": (30, "unexpected resets (no clean stop, watchdog, OS stop); more with power or VRM anomalies"),
    "platform_errors": (40, "CATERR/IERR, PCI SERR/PERR, uncorrected machine checks"),
    "cmos_battery": (10, "CMOS battery low"),
}

_VRM = re.compile(r"\b(vrm|vr|vcc ?in|pch|chipset|mos|mosfet|vsa|vccio)\b|\bvr_|_vr\b|vrm", re.IGNORECASE)
_VBAT = re.compile(r"^(vbat|vbat_rtc|battery|cmos|rtc.?bat|vbatt)|\bvbat\b|\bbattery\b", re.IGNORECASE)


@dataclass
class Evidence:
    points: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    notes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, signal: str, pts: float, note: str) -> None:
        self.points[signal] += pts
        self.notes[signal].append(note)

    def capped(self) -> dict[str, float]:
        return {s: min(p, SIGNALS[s][0]) for s, p in self.points.items() if p > 0}

    @property
    def total(self) -> float:
        return sum(self.capped().values())

    @property
    def health(self) -> float:
        return max(0.0, 1.0 - self.total / 100.0)


def _memory(ctx: RuleContext, ev: Evidence, window: float) -> None:
    up = uptime(ctx.snapshot)
    since = {c.controller: (float(c.seconds_since_reset) if c.seconds_since_reset is not None else up)
             for c in ctx.snapshot.of_type(EdacController)}
    per_mc: dict[str, list[EdacDimm]] = defaultdict(list)
    for d in ctx.snapshot.of_type(EdacDimm):
        n = windowed(ctx, f"edac.ce:{d.slot}", d.ce_count, window, since.get(d.controller, up))
        if n >= 1:
            per_mc[d.controller].append(d)
    for mc, dimms in sorted(per_mc.items()):
        if len(dimms) < 2:
            continue
        channels = {d.channel for d in dimms if d.channel is not None}
        names = ", ".join(d.label or d.dimm for d in dimms)
        if len(channels) >= 2:
            ev.add("memory_spread", 30, f"{mc}: corrected errors on {len(dimms)} DIMMs across channels "
                                        f"{','.join(sorted(channels))} ({names})")
        else:
            ev.add("memory_spread", 15, f"{mc}: corrected errors on {len(dimms)} DIMMs of one channel ({names})")
    for c in ctx.snapshot.of_type(EdacController):
        n = windowed(ctx, f"edac.mc.ce_noinfo:{c.controller}", c.ce_noinfo_count, window, since.get(c.controller))
        if n >= 1:
            ev.add("memory_spread", 15, f"{c.controller}: {int(round(n))} corrected errors without DIMM attribution")
        if (c.ue_noinfo_count or 0) > 0:
            ev.add("memory_spread", 10, f"{c.controller}: {c.ue_noinfo_count} uncorrected errors without DIMM attribution")


def _pcie(ctx: RuleContext, ev: Evidence, window: float) -> None:
    up = uptime(ctx.snapshot)
    by_port: dict[str, list[str]] = defaultdict(list)
    for a in ctx.snapshot.of_type(AerCounters):
        if a.is_root_port or not a.root_port:
            continue
        n = (windowed(ctx, f"aer.cor:{a.device}", a.total_correctable, window, up)
             + windowed(ctx, f"aer.nonfatal:{a.device}", a.total_nonfatal, window, up)
             + windowed(ctx, f"aer.fatal:{a.device}", a.total_fatal, window, up))
        if n >= 1:
            by_port[a.root_port].append(a.device)
    for port, devs in sorted(by_port.items()):
        if len(devs) >= 2:
            ev.add("pcie_spread", 30, f"root port {port}: AER errors on {len(devs)} devices ({', '.join(sorted(devs))})")
    if len(by_port) >= 2:
        ev.add("pcie_spread", 20, f"AER errors under {len(by_port)} root ports ({', '.join(sorted(by_port))})")


def _event_window(snapshot: Snapshot) -> EventWindow | None:
    for w in snapshot.of_type(EventWindow):
        return w
    return None


_DISK_CLASSES = ("block.io_error", "block.buffer_io_error", "block.device_gone", "ata.error", "ata.link_reset", "ata.link_error",
                 "ata.link_down", "scsi.error", "nvme.io_error", "nvme.timeout", "nvme.reset", "nvme.controller_failed")
_MCE_CLASSES = ("mce.uncorrected", "mce.fatal", "panic.mce", "panic.hardware", "ghes.fatal", "ghes.recoverable")
_NMI_CLASSES = ("nmi.serr", "nmi.iock")
_LINK_CLASSES = ("pcie.link_down", "pcie.dpc", "pcie.recovery_failed")


def _kernel(ctx: RuleContext, ev: Evidence, window: float) -> int:
    """Evidence from the kernel-log event window; returns the number of unexpected resets."""
    w = _event_window(ctx.snapshot)
    if w is None:
        return 0
    since = ctx.since(window)
    disks = sorted({comp[5:] if comp.startswith("disk:") else dev
                    for (comp, dev), n in w.by_device(_DISK_CLASSES, since=since).items() if n} - {""})
    if len(disks) >= 2:
        ev.add("multi_disk_io", 25 if len(disks) == 2 else 35,
               f"kernel I/O errors on {len(disks)} disks within the window ({', '.join(disks)})")
    mce = w.count(_MCE_CLASSES, since=since)
    if mce:
        ev.add("platform_errors", 15, f"{mce} uncorrected machine-check / firmware (GHES) error record(s)")
    nmi = w.count(_NMI_CLASSES, since=since)
    if nmi:
        ev.add("platform_errors", 30, f"{nmi} platform NMI(s) (PCI SERR / IOCHK)")
    links = sorted({dev for (_c, dev), n in w.by_device(_LINK_CLASSES, since=since).items() if n})
    if len(links) >= 2:
        ev.add("pcie_spread", 30, f"PCIe link down / DPC on {len(links)} devices ({', '.join(links)})")
    boots = sum(1 for b in w.boots
                if b.boot_id not in (w.current_boot, ctx.snapshot.boot_id) and b.clean_stop is None and b.last_seen >= since)
    return max(boots, w.count(("reboot.unexpected",), since=since))


def _ipmi(ctx: RuleContext, ev: Evidence, window: float) -> tuple[bool, bool, int]:
    """(power anomaly, vrm anomaly, resets) from BMC sensors and the SEL."""
    power = vrm = False
    for s in ctx.snapshot.of_type(IpmiSensor):
        lvl = s.severity_level
        if not lvl:
            continue
        if s.kind == "voltage":
            if _VBAT.search(s.name):
                ev.add("cmos_battery", 10, f"BMC sensor {s.name} {s.state} ({s.value} V)")
                continue
            ev.add("power", 25 if lvl >= 2 else 10, f"BMC voltage {s.name} {s.state} ({s.value} V)")
            power = True
        elif s.kind == "temperature" and _VRM.search(s.name):
            ev.add("vrm_temperature", 15 if lvl >= 2 else 8, f"BMC temperature {s.name} {s.state} ({s.value} °C)")
            vrm = True
    resets = 0
    for e in active_sel(ctx.snapshot.of_type(IpmiSelEntry), ctx.now, ctx.window(window)):
        if e.kind == "voltage":
            ev.add("power", 25, f"SEL: {e.text}")
            power = True
        elif e.kind == "battery":
            ev.add("cmos_battery", 10, f"SEL: {e.text}")
        elif e.kind == "caterr":
            ev.add("platform_errors", 30, f"SEL: {e.text}")
        elif e.kind == "bus_error":
            ev.add("platform_errors", 30 if e.severity == "critical" else 10, f"SEL: {e.text}")
        elif e.kind == "cpu_error":
            ev.add("platform_errors", 15, f"SEL: {e.text}")
        elif e.kind in ("watchdog", "os_stop"):
            resets += 1
        elif e.kind == "temperature" and _VRM.search(e.sensor):
            ev.add("vrm_temperature", 15, f"SEL: {e.text}")
            vrm = True
    return power, vrm, resets


def _hwmon(ctx: RuleContext, ev: Evidence, battery_warn: float) -> tuple[bool, bool]:
    power = vrm = False
    soft = 0.0  # points from min/max (not critical) limits so far
    for s in ctx.snapshot.of_type(HwmonSensor):
        if s.value is None or s.fault or s.chip_name in ("nvme", "drivetemp"):
            continue
        label = s.label or s.sensor
        if s.kind == "in":
            if _VBAT.search(label):
                if 0.1 < s.value < battery_warn:
                    ev.add("cmos_battery", 10, f"{s.chip_name} {label} at {s.value:.2f} V")
                continue
            if (s.lcrit is not None and s.value <= s.lcrit) or (s.crit is not None and s.crit > 0 and s.value >= s.crit):
                ev.add("power", 25, f"{s.chip_name} {label} at {s.value:.3f} V outside its critical limits")
                power = True
            elif s.min is not None and s.max is not None and s.max > s.min and not (s.min <= s.value <= s.max):
                # Super I/O min/max are often left at BIOS defaults: weak evidence, 10 points at most
                pts = min(5.0, max(0.0, 10.0 - soft))
                soft += pts
                ev.add("power", pts, f"{s.chip_name} {label} at {s.value:.3f} V outside {s.min:g}-{s.max:g} V")
                power = True
        elif s.kind == "temp" and _VRM.search(label):
            lim = s.crit if s.crit else s.max
            if lim and lim > 0 and s.value >= lim:
                ev.add("vrm_temperature", 15, f"{s.chip_name} {label} at {s.value:.1f} °C (limit {lim:g} °C)")
                vrm = True
    return power, vrm


def score(ctx: RuleContext) -> Evidence:
    window = float(ctx.param("window_seconds"))
    ev = Evidence()
    _memory(ctx, ev, window)
    _pcie(ctx, ev, window)
    resets = _kernel(ctx, ev, window)
    p1, v1, r1 = _ipmi(ctx, ev, window)
    p2, v2 = _hwmon(ctx, ev, float(ctx.param("battery_warning_volts")))
    resets += r1
    if resets:
        if p1 or p2 or v1 or v2:
            ev.add("resets", 30, f"{resets} unexpected reset(s) together with power or VRM temperature anomalies")
        else:
            ev.add("resets", 10, f"{resets} unexpected reset(s) (no clean stop, watchdog or OS stop)")
    return ev


_DEFAULTS = {"window_seconds": DAY, "warning_points": 30, "critical_points": 60, "min_signals": 2,
             "battery_warning_volts": 2.8}
_DOCS = {"window_seconds": "window over which counters and events count as evidence",
         "warning_points": "evidence points at which board.failing warns",
         "critical_points": "evidence points at which board.failing is critical (with min_signals classes)",
         "min_signals": "signal classes needed for a critical verdict",
         "battery_warning_volts": "hwmon VBAT below this counts as CMOS battery evidence"}


def _evidence_dict(ev: Evidence) -> dict[str, Any]:
    capped = ev.capped()
    out: dict[str, Any] = {"health": round(ev.health, 3), "points": round(ev.total, 1),
                           "signals": ",".join(sorted(capped))}
    for sig in sorted(capped):
        out[f"points_{sig}"] = round(capped[sig], 1)
        out[sig] = "; ".join(ev.notes[sig])
    return out


@rule("board.failing", defaults=_DEFAULTS, param_docs=_DOCS, runbook="mainboard-swap",
      description="Errors of several parts correlate in a way that implicates the mainboard (scored evidence; "
                  "warning from warning_points, critical from critical_points over min_signals signal classes).")
def board_failing(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.enabled_for("board"):
        return
    ev = score(ctx)
    pts = ev.total
    if pts < float(ctx.param("warning_points")):
        return
    classes = len(ev.capped())
    sev = Severity.CRITICAL if pts >= float(ctx.param("critical_points")) and classes >= int(ctx.param("min_signals")) \
        else Severity.WARNING
    top = sorted(ev.capped().items(), key=lambda kv: -kv[1])
    yield ctx.finding(component="board", subject="board", device="board", severity=sev,
                      summary=f"mainboard suspected (health {ev.health:.2f}): "
                              + "; ".join(ev.notes[s][0] for s, _ in top[:3]),
                      evidence=_evidence_dict(ev), fingerprint=f"{sev.label}:{','.join(sorted(ev.capped()))}")


@rule("board.health", defaults=_DEFAULTS, param_docs=_DOCS,
      description="Evidence from several signal classes implicates the mainboard, below the board.failing threshold (info).")
def board_health(ctx: RuleContext) -> Iterator[Finding]:
    if not ctx.enabled_for("board"):
        return
    ev = score(ctx)
    # evidence from one class alone below the threshold is that class's own rules' business
    if 0 < ev.total < float(ctx.param("warning_points")) and len(ev.capped()) >= int(ctx.param("min_signals")):
        yield ctx.finding(component="board", subject="board/health", device="board", severity=Severity.INFO,
                          summary=f"board health {ev.health:.2f}: " + "; ".join(n for s in sorted(ev.capped()) for n in ev.notes[s]),
                          evidence=_evidence_dict(ev), fingerprint=",".join(sorted(ev.capped())), runbook=None)


RULES = (board_failing, board_health)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    return {}
