"""`agent recover import`: carry a run started on another machine (while the server's board was
dead: notify, silence, backup check, old board facts with `--host NAME`) to the repaired host.

The run record and its baseline copy are copied into this host's run store, and the run's audit
lines are appended to this host's audit log, each embedded verbatim with its sha256 after a
``run_import`` line naming the source chain's head: one hash chain on this host holds the whole
run, and the source lines stay verifiable. The source chain must be intact and the run must be
for this host (its ``--host`` name).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from agent.recovery.record import RecordError, RunStore


def _source(path: str | Path) -> RunStore:
    p = Path(path)
    if (p / "runs").is_dir():
        return RunStore(p)
    if p.is_dir() and p.name == "runs":
        return RunStore(p.parent)
    raise RecordError(f"{path}: not a state directory or runs directory (copy STATE_DIR/runs from the other machine)")


def import_run(src_dir: str | Path, run_id: str, dest: RunStore, hostname: str) -> tuple[str, int]:
    """-> (run id, number of audit lines carried). Raises :class:`RecordError` naming the problem."""
    src = _source(src_dir)
    ok, why = src.verify_audit()
    if not ok:
        raise RecordError(f"{src.dir}/audit.jsonl: {why}; refusing to import a run whose audit was changed")
    rec = src.load(run_id)
    rid = rec.run_id
    if rec.data.get("host") != hostname:
        raise RecordError(f"run {rid} is for host {rec.data.get('host')!r}, this is {hostname!r}")
    dest.ensure()
    if dest.path(rid).exists():
        raise RecordError(f"run {rid} already exists in {dest.dir}")
    raw = (src.dir / "audit.jsonl").read_bytes().splitlines() if (src.dir / "audit.jsonl").exists() else []
    mine = [line for line in raw if json.loads(line).get("run_id") == rid]
    head = hashlib.sha256(raw[-1]).hexdigest() if raw else "0" * 64
    dest.audit("run_import", run_id=rid, source=str(src.dir), source_chain_head=head, lines=len(mine),
               source_host=rec.data.get("host"))
    for line in mine:
        dest.audit("imported", run_id=rid, original=line.decode(), original_sha256=hashlib.sha256(line).hexdigest())
    shutil.copy2(src.path(rid), dest.path(rid))
    b = src.dir / f"{rid}.baseline.json"
    if b.exists():
        shutil.copy2(b, dest.dir / b.name)
    return rid, len(mine)
