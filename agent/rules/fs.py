"""Filesystem rules from kernel-log events (ext4, XFS, btrfs)."""

from __future__ import annotations

from typing import Iterator

from agent.model import Finding, Severity
from agent.model.events import StoredEvent
from agent.rules.base import RuleContext, rule
from agent.rules.kernel import DAY, events_rule


@rule("fs.errors", defaults={"window_seconds": DAY},
      param_docs={"window_seconds": "how long a filesystem error keeps the finding active"},
      description="Filesystem errors: remounted read-only, shut down or corruption detected (critical); "
                  "errors and checksum failures (warning).")
def errors(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        from agent.rules.kernel import window_of  # noqa: PLC0415
        w = window_of(ctx.snapshot)
        if w is None:
            return None
        evs = w.events(("fs.",), since=ctx.now - float(ctx.param("window_seconds")), device=dev)
        return Severity.CRITICAL if any(x.severity >= Severity.CRITICAL for x in evs) else Severity.WARNING
    yield from events_rule(ctx, ("fs.",), family_component="fs", severity_of=sev, what="filesystem error event(s)")


RULES = (errors,)
