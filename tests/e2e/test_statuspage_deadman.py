"""The real incident path with shipped settings: Prometheus evaluating the shipped (unmodified)
alert rules, Alertmanager with the shipped example route and receiver, the status service with its
default settings, the shipped heartbeat (`agent statuspage heartbeat --every 15`) under a host
credential, a German and an English subscriber behind a loopback SMTP sink.

The host dies (its /metrics endpoint and its heartbeat process are killed at once). Measured: host
down -> incident and -> subscriber mail, through the dead-man switch (target <= 60 s; the shipped
HwagentHostDown has `for: 2m`). Then HwagentHostDown arrives through Alertmanager and joins the same
incident (no second incident, no second mail), the runbook's notify steps (host credential) post
progress and resolve it: one incident, three notices per subscriber, each in its language."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.e2e.statuspage_support import Service, free_port, hwstatus, wait_for, write_config
from tests.e2e.test_statuspage_alertmanager import AM_BIN, PROM_BIN, FakeAgent, ready, start, stop
from tests.support.sinks import SMTPSink

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(AM_BIN is None or PROM_BIN is None,
                                reason="prometheus and prometheus-alertmanager not installed (tests/run.sh installs them)")


def alertmanager_config(tmp: Path, webhook: str, token_file: Path) -> Path:
    """The shipped example, only the status service's URL and token file filled in."""
    cfg = yaml.safe_load((ROOT / "systemd" / "alertmanager-statuspage.example.yml").read_text())
    for rcv in cfg["receivers"]:
        for wh in rcv.get("webhook_configs", []):
            wh["url"] = webhook
            wh["http_config"]["authorization"]["credentials_file"] = str(token_file)
    out = tmp / "am.yml"
    out.write_text(yaml.safe_dump(cfg))
    return out


