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
    text = EXAMPLE.read_text()
    shipped = (ROOT / "agent" / "data" / "alerts.yml").read_text()
    for name in ("HwagentHostDown", "HwagentFindingCritical"):
        assert f"alert: {name}" in shipped
    assert 'impact =~ "outage|risk"' in text  # Contract A: every shipped alert carries one of them
    assert "/hooks/alertmanager" in text and "send_resolved: true" in text and "type: Bearer" in text


def test_statuspage_unit_contract():
    text = (ROOT / "systemd" / "hwagent-statuspage.service").read_text()
    for needle in ("bin/hwstatus --config /etc/hwagent/statuspage.toml serve", "DynamicUser=yes", "StateDirectory=hwagent-statuspage", "ProtectSystem=strict",
                   "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "LoadCredential=statuspage-token:",
                   "Restart=on-failure", "PrivateDevices=yes"):
        assert needle in text, needle


def test_default_database_lives_in_the_units_state_directory():
    from hwstatus.config import StatuspageConfig

    assert StatuspageConfig().database.startswith("/var/lib/hwagent-statuspage/")
    assert "HwagentHostDown" in StatuspageConfig().host_down_alerts
