"""The status service behind a real Alertmanager (Debian prometheus-alertmanager) and, where the
prometheus package is installed, a real Prometheus evaluating the shipped HwagentHostDown rule
against a loopback target that the test stops: the page shows "investigating" and a confirmed
subscriber's mailbox (a loopback SMTP sink) has the notice within 60 s; bringing the target back
resolves the incident with the customer summary and the availability figures. Loopback only;
skipped where the binaries are absent."""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.statuspage_support import TOKEN, Service, cli, free_port, wait_for, write_config
from tests.support.sinks import SMTPSink

ROOT = Path(__file__).resolve().parents[2]
AM_BIN = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
PROM_BIN = shutil.which("prometheus")

pytestmark = pytest.mark.skipif(AM_BIN is None, reason="prometheus-alertmanager not installed (tests/run.sh installs it)")


def start(argv: list[str], log: Path) -> subprocess.Popen:
    fh = log.open("wb")
    return subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:  # noqa: S310 - loopback
            return r.status == 200
    except OSError:
        return False


@pytest.fixture
def stack(tmp_path):
    """SMTP sink + `hwstatus serve` + Alertmanager pointing at its webhook."""
    procs: list[subprocess.Popen] = []
    with SMTPSink() as sink:
        svc = Service(write_config(tmp_path, resolve_hold_seconds=2.0, smtp_host="127.0.0.1", smtp_port=sink.port,
                                   smtp_starttls=False, mail_from="status@example.net",
                                   public_url="https://status.example.net"))
        am_port = free_port()
        (tmp_path / "am.yml").write_text(f"""
route:
  receiver: status
  group_by: [alertname, instance]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: status
    webhook_configs:
      - url: {svc.base}/hooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {TOKEN}
""")
        am = start([AM_BIN, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="], tmp_path / "am.log")
        procs.append(am)
        am_url = f"http://127.0.0.1:{am_port}"
        try:
            if not wait_for(lambda: ready(am_url + "/-/ready"), 30):
                raise AssertionError("alertmanager did not start:\n" + (tmp_path / "am.log").read_text())
            yield {"svc": svc, "sink": sink, "am_url": am_url, "am_port": am_port, "tmp": tmp_path, "procs": procs}
        finally:
            for p in procs:
                stop(p)
            svc.stop()


def subscribe_and_confirm(svc: Service, sink: SMTPSink, address: str, lang: str = "en") -> None:
    status, _, _ = svc.request("POST", "/subscribe", f"email={address}&lang={lang}".encode(), token=None,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert wait_for(lambda: sink.messages, 20), "no confirmation mail"
    link = re.search(r"https://status\.example\.net(/subscribe/confirm\?token=\S+)", sink.bodies()[-1]).group(1)
    assert svc.request("GET", link, token=None)[0] == 200


def incidents(svc: Service, all_: bool = False) -> list[dict]:
    return svc.json("GET", "/api/incidents" + ("?all=1" if all_ else ""))[1]["incidents"]


def test_alert_posted_to_real_alertmanager_opens_incident(stack):
    svc, sink = stack["svc"], stack["sink"]
    subscribe_and_confirm(svc, sink, "kunde@example.org", "de")
    alert = [{"labels": {"alertname": "HwagentHostDown", "instance": "server-3:10067", "job": "hwagent",
                         "severity": "critical", "component": "host"},
              "annotations": {"summary": "server-3:10067 is not answering scrapes"}}]
    t0 = time.monotonic()
    req = urllib.request.Request(stack["am_url"] + "/api/v2/alerts", data=json.dumps(alert).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310 - loopback
        assert r.status == 200
    got = wait_for(lambda: incidents(svc), 60)
    opened = time.monotonic() - t0
    assert got and got[0]["state"] == "investigating", (stack["tmp"] / "am.log").read_text()
    assert [s["id"] for s in got[0]["services"]] == ["web", "mail"]
    assert opened < 60
    assert wait_for(lambda: len(sink.messages) >= 2, 30)
    assert "Wird untersucht" in str(sink.messages[1]["msg"]["Subject"])
    print(f"\nalert -> incident through Alertmanager: {opened:.1f} s")
    # Alertmanager re-sends the group: no second incident
    with urllib.request.urlopen(req, timeout=5):
        pass
    time.sleep(3)
    assert len(incidents(svc, all_=True)) == 1


class _Target(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = b'# TYPE hwagent_build_info gauge\nhwagent_build_info{version="0.1.0",python="3.11"} 1\n'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class FakeAgent:
    """Stands in for the monitored host's agent: a /metrics endpoint that can be stopped."""

    def __init__(self, port: int):
        self.port = port
        self.server = None

    def start(self) -> None:
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Target)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.mark.skipif(PROM_BIN is None, reason="prometheus not installed")
def test_host_down_through_prometheus_and_alertmanager(stack):
    """Done-when of the status service: host stops -> up == 0 -> real alert -> page + mailbox < 60 s."""
    svc, sink, tmp = stack["svc"], stack["sink"], stack["tmp"]
    subscribe_and_confirm(svc, sink, "kunde@example.org")
    target = FakeAgent(free_port())
    target.start()
    rules = (ROOT / "agent" / "data" / "alerts.yml").read_text()
    rules = re.sub(r"(alert: HwagentHostDown\n(?:.*\n)*?\s+for: )\S+", r"\g<1>0s", rules, count=1)  # our copy only
    (tmp / "alerts.yml").write_text(rules)
    prom_port = free_port()
    (tmp / "prom.yml").write_text(f"""
global:
  scrape_interval: 1s
  scrape_timeout: 500ms
  evaluation_interval: 1s
rule_files: ["{tmp / 'alerts.yml'}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{stack['am_port']}"]
scrape_configs:
  - job_name: hwagent
    static_configs:
      - targets: ["127.0.0.1:{target.port}"]
        labels:
          instance: "server-3:10067"
""")
    prom = start([PROM_BIN, f"--config.file={tmp / 'prom.yml'}", f"--storage.tsdb.path={tmp / 'prom-data'}",
                  f"--web.listen-address=127.0.0.1:{prom_port}", "--rules.alert.resend-delay=1s"], tmp / "prom.log")
    stack["procs"].append(prom)
    try:
        assert wait_for(lambda: ready(f"http://127.0.0.1:{prom_port}/-/ready"), 60), (tmp / "prom.log").read_text()

        def up_is(value: str) -> bool:
            url = f"http://127.0.0.1:{prom_port}/api/v1/query?query=up%7Bjob%3D%22hwagent%22%7D"
            try:
                with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310
                    res = json.loads(r.read())["data"]["result"]
            except OSError:
                return False
            return bool(res) and res[0]["value"][1] == value

        assert wait_for(lambda: up_is("1"), 30), "prometheus never scraped the target"
        mails_before = len(sink.messages)
        t0 = time.monotonic()
        target.stop()  # the host goes down
        assert wait_for(lambda: incidents(svc), 60), (tmp / "am.log").read_text()[-2000:]
        t_incident = time.monotonic() - t0
        html = svc.request("GET", "/en/", token=None)[1].decode()
        assert "Investigating" in html and "Outage: Web hosting and Mail" in html
        assert wait_for(lambda: len(sink.messages) > mails_before, 60 - (time.monotonic() - t0))
        t_mail = time.monotonic() - t0
        notice = sink.messages[mails_before]["msg"]
        assert "Investigating" in str(notice["Subject"]) and notice["To"] == "kunde@example.org"
        assert t_mail < 60
        print(f"\nhost stopped -> incident {t_incident:.1f} s, -> subscriber mail {t_mail:.1f} s")

        # a runbook notify step posts progress through the API client
        from agent.statusclient import StatusClient

        iid = incidents(svc)[0]["id"]
        client = StatusClient(svc.base, TOKEN)
        client.update(iid, key="mainboard-swap/MB-01", state="identified", cause="mainboard failure", eta="2h-3h",
                      message="Replacing the mainboard of server-3 (step MB-01 of 28).")
        client.update(iid, key="mainboard-swap/MB-01", state="identified", cause="mainboard failure", eta="2h-3h",
                      message="Replacing the mainboard of server-3 (step MB-01 of 28).")  # retried: no duplicate
        assert [u["state"] for u in client.get(iid)["updates"]] == ["investigating", "identified"]

        target.start()  # back up: the alert resolves, the incident waits in monitoring for the operator
        assert wait_for(lambda: incidents(svc)[0]["state"] == "monitoring", 90), (tmp / "am.log").read_text()[-2000:]
        inc = incidents(svc)[0]
        assert inc["ended_at"] is not None
        env = {"HWAGENT_STATUS_URL": svc.base, "HWAGENT_STATUS_TOKEN": TOKEN}
        r = cli(["incident", "resolve", str(iid), "--data-window", "no data lost"], env)
        assert r.returncode == 0, r.stderr

        def resolved_mail():
            return [m["msg"] for m in list(sink.messages) if "Resolved" in str(m["msg"]["Subject"])]

        assert wait_for(resolved_mail, 30)
        summary = resolved_mail()[0]
        assert re.search(r"Resolved\. Outage of Web hosting and Mail from \S+ \S+ CET to \S+ \S+ CET \(.+\)\. "
                         r"Data: no data lost\.", summary.get_content())
        r = cli(["availability", "--service", "web", "--json"], env)
        assert r.returncode == 0, r.stderr
        web = json.loads(r.stdout)["services"][0]
        assert web["incidents"][0]["id"] == iid and 0 < web["downtime_seconds"] < 300
        assert web["percent"] < 100
    finally:
        target.stop()
