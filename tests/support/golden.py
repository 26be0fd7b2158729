"""Compare-or-update golden files with a unified diff."""

from __future__ import annotations

import difflib
from pathlib import Path


def check_golden(path: Path, actual: str, update: bool) -> None:
    path = Path(path)
    if update or not path.exists():
        if not update:
            raise AssertionError(f"golden file {path} is missing; run pytest --update-golden and review the diff")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    expected = path.read_text()
    if expected != actual:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True),
                                            fromfile=str(path), tofile="actual"))
        raise AssertionError(f"output differs from {path} (pytest --update-golden rewrites it):\n{diff}")
