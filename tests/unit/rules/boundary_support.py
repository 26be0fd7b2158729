"""Boundary probes: for one (rule, numeric parameter), an input at the threshold and one just
below it, and the (severity, runbook) each must give.

A :class:`Probe` builds readings from one number (the measured quantity: a count, a ratio, a
voltage, an age). The thresholds come from the rule's metadata (``RuleMeta.defaults``) at test
time, so a changed default moves the probe with it and a changed comparison (``>=`` -> ``>``)
fails it. Parameters that are 0 (= off) by default are probed with an explicit value, and the
probe also checks that 0 really turns the check off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from agent.model import CollectorStatus, Snapshot
from agent.rules import RULES_BY_ID
from agent.rules.base import Params, RuleContext

NOW = 1_764_003_600.0
BOOT = "00000000-0000-4000-8000-000000000001"


@dataclass(frozen=True)
class Probe:
    rule: str
    param: str
    build: Callable[[float], Any]  # measured value -> readings, or (readings, History)
    at: tuple[str | None, str | None]  # (severity, runbook) at the threshold
    below: tuple[str | None, str | None]  # ... just below it
    step: float = 1.0  # "just below" = threshold - step (ints: 1; floats: a small step)
    value_of: Callable[[float], float] = lambda t: t  # threshold -> the measured value that sits on it
    params: Mapping[str, Any] = field(default_factory=dict)  # other parameters of the rule for isolation
    when_off: float | None = None  # value probed when the default is 0 (off)
    off: tuple[str | None, str | None] | None = None  # expected with the parameter 0 (default: not the firing one)
    history: Any = None
    now: float = NOW

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.param}"


def run(rule_id: str, readings: Sequence[Any], params: Mapping[str, Any], history: Any = None,
        now: float = NOW) -> tuple[str | None, str | None]:
    """Worst (severity, runbook) the rule gives over the readings; (None, None) for no finding."""
    meta = RULES_BY_ID[rule_id]
    if isinstance(readings, tuple) and len(readings) == 2 and not hasattr(readings[1], "__dataclass_fields__"):
        readings, history = readings  # a builder that also brings the stored history
    snap = Snapshot(time=now, boot_id=BOOT, readings=MappingProxyType({"probe": tuple(readings)}),
                    statuses=MappingProxyType({"probe": CollectorStatus("probe", ok=True)}))
    ctx = RuleContext(snapshot=snap, history=history, params=Params(meta.defaults, dict(params), {}), now=now,
                      rule=meta)
    fs = [f for f in meta.fn(ctx) if f.rule == rule_id]
    if not fs:
        return (None, None)
    worst = max(fs, key=lambda f: f.severity)
    return (worst.severity.label, worst.runbook)


def _rank(sev: str | None) -> int:
    return ["info", "warning", "critical"].index(sev) + 1 if sev else 0


def check(p: Probe) -> None:
    meta = RULES_BY_ID[p.rule]
    default = meta.defaults[p.param]
    threshold = default
    params = {**p.params, p.param: default}
    if not default:
        assert p.when_off is not None, f"{p.id}: default 0 (off) needs when_off"
        threshold = p.when_off
        params[p.param] = threshold
        # 0 really is off: the side that fires with the parameter set does not fire at 0
        fires_at = _rank(p.at[0]) >= _rank(p.below[0])
        value = p.value_of(threshold) - (0 if fires_at else p.step)
        want = p.at if fires_at else p.below
        off = run(p.rule, p.build(value), {**params, p.param: 0}, p.history, p.now)
        if p.off is not None:
            assert off == p.off, f"{p.id}: with 0: got {off}, want {p.off}"
        else:
            assert off != want, f"{p.id}: 0 should turn the check off, got {off}"
    at = run(p.rule, p.build(p.value_of(threshold)), params, p.history, p.now)
    assert at == p.at, f"{p.id}: at the threshold {threshold!r}: got {at}, want {p.at}"
    below = run(p.rule, p.build(p.value_of(threshold) - p.step), params, p.history, p.now)
    assert below == p.below, f"{p.id}: just below the threshold {threshold!r} (-{p.step}): got {below}, want {p.below}"
