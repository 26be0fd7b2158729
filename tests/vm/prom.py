"""A real Prometheus (Debian's /usr/bin/prometheus) for the VM suite, run by hand in a temp dir.

It scrapes the guest agent through the forwarded port every 2 s (an emulated guest on a busy
host can take more than 1 s to answer), evaluates a copy of the
project's shipped alert rules (``agent/data/alerts.yml``) every second, and the tests read its
HTTP API (``/api/v1/query``, ``/api/v1/alerts``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.vm.image import REPO
from tests.vm.machine import free_port
from tests.vm.procs import stop_process, wait_http_ready

SHIPPED_ALERTS = REPO / "agent" / "data" / "alerts.yml"
# `for:` overrides in the test copy only (alert names as regular expressions): a finding alert
# (Hwagent<Family>Warning/Critical) must fire within the test's bounded time; the agent's own
# alerts (HwagentHostDown, HwagentCollector*) keep their shipped values
FOR_OVERRIDES = {r"Hwagent\w+(Warning|Critical)": "0s"}


def alerts_copy(dest: Path, overrides: dict[str, str] = FOR_OVERRIDES) -> Path:
    """The shipped rules file with ``for:`` replaced for the named alerts (text edit keeps the rest)."""
    out, current = [], None
    for line in SHIPPED_ALERTS.read_text().splitlines():
        m = re.match(r"\s*-\s*alert:\s*(\S+)", line)
        if m:
            current = m.group(1)
        fm = re.match(r"(\s*)for:\s*\S+", line)
        new = next((v for k, v in overrides.items() if current and re.fullmatch(k, current)), None)
        if fm and new is not None:
            line = f"{fm.group(1)}for: {new}"
        out.append(line)
    dest.write_text("\n".join(out) + "\n")
    return dest


class Prometheus:
    def __init__(self, workdir: Path, target: str, job: str = "hwagent", *, alertmanager: str | None = None,
                 instance: str | None = None):
        self.alertmanager = alertmanager  # host:port to send alerts to (the rehearsal's Alertmanager)
        self.instance = instance  # the target's `instance` label (default: its address)
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.target, self.job = target, job
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        rules = alerts_copy(self.dir / "alerts.yml")
        cfg = self.dir / "prometheus.yml"
        cfg.write_text(
            "global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\n  evaluation_interval: 1s\n"
            f"rule_files:\n  - {rules}\n"
            + (f"alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{self.alertmanager}']\n"
               if self.alertmanager else "")
            + f"scrape_configs:\n  - job_name: {self.job}\n    static_configs:\n      - targets: ['{self.target}']\n"
            + (f"        labels:\n          instance: {self.instance}\n" if self.instance else ""))
        check = subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"promtool check config failed:\n{check.stdout}{check.stderr}")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
             "--storage.tsdb.retention.time=1h"],
            stdout=open(self.dir / "prometheus.log", "wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_http_ready(self.proc, self.url + "/-/ready", "prometheus", self.log_tail, timeout, interval=0.2)

    def log_tail(self) -> str:
        try:
            return (self.dir / "prometheus.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _get(self, path: str, **params) -> dict:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310
            body = json.loads(r.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant vector: [{"metric": {...}, "value": [ts, "v"]}, ...]."""
        return self._get("/api/v1/query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        return self._get("/api/v1/alerts")["alerts"]

    def targets_up(self) -> bool:
        return any(float(r["value"][1]) == 1 for r in self.query(f'up{{job="{self.job}"}}'))

    def wait(self, what: str, fn, timeout: float, interval: float = 0.3):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = fn()
            except (urllib.error.URLError, OSError, RuntimeError) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(f"prometheus: {what} not seen within {timeout:.0f}s (last: {last!r})")

    def stop(self) -> None:
        stop_process(self.proc, grace=15)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
