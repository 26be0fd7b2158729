"""The agent's findings about itself: its state store was reset, is running in memory, or its
writes have been stuck behind another process's lock. They join the rules' findings in every
snapshot the daemon builds (:mod:`agent.daemon_rebuild`)."""

from __future__ import annotations

from agent.model import Finding, Severity
from agent.state.store import Store
from agent.statewriter import StoreWriter

STORE_STUCK_SECONDS = 60.0  # a store write waiting this long becomes the agent.state_stuck finding


def agent_findings(store: Store | None, writer: StoreWriter) -> list[Finding]:
    """agent.state_reset, agent.state_unavailable and agent.state_stuck, as they hold now."""
    out = []
    if store is not None and store.recovered_from:
        out.append(Finding(rule="agent.state_reset", component="agent", subject="state.db", device="state.db",
                           severity=Severity.WARNING, summary=store.recovered_from,
                           evidence={"detail": store.recovered_from}, fingerprint="reset"))
    if store is not None and store.degraded:
        out.append(Finding(rule="agent.state_unavailable", component="agent", subject="state.db",
                           device="state.db", severity=Severity.WARNING, summary=store.degraded,
                           evidence={"detail": store.degraded}, fingerprint="memory"))
    stuck = writer.stuck_for() if store is not None else 0.0
    if stuck >= STORE_STUCK_SECONDS:
        msg = (f"state store writes have been waiting {stuck:.0f} s (another process holds the database "
               f"lock?); collection and /metrics continue, {writer.pending()} write(s) pending")
        out.append(Finding(rule="agent.state_stuck", component="agent", subject="state.db", device="state.db",
                           severity=Severity.WARNING, summary=msg, evidence={"seconds": round(stuck)},
                           fingerprint="stuck"))
    return out


def store_extras(store: Store | None) -> dict[str, int]:
    """Snapshot extras about the store: ``state_persistent`` (0 while it lives in memory)."""
    if store is None:
        return {}
    return {"state_persistent": 0 if (store.degraded or str(store.path) == ":memory:") else 1}
