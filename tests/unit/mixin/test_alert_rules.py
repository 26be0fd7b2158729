"""The generated alert rules under `promtool check rules` and `promtool test rules`.

Every alert has a case that fires (with its labels, after its `for:`) and cases where it must
not fire: before `for:` has elapsed, for info findings, for another family's findings, and after
the finding cleared. Expected names, `for:` minutes and annotations are written here by hand,
not read from the generator.
"""

from __future__ import annotations

import subprocess

import pytest
import yaml

from agent.mixin import Settings, build
from agent.mixin.alerts import alert_name, all_alerts, family_for
from agent.rules import RULES
from tests.unit.mixin.promtool import PROMTOOL, needs_promtool, run_promtool_test, series

I = "s1:10067"  # noqa: E741 - the instance of every finding series
RUNBOOK = "https://github.com/hwagent/hwagent/blob/main/docs"

# alert, rule id, component, device, severity, minutes until it fires (its `for:`)
CASES = [
    ("HwagentDiskCritical", "disk.smart_failed", "disk", "sda", "critical", 0),
    ("HwagentDiskWarning", "disk.pending_sectors", "disk", "sdb", "warning", 15),
    ("HwagentMemoryCritical", "memory.uncorrected_error", "memory", "mc0/dimm1", "critical", 0),
    ("HwagentMemoryWarning", "memory.ce_storm", "memory", "mc0/dimm2", "warning", 0),
    ("HwagentCpuCritical", "cpu.machine_check_uncorrected", "cpu", "cpu3", "critical", 0),
    ("HwagentCpuWarning", "cpu.machine_check_storm", "cpu", "socket0", "warning", 15),
    ("HwagentKernelCritical", "cpu.lockup", "cpu", "cpu1", "critical", 0),
    ("HwagentKernelWarning", "cpu.hung_task", "cpu", "kernel", "warning", 30),
    ("HwagentPcieCritical", "pcie.link_down", "pcie", "0000:01:00.0", "critical", 0),
    ("HwagentPcieWarning", "pcie.aer_correctable_rate", "pcie", "0000:02:00.0", "warning", 15),
    ("HwagentBoardCritical", "board.fan_stopped", "board", "nct/fan2", "critical", 2),
    ("HwagentBoardWarning", "board.voltage_out_of_range", "board", "nct/in1", "warning", 15),
    ("HwagentBoardVerdictCritical", "board.failing", "board", "mainboard", "critical", 0),
    ("HwagentBoardVerdictWarning", "board.failing", "board", "mainboard", "warning", 15),
    ("HwagentRaidCritical", "raid.degraded", "raid", "md0", "critical", 0),
    ("HwagentRaidWarning", "zfs.pool_degraded", "raid", "tank", "warning", 15),
    ("HwagentFilesystemCritical", "fs.errors", "fs", "sda1", "critical", 0),
    ("HwagentFilesystemWarning", "fs.errors", "fs", "sdb1", "warning", 15),
    ("HwagentRecoveryReadinessCritical", "recovery.no_baseline", "recovery", "host", "critical", 60),
    ("HwagentRecoveryReadinessWarning", "recovery.baseline_stale", "recovery", "host", "warning", 360),
    ("HwagentAgentCritical", "agent.store_unwritable", "agent", "state.db", "critical", 0),
    ("HwagentAgentWarning", "agent.state_reset", "agent", "state.db", "warning", 0),
    ("HwagentFindingCritical", "gpu.xid_error", "gpu", "gpu0", "critical", 0),
    ("HwagentFindingWarning", "gpu.ecc_errors", "gpu", "gpu1", "warning", 15),
]
END = 500  # finding series last 0..500 min, then end (the finding cleared)


def anchor(rule: str) -> str:
    return f"{RUNBOOK}/findings/{rule.split('.')[0]}.md#{rule.replace('.', '')}"


