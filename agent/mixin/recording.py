"""Recording rules for the fleet view: a global Prometheus (federation, Thanos, Mimir,
VictoriaMetrics) pulls these few aggregated series instead of every per-sensor series.

Naming follows the Prometheus recording-rule convention ``level:metric:operations``; the fleet
series keep ``job`` so several hwagent jobs stay apart. Keep local (do not federate): the
per-sensor families (hwagent_hwmon_*, hwagent_ipmi_*, hwagent_smart_attribute_*, hwagent_pcie_aer_*,
hwagent_memory_*_errors_total per DIMM); federate ``{__name__=~"[a-z_]+:hwagent_.*"}`` plus
hwagent_finding_active, hwagent_host_info and up.
"""

from __future__ import annotations

from agent.mixin.alerts import dump, header
from agent.mixin.settings import Settings

HOST_BOARD = "on (job, instance) group_left (board_vendor, board_name)"


def rules(s: Settings) -> list[dict]:
    sel = s.sel
    crit, warn, info = (sel('severity="%s"' % v) for v in ("critical", "warning", "info"))
    verdict = sel('rule=~"board\\\\.(failing|health)"')
    disk_crit = sel('rule=~"disk\\\\..*"', 'severity="critical"')
    worst = (f"max by (job, instance) ("
             f"(hwagent_finding_active{crit} == 1) * 3 "
             f"or (hwagent_finding_active{warn} == 1) * 2 "
             f"or (hwagent_finding_active{info} == 1) "
             f"or hwagent_build_info{sel()} * 0)")
    out: list[dict] = [
        {"record": "instance:hwagent_worst_severity:max", "expr": worst},
    ]
    for level, name in ((3, "critical"), (2, "warning"), (1, "info"), (0, "ok")):
        out.append({
            "record": "job:hwagent_hosts_by_worst_severity:count",
            "expr": f"count by (job) (instance:hwagent_worst_severity:max{sel()} == {level}) "
                    f"or count by (job) (instance:hwagent_worst_severity:max{sel()}) * 0",
            "labels": {"severity": name},
        })
    out += [
        {"record": "rule:hwagent_findings_active:sum",
         "expr": f"sum by (job, rule, severity) (hwagent_finding_active{sel()})"},
        {"record": "board:hwagent_findings_active:sum",
         "expr": f"sum by (job, rule, severity, board_vendor, board_name) "
                 f"(hwagent_finding_active{sel()} * {HOST_BOARD} hwagent_host_info{sel()})"},
        {"record": "board:hwagent_hosts:count",
         "expr": f"count by (job, board_vendor, board_name) (hwagent_host_info{sel()})"},
        {"record": "board:hwagent_board_verdict_hosts:count",
         "expr": f"count by (job, board_vendor, board_name) (max by (job, instance) "
                 f"(hwagent_finding_active{verdict}) "
                 f"* {HOST_BOARD} hwagent_host_info{sel()})"},
        {"record": "board:hwagent_board_health:min",
         "expr": f"min by (job, board_vendor, board_name) (hwagent_board_health{sel()} * {HOST_BOARD} "
                 f"hwagent_host_info{sel()})"},
        {"record": "model:hwagent_disks:count",
         "expr": f"count by (job, model) (max by (job, instance, device, model) (hwagent_disk_info{sel()}))"},
        {"record": "model:hwagent_disks_at_risk:count",
         "expr": f"count by (job, model) (max by (job, instance, device) "
                 f"(hwagent_finding_active{disk_crit}) "
                 f"* on (job, instance, device) group_left (model) "
                 f"max by (job, instance, device, model) (hwagent_disk_info{sel()}))"},
        {"record": "collector:hwagent_collectors_failing:count",
         "expr": f"count by (job, collector) (hwagent_collector_success{sel()} == 0)"},
    ]
    return out


def render(s: Settings) -> str:
    return dump({"groups": [{"name": "hwagent-fleet", "rules": rules(s)}]}, header(s, "recording rules"))
