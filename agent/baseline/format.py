"""The baseline document's format version and the one error of the baseline package (defined by
the state layer, which stores baselines, and re-exported here)."""

from __future__ import annotations

from agent.state.baselines import BaselineError

FORMAT_VERSION = 1

__all__ = ["FORMAT_VERSION", "BaselineError"]
