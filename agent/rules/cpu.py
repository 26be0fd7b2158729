"""CPU rules from kernel-log events: machine checks, corrected-error storms per socket, lockups,
hung tasks, RCU stalls. Counts come from the event history (see :mod:`agent.rules.kernel`)."""

from __future__ import annotations

from typing import Iterator

from agent.model import Finding, Severity, Snapshot
from agent.model.events import StoredEvent
from agent.rules.base import RuleContext, rule
from agent.rules.kernel import DAY, events_rule, storm_rule

_WIN_DOC = {"window_seconds": "how long an event keeps the finding active"}


@rule("cpu.machine_check_uncorrected", defaults={"window_seconds": 7 * DAY}, param_docs=_WIN_DOC, runbook="mainboard-swap",
      description="An uncorrected or fatal machine check (or AMD deferred error) was logged; the first one is critical.")
def machine_check_uncorrected(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        return Severity.WARNING if e is not None and e.cls == "mce.deferred" else Severity.CRITICAL
    yield from events_rule(ctx, ("mce.uncorrected", "mce.fatal", "mce.deferred"), severity_of=sev,
                           what="uncorrected machine check(s)")


@rule("cpu.machine_check_corrected", defaults={"window_seconds": DAY, "warning": 1},
      param_docs={"window_seconds": "window corrected machine checks are counted in",
                  "warning": "corrected machine checks per socket per window that warn (0 = off)"},
      description="Corrected machine checks logged by the kernel (after CEC filtering they are rare on healthy "
                  "hardware; the storm rule judges rates).")
def machine_check_corrected(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        want = int(ctx.param("warning", dev, comp))
        return Severity.WARNING if want > 0 and n >= want else None
    yield from events_rule(ctx, ("mce.corrected",), severity_of=sev, what="corrected machine check(s)")


@rule("cpu.machine_check_storm", defaults={"capacity": 100, "period_seconds": DAY, "critical_factor": 10},
      param_docs={"capacity": "corrected machine checks per period per socket (mcelog: 100 per 24 h)",
                  "period_seconds": "leak period of the bucket", "critical_factor": "peak = capacity x factor is critical (0 = never)"},
      description="Corrected machine checks per socket above a leaky-bucket rate, or the kernel switched to CMCI poll mode.")
def machine_check_storm(ctx: RuleContext) -> Iterator[Finding]:
    yield from storm_rule(ctx, ("mce.corrected",), "corrected machine checks")
    yield from events_rule(ctx, ("mce.storm",), severity_of=lambda e, n, c, d: Severity.WARNING,
                           what="CMCI storm(s)", window_key="period_seconds")


@rule("cpu.lockup", defaults={"window_seconds": DAY}, param_docs=_WIN_DOC,
      description="Soft lockups (warning) and hard lockups (critical); hardware or software - read with MCE/I/O context.")
def lockup(ctx: RuleContext) -> Iterator[Finding]:
    def sev(e: StoredEvent | None, n: int, comp: str, dev: str) -> Severity | None:
        return Severity.CRITICAL if e is not None and e.cls == "cpu.hard_lockup" else Severity.WARNING
    yield from events_rule(ctx, ("cpu.soft_lockup", "cpu.hard_lockup", "panic.lockup"), severity_of=sev, what="CPU lockup(s)")


@rule("cpu.hung_task", defaults={"window_seconds": DAY, "warning": 1},
      param_docs={"window_seconds": "window hung-task reports are counted in", "warning": "reports per window that warn"},
      description="Tasks blocked for more than the hung-task timeout (often stuck I/O).")
def hung_task(ctx: RuleContext) -> Iterator[Finding]:
    yield from events_rule(ctx, ("cpu.hung_task",), what="hung task report(s)",
                           severity_of=lambda e, n, c, d: Severity.WARNING if n >= int(ctx.param("warning")) else None)


@rule("cpu.rcu_stall", defaults={"window_seconds": DAY}, param_docs=_WIN_DOC,
      description="RCU stall warnings: a CPU did not pass a quiescent state in time.")
def rcu_stall(ctx: RuleContext) -> Iterator[Finding]:
    yield from events_rule(ctx, ("cpu.rcu_stall",), severity_of=lambda e, n, c, d: Severity.WARNING, what="RCU stall(s)")


RULES = (machine_check_uncorrected, machine_check_corrected, machine_check_storm, lockup, hung_task, rcu_stall)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    return {}
