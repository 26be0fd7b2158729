"""Shared test code for the platform tests: snapshots, rule evaluation with a real store."""

from __future__ import annotations

from types import MappingProxyType

from agent.model import CollectorStatus, Snapshot, SystemReading
from agent.rules import RULES_BY_ID
from agent.rules.base import Params, RuleContext
from agent.state.store import History, Store

BOOT = "00000000-0000-4000-8000-000000000001"
NOW = 1_764_003_600.0


def system(uptime: float = 3600.0) -> SystemReading:
    return SystemReading(boot_time_seconds=NOW - uptime, uptime_seconds=uptime, load1=None, load5=None, load15=None,
                         memory_total_bytes=None, memory_available_bytes=None, hardware_corrupted_bytes=None,
                         cpu_count=None, kernel_release=None)


def snap(*readings, boot: str = BOOT, now: float = NOW, uptime: float | None = 3600.0) -> Snapshot:
    items = list(readings)
    if uptime is not None:
        items.append(system(uptime))
    return Snapshot(time=now, boot_id=boot, readings=MappingProxyType({"test": tuple(items)}),
                    statuses=MappingProxyType({"test": CollectorStatus("test", ok=True)}))


def run_rule(rule_id: str, snapshot: Snapshot, store: Store | None = None, now: float = NOW, **params):
    meta = RULES_BY_ID[rule_id]
    ctx = RuleContext(snapshot=snapshot, history=History(store, now), params=Params(meta.defaults, params, {}),
                      now=now, rule=meta)
    return list(meta.fn(ctx))


def record(store: Store, snapshot: Snapshot, ts: float) -> None:
    """Store the history samples of every rule family, as the daemon does."""
    from agent.rules import history_samples

    store.record_samples(snapshot.boot_id, ts, history_samples(snapshot))


class LabReplay:
    """Strict argv replay of an ipmitool recording folder that predates `sel info`: that one
    call answers like an ipmitool without the subcommand (the collector then walks the SEL)."""

    def __init__(self, commands_dir):
        from tests.support.replay import ReplayRunner

        self.inner = ReplayRunner(commands_dir)

    def __call__(self, argv, timeout, env=None):
        from agent.host import CommandResult

        if list(argv[1:]) == ["sel", "info"] and not self.inner.path_for(argv).exists():
            return CommandResult(tuple(argv), 1, b"", b"Invalid SEL command: info\n", 0.0)
        return self.inner(argv, timeout, env)