def heartbeat_proc(tmp: Path, url: str, token_file: Path) -> subprocess.Popen:
    root = tmp / "root"
    (root / "proc/sys/kernel/random").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/random/boot_id").write_text("4c0ffee0-0000-4000-8000-000000000003\n")
    (root / "proc/sys/kernel/hostname").write_text("server-3.example.net\n")
    (tmp / "agent.toml").write_text(f'[host]\nroot = "{root}"\n')
    unit = (ROOT / "systemd" / "hwagent-heartbeat.service").read_text()
    argv = next(line for line in unit.splitlines() if line.startswith("ExecStart=")).split()[1:]  # the shipped argv
    assert argv[:2] == ["statuspage", "heartbeat"]
    env = dict(os.environ, HWAGENT_STATUS_URL=url, HWAGENT_STATUS_TOKEN_FILE=str(token_file))
    return subprocess.Popen([sys.executable, "-m", "agent", "--config", str(tmp / "agent.toml"), *argv],
                            stdout=(tmp / "heartbeat.log").open("wb"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def confirm_sub(svc: Service, sink: SMTPSink, address: str, lang: str) -> None:
    before = len(sink.messages)
    status, _, _ = svc.request("POST", "/subscribe", f"email={address}&lang={lang}".encode(), token=None,
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200
    assert wait_for(lambda: len(sink.messages) > before, 20), "no confirmation mail"
    msg = sink.messages[-1]["msg"]
    assert msg["To"] == address
    link = re.search(r"https://status\.example\.net(/subscribe/confirm\?token=\S+)", msg.get_content()).group(1)
    assert svc.request("GET", link, token=None)[0] == 200


def db_rows(tmp: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{tmp / 'status.db'}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_host_death_with_shipped_settings(tmp_path):
    tmp = tmp_path
    procs: list[subprocess.Popen] = []
    target = FakeAgent(free_port())
    with SMTPSink() as sink:
        svc = Service(write_config(tmp, smtp_host="127.0.0.1", smtp_port=sink.port, smtp_starttls=False,
                                   mail_from="status@example.net", public_url="https://status.example.net"))
        try:
            mk = lambda *a: hwstatus(tmp / "statuspage.toml", ["credential", "add", *a])  # noqa: E731
            am_tok, host_tok = tmp / "am.token", tmp / "host.token"
            r = mk("alertmanager", "--role", "alertmanager")
            am_tok.write_text(r.stdout)
            r = mk("server-3", "--role", "host", "--host", "server-3")
            host_tok.write_text(r.stdout)
            assert am_tok.read_text().startswith("hws_") and host_tok.read_text().startswith("hws_")
            am_port, prom_port = free_port(), free_port()
            am = start([AM_BIN, f"--config.file={alertmanager_config(tmp, svc.base + '/hooks/alertmanager', am_tok)}",
                        f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
                        "--cluster.listen-address="], tmp / "am.log")
            procs.append(am)
            shutil.copy(ROOT / "agent" / "data" / "alerts.yml", tmp / "alerts.yml")  # shipped, unmodified
            (tmp / "prom.yml").write_text(f"""
global:
  scrape_interval: 15s
  evaluation_interval: 15s
rule_files: ["{tmp / 'alerts.yml'}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: hwagent
    static_configs:
      - targets: ["127.0.0.1:{target.port}"]
        labels:
          instance: "server-3:10067"
""")
            target.start()
            procs.append(start([PROM_BIN, f"--config.file={tmp / 'prom.yml'}", f"--storage.tsdb.path={tmp / 'prom-data'}",
                                f"--web.listen-address=127.0.0.1:{prom_port}"], tmp / "prom.log"))
            assert wait_for(lambda: ready(f"http://127.0.0.1:{am_port}/-/ready"), 30), (tmp / "am.log").read_text()
            assert wait_for(lambda: ready(f"http://127.0.0.1:{prom_port}/-/ready"), 60), (tmp / "prom.log").read_text()
            confirm_sub(svc, sink, "kunde@example.org", "de")
            confirm_sub(svc, sink, "customer@example.com", "en")
            hb = heartbeat_proc(tmp, svc.base, host_tok)
            procs.append(hb)
            assert wait_for(lambda: db_rows(tmp, "SELECT COUNT(*) FROM heartbeats")[0][0] > 0, 30), \
                (tmp / "heartbeat.log").read_text()
            time.sleep(20)  # a couple of heartbeats and scrapes in the steady state
            mails_before = len(sink.messages)

            # ---- the host dies ----------------------------------------------------------------
            t0 = time.monotonic()
            wall0 = time.time()
            os.killpg(hb.pid, signal.SIGKILL)
            target.stop()
            got = wait_for(lambda: svc.json("GET", "/api/incidents")[1]["incidents"], 90)
            t_incident = time.monotonic() - t0
            assert got, (tmp / "am.log").read_text()[-2000:]
            assert wait_for(lambda: len(sink.messages) >= mails_before + 2, 60), \
                (db_rows(tmp, "SELECT * FROM outbox"), "".join(svc.log[-50:]))
            t_mail = time.monotonic() - t0
            inc = got[0]
            last_beat = db_rows(tmp, "SELECT MAX(last_seen) FROM heartbeats")[0][0]
            assert inc["impact"] == "major_outage" and inc["state"] == "investigating"
            assert abs(time.mktime(time.strptime(inc["started_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone - last_beat) < 1.5
            assert wall0 - 16 <= last_beat <= wall0  # dated from the last sign of life
            print(f"\nhost down -> incident {t_incident:.1f} s, -> subscriber mail {t_mail:.1f} s (dead-man switch, "
                  "shipped settings)")
            assert t_incident <= 60 and t_mail <= 60

            subjects = {m["msg"]["To"]: str(m["msg"]["Subject"]) for m in list(sink.messages)[mails_before:]}
            assert "Wird untersucht" in subjects["kunde@example.org"] and "Ausfall" in subjects["kunde@example.org"]
            assert "Investigating" in subjects["customer@example.com"]

            # ---- HwagentHostDown (for: 2m) arrives through Alertmanager and joins the same incident ---------
            def hostdown_joined():
                rows = db_rows(tmp, "SELECT incident_id FROM alerts WHERE alertname = 'HwagentHostDown'")
                return rows and rows[0][0]

            joined = wait_for(hostdown_joined, 240)
            t_alert = time.monotonic() - t0
            assert joined == inc["id"], (tmp / "am.log").read_text()[-2000:]
            assert len(svc.json("GET", "/api/incidents?all=1")[1]["incidents"]) == 1
            print(f"HwagentHostDown reached the status service after {t_alert:.0f} s and joined incident {joined}")

            # ---- the repair: the runbook's notify steps with the host credential -------------------
            from agent.statusclient import StatusClient

            runbook = StatusClient(svc.base, host_tok.read_text().strip())
            runbook.host_notify("server-3", "identified", eta_seconds=7200, run_id="r1", step="MB-01")
            target.start()
            hb2 = heartbeat_proc(tmp, svc.base, host_tok)
            procs.append(hb2)
            assert wait_for(lambda: svc.json("GET", "/api/incidents")[1]["incidents"][0]["state"] == "monitoring"
                            or db_rows(tmp, "SELECT status FROM alerts WHERE fingerprint = 'deadman:server-3'")[0][0]
                            == "resolved", 60)
            runbook.host_notify("server-3", "resolved", run_id="r1", step="MB-32")
            assert wait_for(lambda: len(sink.messages) >= mails_before + 6, 30)
            time.sleep(3)
            incs = svc.json("GET", "/api/incidents?all=1")[1]["incidents"]
            assert len(incs) == 1 and incs[0]["state"] == "resolved"
            per = {}
            for m in list(sink.messages)[mails_before:]:
                per.setdefault(m["msg"]["To"], []).append(str(m["msg"]["Subject"]).split("]")[1].split(":")[0].strip())
            print(f"notices per subscriber: {json.dumps(per, ensure_ascii=False)}")
            assert per == {"kunde@example.org": ["Wird untersucht", "Ursache gefunden", "Behoben"],
                           "customer@example.com": ["Investigating", "Identified", "Resolved"]}
        finally:
            for p in procs:
                if p.poll() is None:
                    try:
                        os.killpg(p.pid, signal.SIGTERM) if p in procs[-2:] else None
                    except (ProcessLookupError, PermissionError):
                        pass
                stop(p)
            target.stop()
            svc.stop()
