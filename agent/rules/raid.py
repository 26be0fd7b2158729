"""md RAID rules (ids ``raid.*``): degraded arrays, failed members, inactive arrays, resyncs."""

from __future__ import annotations

from typing import Any, Iterator

from agent.model import Finding, Severity, Snapshot
from agent.model.platform import MdArray
from agent.rules.base import RuleContext, rule

REBUILDING = ("recover", "reshape")
BAD_STATES = ("inactive", "broken", "suspended")


def _ev(a: MdArray, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"array": a.device, "level": a.level or "", "array_state": a.array_state or "",
          "raid_disks": a.raid_disks, "degraded": a.degraded, "failed": a.failed_disks, "spares": a.spare_disks,
          "sync_action": a.sync_action or "", "status": a.status or "",
          "members": ",".join(f"{m.device}[{m.slot}]({'/'.join(m.states)})" for m in a.members)}
    if a.sync_completed is not None:
        ev["sync_completed"] = round(a.sync_completed, 4)
    ev.update(extra)
    return {k: v for k, v in ev.items() if v is not None}


@rule("raid.degraded", runbook="disk-swap-mdadm",
      description="An md array runs without full redundancy (missing or failed members): critical; "
                  "a warning while it rebuilds onto a replacement.")
def degraded(ctx: RuleContext) -> Iterator[Finding]:
    for a in ctx.snapshot.of_type(MdArray):
        if not a.redundant or not ctx.enabled_for(a.device) or a.array_state in BAD_STATES:
            continue
        missing = a.degraded or 0
        if missing <= 0:
            continue
        rebuilding = a.sync_action in REBUILDING
        if rebuilding:
            pct = f", {a.sync_completed * 100:.1f} % done" if a.sync_completed is not None else ""
            sev, summary = Severity.WARNING, f"{a.device} ({a.level}) degraded, rebuilding ({a.sync_action}{pct})"
        else:
            failed = [m.device for m in a.members if m.faulty]
            sev = Severity.CRITICAL
            summary = (f"{a.device} ({a.level}) degraded: {missing} of {a.raid_disks} members missing"
                       + (f", failed: {', '.join(failed)}" if failed else "") + "; replace the disk")
        yield ctx.finding(component="raid", subject=a.device, device=a.device, severity=sev, summary=summary,
                          evidence=_ev(a), fingerprint=f"{sev.label}:{missing}")


@rule("raid.member_failed", runbook="disk-swap-mdadm",
      description="An md member is marked faulty (kicked out after I/O errors): replace it.")
def member_failed(ctx: RuleContext) -> Iterator[Finding]:
    for a in ctx.snapshot.of_type(MdArray):
        for m in a.members:
            if not m.faulty or not ctx.enabled_for(a.device, m.device):
                continue
            yield ctx.finding(component="raid", subject=f"{a.device}/{m.device}", device=m.device,
                              severity=Severity.CRITICAL,
                              summary=f"{m.device} failed in {a.device} ({a.level}); remove and replace it",
                              evidence=_ev(a, member=m.device, member_state=",".join(m.states),
                                           member_errors=m.errors),
                              fingerprint="faulty")


@rule("raid.array_inactive", runbook="disk-swap-mdadm",
      description="An md array is inactive, broken or suspended: its data is not available.")
def array_inactive(ctx: RuleContext) -> Iterator[Finding]:
    for a in ctx.snapshot.of_type(MdArray):
        if a.array_state in BAD_STATES and ctx.enabled_for(a.device):
            yield ctx.finding(component="raid", subject=a.device, device=a.device, severity=Severity.CRITICAL,
                              summary=f"{a.device} is {a.array_state}", evidence=_ev(a), fingerprint=a.array_state or "")


@rule("raid.sync_running",
      description="An md array is resyncing or rebuilding (info; checks and repairs are not reported).")
def sync_running(ctx: RuleContext) -> Iterator[Finding]:
    for a in ctx.snapshot.of_type(MdArray):
        if not ctx.enabled_for(a.device):
            continue
        if a.sync_action in ("resync", "recover", "reshape") or a.sync_pending:
            what = a.sync_action if a.sync_action not in (None, "idle") else a.sync_pending
            pct = f" ({a.sync_completed * 100:.1f} % done)" if a.sync_completed is not None else ""
            yield ctx.finding(component="raid", subject=f"{a.device}/sync", device=a.device, severity=Severity.INFO,
                              summary=f"{a.device}: {what} running{pct}", evidence=_ev(a), fingerprint=str(what))


RULES = (degraded, member_failed, array_inactive, sync_running)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    return {}
