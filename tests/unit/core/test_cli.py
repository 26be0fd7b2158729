"""CLI through CliRunner and real subprocesses: exit codes, messages, help examples."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


@pytest.mark.parametrize("scenario,code", [("synthetic-healthy", 0), ("synthetic-fan-stopped", 2),
                                           ("synthetic-voltage", 2)])
def test_check_exit_codes(scenario, code, tmp_path):
    r = invoke("check", "--path.rootfs", str(HOSTS / scenario / "tree"), "--state-dir", str(tmp_path),
               "--no-collector.system")
    assert r.exit_code == code, r.output


def test_check_with_only_sysfs_override_and_json(tmp_path):
    r = invoke("check", "--json", "--path.sysfs", str(HOSTS / "synthetic-fan-stopped" / "tree" / "sys"),
               "--state-dir", str(tmp_path), "--no-collector.system")
    data = json.loads(r.output)
    assert data["worst_severity"] == "critical"
    assert data["findings"][0]["evidence"]["pwm"] == 153


def test_unknown_when_no_collector_has_data(tmp_path):
    (tmp_path / "empty").mkdir()
    r = invoke("check", "--path.rootfs", str(tmp_path / "empty"), "--state-dir", str(tmp_path / "s"))
    assert r.exit_code == 3


def test_ack_flow(tmp_path, monkeypatch):
    from tests.support.sqltrace import synced_before, trace_store

    seen = trace_store(monkeypatch)
    tree = str(HOSTS / "synthetic-fan-stopped" / "tree")
    args = ("--path.rootfs", tree, "--state-dir", str(tmp_path))
    r = invoke("ack", "board.fan_stopped", "platform_nct6775_2592/fan2", *args)
    assert r.exit_code == 0 and "acknowledged board.fan_stopped" in r.output
    assert synced_before(seen, "INSERT INTO acks")  # an operator's decision is on disk when `ack` returns
    assert invoke("check", *args).exit_code == 0
    r = invoke("ack", "board.fan_stopped", "nosuch/fan9", *args)
    assert r.exit_code == 1 and "no active finding board.fan_stopped on nosuch/fan9" in r.output
    assert invoke("ack", "--remove", "board.fan_stopped", "platform_nct6775_2592/fan2", *args).exit_code == 0
    assert invoke("check", *args).exit_code == 2


def test_config_check(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[exporter]\nlisten = "127.0.0.1:10067"\n[rules."board.fan_stopped"]\nstopped_rpm = 100\n')
    r = invoke("config", "check", str(good))
    assert r.exit_code == 0 and "ok" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[collectors.hwmon]\ninterval_seconds = "often"\n')
    r = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert r.exit_code == 2
    assert "collectors.hwmon.interval_seconds: expected a number" in r.output


def test_bad_config_via_main_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[exporter]\nlisten = 1\n")
    res = subprocess.run([sys.executable, "-m", "agent", "--config", str(bad), "check"], capture_output=True, text=True)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"agent: config error: {bad}: exporter.listen: expected a string, got 1"]


def test_bad_listen_address_is_a_usage_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "agent", "run", "--web.listen-address", "nonsense",
                          "--state-dir", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "invalid listen address" in res.stderr


def test_every_command_help_has_examples():
    from agent.cli import _register, cli as root

    _register()

    def walk(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from walk(sub, path + [name])
        else:
            yield path, cmd

    for path, cmd in walk(root, []):
        assert "Examples:" in (cmd.help or ""), f"agent {' '.join(path)} help has no examples"


def test_completion_script():
    r = invoke("completion", "bash")
    assert r.exit_code == 0 and "_AGENT_COMPLETE" in r.output


def test_rules_and_alerts_commands():
    r = invoke("rules", "--json")
    ids = {x["id"] for x in json.loads(r.output)}
    assert {"board.fan_stopped", "board.temp_critical", "board.voltage_out_of_range", "board.thermal_throttling"} <= ids
    assert "HwagentFindingCritical" in invoke("alerts").output