def finding_tests() -> list[dict]:
    inputs = []
    for _, rule, comp, dev, sev, _ in CASES:
        inputs.append(series("hwagent_finding_active", f"1x{END}", instance=I, job="hwagent", rule=rule,
                             component=comp, device=dev, severity=sev))
        # the same rule as info, and on a host of another job: never alerted
        inputs.append(series("hwagent_finding_active", f"1x{END}", instance=I, job="hwagent", rule=rule,
                             component=comp, device=dev + "-info", severity="info"))
        inputs.append(series("hwagent_finding_active", f"1x{END}", instance="other:9100", job="node", rule=rule,
                             component=comp, device=dev, severity=sev))
    checks = []
    for alert, rule, comp, dev, sev, minutes in CASES:
        labels = {"severity": sev, "impact": "risk", "instance": I, "job": "hwagent", "rule": rule,
                  "component": comp, "device": dev}
        if minutes:
            checks.append({"eval_time": f"{minutes - 1}m", "alertname": alert, "exp_alerts": []})
        checks.append({"eval_time": f"{minutes + 1}m", "alertname": alert, "exp_alerts": [{
            "exp_labels": labels,
            "exp_annotations": {
                "summary": f"{rule} on {I} ({comp} {dev})",
                "description": next(a for a in all_alerts(Settings()) if a["alert"] == alert)["annotations"]
                ["description"].replace("{{ $labels.instance }}", I),
                "runbook_url": anchor(rule)}}]})
        checks.append({"eval_time": f"{END + 10}m", "alertname": alert, "exp_alerts": []})  # cleared
    return [{"interval": "1m", "input_series": inputs, "alert_rule_test": checks}]


def kernel_family_tests() -> list[dict]:
    """A kernel.* rule id (a family the kernel log may grow) fires the kernel alert, not the catch-all."""
    lab = dict(instance=I, job="hwagent", rule="kernel.oops", component="kernel", device="kernel", severity="warning")
    desc = next(a for a in all_alerts(Settings()) if a["alert"] == "HwagentKernelWarning")["annotations"]["description"]
    return [{"interval": "1m", "input_series": [series("hwagent_finding_active", "1x40", **lab)], "alert_rule_test": [
        {"eval_time": "31m", "alertname": "HwagentFindingWarning", "exp_alerts": []},
        {"eval_time": "31m", "alertname": "HwagentKernelWarning", "exp_alerts": [{
            "exp_labels": {**lab, "impact": "risk"},
            "exp_annotations": {"summary": f"kernel.oops on {I} (kernel kernel)",
                                "description": desc.replace("{{ $labels.instance }}", I),
                                "runbook_url": anchor("kernel.oops")}}]}]}]


def ann(alert: str, summary: str) -> dict:
    """Expected annotations: summary and runbook by hand, the description prose as generated."""
    desc = next(a for a in all_alerts(Settings()) if a["alert"] == alert)["annotations"]["description"]
    return {"summary": summary, "description": desc.replace("{{ $value }}", "2"),
            "runbook_url": f"{RUNBOOK}/findings/agent.md#{alert.lower()}"}


