"""A real `hwstatus serve` subprocess on a free loopback port, driven over HTTP and by the
operator's CLI (`agent incident`, `agent availability`, `hwstatus render`)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.e2e.statuspage_support import TOKEN, Service, cli, hwstatus, write_config

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "statuspage"


@pytest.fixture
def svc(tmp_path):
    s = Service(write_config(tmp_path, resolve_hold_seconds=1.0))
    yield s
    assert s.stop() == 0


def test_serve_webhook_page_and_cli(svc, tmp_path):
    body = (FIX / "alertmanager-firing.json").read_bytes()
    assert svc.request("POST", "/hooks/alertmanager", body, token="wrong")[0] == 401
    assert svc.request("POST", "/hooks/alertmanager", body, token=None)[0] == 401
    status, data, _ = svc.request("POST", "/hooks/alertmanager", body)
    assert status == 200 and json.loads(data)["opened"] == [1]
    assert json.loads(svc.request("POST", "/hooks/alertmanager", body)[1])["replayed"] is True
    status, html, headers = svc.request("GET", "/de/", token=None)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Ausfall: Web hosting und Mail" in html.decode() and "Wird untersucht" in html.decode()
    ET.fromstring(svc.request("GET", "/feed.atom", token=None)[1])

    env = {"HWAGENT_STATUS_URL": svc.base, "HWAGENT_STATUS_TOKEN": TOKEN}
    r = cli(["incident", "list"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("#1    investigating major_outage   web,mail")
    r = cli(["incident", "update", "1", "-s", "identified", "--cause", "failed mainboard", "-e", "4h-6h"], env)
    assert r.returncode == 0, r.stderr
    assert "identified" in r.stdout and "Cause: failed mainboard. Expected back between" in r.stdout
    r = cli(["incident", "open", "dns"], env)
    assert r.returncode == 1 and "unknown service 'dns'" in r.stderr
    r = cli(["incident", "resolve", "1", "--data-window", "no data lost"], env)
    assert r.returncode == 0 and "Data: no data lost." in r.stdout
    assert re.search(r"Web hosting: this incident .* down; month \d+\.\d\d %, year \d+\.\d\d %, 24 months", r.stdout)
    r = cli(["incident", "list", "-a", "--json"], env)
    assert json.loads(r.stdout)[0]["state"] == "resolved"
    r = cli(["availability", "--json"], env)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert [s["service"] for s in rep["services"]] == ["web", "mail"]
    r = cli(["incident", "list"], {"HWAGENT_STATUS_URL": svc.base, "HWAGENT_STATUS_TOKEN": "bad"})
    assert r.returncode == 1 and "HTTP 401" in r.stderr

    out = tmp_path / "site"
    r = hwstatus(tmp_path / "statuspage.toml", ["render", "--out", str(out)])
    assert r.returncode == 0, r.stderr
    assert json.loads((out / "summary.json").read_text())["recent_incidents"][0]["id"] == 1
    r = cli(["--config", str(tmp_path / "statuspage.toml"), "availability", "--service", "web"], {})
    assert r.returncode == 0 and "Web hosting [web]:" in r.stdout and "target" in r.stdout


def test_cli_retries_with_the_same_idempotency_key(svc):
    env = {"HWAGENT_STATUS_URL": svc.base, "HWAGENT_STATUS_TOKEN": TOKEN}
    for _ in range(2):
        r = cli(["incident", "open", "web", "-m", "Web down", "--key", "phone-1"], env)
        assert r.returncode == 0, r.stderr
    assert len(json.loads(cli(["incident", "list", "--json"], env).stdout)) == 1


def test_cli_without_url_or_token_says_what_is_missing(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[statuspage]\npublic_url = "https://status.example.net"\n')
    r = cli(["--config", str(cfg), "incident", "list"], {"HWAGENT_STATUS_TOKEN": ""})
    assert r.returncode == 1 and "no token" in r.stderr
    r = cli(["incident", "list"], {"HWAGENT_STATUS_URL": "http://127.0.0.1:9", "HWAGENT_STATUS_TOKEN": "x"})
    assert r.returncode == 1 and "cannot reach the status service" in r.stderr


def test_serve_refuses_without_token(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[statuspage]\nlisten = "127.0.0.1:0"\ndatabase = "{tmp_path / "db"}"\n')
    r = hwstatus(cfg, ["serve"], timeout=30)
    assert r.returncode == 1 and "no token configured" in r.stderr


def test_heartbeat_command(svc, tmp_path, fakesys):
    root = tmp_path / "root"
    (root / "proc/sys/kernel/random").mkdir(parents=True)
    (root / "proc/sys/kernel/random/boot_id").write_text("4c0ffee0-0000-4000-8000-000000000001\n")
    (root / "proc/sys/kernel/hostname").write_text("server-3.example.net\n")
    env = {"HWAGENT_STATUS_URL": svc.base, "HWAGENT_STATUS_TOKEN": TOKEN}
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[host]\nroot = "{root}"\n')
    r = cli(["--config", str(cfg), "statuspage", "heartbeat"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "heartbeat sent: server-3 boot 4c0ffee0-0000-4000-8000-000000000001"


def test_host_credential_pushes_the_baseline_and_the_operator_fetches_it(svc, tmp_path):
    """Contract B end to end: a host credential made with the CLI, the shared client's
    put_host_document, and `agent baseline fetch HOST` from another machine with the operator token."""
    from agent.statusclient import StatusClient

    cfg = next(tmp_path.glob("statuspage.toml"))
    r = hwstatus(cfg, ["credential", "add", "server-3", "--role", "host", "--host", "server-3"])
    assert r.returncode == 0, r.stderr
    host_token = r.stdout.strip()
    assert host_token.startswith("hws_") and "shown only now" in r.stderr
    doc = json.dumps({"format": 1, "host": "server-3", "dmi": {"board_serial": "BSN-1"}})
    res = StatusClient(svc.base, host_token).put_host_document("server-3", "baseline", doc)
    assert res["bytes"] == len(doc)
    with pytest.raises(Exception, match="HTTP 403"):
        StatusClient(svc.base, host_token).put_host_document("ns1", "baseline", doc)
    out = tmp_path / "fetched.json"
    env = {"HWAGENT_STATUS_URL": svc.base, "HWAGENT_STATUS_TOKEN": TOKEN}
    r = cli(["baseline", "fetch", "server-3", "-o", str(out)], env)
    assert r.returncode == 0, r.stderr
    assert out.read_text() == doc and (out.stat().st_mode & 0o777) == 0o600
    r = cli(["baseline", "fetch", "server-9"], env)
    assert r.returncode == 1 and "no baseline stored for host 'server-9'" in r.stderr
    r = hwstatus(cfg, ["credential", "revoke", "server-3"])
    assert r.returncode == 0
    with pytest.raises(Exception, match="HTTP 401"):
        StatusClient(svc.base, host_token, retries=0).get_host_document("server-3", "baseline")
