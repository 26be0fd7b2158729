"""The wheel installs the man pages and the mixin with the package (hatch shared-data)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_shared_data_installs_man_pages_and_mixin():
    shared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "shared-data"]
    assert shared["man/man1/agent.1"] == "share/man/man1/agent.1"
    assert shared["man/man5/agent-config.5"] == "share/man/man5/agent-config.5"
    assert shared["mixin"] == "share/hwagent/mixin"
    for src in shared:
        assert (ROOT / src).exists(), src
