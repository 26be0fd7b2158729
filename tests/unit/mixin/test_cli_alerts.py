"""`agent alerts` prints the shipped rules; `--output-dir` writes the whole mixin with the settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from agent.cli import cli

ROOT = Path(__file__).resolve().parents[3]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_alerts_prints_the_shipped_file():
    r = invoke("alerts")
    assert r.exit_code == 0
    assert r.output == (ROOT / "agent" / "data" / "alerts.yml").read_text()


def test_output_dir_writes_alerts_rules_and_dashboards_with_the_settings(tmp_path):
    out = tmp_path / "mixin"
    res = subprocess.run([sys.executable, "-m", "agent", "alerts", "--output-dir", str(out), "--selector", 'job="hw"',
                          "--runbook-base", "https://wiki.example.net/hw/", "--warning-severity", "ticket"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "dashboards/hwagent-fleet.json", "dashboards/hwagent-host.json", "prometheus_alerts.yml",
        "prometheus_rules.yml"]
    assert sorted(res.stdout.split()) == sorted(str(p) for p in out.rglob("*") if p.is_file())
    alerts = {r["alert"]: r for g in yaml.safe_load((out / "prometheus_alerts.yml").read_text())["groups"]
              for r in g["rules"]}
    assert alerts["HwagentHostDown"]["expr"] == 'up{job="hw"} == 0'
    assert alerts["HwagentDiskWarning"]["labels"]["severity"] == "ticket"
    assert alerts["HwagentDiskCritical"]["annotations"]["runbook_url"].startswith("https://wiki.example.net/hw/findings/")
    rules = yaml.safe_load((out / "prometheus_rules.yml").read_text())["groups"][0]["rules"]
    assert all('job="hw"' in r["expr"] for r in rules)
    json.loads((out / "dashboards" / "hwagent-host.json").read_text())


def test_bad_settings_are_usage_errors_naming_the_option():
    r = CliRunner().invoke(cli, ["alerts", "--selector", '{job="x"}'])
    assert r.exit_code == 2 and "without braces" in r.output
    r = CliRunner().invoke(cli, ["alerts", "--board-fleet-hosts", "0"])
    assert r.exit_code == 2 and "--board-fleet-hosts" in r.output


def test_unwritable_output_dir_is_an_error_naming_the_file(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    r = CliRunner().invoke(cli, ["alerts", "--output-dir", str(blocker / "mixin")])
    assert r.exit_code == 1
    assert f"cannot write {blocker / 'mixin'}" in r.output and "Traceback" not in r.output
