"""Run `promtool test rules` on a generated rule file with a test document built in Python."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")


def run_promtool_test(tmp: Path, rules: dict[str, str], tests: list[dict], interval: str = "1m") -> str:
    for name, text in rules.items():
        (tmp / name).write_text(text)
    doc = {"rule_files": list(rules), "evaluation_interval": interval, "tests": tests}
    (tmp / "test.yml").write_text(yaml.safe_dump(doc, sort_keys=False, width=10_000))
    res = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def series(name: str, values: str, **labels: str) -> dict:
    lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{lab}}}", "values": values}
