"""Where baselines are kept: versions in the state store (the SQL is the state layer's,
:mod:`agent.state.baselines`), read-only reads of that database for commands that must not write,
and export files kept off-host."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from agent.baseline.diff import fingerprint
from agent.baseline.format import FORMAT_VERSION, BaselineError
from agent.fileutil import atomic_write
from agent.state.baselines import KEEP_VERSIONS, MIGRATIONS, read_all_stored, read_stored  # noqa: F401 - re-exported
from agent.state.baselines import BaselineStore as _StoredBaselines


def load_file(path: str | Path) -> dict[str, Any]:
    """A baseline from an export file (or a raw capture), validated."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise BaselineError(f"{p}: no such file") from None
    except (OSError, ValueError) as exc:
        raise BaselineError(f"{p}: not a baseline file ({exc})") from None
    if isinstance(data, dict) and "baseline" in data and isinstance(data["baseline"], dict):
        data = data["baseline"]
    if not isinstance(data, dict) or "format_version" not in data:
        raise BaselineError(f"{p}: not a baseline file (no format_version)")
    if data["format_version"] > FORMAT_VERSION:
        raise BaselineError(f"{p}: baseline format {data['format_version']} is newer than this agent understands "
                            f"({FORMAT_VERSION}); upgrade hwagent")
    return data


def export(data: dict[str, Any], path: str | Path) -> Path:
    """Write a baseline export (mode 0600, atomic) meant to be kept off-host with the backups."""
    p = Path(path)
    doc = {"kind": "hwagent-baseline", "format_version": FORMAT_VERSION, "exported_at": time.time(),
           "baseline": data}
    return atomic_write(p, (json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n").encode())


class BaselineStore(_StoredBaselines):
    """Versions of the baseline in the state store, fingerprinted by :func:`fingerprint`."""

    def __init__(self, store):
        super().__init__(store, fingerprint)
