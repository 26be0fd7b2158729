"""Storage-pool rules (ids ``storage.*``) over ZFS pool and vdev readings.

- ``storage.zfs_pool_state``: a pool not ONLINE. DEGRADED (redundancy reduced, data served) is
  critical with the ``disk-swap-zfs`` runbook when a leaf device is faulted/unavailable/removed;
  FAULTED, UNAVAIL and SUSPENDED (I/O stopped) are critical.
- ``storage.zfs_device_faulted``: a leaf device FAULTED, UNAVAIL, REMOVED or DEGRADED (critical, runbook).
- ``storage.zfs_device_errors``: read/write/checksum errors on a device since the last clear.
  OpenZFS's own diagnosis (zed, vdev properties ``io_n``/``checksum_n``, default 10 errors in 600 s)
  faults a device at 10 errors: that is the critical level; any error warns.
- ``storage.zfs_scrub_overdue``: no finished scrub for ``warning_days`` (default 35: Debian's
  zfsutils-linux cron scrubs every pool monthly, on the second Sunday); a pool never scrubbed is info.
- ``storage.zfs_data_errors``: the last scan found errors (warning) or the pool lists permanent
  errors in files (critical: data is lost, restore the files `zpool status -v` names).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterator

from agent.model import Finding, Severity, Snapshot
from agent.model.storage import ZfsPool, ZfsVdev
from agent.rules.base import RuleContext, rule

DAY = 86400.0
RUNBOOK = "disk-swap-zfs"
BAD_LEAF = ("FAULTED", "UNAVAIL", "REMOVED", "DEGRADED")


def _without_runbook(f: Finding) -> Finding:
    return replace(f, runbook=None)  # ctx.finding() falls back to the rule's runbook


def _vdevs(ctx: RuleContext, pool: str) -> list[ZfsVdev]:
    return [v for v in ctx.snapshot.of_type(ZfsVdev) if v.pool == pool]


@rule("storage.zfs_pool_state", runbook=RUNBOOK,
      description="A ZFS pool is not ONLINE: DEGRADED (redundancy reduced) or FAULTED/UNAVAIL/SUSPENDED (I/O "
                  "stopped) (critical; the disk-swap-zfs runbook when a device is to be replaced).")
def zfs_pool_state(ctx: RuleContext) -> Iterator[Finding]:
    for p in ctx.snapshot.of_type(ZfsPool):
        if p.state == "ONLINE" or not ctx.enabled_for(p.pool):
            continue
        bad = [v.name for v in _vdevs(ctx, p.pool) if v.leaf and v.state in BAD_LEAF]
        yield ctx.finding(component="storage", subject=f"zfs/{p.pool}", device=p.pool, severity=Severity.CRITICAL,
                          summary=f"ZFS pool {p.pool} is {p.state}" + (f": {', '.join(bad)}" if bad else "")
                                  + (f" ({p.status_text[:160]})" if p.status_text else ""),
                          evidence={"pool": p.pool, "state": p.state, "devices": ",".join(bad),
                                    "action": (p.action_text or "")[:200]},
                          fingerprint=p.state) if bad else _without_runbook(ctx.finding(
            component="storage", subject=f"zfs/{p.pool}", device=p.pool, severity=Severity.CRITICAL,
            summary=f"ZFS pool {p.pool} is {p.state}" + (f" ({p.status_text[:160]})" if p.status_text else ""),
            evidence={"pool": p.pool, "state": p.state, "devices": "", "action": (p.action_text or "")[:200]},
            fingerprint=p.state))


@rule("storage.zfs_device_faulted", runbook=RUNBOOK,
      description="A ZFS pool device is FAULTED, UNAVAIL, REMOVED or DEGRADED (critical, disk-swap-zfs).")
def zfs_device_faulted(ctx: RuleContext) -> Iterator[Finding]:
    for v in ctx.snapshot.of_type(ZfsVdev):
        if not v.leaf or v.state not in BAD_LEAF or not ctx.enabled_for(v.subject, v.name):
            continue
        yield ctx.finding(component="storage", subject=f"zfs/{v.subject}", device=v.name, severity=Severity.CRITICAL,
                          summary=f"ZFS pool {v.pool}: device {v.name} is {v.state}" + (f" ({v.note})" if v.note else ""),
                          evidence={"pool": v.pool, "vdev": v.name, "parent": v.parent or "", "state": v.state,
                                    "note": v.note or ""}, fingerprint=v.state)


@rule("storage.zfs_device_errors", defaults={"warning": 1, "critical": 10}, runbook=RUNBOOK,
      param_docs={"warning": "read+write+checksum errors on one device that warn",
                  "critical": "errors on one device that are critical (OpenZFS faults a device at 10 in 600 s)"},
      description="Read, write or checksum errors on a ZFS device since the last `zpool clear` (warning; critical "
                  "at the level at which OpenZFS itself faults a device).")
def zfs_device_errors(ctx: RuleContext) -> Iterator[Finding]:
    for v in ctx.snapshot.of_type(ZfsVdev):
        if not v.leaf or not ctx.enabled_for(v.subject, v.name):
            continue
        n = (v.read_errors or 0) + (v.write_errors or 0) + (v.checksum_errors or 0)
        crit = float(ctx.param("critical", v.subject, v.name))
        warn = float(ctx.param("warning", v.subject, v.name))
        sev = Severity.CRITICAL if crit > 0 and n >= crit else Severity.WARNING if warn > 0 and n >= warn else None
        if sev is None:
            continue
        f = ctx.finding(component="storage", subject=f"zfs/{v.subject}/errors", device=v.name, severity=sev,
                        summary=f"ZFS pool {v.pool}: {v.name}: {v.read_errors or 0} read, {v.write_errors or 0} write, "
                                f"{v.checksum_errors or 0} checksum errors",
                        evidence={"pool": v.pool, "vdev": v.name, "read": v.read_errors, "write": v.write_errors,
                                  "checksum": v.checksum_errors}, fingerprint=str(n))
        yield f if sev is Severity.CRITICAL else _without_runbook(f)


@rule("storage.zfs_scrub_overdue", defaults={"warning_days": 35.0},
      param_docs={"warning_days": "days since the last finished scrub that warn (Debian scrubs monthly)"},
      description="No finished scrub of a ZFS pool for warning_days (warning); never scrubbed is info. Latent "
                  "sector errors are found by reading: an unscrubbed pool finds them during a resilver.")
def zfs_scrub_overdue(ctx: RuleContext) -> Iterator[Finding]:
    for p in ctx.snapshot.of_type(ZfsPool):
        if not ctx.enabled_for(p.pool) or p.scan_state == "in_progress" and p.scan_kind == "scrub":
            continue
        days = float(ctx.param("warning_days", p.pool))
        if p.last_scrub_time is None:
            if p.scan_kind is None:
                yield ctx.finding(component="storage", subject=f"zfs/{p.pool}/scrub", device=p.pool,
                                  severity=Severity.INFO, summary=f"ZFS pool {p.pool} was never scrubbed",
                                  evidence={"pool": p.pool}, fingerprint="never")
            continue
        age = (ctx.now - p.last_scrub_time) / DAY
        if days > 0 and age >= days:
            yield ctx.finding(component="storage", subject=f"zfs/{p.pool}/scrub", device=p.pool,
                              severity=Severity.WARNING,
                              summary=f"ZFS pool {p.pool}: last scrub {age:.0f} days ago (run `zpool scrub {p.pool}`)",
                              evidence={"pool": p.pool, "days_since_scrub": round(age, 1)}, fingerprint="overdue")


@rule("storage.zfs_data_errors", runbook=None,
      description="The last ZFS scan found errors (warning), or the pool lists permanent errors in files "
                  "(critical: restore the files `zpool status -v` names).")
def zfs_data_errors(ctx: RuleContext) -> Iterator[Finding]:
    for p in ctx.snapshot.of_type(ZfsPool):
        if not ctx.enabled_for(p.pool):
            continue
        if p.data_errors:
            sev, what = Severity.CRITICAL, f"{p.data_errors} permanent data errors (files damaged)"
        elif p.scan_errors:
            sev, what = Severity.WARNING, f"the last {p.scan_kind} found {p.scan_errors} errors"
        else:
            continue
        yield ctx.finding(component="storage", subject=f"zfs/{p.pool}/data", device=p.pool, severity=sev,
                          summary=f"ZFS pool {p.pool}: {what}",
                          evidence={"pool": p.pool, "data_errors": p.data_errors, "scan_errors": p.scan_errors},
                          fingerprint=f"{p.data_errors}:{p.scan_errors}")


RULES = (zfs_pool_state, zfs_device_faulted, zfs_device_errors, zfs_scrub_overdue, zfs_data_errors)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    return {}
