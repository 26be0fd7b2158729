"""notify steps: the status service client, configured or not; never in a dry run."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from agent.recovery.executor import Executor, NullUI
from agent.recovery.notify import StatusClient
from agent.recovery.record import RunStore
from agent.recovery.settings import NotifyConfig
from tests.unit.recovery.support import host, runbook

NOTIFY = """
id = "t"
title = "t"
[[steps]]
id = "OPEN"
title = "open"
kind = "notify"
apply = { action = "notify", state = "investigating", message = "Outage on {run.host}" }
verify = { action = "notified" }
on_failure = "Use the fallback channel."
[[steps]]
id = "CLOSE"
title = "close"
kind = "notify"
apply = { action = "notify", state = "resolved", message = "Back on {run.host}" }
verify = { action = "notified" }
on_failure = "Use the fallback channel."
"""


@pytest.fixture
def server():
    class Seen(list):
        pass
    seen = Seen()
    keys = []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers.get("Authorization"), body))
            keys.append(self.headers.get("Idempotency-Key"))
            if self.headers.get("Authorization") != "Bearer s3cret":
                self.send_response(401)
                self.end_headers()
                return
            out = json.dumps({"id": 17} if self.path == "/api/incidents" else {"id": 99}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass
    srv = HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    seen.keys = keys  # type: ignore[attr-defined]
    yield f"http://127.0.0.1:{srv.server_address[1]}", seen
    srv.shutdown()


def _run(tmp_path, client):
    ex = Executor(runbook(NOTIFY), host(tmp_path / "root"), ui=NullUI(), operator="alice",
                  store=RunStore(tmp_path / "state"), notifier=client)
    return ex.start()


def test_opens_incident_then_updates_it(tmp_path, server):
    url, seen = server
    tok = tmp_path / "token"
    tok.write_text("s3cret\n")
    rec = _run(tmp_path, StatusClient(NotifyConfig(url=url + "/", token_file=str(tok), service="web")))
    assert rec.data["status"] == "completed"
    assert [s[0] for s in seen] == ["/api/incidents", "/api/incidents/17/updates"]
    assert seen[0][2]["services"] == ["web"] and seen[0][2]["state"] == "investigating"
    assert seen[0][2]["message"] == "Outage on testhost" and seen[0][2]["source"].startswith("agent recover ")
    assert seen[1][2] == {"state": "resolved", "message": "Back on testhost", "author": "alice"}
    assert seen.keys == [f"{rec.run_id}:OPEN", f"{rec.run_id}:CLOSE"]
    notes = rec.data["notifications"]
    assert [n["sent"] for n in notes] == [True, True] and notes[0]["message_id"] == "17"
    assert "s3cret" not in json.dumps(rec.data)  # the token never lands in the record
    assert "s3cret" not in (tmp_path / "state" / "runs" / "audit.jsonl").read_text()


def test_rejected_token_fails_the_step_with_fallback_guidance(tmp_path, server):
    url, _ = server
    rec = _run(tmp_path, StatusClient(NotifyConfig(url=url, token="wrong")))
    s = rec.data["steps"]["OPEN"]
    assert rec.data["status"] == "failed" and "HTTP 401" in s["detail"] and s["on_failure"] == "Use the fallback channel."


def test_unreachable_service(tmp_path):
    rec = _run(tmp_path, StatusClient(NotifyConfig(url="http://127.0.0.1:9", token="x", timeout_seconds=2)))
    assert rec.data["status"] == "failed" and "unreachable" in rec.data["steps"]["OPEN"]["detail"]


def test_not_configured_is_skipped_with_a_note(tmp_path):
    rec = _run(tmp_path, StatusClient(NotifyConfig()))
    assert rec.data["status"] == "completed"
    assert all(not n["sent"] and "fallback channel" in n["detail"] for n in rec.data["notifications"])


def test_resumed_run_keeps_updating_the_same_incident(tmp_path, server):
    url, seen = server
    client = StatusClient(NotifyConfig(url=url, token="s3cret"), incident_id="17")
    client.send(state="monitoring", message="still watching")
    assert seen[-1][0] == "/api/incidents/17/updates"


def test_maintenance_opens_a_maintenance_incident_and_resolve_needs_an_open_one(server):
    url, seen = server
    client = StatusClient(NotifyConfig(url=url, token="s3cret", service="web"))
    assert not client.send(state="resolved", message="done").ok  # nothing open yet: clear refusal
    assert client.send(state="maintenance", message="DIMM swap tonight", run_id="r", step="ME-04").ok
    assert seen[-1][2]["maintenance"] is True and seen[-1][2]["state"] == "identified"
