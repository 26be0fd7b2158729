"""Memory rules from the system collector (EDAC and MCE rules join this family later)."""

from __future__ import annotations

from typing import Iterator

from agent.model import Finding, Severity, Snapshot, SystemReading
from agent.rules.base import RuleContext, rule


@rule("memory.hardware_corrupted", defaults={"critical_bytes": 4 * 1024 * 1024},
      param_docs={"critical_bytes": "poisoned memory at or above this is critical"},
      runbook="memory-ecc-errors",
      description="The kernel took memory pages offline after uncorrectable errors (/proc/meminfo HardwareCorrupted > 0).")
def hardware_corrupted(ctx: RuleContext) -> Iterator[Finding]:
    for r in ctx.snapshot.of_type(SystemReading):
        b = r.hardware_corrupted_bytes
        if not b or not ctx.enabled_for("memory"):
            continue
        sev = Severity.CRITICAL if b >= int(ctx.param("critical_bytes", "memory")) else Severity.WARNING
        yield ctx.finding(component="memory", subject="meminfo/HardwareCorrupted", device="memory", severity=sev,
                          summary=f"{b // 1024} KiB of memory poisoned and taken offline (HardwareCorrupted)",
                          evidence={"hardware_corrupted_bytes": b}, fingerprint=str(b))


RULES = (hardware_corrupted,)


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    return {}
