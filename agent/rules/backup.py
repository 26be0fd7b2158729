"""Backup readiness: the last restore drill failed or is too old.

A repository check proves the store is consistent, not that data comes back (restic issue #2332);
only a restore that was compared with the snapshot's listing does. A monthly drill is the usual
cadence for a small hoster (the runbook's timer example), so the default limit is 35 days.
"""

from __future__ import annotations

from typing import Iterator

from agent.model import Finding, Severity
from agent.model.backup import RestoreDrill
from agent.rules.base import RuleContext, rule

DAY = 86400.0


@rule("backup.restore_drill", defaults={"max_age_days": 35.0}, runbook="restore-drill",
      param_docs={"max_age_days": "a drill older than this many days is a warning"},
      description="The last restore drill failed (critical) or is older than max_age_days (warning).")
def restore_drill(ctx: RuleContext) -> Iterator[Finding]:
    for d in ctx.snapshot.of_type(RestoreDrill):
        age = ctx.now - d.time
        ev = {"run_id": d.run_id, "path": d.path, "tool": d.tool, "age_seconds": round(age), "files": d.files,
              "snapshot_time": d.snapshot_time, "detail": d.detail}
        if not d.success:
            yield Finding("backup.restore_drill", "backup", d.path or "backup", d.path or "backup", Severity.CRITICAL,
                          f"the last restore drill of {d.path} failed: {d.detail}", ev, "restore-drill",
                          fingerprint=d.run_id)
            continue
        limit = float(ctx.param("max_age_days")) * DAY
        if age > limit:
            yield Finding("backup.restore_drill", "backup", d.path or "backup", d.path or "backup", Severity.WARNING,
                          f"the last restore drill of {d.path} is {age / DAY:.0f} days old (limit "
                          f"{float(ctx.param('max_age_days')):g})", ev, "restore-drill", fingerprint=d.run_id)


RULES = (restore_drill,)
