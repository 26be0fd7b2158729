"""Rules over kernel-log events (and other events in the history): memory, PCIe, disks, board.

All windowed counts come from the :class:`~agent.model.events.EventWindow` the kernel_log
collector builds from the event history, so they survive restarts and reboots. Storms of
corrected errors are judged with an mcelog-style leaky bucket (capacity per period) per DIMM,
socket or PCIe device. The functions here are shared with :mod:`agent.rules.cpu` and
:mod:`agent.rules.fs`.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

from agent.model import Finding, Severity, Snapshot
from agent.model.events import EventWindow, StoredEvent, leaky_bucket
from agent.rules.base import RuleContext, rule

DAY = 86400.0

# (latest event or None, count, component, device) -> severity of the finding, None for no finding
SeverityOf = Callable[[StoredEvent | None, int, str, str], Severity | None]


def window_of(snapshot: Snapshot) -> EventWindow | None:
    for w in snapshot.of_type(EventWindow):
        return w
    return None


def latest(events: list[StoredEvent]) -> StoredEvent | None:
    return max(events, key=lambda e: e.time) if events else None


def ev_summary(e: StoredEvent | None) -> dict[str, Any]:
    if e is None:
        return {}
    out = {"last_event": e.summary[:200], "last_event_time": round(e.time, 3), "last_class": e.cls}
    for k in ("bank", "status", "address", "bits", "label", "member", "sector", "first", "root_port", "reason", "task"):
        if k in e.detail:
            v = e.detail[k]
            out[k] = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else v
    return out


def events_rule(ctx: RuleContext, classes: tuple[str, ...], *, family_component: str | None = None,
                severity_of: SeverityOf | None = None, what: str, window_key: str = "window_seconds") -> Iterator[Finding]:
    """One finding per (component, device) with events of ``classes`` in the window."""
    w = window_of(ctx.snapshot)
    if w is None:
        return
    window = float(ctx.param(window_key))
    since = ctx.since(window)
    for (comp, dev), n in sorted(w.by_device(classes, since=since).items()):
        if not n or not ctx.enabled_for(dev, comp):
            continue
        if family_component and not comp.startswith(family_component):
            continue
        evs = w.events(classes, since=since, component=comp, device=dev)
        last = latest(evs)
        sev = severity_of(last, n, comp, dev) if severity_of else Severity.CRITICAL
        if sev is None:
            continue
        yield ctx.finding(component=comp, subject=f"{comp}/{dev}", device=dev, severity=sev,
                          summary=f"{dev}: {n} {what} in the last {window / 3600:g} h",
                          evidence={"events": n, "window_seconds": window, **ev_summary(last)}, fingerprint=str(n))


def storm_rule(ctx: RuleContext, classes: tuple[str, ...], what: str, *, component: str | None = None) -> Iterator[Finding]:
    """Leaky bucket per (component, device): ``capacity`` errors per ``period_seconds``."""
    w = window_of(ctx.snapshot)
    if w is None:
        return
    period = float(ctx.param("period_seconds"))
    since = ctx.since(period)
    for (comp, dev), n in sorted(w.by_device(classes, since=since, errors=True).items()):
        if not n or (component and comp != component) or not ctx.enabled_for(dev, comp):
            continue
        cap = float(ctx.param("capacity", dev, comp))
        series = [(t, c) for t, c in w.series(classes, comp, dev) if t + 60 > since]
        peak, crossed = leaky_bucket(series, cap, period)
        if crossed is None:
            continue
        crit = float(ctx.param("critical_factor", dev, comp))
        sev = Severity.CRITICAL if crit > 0 and peak >= cap * crit else Severity.WARNING
        yield ctx.finding(component=comp, subject=f"{comp}/{dev}", device=dev, severity=sev,
                          summary=f"{dev}: {n} {what} in {period / 3600:g} h (leaky bucket peak {peak:.0f}, "
                                  f"threshold {cap:g} per {period / 3600:g} h)",
                          evidence={"errors": n, "bucket_peak": round(peak, 1), "capacity": cap,
                                    "period_seconds": period, "first_crossed": crossed},
                          fingerprint=sev.label)


_STORM_DEFAULTS = {"capacity": 10, "period_seconds": DAY, "critical_factor": 10}
_STORM_DOCS = {"capacity": "errors per period that trip the leaky bucket (mcelog: 10 per DIMM per 24 h)",
               "period_seconds": "leak period of the bucket",
               "critical_factor": "a bucket peak of capacity x this factor is critical (0 = never)"}
_WIN_DOC = {"window_seconds": "how long an event keeps the finding active"}


# ---- memory ----------------------------------------------------------------------------------
@rule("memory.ue_logged", defaults={"window_seconds": 7 * DAY}, param_docs=_WIN_DOC, runbook="memory-ecc-errors",
      description="The kernel logged an uncorrected memory error (EDAC UE, GHES memory fatal/recoverable, memory-failure kill).")
def ue_logged(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        if e is not None and e.cls == "memory.failure" and e.severity < Severity.CRITICAL:
            return Severity.WARNING
        return Severity.CRITICAL
    yield from events_rule(ctx, ("edac.ue", "ghes.recoverable", "ghes.fatal", "memory.failure"),
                           family_component="memory", severity_of=sev, what="uncorrected memory error event(s)")


@rule("memory.ce_log_storm", defaults=dict(_STORM_DEFAULTS), param_docs=_STORM_DOCS, runbook="memory-ecc-errors",
      description="Corrected memory errors in the kernel log (EDAC CE lines, GHES corrected memory records) above a leaky-bucket rate per DIMM.")
def ce_log_storm(ctx: RuleContext) -> Iterator[Finding]:
    yield from storm_rule(ctx, ("edac.ce", "ghes.corrected"), "corrected memory errors", component="memory")


# ---- PCIe --------------------------------------------------------------------------------------
@rule("pcie.aer_uncorrected_logged", defaults={"window_seconds": 3 * DAY}, param_docs=_WIN_DOC,
      description="A PCIe device reported an uncorrected AER error (fatal: critical; non-fatal: warning), a GHES PCIe "
                  "record, or EDAC found a PCI parity/system error (warning).")
def aer_uncorrected_logged(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        return Severity.CRITICAL if e is not None and e.cls in ("aer.fatal", "ghes.fatal") else Severity.WARNING
    yield from events_rule(ctx, ("aer.fatal", "aer.nonfatal", "ghes.recoverable", "ghes.fatal", "pcie.parity_error"),
                           family_component="pcie",
                           severity_of=sev, what="uncorrected PCIe AER error message(s)")


@rule("pcie.aer_corrected_log_storm", defaults={"capacity": 100, "period_seconds": DAY, "critical_factor": 0},
      param_docs=_STORM_DOCS,
      description="Corrected PCIe AER messages per device, and per root port over the devices below it, above a leaky-bucket rate "
                  "(the log is rate-limited; sysfs counters are exact).")
def aer_corrected_log_storm(ctx: RuleContext) -> Iterator[Finding]:
    yield from storm_rule(ctx, ("aer.corrected",), "corrected AER error messages", component="pcie")
    # per root port: the devices below one port together (a failing slot or port, not one card)
    w = window_of(ctx.snapshot)
    if w is None:
        return
    period = float(ctx.param("period_seconds"))
    since = ctx.since(period)
    below: dict[str, list[str]] = {}
    for dev, port in w.parents:
        below.setdefault(port, []).append(dev)
    for port, devs in sorted(below.items()):
        members = [port, *devs]
        if len(members) < 2 or not ctx.enabled_for(port, "pcie"):
            continue
        acc: dict[float, int] = {}
        for d in members:
            for t, n in w.series(("aer.corrected",), "pcie", d):
                if t + 60 > since:
                    acc[t] = acc.get(t, 0) + n
        cap = float(ctx.param("capacity", port, "pcie"))
        peak, crossed = leaky_bucket(sorted(acc.items()), cap, period)
        hit = [d for d in members if any(t + 60 > since for t, _ in w.series(("aer.corrected",), "pcie", d))]
        if crossed is None or len(hit) < 2:
            continue  # one device alone is judged above
        yield ctx.finding(component="pcie", subject=f"pcie/rootport/{port}", device=port, severity=Severity.WARNING,
                          summary=f"root port {port}: {sum(acc.values())} corrected AER messages from {len(hit)} devices "
                                  f"below it in {period / 3600:g} h",
                          evidence={"errors": sum(acc.values()), "devices": ",".join(sorted(hit)), "bucket_peak": round(peak, 1),
                                    "capacity": cap, "period_seconds": period}, fingerprint="warning")


@rule("pcie.link_down", defaults={"window_seconds": DAY}, param_docs=_WIN_DOC, runbook="mainboard-swap",
      description="A PCIe link went down, DPC contained a port, error recovery failed (the device is lost), or a device "
                  "fell off the bus (NVMe CSTS=0xffffffff, AHCI/GPU/NIC reading all ones).")
def link_down(ctx: RuleContext) -> Iterator[Finding]:
    w = window_of(ctx.snapshot)
    if w is None:
        return
    window = float(ctx.param("window_seconds"))
    since = ctx.since(window)
    seen: dict[str, list[StoredEvent]] = {}
    for e in w.events(("pcie.link_down", "pcie.dpc", "pcie.recovery_failed", "nvme.reset", "nvme.controller_failed"),
                      since=since):
        if e.cls.startswith("nvme.") and not e.detail.get("off_bus"):
            continue
        seen.setdefault(e.device, []).append(e)
    for dev, evs in sorted(seen.items()):
        if not ctx.enabled_for(dev):
            continue
        last = latest(evs)
        sev = Severity.WARNING if all(e.severity < Severity.CRITICAL for e in evs) else Severity.CRITICAL
        what = "off the bus (config reads return all-ones)" if last and last.detail.get("off_bus") else \
            "error recovery failed (device lost)" if last and last.cls == "pcie.recovery_failed" else "link down"
        yield ctx.finding(component="pcie", subject=f"pcie/{dev}", device=dev, severity=sev,
                          summary=f"{dev}: PCIe {what} ({len(evs)} event(s) in {window / 3600:g} h)",
                          evidence={"events": len(evs), "window_seconds": window, **ev_summary(last)},
                          fingerprint=str(len(evs)))


# ---- disks -------------------------------------------------------------------------------------
@rule("disk.io_errors", defaults={"window_seconds": DAY, "warning": 1, "critical": 10},
      param_docs={"window_seconds": "window the block-layer errors are counted in",
                  "warning": "I/O errors per window that warn", "critical": "I/O errors per window that are critical"},
      runbook="disk-swap-mdadm",
      description="Block-layer I/O errors (I/O error, critical medium error... dev X, sector N) per disk in the kernel log.")
def io_errors(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        if n >= int(ctx.param("critical", dev, comp)):
            return Severity.CRITICAL
        return Severity.WARNING if n >= int(ctx.param("warning", dev, comp)) else None
    w = window_of(ctx.snapshot)
    if w is None:
        return
    window = float(ctx.param("window_seconds"))
    since = ctx.since(window)
    per_disk: dict[str, int] = {}
    for (comp, _dev), n in w.by_device(("block.io_error",), since=since).items():
        if comp.startswith("disk:"):
            per_disk[comp] = per_disk.get(comp, 0) + n
    for comp, n in sorted(per_disk.items()):
        disk = comp[5:]
        if not ctx.enabled_for(disk, comp):
            continue
        s = sev(None, n, comp, disk)
        if s is None:
            continue
        last = latest(w.events(("block.io_error",), since=since, component=comp))
        yield ctx.finding(component=comp, subject=f"{comp}/io_errors", device=disk, severity=s,
                          summary=f"{disk}: {n} kernel I/O error(s) in the last {window / 3600:g} h",
                          evidence={"errors": n, "window_seconds": window, **ev_summary(last)}, fingerprint=s.label)


@rule("disk.device_gone", defaults={"window_seconds": DAY}, param_docs=_WIN_DOC, runbook="disk-swap-mdadm",
      description="A disk disappeared: its capacity dropped to 0 (warning: a card reader's medium looks the same), the "
                  "SCSI layer rejects I/O to the offline device, or its SATA port reads all ones (critical).")
def device_gone(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        w = window_of(ctx.snapshot)
        if w is None:
            return None
        evs = w.events(("block.device_gone", "ata.link_down"), since=ctx.since(float(ctx.param("window_seconds"))),
                       component=comp, device=dev)
        evs = [x for x in evs if x.cls == "block.device_gone" or x.detail.get("off_bus")]
        if not evs:
            return None
        return Severity.CRITICAL if any(x.severity >= Severity.CRITICAL for x in evs) else Severity.WARNING
    yield from events_rule(ctx, ("block.device_gone", "ata.link_down"), severity_of=sev, what="device-gone event(s)")


@rule("disk.link_errors", defaults={"window_seconds": DAY, "warning": 3},
      param_docs={"window_seconds": "window link events are counted in", "warning": "link events per window that warn"},
      description="SATA link trouble per port: hard resets, SError, interface CRC errors, speed downgrades, link lost (cable, backplane or controller).")
def link_errors(ctx: RuleContext) -> Iterator[Finding]:
    w = window_of(ctx.snapshot)
    if w is None:
        return
    window = float(ctx.param("window_seconds"))
    since = ctx.since(window)
    counts: dict[tuple[str, str], int] = {}
    for (comp, dev), n in w.by_device(("ata.link_reset", "ata.link_error", "ata.link_slow", "ata.link_down"), since=since).items():
        counts[(comp, dev)] = counts.get((comp, dev), 0) + n
    for e in w.events(("ata.error",), since=since):
        if e.detail.get("link_suspect") or e.detail.get("resets"):
            counts[(e.component, e.device)] = counts.get((e.component, e.device), 0) + 1
    for (comp, dev), n in sorted(counts.items()):
        if n < int(ctx.param("warning", dev, comp)) or not ctx.enabled_for(dev, comp):
            continue
        yield ctx.finding(component=comp, subject=f"{comp}/link", device=dev, severity=Severity.WARNING,
                          summary=f"{dev}: {n} SATA link event(s) in {window / 3600:g} h (check cable, backplane, controller)",
                          evidence={"events": n, "window_seconds": window}, fingerprint=str(n))


@rule("disk.nvme_controller_errors", defaults={"window_seconds": DAY, "warning": 1},
      param_docs={"window_seconds": "window NVMe events are counted in", "warning": "timeouts/resets per window that warn"},
      runbook="disk-swap-mdadm",
      description="NVMe command timeouts and controller resets (warning); a controller disabled after a failed reset (critical).")
def nvme_controller_errors(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        w = window_of(ctx.snapshot)
        evs = w.events(("nvme.controller_failed",), since=ctx.since(float(ctx.param("window_seconds"))), device=dev) if w else []
        if evs:
            return Severity.CRITICAL
        return Severity.WARNING if n >= int(ctx.param("warning", dev, comp)) else None
    yield from events_rule(ctx, ("nvme.timeout", "nvme.reset", "nvme.controller_failed"), severity_of=sev,
                           what="NVMe timeout/reset/failure event(s)")


@rule("disk.md_failure_logged", defaults={"window_seconds": DAY}, param_docs=_WIN_DOC, runbook="disk-swap-mdadm",
      description="The md driver logged a member failure, continued degraded, could not continue or start an array, or "
                  "failed to write a superblock (the md collector shows the current state).")
def md_failure_logged(ctx: RuleContext) -> Iterator[Finding]:
    yield from events_rule(ctx, ("raid.disk_failed", "raid.degraded", "raid.member_kicked", "raid.array_failed",
                                 "raid.superblock_error"),
                           what="md member failure / degraded event(s)")


# ---- board -------------------------------------------------------------------------------------
@rule("board.nmi_platform_error", defaults={"window_seconds": 3 * DAY}, param_docs=_WIN_DOC, runbook="mainboard-swap",
      description="Platform NMIs: PCI SERR and IOCK (critical), unknown-reason NMIs (warning): chipset/BMC-signalled errors.")
def nmi_platform_error(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        return Severity.WARNING if e is not None and e.cls == "nmi.unknown" else Severity.CRITICAL
    yield from events_rule(ctx, ("nmi.serr", "nmi.iock", "nmi.unknown"), severity_of=sev, what="platform NMI(s)")


@rule("board.thermal_trip", defaults={"window_seconds": 3 * DAY}, param_docs=_WIN_DOC,
      description="The kernel reached a critical temperature trip point and shut down or is shutting down.")
def thermal_trip(ctx: RuleContext) -> Iterator[Finding]:
    yield from events_rule(ctx, ("thermal.critical",), what="critical temperature trip(s)")


@rule("board.fatal_hardware_error", defaults={"window_seconds": 7 * DAY}, param_docs=_WIN_DOC, runbook="mainboard-swap",
      description="Firmware (APEI GHES) reported a fatal or recoverable hardware error outside memory and PCIe (no such "
                  "section, or a processor section), or the kernel panicked on a fatal hardware error record.")
def fatal_hardware_error(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        return None if comp.startswith(("memory", "pcie")) else Severity.CRITICAL
    yield from events_rule(ctx, ("ghes.fatal", "ghes.recoverable", "panic.hardware"), severity_of=sev,
                           what="fatal hardware error record(s)")


@rule("board.previous_boot_mce_panic", defaults={"window_seconds": 7 * DAY}, param_docs=_WIN_DOC, runbook="mainboard-swap",
      description="An earlier boot ended in a machine-check panic (pstore, journalctl -b -1, or MCE records logged early in this boot).")
def previous_boot_mce_panic(ctx: RuleContext) -> Iterator[Finding]:
    w = window_of(ctx.snapshot)
    if w is None:
        return
    since = ctx.since(float(ctx.param("window_seconds")))
    hits = [e for e in w.events(("panic.mce", "mce.fatal", "mce.uncorrected"), since=since)
            if e.previous_boot or e.detail.get("early_boot") or (e.cls == "panic.mce" and e.boot_id != w.current_boot)]
    if not hits or not ctx.enabled_for("host"):
        return
    last = max(hits, key=lambda e: e.time)
    yield ctx.finding(component="board", subject="host/mce_panic", device="host", severity=Severity.CRITICAL,
                      summary=f"a previous boot ended in a fatal machine check ({len(hits)} record(s); {last.summary[:120]})",
                      evidence={"records": len(hits), "sources": ",".join(sorted({e.source for e in hits})),
                                **ev_summary(last)}, fingerprint=str(len(hits)))


@rule("board.unexpected_reboot", defaults={"window_seconds": DAY}, param_docs=_WIN_DOC,
      description="The previous boot ended without the agent's clean-stop marker (crash, power loss, hardware reset).")
def unexpected_reboot(ctx: RuleContext) -> Iterator[Finding]:
    yield from _reboots(ctx, repeated=False)


@rule("board.repeated_unexpected_reboots", defaults={"window_seconds": 7 * DAY, "critical": 2},
      param_docs={"window_seconds": "window unexpected reboots are counted in", "critical": "unexpected reboots per window that are critical"},
      runbook="mainboard-swap", description="Several unexpected reboots within the window.")
def repeated_unexpected_reboots(ctx: RuleContext) -> Iterator[Finding]:
    yield from _reboots(ctx, repeated=True)


def _reboots(ctx: RuleContext, repeated: bool) -> Iterator[Finding]:
    w = window_of(ctx.snapshot)
    if w is None or not ctx.enabled_for("host"):
        return
    window = float(ctx.param("window_seconds"))
    n = w.count(("reboot.unexpected",), since=ctx.since(window))
    if not n:
        return
    last = latest(w.events(("reboot.unexpected",), since=ctx.since(window)))
    if repeated:
        if n < int(ctx.param("critical")):
            return
        yield ctx.finding(component="board", subject="host/reboots", device="host", severity=Severity.CRITICAL,
                          summary=f"{n} unexpected reboots in the last {window / 86400:g} days",
                          evidence={"reboots": n, "window_seconds": window, **ev_summary(last)}, fingerprint=str(n))
        return
    yield ctx.finding(component="board", subject="host/reboot", device="host", severity=Severity.WARNING,
                      summary="the previous boot ended without a clean shutdown (crash, power loss or hardware reset)",
                      evidence={"reboots": n, "window_seconds": window, **ev_summary(last)}, fingerprint=str(n))


RULES = (ue_logged, ce_log_storm, aer_uncorrected_logged, aer_corrected_log_storm, link_down, io_errors, device_gone,
         link_errors,
         nvme_controller_errors, md_failure_logged, nmi_platform_error, thermal_trip, fatal_hardware_error, previous_boot_mce_panic,
         unexpected_reboot, repeated_unexpected_reboots)
