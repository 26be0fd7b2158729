"""The fleet examples in docs/examples/ work in the real tools: Prometheus discovers the file_sd
and http_sd targets with their per-host labels; Alertmanager routes the mixin's alerts as
documented and inhibits as documented (host down mutes that host's hardware alerts; the board
verdict mutes the symptom alerts it explains). Loopback only."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "docs" / "examples"
PROM, AM, AMTOOL = shutil.which("prometheus"), shutil.which("prometheus-alertmanager") or shutil.which("alertmanager"), \
    shutil.which("amtool")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, data: bytes | None = None) -> object:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback only
        body = r.read()
    return json.loads(body) if body else None


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
    raise AssertionError(f"timed out: {what}")


@pytest.mark.skipif(PROM is None, reason="prometheus not installed")
def test_file_sd_and_http_sd_examples_give_per_host_labels(tmp_path):
    handler = type("H", (http.server.BaseHTTPRequestHandler,), {
        "do_GET": lambda self: (self.send_response(200), self.send_header("Content-Type", "application/json"),
                                self.end_headers(), self.wfile.write((EX / "http_sd.json").read_bytes())),
        "log_message": lambda self, *a: None})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = (EX / "prometheus.yml").read_text()
    cfg = cfg.replace("/etc/prometheus/rules/hwagent/", f"{ROOT}/mixin/").replace(
        "/etc/prometheus/targets/", f"{EX}/targets/")
    cfg = cfg.replace("    # http_sd_configs:\n    #   - url: https://inventory.example.net/prometheus/hwagent\n"
                      "    #     refresh_interval: 5m\n",
                      f"    http_sd_configs:\n      - url: http://127.0.0.1:{srv.server_port}/sd\n")
    assert "http_sd_configs:\n      - url: http://127.0.0.1" in cfg, "example layout changed"
    # keep the discovered names as instance, but scrape nothing off this machine (discard port)
    cfg = cfg.replace("    metric_relabel_configs:\n", "    relabel_configs:\n"
                      "      - {source_labels: [__address__], target_label: instance}\n"
                      "      - {target_label: __address__, replacement: '127.0.0.1:9'}\n"
                      "    metric_relabel_configs:\n", 1)
    (tmp_path / "prometheus.yml").write_text(cfg)
    check = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    proc = subprocess.Popen([PROM, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def targets():
            res = get_json(f"http://127.0.0.1:{port}/api/v1/targets")["data"]["activeTargets"]
            return res if len(res) == 6 else None

        try:
            found = wait(targets, 60, "6 discovered targets")
        except AssertionError:
            raise AssertionError(get_json(f"http://127.0.0.1:{port}/api/v1/targets")) from None
        got = {t["labels"]["instance"]: t["labels"] for t in found}
        assert got["server-3.fra1.example.net:10067"]["rack"] == "r08"
        assert got["server-3.fra1.example.net:10067"]["customer_group"] == "dedicated-acme"
        assert got["server-11.ams2.example.net:10067"]["customer_group"] == "dedicated-globex"  # from http_sd
        assert got["server-9.ams2.example.net:10067"]["rack"] == "a12"
        assert {t["job"] for t in got.values()} == {"hwagent"}
    finally:
        proc.terminate()
        proc.wait(15)
        srv.shutdown()


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")
@pytest.mark.parametrize("labels,receiver", [
    ("alertname=HwagentHostDown severity=critical impact=outage", "ops-pager"),
    ("alertname=HwagentDiskCritical severity=critical impact=risk", "ops-pager"),
    ("alertname=HwagentFilesystemCritical severity=critical impact=risk", "ops-pager"),
    ("alertname=HwagentBoardModelVerdictFleet severity=warning impact=risk", "hardware-vendor-desk"),
    ("alertname=HwagentDiskWarning severity=warning impact=risk", "ops-ticket"),
])
def test_alertmanager_example_routes(labels, receiver):
    res = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={EX / 'alertmanager.yml'}",
                          *labels.split()], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.strip() == receiver


@pytest.mark.skipif(AM is None, reason="prometheus-alertmanager not installed")
def test_alertmanager_example_inhibits(tmp_path):
    port = free_port()
    proc = subprocess.Popen([AM, f"--config.file={EX / 'alertmanager.yml'}", f"--storage.path={tmp_path}",
                             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        wait(lambda: get_json(f"{base}/status"), 30, "alertmanager up")

        def alert(name: str, instance: str, sev: str, **extra: str) -> dict:
            return {"labels": {"alertname": name, "instance": instance, "severity": sev, "job": "hwagent", **extra}}

        alerts = [
            alert("HwagentHostDown", "s1", "critical", impact="outage"),
            alert("HwagentDiskCritical", "s1", "critical", rule="disk.smart_failed", device="sda"),  # muted: s1 down
            alert("HwagentDiskCritical", "s2", "critical", rule="disk.smart_failed", device="sda"),  # s2 is up
            alert("HwagentBoardVerdictCritical", "s3", "critical", rule="board.failing", device="mainboard"),
            alert("HwagentMemoryWarning", "s3", "warning", rule="memory.ce_storm", device="mc0/dimm1"),  # explained
            alert("HwagentPcieCritical", "s3", "critical", rule="pcie.link_down", device="0000:01:00.0"),  # explained
            alert("HwagentRaidCritical", "s3", "critical", rule="raid.degraded", device="md0"),  # data: not muted
            alert("HwagentMemoryWarning", "s4", "warning", rule="memory.ce_storm", device="mc0/dimm1"),  # no verdict
        ]
        get_json(f"{base}/alerts", json.dumps(alerts).encode())

        def state():
            got = get_json(f"{base}/alerts")
            return {(a["labels"]["alertname"], a["labels"]["instance"]): bool(a["status"]["inhibitedBy"])
                    for a in got} if len(got) == len(alerts) else None

        got = wait(state, 20, "alerts received")
        assert got == {
            ("HwagentHostDown", "s1"): False, ("HwagentDiskCritical", "s1"): True, ("HwagentDiskCritical", "s2"): False,
            ("HwagentBoardVerdictCritical", "s3"): False, ("HwagentMemoryWarning", "s3"): True,
            ("HwagentPcieCritical", "s3"): True, ("HwagentRaidCritical", "s3"): False,
            ("HwagentMemoryWarning", "s4"): False,
        }
    finally:
        proc.terminate()
        proc.wait(15)
