"""Shipped deployment files of the status service: the Alertmanager example and the unit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "systemd" / "alertmanager-statuspage.example.yml"


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool (prometheus-alertmanager) not installed")
def test_alertmanager_example_is_valid():
    res = subprocess.run(["amtool", "check-config", str(EXAMPLE)], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 receivers" in res.stdout


def test_example_routes_the_shipped_alerts_to_the_webhook():
    import re

    import yaml

    text = EXAMPLE.read_text()
    shipped = yaml.safe_load((ROOT / "agent" / "data" / "alerts.yml").read_text())
    route = yaml.safe_load(text)["route"]["routes"][0]
    matchers = dict(re.match(r'\s*(\w+)\s*(=~|=)\s*"(.*)"', m).group(1, 3) for m in route["matchers"])
    critical = [r for g in shipped["groups"] for r in g["rules"] if r["labels"]["severity"] == "critical"]
    assert {"HwagentHostDown", "HwagentDiskCritical", "HwagentBoardVerdictCritical"} <= {r["alert"] for r in critical}
    for r in critical:  # every critical alert (outage and risk) reaches the status service
        assert re.fullmatch(matchers["alertname"], r["alert"]) and matchers["severity"] == "critical", r["alert"]
    assert "/hooks/alertmanager" in text and "send_resolved: true" in text and "type: Bearer" in text


def test_statuspage_unit_contract():
    text = (ROOT / "systemd" / "hwagent-statuspage.service").read_text()
    for needle in ("statuspage serve", "DynamicUser=yes", "StateDirectory=hwagent-statuspage", "ProtectSystem=strict",
                   "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "LoadCredential=statuspage-token:",
                   "Restart=on-failure", "PrivateDevices=yes"):
        assert needle in text, needle


def test_default_database_lives_in_the_units_state_directory():
    from agent.statuspage.config import StatuspageConfig

    assert StatuspageConfig().database.startswith("/var/lib/hwagent-statuspage/")
    assert "HwagentHostDown" in StatuspageConfig().host_down_alerts
