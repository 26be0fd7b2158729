"""The status service is its own program (`hwstatus`, extra [status]); a monitored server running
`agent` (its heartbeat, runbook notify, `agent incident`) never imports the service's web stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import sys
from click.testing import CliRunner
import agent.cli, agent.statusclient, agent.recovery.notify, agent.recovery.actions
from agent.cli import cli
for args in (["statuspage", "heartbeat", "--help"], ["incident", "--help"], ["baseline", "fetch", "--help"],
             ["recover", "--help"]):
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, (args, r.output)
web = sorted(m for m in sys.modules if m.split(".")[0] in ("jinja2", "waitress", "markupsafe")
             or m in ("hwstatus.app", "hwstatus.page", "hwstatus.notify", "hwstatus.incidents"))
print(",".join(web))
"""


def test_agent_never_imports_the_web_stack():
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "", f"a monitored server would import: {r.stdout.strip()}"


def test_the_web_stack_is_an_extra_and_hwstatus_a_command():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = " ".join(meta["dependencies"])
    assert "waitress" not in core and "jinja2" not in core
    assert any(d.startswith("waitress") for d in meta["optional-dependencies"]["status"])
    assert any(d.startswith("jinja2") for d in meta["optional-dependencies"]["status"])
    assert meta["scripts"]["hwstatus"] == "hwstatus.cli:main"
    r = subprocess.run([sys.executable, "-m", "hwstatus", "--help"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and all(c in r.stdout for c in ("serve", "render", "credential"))
