"""Child runs: os-updates and data-restore run inside a mainboard-swap run, under its lock.

Before, MB-23/MB-24 asked for the run id of a separate `agent recover os-updates --execute`
while the parent held the host's run lock, so the child could not start, and any well-formed id
passed. Now the parent's step starts the child runbook in the same process (the lock is already
held), records ``parent`` in the child's record, and resumes the same child after an
interruption or a failure instead of starting another. The verify accepts only a *completed*
child of this run, of that runbook, on this host.
"""

from __future__ import annotations

from typing import Any, Mapping


def children(store, parent: str, runbook_id: str) -> list[dict[str, Any]]:
    out = []
    for row in store.list():
        if row.get("runbook") != runbook_id:
            continue
        try:
            d = store.load(row["run_id"]).data
        except Exception:  # noqa: BLE001 - an unreadable record is not our child
            continue
        if d.get("parent") == parent:
            out.append(d)
    return sorted(out, key=lambda d: d.get("created") or 0)


def run_child(engine, runbook_id: str, params: Mapping[str, str] | None = None) -> tuple[bool, str, str | None]:
    """Start (or resume) the child run; -> (completed, detail, child run id)."""
    from agent.recovery import runbook as rbm  # noqa: PLC0415

    import re  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    parent = engine.rec.run_id
    rb = rbm.load(rbm.find(runbook_id, Path(engine.runbook.path).parent))
    open_ = [d for d in children(engine.store, parent, runbook_id) if d.get("status") != "completed"]
    done = [d for d in children(engine.store, parent, runbook_id) if d.get("status") == "completed"]
    if done and not open_:
        return True, f"child run {done[-1]['run_id']} ({runbook_id}) completed", done[-1]["run_id"]
    params = dict(params or {})
    if not open_:  # a new child: ask for its required parameters (recorded in its run, reused on resume)
        for name, p in rb.params.items():
            if p.required and name not in params:
                def valid(text, p=p):
                    return None if not p.pattern or re.fullmatch(p.pattern, text) else f"does not match /{p.pattern}/"
                params[name] = engine.ui.ask(f"{runbook_id} parameter {name}: {p.description}"
                                             + (f" (e.g. {p.example})" if p.example else ""), valid)
    else:
        params = dict(open_[-1].get("params") or {})
    child = type(engine)(rb, engine.host, params=params, baseline=engine.baseline,
                     baseline_id=engine.baseline_id, ui=engine.ui, notifier=engine.notifier, operator=engine.operator,
                     store=engine.store, clock=engine.clock, sleep=engine.sleep)
    child.parent = parent
    child.host_name = engine.host_name
    engine.ui.info(f"--- child run of {runbook_id} under {parent} ---")
    # the child executor is the parent's class (agent.recovery.executor), which turns the child's
    # RunInterrupted into the parent's interruption
    if open_:
        rec = child.resume(open_[-1]["run_id"])
    else:
        rec = child.start()
    d = rec.data
    engine.ui.info(f"--- back in {parent} ---")
    if d["status"] == "completed":
        return True, f"child run {rec.run_id} ({runbook_id}) completed", rec.run_id
    failed = d.get("failed_step")
    detail = d["steps"].get(failed, {}).get("detail") if failed else d["status"]
    return False, (f"child run {rec.run_id} ({runbook_id}) {d['status']}"
                   + (f" at {failed}: {detail}" if failed else "")
                   + f"; fix it and resume {parent} (the same child run continues)"), rec.run_id


def check_child(engine, runbook_id: str) -> tuple[bool, str]:
    """A completed child of this run, of that runbook, on this host."""
    parent = engine.rec.run_id if engine.rec else None
    if parent is None:
        return False, "no run record (a dry run has no children)"
    host = engine.host_name or engine.host.hostname()
    for d in reversed(children(engine.store, parent, runbook_id)):
        if d.get("status") == "completed" and d.get("host") == host:
            return True, f"child run {d['run_id']} of {runbook_id} completed on {host}"
    return False, f"no completed {runbook_id} run under {parent} on {host}"
