"""The lint gate: `ruff check` with the rule sets of pyproject.toml is clean (tests/run.sh runs it
before pytest in CI; this test keeps the configuration itself from being weakened)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_selects_the_rule_sets_the_noqa_comments_assume():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert {"F", "E9", "B", "BLE", "PLC0415"} <= set(cfg["lint"]["select"])
    assert not cfg["lint"].get("ignore")
    # the package itself gets every rule; only tests and build scripts may import lazily without a noqa
    assert set(cfg["lint"]["per-file-ignores"]) == {"tests/**", "tools/**"}
    assert all(v == ["PLC0415"] for v in cfg["lint"]["per-file-ignores"].values())
    assert "ruff" in (ROOT / "tests" / "run.sh").read_text()


def test_ruff_check_is_clean():
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "agent", "hwstatus", "tools", "tests"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