def agent_tests() -> list[dict]:
    inputs = [
        series("up", "1 1 0x10", instance="s2:10067", job="hwagent"),  # last scrape ok at 1m
        series("up", "1x10", instance=I, job="hwagent"),
        series("up", "0x10", instance="db1:9100", job="node"),  # not ours
        series("hwagent_collector_success", "0x40", instance=I, job="hwagent", collector="smart"),
        series("hwagent_collector_success", "1x40", instance=I, job="hwagent", collector="hwmon"),
        series("hwagent_rule_errors", "2x40", instance=I, job="hwagent"),
        series("hwagent_rule_errors", "0x40", instance="s2:10067", job="hwagent"),
    ]
    checks = [
        {"eval_time": "3m", "alertname": "HwagentHostDown", "exp_alerts": []},
        {"eval_time": "5m", "alertname": "HwagentHostDown", "exp_alerts": [{
            "exp_labels": {"severity": "critical", "impact": "outage", "component": "host", "instance": "s2:10067",
                           "job": "hwagent"},
            "exp_annotations": {
                "summary": "s2:10067 is not answering scrapes",
                "description": "The host or its hwagent is down (up == 0 for 2 min). If the host is down, customers "
                               "on it are affected; the example Alertmanager config inhibits its hardware alerts "
                               "while this fires.",
                "runbook_url": f"{RUNBOOK}/findings/agent.md#hwagenthostdown",
                # the last 15 s subquery step that still saw up == 1 (the scrape at 60 s was the last good
                # one, the failed one came at 120 s): within one scrape interval of the last sign of life
                "last_seen": "105"}}]},
        {"eval_time": "29m", "alertname": "HwagentCollectorFailing", "exp_alerts": []},
        {"eval_time": "31m", "alertname": "HwagentCollectorFailing", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "impact": "risk", "component": "agent", "instance": I,
                           "job": "hwagent", "collector": "smart"},
            "exp_annotations": ann("HwagentCollectorFailing", f"hwagent collector smart failing on {I}")}]},
        {"eval_time": "29m", "alertname": "HwagentRuleErrors", "exp_alerts": []},
        {"eval_time": "31m", "alertname": "HwagentRuleErrors", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "impact": "risk", "component": "agent", "instance": I,
                           "job": "hwagent"},
            "exp_annotations": ann("HwagentRuleErrors", f"hwagent rules raise errors on {I}")}]},
    ]
    stale = [
        # last success at t=0 and never again; another collector succeeds every minute
        series("hwagent_collector_last_success_timestamp_seconds", "0x200", instance=I, job="hwagent",
               collector="ipmi"),
        series("hwagent_collector_last_success_timestamp_seconds", "0+60x200", instance=I, job="hwagent",
               collector="hwmon"),
    ]
    stale_checks = [  # time() - 0 > 7200 from minute 121; `for: 10m` -> fires at 131
        {"eval_time": "125m", "alertname": "HwagentCollectorStale", "exp_alerts": []},
        {"eval_time": "132m", "alertname": "HwagentCollectorStale", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "impact": "risk", "component": "agent", "instance": I,
                           "job": "hwagent", "collector": "ipmi"},
            "exp_annotations": ann("HwagentCollectorStale", f"hwagent collector ipmi on {I} has not succeeded for 2 h")}]},
    ]
    restarts = [
        # crash loop: a new start time every 10 min; a healthy agent keeps its start time
        series("process_start_time_seconds", "100 100 700 700 1300 1300 1900 1900 2500 2500 2500 2500",
               instance=I, job="hwagent"),
        series("process_start_time_seconds", "100x11", instance="s2:10067", job="hwagent"),
        # without process metrics: the kernel log record counter starts over at every agent start
        series("hwagent_kernel_log_records_total", "5 9 3 8 2 6 1 4 0 9 12 15", instance="s3:10067", job="hwagent"),
        series("hwagent_kernel_log_records_total", "0+10x11", instance="s2:10067", job="hwagent"),
    ]
    restart_checks = [
        {"eval_time": "5m", "alertname": "HwagentAgentRestarting", "exp_alerts": []},  # 2 changes so far
        {"eval_time": "8m", "alertname": "HwagentAgentRestarting", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "impact": "risk", "component": "agent", "instance": I,
                           "job": "hwagent"},
            "exp_annotations": ann("HwagentAgentRestarting", f"hwagent on {I} restarted 4 times in an hour")},
            {"exp_labels": {"severity": "warning", "impact": "risk", "component": "agent", "instance": "s3:10067",
                            "job": "hwagent"},
             "exp_annotations": ann("HwagentAgentRestarting", "hwagent on s3:10067 restarted 4 times in an hour")}]},
    ]
    return [{"interval": "1m", "input_series": inputs, "alert_rule_test": checks},
            {"interval": "1m", "input_series": stale, "alert_rule_test": stale_checks},
            {"interval": "1m", "input_series": restarts, "alert_rule_test": restart_checks}]


