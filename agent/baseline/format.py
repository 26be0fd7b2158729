"""The baseline document's format version and the one error of the baseline package."""

from __future__ import annotations

FORMAT_VERSION = 1


class BaselineError(Exception):
    """A baseline cannot be captured, stored or read; the message names the file or version."""
