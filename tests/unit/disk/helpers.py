"""Evaluate the disk rules over hand-built or parsed devices (no daemon, no store)."""

from __future__ import annotations

from agent.model import Snapshot
from agent.rules import disk as disk_rules
from agent.rules.base import Params, RuleContext

NOW = 1_764_003_600.0


def evaluate(*devices, params: dict | None = None, devices_params: dict | None = None, now: float = NOW):
    snap = Snapshot(time=now, boot_id="b", readings={"smart": tuple(devices)}, statuses={})
    out = []
    for fn in disk_rules.RULES:
        m = fn.meta
        p = Params(m.defaults, (params or {}).get(m.id, {}), devices_params or {})
        out.extend(fn(RuleContext(snapshot=snap, history=None, params=p, now=now, rule=m)))
    return out
