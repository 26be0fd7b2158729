"""The fleet recording rules under `promtool test rules`: three hosts, two board models, one
disk at risk; every recorded series is checked with its expected value (written by hand)."""

from __future__ import annotations

import yaml

from agent.mixin import build
from tests.unit.mixin.promtool import needs_promtool, run_promtool_test, series

J = "hwagent"


def info(inst: str, board: str) -> dict:
    return series("hwagent_host_info", "1x30", instance=inst, job=J, board_vendor="Supermicro", board_name=board,
                  board_version="", bios_vendor="AMI", bios_version="3.4", bios_date="", system_vendor="",
                  product_name="", product_version="", chassis_vendor="", chassis_type="", cpu_model="")


def finding(inst: str, rule: str, sev: str, device: str, component: str = "board") -> dict:
    return series("hwagent_finding_active", "1x30", instance=inst, job=J, rule=rule, component=component,
                  device=device, severity=sev)


INPUTS = [
    info("a:1", "X11DPi-N"), info("b:1", "X11DPi-N"), info("c:1", "H12SSL-i"),
    *(series("hwagent_build_info", "1x30", instance=i, job=J, version="0.1.0", python="3.11") for i in ("a:1", "b:1", "c:1")),
    finding("a:1", "board.failing", "critical", "mainboard"),
    finding("a:1", "board.fan_stopped", "critical", "nct/fan2"),
    finding("a:1", "disk.smart_failed", "critical", "sda", "disk"),
    finding("b:1", "board.voltage_out_of_range", "warning", "nct/in1"),
    finding("b:1", "raid.sync_running", "info", "md0", "raid"),
    series("hwagent_board_health", "0.2x30", instance="a:1", job=J),
    series("hwagent_board_health", "1x30", instance="b:1", job=J),
    series("hwagent_board_health", "0.9x30", instance="c:1", job=J),
    series("hwagent_disk_info", "1x30", instance="a:1", job=J, device="sda", model="ST4000NM0035", serial="Z1", wwn="",
           firmware="TN05", interface="ata", by_id=""),
    series("hwagent_disk_info", "1x30", instance="b:1", job=J, device="sda", model="ST4000NM0035", serial="Z2", wwn="",
           firmware="TN05", interface="ata", by_id=""),
    series("hwagent_disk_info", "1x30", instance="c:1", job=J, device="nvme0", model="SAMSUNG MZQL2960HCJR", serial="S1",
           wwn="", firmware="GDC5", interface="nvme", by_id=""),
    series("hwagent_collector_success", "0x30", instance="c:1", job=J, collector="ipmi"),
    series("hwagent_collector_success", "1x30", instance="a:1", job=J, collector="ipmi"),
]

EXPECT = [
    ("instance:hwagent_worst_severity:max", [({"instance": "a:1", "job": J}, 3), ({"instance": "b:1", "job": J}, 2),
                                             ({"instance": "c:1", "job": J}, 0)]),
    ("job:hwagent_hosts_by_worst_severity:count", [({"job": J, "severity": "critical"}, 1),
                                                   ({"job": J, "severity": "warning"}, 1),
                                                   ({"job": J, "severity": "info"}, 0),
                                                   ({"job": J, "severity": "ok"}, 1)]),
    ('rule:hwagent_findings_active:sum{rule="board.failing"}', [({"job": J, "rule": "board.failing",
                                                                  "severity": "critical"}, 1)]),
    ('board:hwagent_findings_active:sum{board_name="X11DPi-N", severity="critical"}', [
        ({"job": J, "rule": r, "severity": "critical", "board_vendor": "Supermicro", "board_name": "X11DPi-N"}, 1)
        for r in ("board.failing", "board.fan_stopped", "disk.smart_failed")]),
    ("board:hwagent_hosts:count", [({"job": J, "board_vendor": "Supermicro", "board_name": "X11DPi-N"}, 2),
                                   ({"job": J, "board_vendor": "Supermicro", "board_name": "H12SSL-i"}, 1)]),
    ("board:hwagent_board_verdict_hosts:count", [({"job": J, "board_vendor": "Supermicro", "board_name": "X11DPi-N"}, 1)]),
    ("board:hwagent_board_health:min", [({"job": J, "board_vendor": "Supermicro", "board_name": "X11DPi-N"}, 0.2),
                                        ({"job": J, "board_vendor": "Supermicro", "board_name": "H12SSL-i"}, 0.9)]),
    ("model:hwagent_disks:count", [({"job": J, "model": "ST4000NM0035"}, 2), ({"job": J, "model": "SAMSUNG MZQL2960HCJR"}, 1)]),
    ("model:hwagent_disks_at_risk:count", [({"job": J, "model": "ST4000NM0035"}, 1)]),
    ("collector:hwagent_collectors_failing:count", [({"job": J, "collector": "ipmi"}, 1)]),
]


def _name(expr: str) -> str:
    return expr.split("{")[0]


@needs_promtool
def test_recording_rules_give_the_fleet_view(tmp_path):
    tests = [{"interval": "1m", "input_series": INPUTS, "promql_expr_test": [
        {"expr": expr, "eval_time": "5m", "exp_samples": [
            {"labels": _name(expr) + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}", "value": value}
            for labels, value in samples]} for expr, samples in EXPECT]}]
    run_promtool_test(tmp_path, {"rules.yml": build()["prometheus_rules.yml"]}, tests)


def test_every_recording_rule_is_checked():
    records = {r["record"] for g in yaml.safe_load(build()["prometheus_rules.yml"])["groups"] for r in g["rules"]}
    assert records == {_name(e) for e, _ in EXPECT}
