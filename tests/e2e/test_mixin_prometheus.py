"""The mixin against a real Prometheus that scrapes real `agent run` processes on fixture hosts.

Four agents (synthetic-fan-stopped: DMI inventory and a critical board finding; synthetic-voltage:
warnings and the board health score; synthetic-kernel-log: hardware events from a kernel log;
lab-nvme-critical-warning: a captured qemu guest with NVMe/SATA disks and a BMC, its
smartctl and ipmitool answered from the recordings) are scraped by Prometheus (Debian's
/usr/bin/prometheus, loopback only) loaded with the generated alert and recording rules. Then
every PromQL expression of both dashboards and of every rule must parse and return data; the few
that need a condition none of these hosts shows are listed with the reason and are tested by
`promtool test rules` in tests/unit/mixin/ instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from agent.mixin import build
from agent.mixin.dashboards import expressions

ROOT = Path(__file__).resolve().parents[2]
HOSTS = ROOT / "tests" / "fixtures" / "hosts"
PROM = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROM is None, reason="prometheus (Debian package prometheus) not installed")

NAMES = ("synthetic-fan-stopped", "synthetic-voltage", "synthetic-kernel-log", "lab-nvme-critical-warning")
# expression (as generated) -> why no fixture host gives it data
NEEDS_CONDITION = {
    "hwagent_md_degraded": "no md arrays on the fixture hosts",
    "hwagent_memory_corrected_errors_total": "no EDAC on the fixture hosts",
    "hwagent_memory_uncorrected_errors_total": "no EDAC on the fixture hosts",
    "hwagent_ipmi_voltage_volts": "the captured BMC has a temperature and a fan sensor only",
    "collector:hwagent_collectors_failing:count": "no collector fails on the fixture hosts",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback only
        return json.loads(r.read())


def wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _wrapper(bin_dir: Path, tool: str, recordings: Path) -> Path:
    p = bin_dir / tool
    p.write_text(f"#!/bin/sh\nFAKE_SMARTCTL_DIR='{recordings}' exec '{sys.executable}' "
                 f"'{ROOT / 'tests' / 'support' / 'fake_smartctl.py'}' \"$@\"\n")
    p.chmod(0o755)
    return p


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mixin")
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    procs: list[subprocess.Popen] = []
    targets = {}
    try:
        for name in NAMES:
            cfg = tmp / f"{name}.toml"
            cmds = HOSTS / name / "commands"
            if cmds.is_dir():
                d = bin_dir / name
                d.mkdir()
                cfg.write_text(f'[host]\nsmartctl = "{_wrapper(d, "smartctl", cmds / "smartctl")}"\n'
                               f'ipmitool = "{_wrapper(d, "ipmitool", cmds / "ipmitool")}"\n'
                               "[collectors.ipmi]\nrequire_device = false\n"
                               "[collectors.smart]\nignore_rootfs = true\n")  # the recordings answer, not this machine
            else:
                cfg.write_text(f'[host]\nsmartctl = "{bin_dir / "absent-smartctl"}"\n'
                               f'ipmitool = "{bin_dir / "absent-ipmitool"}"\n')
            port = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "agent", "--config", str(cfg), "run", "--web.listen-address",
                 f"127.0.0.1:{port}", "--path.rootfs", str(HOSTS / name / "tree"), "--state-dir", str(tmp / name)],
                stdout=subprocess.DEVNULL, stderr=open(tmp / f"{name}.log", "wb"), cwd=ROOT,
                env=dict(os.environ, PATH=f"{bin_dir}:/usr/bin:/bin")))
            targets[name] = port
        files = build()
        for rel in ("prometheus_alerts.yml", "prometheus_rules.yml"):
            (tmp / rel).write_text(files[rel])
        static = "\n".join(f"      - targets: ['127.0.0.1:{port}']\n        labels: {{instance: '{name}'}}"
                           for name, port in targets.items())
        (tmp / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"rule_files: ['{tmp / 'prometheus_alerts.yml'}', '{tmp / 'prometheus_rules.yml'}']\n"
            f"scrape_configs:\n  - job_name: hwagent\n    static_configs:\n{static}\n")
        pport = free_port()
        procs.append(subprocess.Popen(
            [PROM, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "wb")))
        base = f"http://127.0.0.1:{pport}"

        def query(expr: str) -> dict:
            return get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))

        def all_up():
            res = query('up{job="hwagent"} == 1')["data"]["result"]
            return len(res) == len(NAMES)

        logs = lambda: "\n".join(p.read_text()[-1500:] for p in tmp.glob("*.log"))  # noqa: E731
        try:
            wait(all_up, 90, "every agent up")
            wait(lambda: query("job:hwagent_hosts_by_worst_severity:count")["data"]["result"], 30, "recording rules")
            wait(lambda: query('hwagent_disk_info')["data"]["result"], 60, "disk data of the lab host")
        except AssertionError as err:
            raise AssertionError(f"{err}\n{logs()}") from None
        time.sleep(2)  # one more evaluation of every rule over complete data
        yield {"query": query, "base": base, "files": files, "tmp": tmp}
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def substitute(expr: str) -> str:
    """Grafana variables as Grafana sends them: job All = allValue `.+`; the host dashboard asked for
    each fixture host in turn is the same as asking for all of them at once."""
    return (expr.replace('instance=~"$instance"', 'instance=~"' + "|".join(NAMES) + '"')
            .replace("$job", ".+").replace("$__rate_interval", "1m"))


def rule_exprs(files: dict) -> list[tuple[str, str]]:
    out = []
    for rel in ("prometheus_alerts.yml", "prometheus_rules.yml"):
        for g in yaml.safe_load(files[rel])["groups"]:
            for r in g["rules"]:
                out.append((r.get("alert") or r["record"], r["expr"]))
    return out


def _excused(expr: str) -> str | None:
    return next((why for key, why in NEEDS_CONDITION.items() if key in expr), None)


def test_every_expression_parses_and_returns_data(stack):
    """Dashboard panels and recording rules return data; alert expressions parse (they return data
    only while their condition holds, which tests/unit/mixin checks with promtool)."""
    empty, excused_used = [], set()
    exprs = [(f"{rel}: {title}", substitute(expr), True) for rel, text in stack["files"].items()
             if rel.endswith(".json") for title, expr in expressions(json.loads(text))]
    exprs += [(name, expr, ":" in name) for name, expr in rule_exprs(stack["files"])]
    assert len(exprs) > 40
    for where, expr, must_have_data in exprs:
        res = stack["query"](expr)
        assert res["status"] == "success", (where, expr, res)
        if must_have_data and not res["data"]["result"]:
            key = next((k for k in NEEDS_CONDITION if k in expr or k == where), None)
            if key is None:
                empty.append((where, expr))
            excused_used.add(key)
    assert empty == [], "expressions without data:\n" + "\n".join(map(str, empty))
    stale = set(NEEDS_CONDITION) - excused_used
    assert stale == set(), f"NEEDS_CONDITION entries that now have data (remove them): {stale}"


def test_alerts_fire_for_the_fixture_findings(stack):
    """The fixture hosts' findings reach Prometheus alerts (pending or firing), named by family."""
    alerts = get_json(stack["base"] + "/api/v1/alerts")["data"]["alerts"]
    got = {(a["labels"]["alertname"], a["labels"]["instance"], a["labels"].get("rule")) for a in alerts}
    assert ("HwagentBoardCritical", "synthetic-fan-stopped", "board.fan_stopped") in got
    assert ("HwagentDiskCritical", "lab-nvme-critical-warning", "disk.nvme_critical_warning") in got
    assert all(a["labels"]["impact"] == "risk" for a in alerts if a["labels"].get("rule"))


def test_host_info_joins_findings_to_board_models(stack):
    res = stack["query"]('board:hwagent_findings_active:sum{rule="board.fan_stopped"}')["data"]["result"]
    assert [(r["metric"]["board_vendor"], r["metric"]["board_name"]) for r in res] == [("ASRockRack", "E3C246D4U2-2T")]
    worst = {r["metric"]["instance"]: r["value"][1] for r in
             stack["query"]("instance:hwagent_worst_severity:max")["data"]["result"]}
    assert worst["synthetic-fan-stopped"] == "3" and worst["lab-nvme-critical-warning"] == "3"
