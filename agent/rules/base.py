"""Rule metadata, context and evaluation.

A rule is a plain function ``fn(ctx) -> Iterable[Finding]`` decorated with :func:`rule`, which
only attaches metadata: the stable id (``family.snake_name``, which is API: config key, metric
label, runbook trigger), default parameters and the suggested runbook. Rules read
``ctx.snapshot`` and ``ctx.history``, take thresholds from ``ctx.param(name, subject, device)``
(config per rule id, overridden per device) and use ``ctx.now`` as their only clock: the same
input always gives the same output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Protocol, cast

from agent.model import Finding, Severity, Snapshot

RuleFn = Callable[["RuleContext"], Iterable[Finding]]

# Rule families whose evidence belongs to the mainboard: machine checks (CPU sockets and their
# memory controllers), EDAC memory errors, PCIe AER/link errors, BMC SEL and sensors, power and
# resets. A board swap starts their windows afresh (agent.state.board_epoch); disk, filesystem,
# RAID, storage and backup evidence moves with the disks and keeps counting.
BOARD_SCOPED_FAMILIES = frozenset({"board", "cpu", "memory", "pcie"})


@dataclass(frozen=True)
class RuleMeta:
    id: str
    fn: Callable[["RuleContext"], Iterable[Finding]]
    defaults: Mapping[str, Any]
    runbook: str | None
    description: str
    param_docs: Mapping[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def board_scoped(self) -> bool:
        """Evidence of this rule belongs to the mainboard (CPU sockets, memory controllers, PCIe,
        BMC, power): after a board swap it counts from the new board's epoch only."""
        return self.family in BOARD_SCOPED_FAMILIES


class Rule(Protocol):
    """A rule function after :func:`rule`: callable as before, with its metadata in ``meta``."""

    meta: RuleMeta
    __name__: str

    def __call__(self, ctx: RuleContext, /) -> Iterable[Finding]: ...


def rule(rule_id: str, *, defaults: Mapping[str, Any] | None = None, runbook: str | None = None,
         description: str = "", param_docs: Mapping[str, str] | None = None) -> Callable[[RuleFn], Rule]:
    if "." not in rule_id or rule_id != rule_id.lower():
        raise ValueError(f"rule id {rule_id!r} must be family.snake_name")

    def deco(fn: RuleFn) -> Rule:
        marked = cast(Rule, fn)
        marked.meta = RuleMeta(rule_id, fn, dict(defaults or {}), runbook,
                               description or (fn.__doc__ or "").strip().split("\n")[0], dict(param_docs or {}))
        return marked

    return deco


class Params:
    """Parameters of one rule: defaults < config [rules.ID] < [rules.ID.devices.DEVICE]."""

    def __init__(self, defaults: Mapping[str, Any], overrides: Mapping[str, Any],
                 devices: Mapping[str, Mapping[str, Any]]):
        self._base = {**defaults, **overrides}
        self._devices = devices

    def get(self, name: str, *devices: str | None) -> Any:
        for d in devices:
            if d and d in self._devices and name in self._devices[d]:
                return self._devices[d][name]
        return self._base[name]

    @property
    def per_device(self) -> bool:
        """Whether any device overrides a parameter (else :meth:`get` ignores the device)."""
        return bool(self._devices)

    def enabled_for(self, *devices: str | None) -> bool:
        for d in devices:
            if d and d in self._devices and "enabled" in self._devices[d]:
                return bool(self._devices[d]["enabled"])
        return True


@dataclass
class RuleContext:
    snapshot: Snapshot
    history: Any  # agent.state.store.History (read-only)
    params: Params
    now: float
    rule: RuleMeta | None = None
    floor: float = 0.0  # no evidence before this time counts (board-scoped rules after a board swap)

    def since(self, window: float) -> float:
        """The start of a window ending now, never before :attr:`floor`."""
        return max(self.now - window, self.floor)

    def window(self, window: float) -> float:
        """A window's length clipped at :attr:`floor` (never negative)."""
        return min(window, max(self.now - self.floor, 0.0)) if self.floor > 0 else window

    def param(self, name: str, *devices: str | None) -> Any:
        return self.params.get(name, *devices)

    def enabled_for(self, *devices: str | None) -> bool:
        return self.params.enabled_for(*devices)

    def finding(self, *, component: str, subject: str, device: str, severity: Severity, summary: str,
                evidence: Mapping[str, Any] | None = None, fingerprint: str = "", runbook: str | None = None,
                rule_id: str | None = None) -> Finding:
        meta = self.rule
        return Finding(
            rule=rule_id or (meta.id if meta else "unknown.rule"),
            component=component, subject=subject, device=device, severity=severity,
            summary=summary, evidence=dict(evidence or {}),
            runbook=runbook if runbook is not None else (meta.runbook if meta else None),
            fingerprint=fingerprint,
        )
