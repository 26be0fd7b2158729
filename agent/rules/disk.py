"""Disk rules over :class:`agent.model.disk.SmartDevice` readings (SMART, NVMe, SCSI).

Three layers are judged apart (and so are separate rule ids): the drive's own *verdict*
(``disk.smart_failed``, ``disk.attribute_failing``), *evidence* counters with published failure
correlation, judged by one declared table (:mod:`agent.rules.disk_counters`: magnitude of the
existing damage, growth per time, drive age; small stable counts are info), and NVMe/SCSI health
fields. Attributes are judged by id, with vendor-packed raw values already decoded by the
collector. A disk that is asleep produces no findings (a skip is not a failure); one that could
not be read gets ``disk.unreadable``. Interface CRC errors (199) point at the cable, backplane or
controller and are filed under the ``board`` component. Reasons and sources: docs/findings/disk.md.

Severities: CRITICAL = replace or act now (runbook ``disk-swap-mdadm``); WARNING = watch, plan;
INFO = shown and exported, never alerted on.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Iterator

from agent.model import Finding, Severity
from agent.model.disk import SmartDevice
from agent.rules.base import RuleContext, rule
from agent.rules.disk_counters import COUNTER_RULES

RUNBOOK = "disk-swap-mdadm"
CRITICAL_NVME_BITS = ("spare_below_threshold", "reliability_degraded", "media_read_only",
                      "volatile_memory_backup_failed", "persistent_memory_region_unreliable")
TEMPERATURE_ATTRIBUTES = (190, 194)


def _devices(ctx: RuleContext, fresh_only: bool = True) -> Iterator[SmartDevice]:
    for d in ctx.snapshot.of_type(SmartDevice):
        if fresh_only and not d.fresh:
            continue
        if ctx.enabled_for(d.stable_id, d.device):
            yield d


def _ev(d: SmartDevice, **extra: Any) -> dict[str, Any]:
    ev = {"device": d.device, "identity": d.stable_id}
    if d.model:
        ev["model"] = d.model
    if d.serial:
        ev["serial"] = d.serial
    ev.update({k: v for k, v in extra.items() if v is not None})
    return ev


def _name(d: SmartDevice) -> str:
    return f"{d.device} ({d.model or d.protocol or 'disk'}{', ' + d.serial if d.serial else ''})"


_DEFAULT: Any = object()


def _finding(ctx: RuleContext, d: SmartDevice, sev: Severity, summary: str, evidence: dict[str, Any],
             fingerprint: str = "", component: str | None = None, runbook: str | None = _DEFAULT) -> Finding:
    """A finding on the disk; ``runbook`` None means none (the rule's default only when not given)."""
    f = ctx.finding(component=component or d.component, subject=d.stable_id, device=d.device, severity=sev,
                    summary=summary, evidence=evidence, fingerprint=fingerprint,
                    runbook=None if runbook is _DEFAULT else runbook)
    return f if runbook is _DEFAULT or f.runbook == runbook else replace(f, runbook=runbook)


# ---- verdict -------------------------------------------------------------------------------------
@rule("disk.smart_failed", runbook=RUNBOOK,
      description="The drive's own SMART health self-assessment failed (critical). NVMe drives are judged "
                  "by disk.nvme_critical_warning instead, which names the bit.")
def smart_failed(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        if d.smart_passed is not False:
            continue
        if d.nvme is not None and d.nvme.critical_warning:
            continue  # the NVMe rule reports the decoded bits
        yield _finding(ctx, d, Severity.CRITICAL, f"{_name(d)}: SMART overall health self-assessment FAILED",
                       _ev(d, exit_status=d.exit_status, exit_bits=",".join(d.exit_bits)), "failed", runbook=RUNBOOK)


@rule("disk.attribute_failing", runbook=RUNBOOK,
      description="An ATA attribute is at or below its threshold now (FAILING_NOW) (critical). Pre-fail attributes "
                  "mean imminent failure, old-age ones an end of life (SSD wear) or, for 190/194, a drive too hot "
                  "right now (no disk-swap runbook then).")
def attribute_failing(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        now = [a for a in d.ata_attributes if a.when_failed == "now"]
        if not now:
            continue
        only_temp = all(a.id in TEMPERATURE_ATTRIBUTES for a in now)
        names = ", ".join(f"{a.id} {a.name} (value {a.value} <= threshold {a.threshold}, "
                          f"{'pre-fail' if a.prefailure else 'old-age'})" for a in now)
        yield _finding(ctx, d, Severity.CRITICAL, f"{_name(d)}: attribute failing now: {names}",
                       _ev(d, attributes=",".join(str(a.id) for a in now)), ",".join(str(a.id) for a in now),
                       runbook=None if only_temp else RUNBOOK)


@rule("disk.attribute_failed_past", defaults={"ignore_ids": []},
      param_docs={"ignore_ids": "attribute ids whose past failures are ignored (e.g. [190, 194]: temperature "
                                "attributes of drives that once ran hot)"},
      description="An ATA attribute was at or below its threshold in the past (warning; smartctl exit bit 5). "
                  "For 190/194 it means the drive once ran too hot.")
def attribute_failed_past(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        ignore = {int(x) for x in ctx.param("ignore_ids", d.stable_id, d.device)}
        past = [a for a in d.ata_attributes if a.when_failed == "past" and a.id not in ignore]
        if past:
            names = ", ".join(f"{a.id} {a.name}" + (" (ran too hot once)" if a.id in TEMPERATURE_ATTRIBUTES else "")
                              for a in past)
            yield _finding(ctx, d, Severity.WARNING, f"{_name(d)}: attribute failed in the past: {names}",
                           _ev(d, attributes=",".join(str(a.id) for a in past)), ",".join(str(a.id) for a in past))


# ---- evidence counters: one declared table (agent/rules/disk_counters.py) ---------------------------
# ---- NVMe -------------------------------------------------------------------------------------------
@rule("disk.nvme_critical_warning", runbook=RUNBOOK,
      description="NVMe critical warning bits set (health log byte 0; the drive then reports SMART FAILED) (critical). "
                  "The temperature bit alone means outside its temperature limits now (no disk-swap runbook). "
                  "Current state: the finding clears with the bit, the store keeps its history.")
def nvme_critical_warning(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        if d.nvme is None or not d.nvme.critical_warning:
            continue
        bits = d.nvme.warning_bits
        media = any(b in CRITICAL_NVME_BITS for b in bits)
        sev = Severity.CRITICAL
        ev = _ev(d, critical_warning=f"0x{d.nvme.critical_warning:02x}", bits=",".join(bits))
        for b in bits:
            ev[f"bit_{b}"] = 1
        yield _finding(ctx, d, sev, f"{_name(d)}: NVMe critical warning 0x{d.nvme.critical_warning:02x}: "
                       f"{', '.join(b.replace('_', ' ') for b in bits)}", ev, f"0x{d.nvme.critical_warning:02x}",
                       runbook=RUNBOOK if media else None)


@rule("disk.nvme_spare_low", defaults={"margin_ratio": 0.1}, runbook=RUNBOOK,
      param_docs={"margin_ratio": "warn when the spare is within this ratio above the drive's threshold"},
      description="NVMe available spare below the drive's threshold (critical) or close to it (warning).")
def nvme_spare_low(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        n = d.nvme
        if n is None or n.available_spare_ratio is None or not n.available_spare_threshold_ratio:
            continue
        margin = float(ctx.param("margin_ratio", d.stable_id, d.device))
        spare, thr = n.available_spare_ratio, n.available_spare_threshold_ratio
        if spare < thr:
            sev = Severity.CRITICAL
        elif spare < thr + margin:
            sev = Severity.WARNING
        else:
            continue
        yield _finding(ctx, d, sev, f"{_name(d)}: NVMe available spare {spare:.0%}, threshold {thr:.0%}",
                       _ev(d, available_spare=round(spare, 2), threshold=round(thr, 2)), sev.label,
                       runbook=RUNBOOK if sev is Severity.CRITICAL else None)


@rule("disk.nvme_wear", defaults={"warning_ratio": 0.8, "critical_ratio": 1.0}, runbook=RUNBOOK,
      param_docs={"warning_ratio": "percentage used (0-1) at which to warn",
                  "critical_ratio": "percentage used (0-1) at which the endurance is spent"},
      description="NVMe percentage used (endurance) at 80 % (warning) or 100 % (critical, rated endurance spent).")
def nvme_wear(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        if d.nvme is None or d.nvme.percentage_used_ratio is None:
            continue
        used = d.nvme.percentage_used_ratio
        if used >= float(ctx.param("critical_ratio", d.stable_id, d.device)):
            sev = Severity.CRITICAL
        elif used >= float(ctx.param("warning_ratio", d.stable_id, d.device)):
            sev = Severity.WARNING
        else:
            continue
        yield _finding(ctx, d, sev, f"{_name(d)}: NVMe endurance {used:.0%} used",
                       _ev(d, percentage_used=round(used * 100)), sev.label,
                       runbook=RUNBOOK if sev is Severity.CRITICAL else None)


@rule("disk.nvme_media_errors", runbook=RUNBOOK,
      description="NVMe media and data integrity errors above zero (critical; re-notifies when the count grows).")
def nvme_media_errors(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        if d.nvme is None or not d.nvme.media_errors:
            continue
        g = d.growth("nvme_media_errors")
        yield _finding(ctx, d, Severity.CRITICAL,
                       f"{_name(d)}: {d.nvme.media_errors} NVMe media/data integrity errors"
                       + (f" (+{g:g} since the baseline)" if g else ""),
                       _ev(d, media_errors=d.nvme.media_errors, growth=g), str(d.nvme.media_errors), runbook=RUNBOOK)


# ---- SCSI -------------------------------------------------------------------------------------------
@rule("disk.scsi_uncorrected_errors", runbook=RUNBOOK,
      description="SCSI uncorrected read/write/verify errors above zero (critical; the verdict alone misses them).")
def scsi_uncorrected_errors(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        s = d.scsi
        if s is None or not s.uncorrected_total:
            continue
        yield _finding(ctx, d, Severity.CRITICAL,
                       f"{_name(d)}: uncorrected errors read {s.read_uncorrected or 0}, write {s.write_uncorrected or 0}, "
                       f"verify {s.verify_uncorrected or 0}",
                       _ev(d, read=s.read_uncorrected, write=s.write_uncorrected, verify=s.verify_uncorrected,
                           grown_defects=s.grown_defects), str(s.uncorrected_total), runbook=RUNBOOK)


# ---- logs and self-tests ---------------------------------------------------------------------------------
@rule("disk.selftest_failed", runbook=RUNBOOK,
      description="A self-test in the log failed and no later extended test passed (critical); a failure that a "
                  "later passed extended test outdated (smartd and smartctl then ignore it) is kept as a warning: "
                  "a first scan error is evidence.")
def selftest_failed(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        failed, outdated = None, None
        superseded = False
        for t in d.self_tests:  # newest first
            if t.passed is True and t.kind == "extended":
                superseded = True
            elif t.passed is False:
                if superseded:
                    outdated = outdated or t
                else:
                    failed = t
                    break
        if failed is None and outdated is not None:
            yield _finding(ctx, d, Severity.WARNING,
                           f"{_name(d)}: an earlier {outdated.kind} self-test failed ({outdated.status}); "
                           "a later extended test passed",
                           _ev(d, kind=outdated.kind, status=outdated.status, lifetime_hours=outdated.lifetime_hours,
                               lba=outdated.lba), f"outdated:{outdated.lifetime_hours}", runbook=None)
            continue
        if failed is not None:
            yield _finding(ctx, d, Severity.CRITICAL,
                           f"{_name(d)}: {failed.kind} self-test failed: {failed.status}"
                           + (f" at LBA {failed.lba}" if failed.lba else ""),
                           _ev(d, kind=failed.kind, status=failed.status, lifetime_hours=failed.lifetime_hours,
                               lba=failed.lba), f"{failed.lifetime_hours}:{failed.status}", runbook=RUNBOOK)
        elif "selftest_log_has_errors" in d.exit_bits:
            yield _finding(ctx, d, Severity.WARNING, f"{_name(d)}: self-test log holds errors (smartctl exit bit 7)",
                           _ev(d, exit_status=d.exit_status), "bit7")


@rule("disk.error_log", runbook=None,
      description="The device error log has records (smartctl exit bit 6; ATA error count) (warning; "
                  "re-notifies when the count grows).")
def error_log(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        if "error_log_has_records" not in d.exit_bits:
            continue
        count = d.ata_error_count if d.ata_error_count is not None else (d.nvme.num_err_log_entries if d.nvme else None)
        yield _finding(ctx, d, Severity.WARNING,
                       f"{_name(d)}: device error log has {count if count is not None else 'some'} entries",
                       _ev(d, count=count, exit_status=d.exit_status), str(count))


@rule("disk.temperature", defaults={"warning_celsius": 0.0, "critical_celsius": 0.0}, runbook=None,
      param_docs={"warning_celsius": "warning level where the drive sets no limit of its own (0 = off)",
                  "critical_celsius": "critical level where the drive sets no limit of its own (0 = off)"},
      description="Drive temperature at or over the drive's own limits (NVMe WCTEMP warning, CCTEMP/SCSI trip "
                  "critical), else the configured levels.")
def temperature(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx):
        t = d.temperature_celsius
        if t is None:
            continue
        crit = d.temperature_critical_celsius or float(ctx.param("critical_celsius", d.stable_id, d.device)) or None
        warn = d.temperature_warning_celsius or float(ctx.param("warning_celsius", d.stable_id, d.device)) or None
        if crit is not None and t >= crit:
            sev, limit, which = Severity.CRITICAL, crit, "critical"
        elif warn is not None and t >= warn:
            sev, limit, which = Severity.WARNING, warn, "warning"
        else:
            continue
        yield _finding(ctx, d, sev, f"{_name(d)}: temperature {t:.0f} °C at or over its {which} limit {limit:.0f} °C",
                       _ev(d, temperature_celsius=t, limit_celsius=limit, limit=which), which)


# ---- disk swaps --------------------------------------------------------------------------------------
@rule("disk.replaced", defaults={"window_seconds": 7 * 86400.0}, runbook=None,
      param_docs={"window_seconds": "how long a recorded swap stays visible as an info finding"},
      description="A new disk (another serial) sits in a slot (by-path, controller target) where another disk was: "
                  "the swap is recorded and the slot's baseline moves to the new disk (info).")
def replaced(ctx: RuleContext) -> Iterator[Finding]:
    window = float(ctx.param("window_seconds"))
    for d in _devices(ctx):
        if d.replaced_time is None or ctx.now - d.replaced_time >= window:
            continue
        old = f"{d.replaced_serial or '?'}{' (' + d.replaced_model + ')' if d.replaced_model else ''}"
        yield _finding(ctx, d, Severity.INFO, f"{_name(d)}: disk replaced in slot {d.slot}: was {old}",
                       _ev(d, slot=d.slot, previous_serial=d.replaced_serial, previous_model=d.replaced_model,
                           previous_identity=d.replaced_id, replaced_time=d.replaced_time),
                       f"{d.replaced_id}->{d.stable_id}", runbook=None)


# ---- readability -----------------------------------------------------------------------------------------
@rule("disk.unreadable", defaults={"grace_seconds": 0.0}, runbook=None,
      param_docs={"grace_seconds": "only report once the last good read is older than this"},
      description="A known disk could not be read this cycle (timeout, vanished, permission denied, garbage "
                  "output) (warning). A disk in standby is not unreadable.")
def unreadable(ctx: RuleContext) -> Iterator[Finding]:
    for d in _devices(ctx, fresh_only=False):
        if d.read_status in ("ok", "standby"):
            continue
        grace = float(ctx.param("grace_seconds", d.stable_id, d.device))
        if grace and d.last_success is not None and ctx.now - d.last_success < grace:
            continue
        yield _finding(ctx, d, Severity.WARNING, f"{_name(d)}: SMART data unreadable ({d.read_status}): {d.message}",
                       _ev(d, read_status=d.read_status, last_success=d.last_success, message=d.message),
                       d.read_status)


RULES = (
    smart_failed, attribute_failing, attribute_failed_past,
    *COUNTER_RULES,
    nvme_critical_warning, nvme_spare_low, nvme_wear, nvme_media_errors,
    scsi_uncorrected_errors,
    selftest_failed, error_log, temperature, replaced, unreadable,
)


def verdict(findings: Iterable[Finding], device: SmartDevice) -> str:
    """healthy | warning | failing | unreadable for one device (the corpus vocabulary)."""
    if not device.fresh:
        return "unreadable"
    worst = max((f.severity for f in findings if f.device == device.device), default=Severity.OK)
    return "failing" if worst >= Severity.CRITICAL else "warning" if worst >= Severity.WARNING else "healthy"
