"""Alert rules of the mixin: one alert per rule family and severity, the agent's own alerts and
the fleet alert, each with `impact` (Contract A: `risk` for predictive hardware findings,
`outage` when the host or its agent is down), severity, summary/description built from labels,
a `runbook_url` into docs/findings/ and a `for:` whose reason is written next to it.

Family alerts select ``hwagent_finding_active`` by rule id, so routing in Alertmanager works on
the alert name alone (HwagentDiskCritical, HwagentMemoryWarning ...). Findings of a family that
has no alert of its own (a rule family added later) still fire the catch-all
HwagentFindingCritical / HwagentFindingWarning, so no finding goes unalerted.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from agent.mixin.settings import Settings

# runbook anchor: docs/findings/<family>.md, heading "`<rule id>`" (GitHub drops the dot and backticks)
RULE_RUNBOOK = '/findings/{{ $labels.rule | reReplaceAll "[.].*" "" }}.md#{{ $labels.rule | reReplaceAll "[.]" "" }}'
SUMMARY = "{{ $labels.rule }} on {{ $labels.instance }} ({{ $labels.component }} {{ $labels.device }})"


@dataclass(frozen=True)
class Family:
    stem: str  # alert name: Hwagent<stem>Critical / Hwagent<stem>Warning
    match: str  # RE2 on the rule label (anchored by Prometheus)
    what: str  # description sentence
    for_critical: str
    for_warning: str
    why: str  # reason for the `for:` values (written into the rule file as a comment and the docs)
    exclude: str = ""


FAMILIES: tuple[Family, ...] = (
    Family("Disk", r"disk\..*",
           "A drive reports failure or growing media defects (SMART verdict, reallocated/pending growth, "
           "NVMe critical-warning bits, media errors, wear, I/O errors in the kernel log).",
           "0m", "15m",
           "critical: SMART verdicts and defect growth do not heal, and the smart collector reads only every "
           "30 min, so every minute waited is a minute less to copy data off; warning: 15 min lets a one-cycle "
           "read failure (disk.unreadable) or a temperature excursion under a burst clear before paging."),
    Family("Memory", r"memory\..*",
           "ECC memory errors: an uncorrected error (data was lost or the kernel took a page offline) or "
           "corrected errors on one DIMM or controller at a storm rate.",
           "0m", "0m",
           "the rules already integrate over their window (CE storm per DIMM/controller), so a firing finding is "
           "the sustained condition; an uncorrected error is a one-shot event that must page at once."),
    Family("Cpu", r"cpu\..*",
           "Machine-check errors from the CPU, its caches or the interconnect (MCE, AMD deferred errors).",
           "0m", "15m",
           "critical: an uncorrected MCE is a one-shot event; warning: corrected MCE storms get 15 min so a "
           "burst that the kernel's CEC absorbs does not page.",
           exclude=r"cpu\.(lockup|hung_task|rcu_stall)"),
    Family("Kernel", r"cpu\.(lockup|hung_task|rcu_stall)|kernel\..*",
           "The kernel saw soft/hard lockups, hung tasks or RCU stalls (hardware or driver trouble; read together "
           "with MCE and I/O findings).",
           "0m", "30m",
           "critical: a hard lockup means a CPU stopped answering interrupts; warning: hung tasks and soft "
           "lockups accompany heavy I/O on healthy hosts, 30 min separates a sustained stall from a spike."),
    Family("Pcie", r"pcie\..*",
           "PCIe errors: uncorrectable AER errors, a link that went down or a device that fell off the bus, "
           "or correctable errors at a storm rate (a marginal link, slot or riser).",
           "0m", "15m",
           "critical: a fatal AER error or a lost link stops the device now; warning: correctable-error rates "
           "are already windowed, 15 min keeps one burst during a link retrain from paging."),
    Family("Board", r"board\..*",
           "Mainboard sensors and BMC: fans stopped or slow, voltages and temperatures out of range, sensor "
           "alarms, critical SEL records, unexpected reboots.",
           "2m", "15m",
           "critical: hwmon and IPMI are read every 30-60 s, 2 min (two to four readings) rejects a single bad sample "
           "while a stopped fan still pages within minutes; warning: 15 min ignores load-driven excursions.",
           exclude=r"board\.(failing|health)"),
    Family("BoardVerdict", r"board\.(failing|health)",
           "Correlated evidence from several parts (memory, PCIe, disks, power, resets) implicates the mainboard "
           "itself: plan the mainboard swap.",
           "0m", "15m",
           "board.failing is a score over 24 h of evidence, not a sample, so the critical verdict (60 points) "
           "fires at once; the warning (30-59 points) waits 15 min so a score that touches the threshold on one "
           "evaluation does not notify (board.health, weaker evidence, is info: dashboards and the fleet alert only)."),
    Family("Raid", r"(raid|zfs|storage)\..*",
           "A RAID array or ZFS pool runs without full redundancy, has a failed member or is inactive.",
           "0m", "15m",
           "critical: a degraded array has no redundancy left; the next failure loses data; warning: "
           "15 min covers a planned member re-add."),
    Family("Filesystem", r"fs\..*",
           "Filesystem errors: remounted read-only, shut down or corruption detected.",
           "0m", "15m",
           "critical: a read-only or shut-down filesystem already fails writes; warning: error counts get 15 min."),
    Family("Agent", r"agent\..*",
           "The agent reports a problem with itself (its state store was reset: rule windows, baselines and "
           "acknowledgements start over).",
           "0m", "0m",
           "the agent emits these findings once per event and they stay until restart; there is nothing to "
           "debounce."),
    Family("RecoveryReadiness", r"(recovery|backup)\..*",
           "The host is not ready to be recovered after a hardware failure (no or stale known-good baseline, "
           "no off-host copy, runbook prerequisites missing, a restore drill failed or is overdue).",
           "1h", "6h",
           "readiness does not change by the minute and is fixed in working hours: the known-good baseline and "
           "its off-host export run on daily timers, so waiting hours avoids noise between two runs."),
)


def _rule_matcher(f: Family) -> str:
    m = f'rule=~"{_esc(f.match)}"'
    return m + (f', rule!~"{_esc(f.exclude)}"' if f.exclude else "")


def _esc(regex: str) -> str:
    return regex.replace("\\", "\\\\")


def family_for(rule_id: str) -> Family | None:
    """The family alert a rule id fires (None: only the catch-all)."""
    import re  # noqa: PLC0415

    for f in FAMILIES:
        if re.fullmatch(f.match, rule_id) and not (f.exclude and re.fullmatch(f.exclude, rule_id)):
            return f
    return None


def alert_name(rule_id: str, severity: str) -> str | None:
    """Name of the alert a finding of ``rule_id`` with ``severity`` (critical, warning) fires."""
    if severity not in ("critical", "warning"):
        return None  # info findings are shown on dashboards, not alerted
    f = family_for(rule_id)
    return f"Hwagent{f.stem if f else 'Finding'}{severity.capitalize()}"


def _finding_alert(s: Settings, name: str, matcher: str, sev: str, for_: str, what: str) -> dict:
    sev_label = s.critical_severity if sev == "critical" else s.warning_severity
    selector = s.sel(matcher, 'severity="%s"' % sev)
    return {
        "alert": name,
        # no aggregation: target labels from service discovery (site, rack, customer_group) stay on the alert
        "expr": f"hwagent_finding_active{selector} == 1",
        "for": for_,
        "labels": {"severity": sev_label, "impact": "risk"},
        "annotations": {
            "summary": SUMMARY,
            "description": f"{what} Run `agent status` on {{{{ $labels.instance }}}} for the evidence; "
                           "the runbook link says what to do.",
            "runbook_url": s.runbook_base + RULE_RUNBOOK,
        },
    }


def finding_group(s: Settings) -> dict:
    rules = []
    sevs = ("critical", "warning") if s.warnings else ("critical",)
    for f in FAMILIES:
        for sev in sevs:
            rules.append(_finding_alert(s, f"Hwagent{f.stem}{sev.capitalize()}", _rule_matcher(f), sev,
                                        f.for_critical if sev == "critical" else f.for_warning, f.what))
    union = "|".join(f"({f.match})" for f in FAMILIES)
    for sev in sevs:
        rules.append(_finding_alert(
            s, f"HwagentFinding{sev.capitalize()}", f'rule!~"{_esc(union)}"', sev, "0m" if sev == "critical" else "15m",
            "A hardware finding of a rule family without an alert of its own in this rule file (regenerate the "
            "rules with `agent alerts --output-dir` after upgrading hwagent)."))
    return {"name": "hwagent-findings", "rules": rules}


AGENT_RUNBOOK = "/findings/agent.md#{anchor}"


def agent_group(s: Settings) -> dict:
    def a(name: str, expr: str, for_: str, sev: str, impact: str, summary: str, description: str, extra=None) -> dict:
        labels = {"severity": s.critical_severity if sev == "critical" else s.warning_severity,
                  "impact": impact, "component": "agent", **(extra or {})}
        return {"alert": name, "expr": expr, "for": for_, "labels": labels,
                "annotations": {"summary": summary, "description": description,
                                "runbook_url": s.runbook_base + AGENT_RUNBOOK.format(anchor=name.lower())}}

    verdict = _rule_matcher(next(f for f in FAMILIES if f.stem == "BoardVerdict"))
    rules = [
        a("HwagentHostDown", f"up{s.sel()} == 0", "2m", "critical", "outage",
          "{{ $labels.instance }} is not answering scrapes",
          "The host or its hwagent is down (up == 0 for 2 min). If the host is down, customers on it are affected; "
          "the example Alertmanager config inhibits its hardware alerts while this fires.", {"component": "host"}),
    ]
    # the last successful scrape (Unix time): the status service dates the outage from it, not from the firing
    rules[0]["annotations"]["last_seen"] = (
        '{{ with printf "max_over_time(timestamp(up{instance=%q,job=%q} == 1)[1h:15s])" $labels.instance $labels.job '
        '| query }}{{ . | first | value | printf "%.0f" }}{{ end }}')
    if s.warnings:
        rules += [
            a("HwagentCollectorFailing", f"hwagent_collector_success{s.sel()} == 0", "30m", "warning", "risk",
              "hwagent collector {{ $labels.collector }} failing on {{ $labels.instance }}",
              "The collector's runs have failed for 30 min; the hardware it reads is not being watched. "
              "See `agent status` and the agent log."),
            a("HwagentCollectorStale",
              f"time() - hwagent_collector_last_success_timestamp_seconds{s.sel()} > 7200", "10m", "warning", "risk",
              "hwagent collector {{ $labels.collector }} on {{ $labels.instance }} has not succeeded for 2 h",
              "Data from this collector is stale (no successful run for 2 h); a hung tool (smartctl, ipmitool) "
              "or a stuck agent is the usual cause."),
            a("HwagentRuleErrors", f"hwagent_rule_errors{s.sel()} > 0", "30m", "warning", "risk",
              "hwagent rules raise errors on {{ $labels.instance }}",
              "{{ $value }} rules raised an error in the last evaluation; their findings are missing. "
              "The agent log names the rule and the error."),
            # process_* series exist with exporter.process_metrics = true; the kernel log counter (reset at
            # every agent start) catches restarts by default
            a("HwagentAgentRestarting", f"changes(process_start_time_seconds{s.sel()}[1h]) > 3 "
              f"or resets(hwagent_kernel_log_records_total{s.sel()}[1h]) > 3", "0m", "warning",
              "risk", "hwagent on {{ $labels.instance }} restarted {{ $value }} times in an hour",
              "The agent is crash-looping (systemd restarts it); between restarts rule windows and kernel log "
              "cursors start over. See `journalctl -u hwagent`."),
            a("HwagentBoardModelVerdictFleet",
              f"count by (job, board_vendor, board_name) (max by (job, instance) (max_over_time("
              f"hwagent_finding_active{s.sel(verdict)}[{s.board_fleet_window}])) "
              f"* on (job, instance) group_left (board_vendor, board_name) hwagent_host_info{s.sel()}) "
              f">= {s.board_fleet_hosts}",
              "0m", "warning", "risk",
              "{{ $value }} hosts with board {{ $labels.board_vendor }} {{ $labels.board_name }} showed a board "
              "verdict within " + s.board_fleet_window,
              "The same board model shows the board verdict (board.failing, or the weaker board.health) on several hosts: "
              "look for a common cause (BIOS/BMC firmware, a bad batch, PSU or cooling in one rack) before swapping "
              "more boards.", {"component": "fleet"}),
        ]
    return {"name": "hwagent-agent", "rules": rules}


FOR_REASONS = {
    "HwagentHostDown": "2 min = several failed scrapes; a single lost scrape or an agent restart does not page.",
    "HwagentCollectorFailing": "30 min: a collector failing once (tool timeout) recovers on the next run.",
    "HwagentCollectorStale": "10 min on top of the 2 h staleness threshold, longer than the smart interval.",
    "HwagentRuleErrors": "30 min: an error on one odd snapshot clears on the next evaluation.",
    "HwagentAgentRestarting": "0 min: the expression already counts restarts over an hour.",
    "HwagentBoardModelVerdictFleet": "0 min: the expression already looks back over the fleet window.",
}


class _Dumper(yaml.SafeDumper):
    """A SafeDumper of our own, so the str representer registered below does not change yaml's global one."""


def _str(dumper, data: str):
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'" if any(c in data for c in '{}:"#[]') else None)


_Dumper.add_representer(str, _str)


def dump(doc: dict, header: str) -> str:
    return header + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)


def header(s: Settings, what: str) -> str:
    return (f"# hwagent {what}. Generated by `agent alerts` (hwagent.mixin) with selector {s.selector!r};\n"
            "# do not edit: change the generator or its settings (agent alerts --help) and regenerate.\n"
            "# `for:` reasons and per-alert documentation: docs/prometheus.md and docs/reference/alerts.md.\n")


def render(s: Settings) -> str:
    return dump({"groups": [finding_group(s), agent_group(s)]}, header(s, "alert rules"))


def all_alerts(s: Settings) -> list[dict]:
    return [r for g in (finding_group(s), agent_group(s)) for r in g["rules"]]
