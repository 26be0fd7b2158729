"""Rule registry: RULES is the tuple joined from each family module, in output order."""

from __future__ import annotations

import logging
from typing import Any

from agent.model import BoardEpoch, Finding, Snapshot
from agent.rules import board, disk, memory
from agent.rules import board_verdict, ipmi, pcie, platform, raid
from agent.rules import cpu, fs, kernel, storage
from agent.rules import recovery
from agent.rules import backup
from agent.rules.base import Params, RuleContext, RuleMeta, rule

log = logging.getLogger("hwagent.rules")

FAMILIES = (board, memory, disk, platform, pcie, raid, ipmi, board_verdict, cpu, fs, kernel, storage, recovery, backup)

RULES: tuple[RuleMeta, ...] = tuple(fn.meta for fam in FAMILIES for fn in fam.RULES)
RULES_BY_ID: dict[str, RuleMeta] = {}
for _m in RULES:
    if _m.id in RULES_BY_ID:
        raise RuntimeError(f"duplicate rule id {_m.id}")
    RULES_BY_ID[_m.id] = _m


def history_samples(snapshot: Snapshot) -> dict[str, float]:
    out: dict[str, float] = {}
    for fam in FAMILIES:
        fn = getattr(fam, "history_samples", None)
        if fn:
            out.update(fn(snapshot))
    return out


def evaluate(snapshot: Snapshot, history: Any, config: Any, now: float) -> tuple[list[Finding], list[str]]:
    """Run every enabled rule; a rule that raises is reported in ``errors``, never propagated."""
    findings: list[Finding] = []
    errors: list[str] = []
    epoch = next(iter(snapshot.of_type(BoardEpoch)), None)
    floor = epoch.since if epoch is not None else 0.0
    for meta in RULES:
        rc = config.rule(meta.id) if config is not None else None
        if rc is not None and not rc.enabled:
            continue
        params = Params(meta.defaults, rc.params if rc else {}, rc.devices if rc else {})
        ctx = RuleContext(snapshot=snapshot, history=history, params=params, now=now, rule=meta,
                          floor=floor if meta.board_scoped else 0.0)
        try:
            findings.extend(meta.fn(ctx))
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            log.warning("rule %s failed: %s", meta.id, exc)
            errors.append(f"{meta.id}: {type(exc).__name__}: {exc}")
    return findings, errors


__all__ = ["RULES", "RULES_BY_ID", "evaluate", "rule", "RuleContext", "RuleMeta", "history_samples"]
