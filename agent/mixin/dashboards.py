"""Grafana dashboards of the mixin, written as plain dashboard JSON (schemaVersion 39).

Two dashboards: host detail (one host: findings, inventory, board verdict, sensors, disks,
error counters, the agent itself) and fleet overview (hosts per worst severity, findings per
rule and board model, disks at risk per model). Both take the Prometheus datasource and the
job as variables; the fleet dashboard reads the recording rules (prometheus_rules.yml).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from agent.mixin.settings import Settings

DS = {"type": "prometheus", "uid": "${datasource}"}
HOST = 'job=~"$job", instance=~"$instance"'
JOB = 'job=~"$job"'


@dataclass
class Target:
    expr: str
    legend: str = ""
    table: bool = False  # instant query shown as a table


@dataclass
class P:
    title: str
    kind: str  # timeseries | stat | table
    targets: list[Target]
    unit: str = ""
    w: int = 12
    h: int = 8
    description: str = ""
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)


def _panel(pid: int, p: P, x: int, y: int) -> dict:
    targets = []
    for i, t in enumerate(p.targets):
        tgt = {"refId": chr(ord("A") + i), "datasource": DS, "expr": t.expr, "legendFormat": t.legend or "__auto",
               "range": not t.table, "instant": t.table}
        if t.table:
            tgt["format"] = "table"
        targets.append(tgt)
    steps = [{"color": c, "value": v} for v, c in (p.thresholds or [(None, "green")])]
    panel = {
        "id": pid, "type": p.kind, "title": p.title, "description": p.description, "datasource": DS,
        "gridPos": {"h": p.h, "w": p.w, "x": x, "y": y}, "targets": targets,
        "fieldConfig": {"defaults": {"unit": p.unit or "short",
                                     "thresholds": {"mode": "absolute", "steps": steps}}, "overrides": []},
        "options": {},
    }
    if p.kind == "table":
        panel["transformations"] = [{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}}]
    if p.kind == "stat":
        panel["options"] = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": "background", "graphMode": "none"}
    return panel


def _layout(panels: list[P]) -> list[dict]:
    out, x, y, row_h = [], 0, 0, 0
    for i, p in enumerate(panels, start=1):
        if x + p.w > 24:
            x, y, row_h = 0, y + row_h, 0
        out.append(_panel(i, p, x, y))
        x += p.w
        row_h = max(row_h, p.h)
    return out


def _variables(with_instance: bool) -> list[dict]:
    def query(name: str, q: str, multi: bool) -> dict:
        return {"type": "query", "name": name, "label": name, "datasource": DS, "definition": q,
                "query": {"query": q, "refId": f"{name}-var"}, "refresh": 2, "sort": 1,
                "includeAll": multi, "multi": multi, "allValue": ".+" if multi else None,
                "current": {}, "options": [], "hide": 0}

    out = [{"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus",
            "current": {}, "options": [], "hide": 0, "refresh": 1},
           query("job", "label_values(hwagent_build_info, job)", True)]
    if with_instance:
        out.append(query("instance", 'label_values(hwagent_build_info{job=~"$job"}, instance)', False))
    return out


def _dashboard(s: Settings, uid: str, title: str, panels: list[P], with_instance: bool, tags: list[str]) -> dict:
    return {
        "uid": f"{s.dashboard_uid_prefix}-{uid}", "title": title, "tags": ["hwagent", *tags],
        "timezone": "browser", "editable": True, "graphTooltip": 1, "schemaVersion": 39,
        "time": {"from": "now-24h", "to": "now"}, "refresh": s.dashboard_refresh,
        "templating": {"list": _variables(with_instance)},
        "annotations": {"list": []}, "links": [], "panels": _layout(panels),
    }


def host_panels() -> list[P]:
    red = [(None, "green"), (0.5, "red")]
    return [
        P("Active findings", "table", [Target(f"hwagent_finding_active{{{HOST}}} == 1", table=True)], w=24, h=7,
          description="One row per active, unacknowledged finding; `agent status` on the host shows the evidence."),
        P("Inventory", "table", [Target(f"hwagent_host_info{{{HOST}}}", table=True)], w=24, h=4),
        P("Board health (1 = no evidence)", "stat", [Target(f"hwagent_board_health{{{HOST}}}")], unit="percentunit",
          w=6, h=5, thresholds=[(None, "red"), (0.5, "orange"), (0.9, "green")]),
        P("Critical findings", "stat", [Target(f'count(hwagent_finding_active{{{HOST}, severity="critical"}} == 1) or vector(0)')],
          w=6, h=5, thresholds=red),
        P("Collectors failing", "stat", [Target(f"count(hwagent_collector_success{{{HOST}}} == 0) or vector(0)")],
          w=6, h=5, thresholds=red),
        P("Host up", "stat", [Target(f"up{{{HOST}}}")], w=6, h=5, thresholds=[(None, "red"), (1, "green")]),
        P("Board evidence points", "timeseries", [Target(f"hwagent_board_evidence_points{{{HOST}}}", "{{signal}}")]),
        P("Temperatures", "timeseries", [
            Target(f"hwagent_hwmon_temperature_celsius{{{HOST}}}", "{{chip}} {{sensor}}"),
            Target(f"hwagent_ipmi_temperature_celsius{{{HOST}}}", "BMC {{sensor}}"),
            Target(f"hwagent_disk_temperature_celsius{{{HOST}}}", "disk {{device}}")], unit="celsius"),
        P("Fans", "timeseries", [Target(f"hwagent_hwmon_fan_rpm{{{HOST}}}", "{{chip}} {{sensor}}"),
                                 Target(f"hwagent_ipmi_fan_rpm{{{HOST}}}", "BMC {{sensor}}")], unit="rpm"),
        P("Voltages", "timeseries", [Target(f"hwagent_hwmon_voltage_volts{{{HOST}}}", "{{chip}} {{sensor}}"),
                                     Target(f"hwagent_ipmi_voltage_volts{{{HOST}}}", "BMC {{sensor}}")], unit="volt"),
        P("Disk defect growth since baseline", "timeseries",
          [Target(f"hwagent_disk_baseline_growth{{{HOST}}}", "{{device}} {{counter}}")]),
        P("NVMe endurance used", "timeseries",
          [Target(f"hwagent_disk_nvme_percentage_used_ratio{{{HOST}}}", "{{device}}")], unit="percentunit"),
        P("Memory errors (EDAC, per DIMM)", "timeseries", [
            Target(f"increase(hwagent_memory_corrected_errors_total{{{HOST}}}[$__rate_interval])", "CE {{controller}} {{dimm}}"),
            Target(f"increase(hwagent_memory_uncorrected_errors_total{{{HOST}}}[$__rate_interval])", "UE {{controller}} {{dimm}}")]),
        P("PCIe AER errors", "timeseries", [
            Target(f"increase(hwagent_pcie_aer_errors_total{{{HOST}}}[$__rate_interval])", "{{device}} {{severity}}")]),
        P("Kernel hardware events", "timeseries", [
            Target(f"increase(hwagent_kernel_events_total{{{HOST}}}[$__rate_interval])", "{{class}} {{severity}}")]),
        P("md RAID members missing", "timeseries", [Target(f"hwagent_md_degraded{{{HOST}}}", "{{device}}")]),
        P("Collector duration", "timeseries", [Target(f"hwagent_collector_duration_seconds{{{HOST}}}", "{{collector}}")],
          unit="s"),
        P("Collector last success age", "timeseries", [
            Target(f"time() - hwagent_collector_last_success_timestamp_seconds{{{HOST}}}", "{{collector}}")], unit="s"),
    ]


def fleet_panels() -> list[P]:
    sev: list[tuple[float | None, str]] = [(None, "green"), (1, "red")]
    return [
        P("Hosts with a critical finding", "stat",
          [Target(f'sum(job:hwagent_hosts_by_worst_severity:count{{{JOB}, severity="critical"}})')], w=6, h=5,
          thresholds=sev),
        P("Hosts with a warning", "stat",
          [Target(f'sum(job:hwagent_hosts_by_worst_severity:count{{{JOB}, severity="warning"}})')], w=6, h=5,
          thresholds=[(None, "green"), (1, "orange")]),
        P("Hosts OK", "stat", [Target(f'sum(job:hwagent_hosts_by_worst_severity:count{{{JOB}, severity=~"ok|info"}})')],
          w=6, h=5),
        P("Hosts down", "stat", [Target(f"count(up{{{JOB}}} == 0) or vector(0)")], w=6, h=5, thresholds=sev),
        P("Hosts per worst severity", "timeseries",
          [Target(f"job:hwagent_hosts_by_worst_severity:count{{{JOB}}}", "{{job}} {{severity}}")], w=24),
        P("Findings per rule", "table", [Target(f"rule:hwagent_findings_active:sum{{{JOB}}} > 0", table=True)]),
        P("Hosts with findings", "table",
          [Target(f'max by (instance, rule, severity) (hwagent_finding_active{{{JOB}, severity=~"critical|warning"}}) == 1',
                  table=True)]),
        P("Findings per board model", "table", [Target(f"board:hwagent_findings_active:sum{{{JOB}}} > 0", table=True)]),
        P("Hosts per board model", "table", [Target(f"board:hwagent_hosts:count{{{JOB}}}", table=True)]),
        P("Board verdict per model (hosts)", "table",
          [Target(f"board:hwagent_board_verdict_hosts:count{{{JOB}}}", table=True)],
          description="Hosts of each board model that show board.failing or board.health now."),
        P("Lowest board health per model", "table", [Target(f"board:hwagent_board_health:min{{{JOB}}}", table=True)]),
        P("Disks at risk per model", "table", [Target(f"model:hwagent_disks_at_risk:count{{{JOB}}}", table=True)]),
        P("Disks per model", "table", [Target(f"model:hwagent_disks:count{{{JOB}}}", table=True)]),
        P("Collectors failing", "table", [Target(f"collector:hwagent_collectors_failing:count{{{JOB}}}", table=True)],
          w=24),
    ]


def dashboards(s: Settings) -> dict[str, dict]:
    return {
        "hwagent-host.json": _dashboard(s, "host", "hwagent / Host", host_panels(), True, ["host"]),
        "hwagent-fleet.json": _dashboard(s, "fleet", "hwagent / Fleet", fleet_panels(), False, ["fleet"]),
    }


def render_all(s: Settings) -> dict[str, str]:
    return {name: json.dumps(d, indent=2, sort_keys=False) + "\n" for name, d in dashboards(s).items()}


def expressions(dashboard: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target, for the tests and the docs."""
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]