def fleet_tests() -> list[dict]:
    def info(inst: str, name: str) -> dict:
        return series("hwagent_host_info", "1x600", instance=inst, job="hwagent", board_vendor="Supermicro",
                      board_name=name, board_version="1.01", bios_vendor="AMI", bios_version="3.4", bios_date="",
                      system_vendor="", product_name="", product_version="", chassis_vendor="", chassis_type="",
                      cpu_model="")

    def verdict(inst: str, values: str, rule: str = "board.failing", sev: str = "critical") -> dict:
        return series("hwagent_finding_active", values, instance=inst, job="hwagent", rule=rule, component="board",
                      device="mainboard", severity=sev)

    inputs = [info("a:1", "X11DPi-N"), info("b:1", "X11DPi-N"), info("c:1", "X11DPi-N"), info("d:1", "H12SSL-i"),
              # host a's board failed at minute 0-60 (then swapped), host b shows board.health from minute 120
              verdict("a:1", "1x60"), verdict("b:1", "_x120 1x200", "board.health", "info"),
              verdict("d:1", "1x600")]  # one host of another model: not a fleet pattern
    return [{"interval": "1m", "input_series": inputs, "alert_rule_test": [
        {"eval_time": "100m", "alertname": "HwagentBoardModelVerdictFleet", "exp_alerts": []},
        {"eval_time": "130m", "alertname": "HwagentBoardModelVerdictFleet", "exp_alerts": [{
            "exp_labels": {"severity": "warning", "impact": "risk", "component": "fleet", "job": "hwagent",
                           "board_vendor": "Supermicro", "board_name": "X11DPi-N"},
            "exp_annotations": {
                "summary": "2 hosts with board Supermicro X11DPi-N showed a board verdict within 7d",
                "description": "The same board model shows the board verdict (board.failing, or the weaker board.health) on "
                               "several hosts: look for a common cause (BIOS/BMC firmware, a bad batch, PSU or cooling "
                               "in one rack) before swapping more boards.",
                "runbook_url": f"{RUNBOOK}/findings/agent.md#hwagentboardmodelverdictfleet"}}]},
    ]}]


@needs_promtool
def test_generated_rules_pass_promtool_check(tmp_path):
    files = build()
    for name in ("prometheus_alerts.yml", "prometheus_rules.yml"):
        (tmp_path / name).write_text(files[name])
        res = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / name)], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr


@needs_promtool
def test_every_alert_fires_and_stays_quiet_under_promtool(tmp_path):
    out = run_promtool_test(tmp_path, {"alerts.yml": build()["prometheus_alerts.yml"]},
                            finding_tests() + agent_tests() + fleet_tests() + kernel_family_tests())
    assert "SUCCESS" in out


def test_every_generated_alert_has_a_firing_and_a_quiet_case():
    tested_fire, tested_quiet = set(), set()
    for t in finding_tests() + agent_tests() + fleet_tests():
        for c in t["alert_rule_test"]:
            (tested_fire if c["exp_alerts"] else tested_quiet).add(c["alertname"])
    names = {a["alert"] for a in all_alerts(Settings())}
    assert names - tested_fire == set(), "alerts without a firing case"
    assert names - tested_quiet == set(), "alerts without a does-not-fire case"


def test_every_alert_carries_impact_severity_runbook_and_a_for():
    for a in all_alerts(Settings()):
        assert a["labels"]["impact"] in ("risk", "outage"), a["alert"]
        assert a["labels"]["severity"] in ("critical", "warning"), a["alert"]
        assert a["annotations"]["runbook_url"].startswith(RUNBOOK + "/"), a["alert"]
        assert a["annotations"]["summary"] and a["annotations"]["description"], a["alert"]
        assert a["for"].endswith(("m", "h")), a["alert"]
    impacts = {a["alert"]: a["labels"]["impact"] for a in all_alerts(Settings())}
    assert impacts["HwagentHostDown"] == "outage"
    assert {v for k, v in impacts.items() if k != "HwagentHostDown"} == {"risk"}


