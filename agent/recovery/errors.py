"""The two errors of the runbook machinery: a bad runbook (found at load time) and an attempt to
change the host during a dry run (a bug; the run stops)."""

from __future__ import annotations


class SpecError(Exception):
    def __init__(self, key: str | None, message: str):
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class DryRunViolation(Exception):
    """Something tried to change the host during a dry run (a bug; the run stops)."""
