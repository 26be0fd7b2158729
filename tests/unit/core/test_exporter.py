"""Catalogue lint, README/example currency, shipped alert rules, exporter behaviour."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from types import MappingProxyType

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agent.exporter import readme
from agent.exporter.catalog import METRICS
from agent.exporter.collector import SnapshotCollector, UnknownMetric, collect_samples
from agent.model import HwmonSensor, Snapshot

ROOT = Path(__file__).resolve().parents[3]
UNITS = ("celsius", "volts", "amperes", "watts", "joules", "rpm", "seconds", "bytes", "ratio")
RESERVED_LABELS = {"type", "host", "instance", "job", "env", "site", "hostname", "serial"}


@pytest.mark.parametrize("m", METRICS, ids=lambda m: m.name)
def test_catalogue_lint(m):
    assert re.fullmatch(r"hwagent_[a-z0-9_]+", m.name)
    assert m.type in ("gauge", "counter", "info")
    assert m.name.endswith("_total") == (m.type == "counter"), "_total exactly on counters"
    assert m.name.endswith("_info") == (m.type == "info"), "_info exactly on info metrics"
    if m.unit:
        assert m.unit in UNITS and f"_{m.unit}" in m.name, f"unit {m.unit} must be in the name"
    assert not (set(m.labels) & RESERVED_LABELS) or m.type == "info"
    assert "serial" not in m.labels or m.type == "info"
    assert m.help and m.help.endswith(".") and "  " not in m.help
    assert len(set(m.labels)) == len(m.labels)


def test_catalogue_names_unique():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))


def test_generated_docs_are_current():
    """README tables and systemd/config.example.toml match the code (python -m agent.exporter.readme)."""
    assert readme.main(["x", "--check"]) == 0


def test_unknown_metric_name_is_refused(monkeypatch):
    from agent.exporter import collector as col

    def bad(snap, emit):
        emit("hwagent_not_catalogued", {}, 1)

    monkeypatch.setattr(col, "SAMPLERS", (bad,))
    with pytest.raises(UnknownMetric):
        collect_samples(Snapshot.empty())


def test_vanished_devices_disappear_and_describe_runs_nothing():
    calls = []

    def get():
        calls.append(1)
        return state["snap"]

    s = HwmonSensor(chip="c", chip_name="n", sensor="temp1", kind="temp", label=None, value=40.0)
    state = {"snap": Snapshot(time=0, boot_id="b", readings=MappingProxyType({"hwmon": (s,)}),
                              statuses=MappingProxyType({}), generation=1)}
    reg = CollectorRegistry()
    reg.register(SnapshotCollector(get))  # auto_describe: describe() must not read the snapshot
    assert calls == []
    assert b'hwagent_hwmon_temperature_celsius{chip="c",sensor="temp1"} 40.0' in generate_latest(reg)
    state["snap"] = Snapshot.empty()
    assert b"hwagent_hwmon_temperature_celsius{" not in generate_latest(reg)


def test_renderer_caches_per_generation():
    from agent.exporter.http import MetricsRenderer

    snap = {"s": Snapshot.empty()}
    r = MetricsRenderer(lambda: snap["s"])
    a = r.render()
    assert r.render() is a
    from dataclasses import replace

    snap["s"] = replace(Snapshot.empty(), generation=5, hostname="h")
    assert r.render() is not a


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_shipped_alert_rules_are_valid(tmp_path):
    res = subprocess.run(["promtool", "check", "rules", str(ROOT / "agent" / "data" / "alerts.yml")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_alert_fires_on_a_critical_finding(tmp_path):
    """promtool test rules: a critical finding series fires HwagentFindingCritical."""
    (tmp_path / "alerts.yml").write_text((ROOT / "agent" / "data" / "alerts.yml").read_text())
    (tmp_path / "test.yml").write_text("""
rule_files: [alerts.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'hwagent_finding_active{instance="s1:10067",job="hwagent",rule="board.fan_stopped",component="board",device="nct/fan2",severity="critical"}'
        values: '1x200'
      - series: 'up{instance="s2:10067",job="hwagent"}'
        values: '0x5'
      - series: 'hwagent_finding_active{instance="s1:10067",job="hwagent",rule="board.voltage_out_of_range",component="board",device="nct/in1",severity="warning"}'
        values: '1x30'
      - series: 'hwagent_collector_success{instance="s1:10067",job="hwagent",collector="smart"}'
        values: '0x60'
      - series: 'hwagent_collector_last_success_timestamp_seconds{instance="s1:10067",job="hwagent",collector="ipmi"}'
        values: '0x200'
    alert_rule_test:
      - eval_time: 1m
        alertname: HwagentFindingCritical
        exp_alerts:
          - exp_labels: {severity: critical, impact: risk, instance: "s1:10067", job: hwagent, rule: board.fan_stopped, component: board, device: nct/fan2}
            exp_annotations:
              summary: "board.fan_stopped on s1:10067 (board nct/fan2)"
              description: "hwagent reports a critical hardware finding. Run `agent status` on the host for the evidence and the suggested runbook."
      - eval_time: 10m
        alertname: HwagentFindingWarning
        exp_alerts: []
      - eval_time: 20m
        alertname: HwagentFindingWarning
        exp_alerts:
          - exp_labels: {severity: warning, impact: risk, instance: "s1:10067", job: hwagent, rule: board.voltage_out_of_range, component: board, device: nct/in1}
            exp_annotations:
              summary: "board.voltage_out_of_range on s1:10067 (board nct/in1)"
              description: "hwagent reports a hardware warning. Run `agent status` on the host for the evidence."
      - eval_time: 20m
        alertname: HwagentCollectorFailing
        exp_alerts: []
      - eval_time: 40m
        alertname: HwagentCollectorFailing
        exp_alerts:
          - exp_labels: {severity: warning, impact: risk, component: agent, instance: "s1:10067", job: hwagent, collector: smart}
            exp_annotations:
              summary: "hwagent collector smart failing on s1:10067"
              description: "The collector's last runs failed; its hardware is not being watched. See the agent log."
      - eval_time: 140m
        alertname: HwagentCollectorStale
        exp_alerts:
          - exp_labels: {severity: warning, impact: risk, component: agent, instance: "s1:10067", job: hwagent, collector: ipmi}
            exp_annotations:
              summary: "hwagent collector ipmi on s1:10067 has not succeeded for 2 h"
              description: "Data from this collector is stale."
      - eval_time: 3m
        alertname: HwagentHostDown
        exp_alerts:
          - exp_labels: {severity: critical, impact: outage, component: host, instance: "s2:10067", job: hwagent}
            exp_annotations:
              summary: "s2:10067 is not answering scrapes"
              description: "The host or its hwagent is down. If the host is down, customers on it are affected."
              last_seen: ""
""")
    res = subprocess.run(["promtool", "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
