"""backup: the last restore drill's outcome (STATE_DIR/restore-drill.json).

`agent recover restore-drill --execute --yes` (a timer) restores the newest backup into scratch
and compares it with the snapshot's listing; the CLI writes the outcome to restore-drill.json in
the state directory. This collector only reads that file: "the backup restores" becomes a
measured fact with a time, exported as ``hwagent_restore_drill_*`` and judged by the rule
``backup.restore_drill``. No drill yet is "not present", not an error.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from agent.collectors.base import BaseCollector, NoData
from agent.model.backup import RestoreDrill


_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def _epoch(v) -> float | None:
    """Epoch seconds, or an ISO time as restic (nanoseconds, Z) or borg (no zone: taken as UTC) write it."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    m = _ISO.match(v.strip()) if isinstance(v, str) else None
    if not m:
        return None
    tz = m.group(3) or "Z"
    text = m.group(1) + (m.group(2) or "")[:7] + ("+00:00" if tz == "Z" else tz)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _int(v) -> int | None:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


class RestoreDrillCollector(BaseCollector):
    name = "backup"
    default_interval = 300.0
    default_timeout = 5.0
    description = "outcome and age of the last restore drill (agent recover restore-drill)"
    options = {"result_file": (str, "", "Drill result file (default: STATE_DIR/restore-drill.json).")}

    def _path(self) -> Path | None:
        if self.option("result_file"):
            return Path(self.option("result_file"))
        if self.store is not None and getattr(self.store, "path", None) is not None:
            return Path(self.store.path).parent / "restore-drill.json"
        return None

    def collect(self):
        p = self._path()
        if p is None or not p.exists():
            where = self.option("result_file") or "restore-drill.json in the state directory"
            raise NoData(f"no restore drill has run yet (no {where}; see `agent recover show restore-drill`)")
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            self.problem(f"{p}: unreadable drill result ({exc})")
            return ()
        t = _epoch(d.get("time")) if isinstance(d, dict) else None
        if t is None:
            self.problem(f"{p}: no valid time in the drill result")
            return ()
        return (RestoreDrill(time=t, success=d.get("success") is True, path=str(d.get("path") or ""),
                             tool=str(d.get("tool") or ""), snapshot_time=_epoch(d.get("snapshot_time")),
                             files=_int(d.get("files")), bytes=_int(d.get("bytes")), run_id=str(d.get("run_id") or ""),
                             detail=str(d.get("detail") or "")[:300]),)