@pytest.mark.parametrize("meta", RULES, ids=lambda m: m.id)
def test_every_rule_id_has_a_family_alert(meta):
    """A new rule family needs its own alert (agent/mixin/alerts.py FAMILIES); the catch-all is a safety net."""
    assert family_for(meta.id) is not None, f"{meta.id}: add its family to agent.mixin.alerts.FAMILIES"
    assert alert_name(meta.id, "critical").endswith("Critical")


@needs_promtool
def test_settings_change_selector_severity_names_and_runbook_base(tmp_path):
    s = Settings(selector='job="hw", env="prod"', runbook_base="https://wiki.example.net/hw", critical_severity="page",
                 warning_severity="ticket", warnings=True)
    from agent.mixin import alerts

    text = alerts.render(s)
    doc = yaml.safe_load(text)
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert rules["HwagentDiskCritical"]["labels"]["severity"] == "page"
    assert rules["HwagentDiskWarning"]["labels"]["severity"] == "ticket"
    assert 'job="hw", env="prod"' in rules["HwagentHostDown"]["expr"]
    run_promtool_test(tmp_path, {"alerts.yml": text}, [{"interval": "1m", "input_series": [
        series("hwagent_finding_active", "1x5", instance=I, job="hw", env="prod", rule="disk.smart_failed",
               component="disk", device="sda", severity="critical"),
        series("hwagent_finding_active", "1x5", instance=I, job="hw", env="test", rule="disk.smart_failed",
               component="disk", device="sdb", severity="critical")],
        "alert_rule_test": [{"eval_time": "1m", "alertname": "HwagentDiskCritical", "exp_alerts": [{
            "exp_labels": {"severity": "page", "impact": "risk", "instance": I, "job": "hw", "env": "prod",
                           "rule": "disk.smart_failed",
                           "component": "disk", "device": "sda"},
            "exp_annotations": {"summary": f"disk.smart_failed on {I} (disk sda)",
                                "description": rules["HwagentDiskCritical"]["annotations"]["description"]
                                .replace("{{ $labels.instance }}", I),
                                "runbook_url": "https://wiki.example.net/hw/findings/disk.md#disksmart_failed"}}]}]}])
    quiet = alerts.render(Settings(warnings=False))
    assert "Warning\n" not in quiet and "HwagentCollectorFailing" not in quiet and "HwagentHostDown" in quiet


@needs_promtool
def test_service_discovery_labels_stay_on_finding_alerts(tmp_path):
    """site/rack/customer_group from file_sd reach Alertmanager for routing."""
    lab = dict(instance=I, job="hwagent", site="fra1", rack="r07", customer_group="acme", rule="raid.degraded",
               component="raid", device="md0", severity="critical")
    run_promtool_test(tmp_path, {"alerts.yml": build()["prometheus_alerts.yml"]}, [{
        "interval": "1m", "input_series": [series("hwagent_finding_active", "1x5", **lab)],
        "alert_rule_test": [{"eval_time": "1m", "alertname": "HwagentRaidCritical", "exp_alerts": [{
            "exp_labels": {**lab, "impact": "risk"},
            "exp_annotations": {"summary": f"raid.degraded on {I} (raid md0)",
                                "description": next(a for a in all_alerts(Settings()) if a["alert"] == "HwagentRaidCritical")
                                ["annotations"]["description"].replace("{{ $labels.instance }}", I),
                                "runbook_url": anchor("raid.degraded")}}]}]}])


def test_bad_selector_is_refused_naming_it():
    with pytest.raises(ValueError, match="without braces"):
        Settings(selector='{job="x"}')


def test_every_for_has_a_written_reason():
    from agent.mixin.alerts import FAMILIES, FOR_REASONS

    family_alerts = {f"Hwagent{f.stem}{sev}" for f in FAMILIES for sev in ("Critical", "Warning")}
    for a in all_alerts(Settings()):
        name = a["alert"]
        if name.startswith("HwagentFinding"):
            continue  # catch-alls: the family defaults
        assert name in family_alerts or FOR_REASONS.get(name), f"{name}: no reason for its for: {a['for']}"
    assert all(len(f.why) > 40 for f in FAMILIES)
