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
    for needle in ("bin/hwstatus --config /etc/hwagent/statuspage.toml serve", "DynamicUser=yes", "StateDirectory=hwagent-statuspage", "ProtectSystem=strict",
                   "NoNewPrivileges=yes", "CapabilityBoundingSet=\n", "LoadCredential=statuspage-token:",
                   "Restart=on-failure", "PrivateDevices=yes"):
        assert needle in text, needle


def test_default_database_lives_in_the_units_state_directory():
    from hwstatus.config import StatuspageConfig

    assert StatuspageConfig().database.startswith("/var/lib/hwagent-statuspage/")
    assert "HwagentHostDown" in StatuspageConfig().host_down_alerts


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_hostdown_carries_the_last_successful_scrape(tmp_path):
    """The shipped HwagentHostDown says when the host was last scraped successfully (`last_seen`),
    so the outage is dated from it, not from the alert's firing after `for: 2m`."""
    (tmp_path / "alerts.yml").write_text((ROOT / "agent" / "data" / "alerts.yml").read_text())
    (tmp_path / "test.yml").write_text("""
rule_files: [alerts.yml]
evaluation_interval: 15s
tests:
  - interval: 15s
    input_series:
      - series: 'up{instance="s2:10067",job="hwagent"}'
        values: '1x20 0x20'
    alert_rule_test:
      - eval_time: 8m
        alertname: HwagentHostDown
        exp_alerts:
          - exp_labels: {severity: critical, impact: outage, component: host, instance: "s2:10067", job: hwagent}
            exp_annotations:
              summary: "s2:10067 is not answering scrapes"
              description: "The host or its hwagent is down (up == 0 for 2 min). If the host is down, customers on it are affected; the example Alertmanager config inhibits its hardware alerts while this fires."
              runbook_url: "https://github.com/hwagent/hwagent/blob/main/docs/findings/agent.md#hwagenthostdown"
              last_seen: "300"
""")
    res = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_service_dates_hostdown_from_last_seen():
    from tests.unit.statuspage.conftest import Harness, alert_payload, make_cfg

    h = Harness(make_cfg())
    # active since 11:59:35Z (the first failed evaluation); last successful scrape 11:58:50Z
    h.call("POST", "/hooks/alertmanager", alert_payload(starts="2025-11-24T11:59:35Z", extra_labels={"impact": "outage"},
                                                        annotations={"last_seen": "1763985530"}))
    assert h.service.incident(1)["started_at"] == "2025-11-24T11:58:50Z"
    h2 = Harness(make_cfg())  # a last_seen far in the past (a stale series) is not believed
    h2.call("POST", "/hooks/alertmanager", alert_payload(starts="2025-11-24T11:59:35Z", annotations={"last_seen": "1000"}))
    assert h2.service.incident(1)["started_at"] == "2025-11-24T11:59:35Z"
