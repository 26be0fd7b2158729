"""Readings about backups: the outcome of the last restore drill."""

from __future__ import annotations

from dataclasses import dataclass

from agent.model import Reading


@dataclass(frozen=True, slots=True)
class RestoreDrill(Reading):
    """STATE_DIR/restore-drill.json, written by `agent recover restore-drill --execute`."""

    time: float  # when the drill finished (epoch seconds)
    success: bool
    path: str  # the backed-up path that was restored
    tool: str  # restic | borg
    snapshot_time: float | None  # when the restored snapshot was taken (None: unknown)
    files: int | None
    bytes: int | None
    run_id: str
    detail: str
