"""The wheel carries the mixin generator, the shipped alert rules, the man pages and the generated
mixin (hatch shared-data), so `pip install .` gives an operator `agent alerts` and `man agent`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_man_pages_mixin_and_alerts(tmp_path):
    import hatchling  # noqa: F401 - the build backend, in the test extra: a missing one is a setup error
    src = tmp_path / "src"  # a copy without the (large) fixture trees, as the sdist has it
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "tests", "__pycache__"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = (tmp_path / "dist").glob("hwagent-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if n.endswith(".data/data/share/man/man1/agent.1"))
    for want in ("agent/mixin/alerts.py", "agent/mixin/dashboards.py", "agent/data/alerts.yml",
                 f"{data}/data/share/man/man1/agent.1", f"{data}/data/share/man/man5/agent-config.5",
                 f"{data}/data/share/hwagent/mixin/prometheus_alerts.yml",
                 f"{data}/data/share/hwagent/mixin/dashboards/hwagent-fleet.json"):
        assert want in names, want
    assert not any(n.startswith("tools/") for n in names), "the doc generator stays out of the runtime package"
