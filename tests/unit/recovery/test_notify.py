"""notify steps (Contract C) at the wire: the state key, the ETA from the step estimates and the
idempotency key of run and step go to /api/hosts/<host>/notify; no customer prose is sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from agent.recovery.executor import Executor, NullUI
from agent.recovery.notify import StatusClient
from agent.recovery.record import RunStore
from agent.recovery.settings import NotifyConfig
from tests.unit.recovery.support import ScriptedRunner, host, runbook

NOTIFY = """
id = "t"
title = "t"
[[steps]]
id = "OPEN"
title = "open"
kind = "notify"
estimate_seconds = 30
apply = { action = "notify", state = "identified", message = "old runbook prose, never sent" }
verify = { action = "notified" }
on_failure = "Use the fallback channel."
[[steps]]
id = "WORK"
title = "work"
kind = "auto"
estimate_seconds = 1800
apply = { action = "run", argv = ["true"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
[[steps]]
id = "CLOSE"
title = "close"
kind = "notify"
apply = { action = "notify", state = "resolved" }
verify = { action = "notified" }
on_failure = "Use the fallback channel."
"""


@pytest.fixture
def server():
    seen, keys = [], []

    class H(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, body))
            keys.append(self.headers.get("Idempotency-Key"))
            if self.headers.get("Authorization") != "Bearer s3cret":
                self.send_response(401)
                self.end_headers()
                return
            out = json.dumps({"incident": {"id": 17}, "detail": "ok"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass
    srv = HTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", seen, keys
    srv.shutdown()


def _run(tmp_path, client):
    runner = ScriptedRunner(lambda argv: (0, ""))
    ex = Executor(runbook(NOTIFY), host(tmp_path / "root", runner), ui=NullUI(), operator="alice",
                  store=RunStore(tmp_path / "state"), notifier=client)
    return ex.start()


def test_state_key_and_step_estimate_eta_on_the_wire(tmp_path, server):
    url, seen, keys = server
    tok = tmp_path / "token"
    tok.write_text("s3cret\n")
    rec = _run(tmp_path, StatusClient(NotifyConfig(url=url + "/", token_file=str(tok))))
    assert rec.data["status"] == "completed", {k: v.get("detail") for k, v in rec.data["steps"].items()}
    assert [s[0] for s in seen] == ["/api/hosts/testhost/notify"] * 2
    assert seen[0][1] == {"state": "identified", "eta_seconds": 1860, "run_id": rec.run_id, "step": "OPEN",
                          "author": "alice"}  # WORK 1800 s + CLOSE 60 s (default estimate) still to do
    assert seen[1][1] == {"state": "resolved", "run_id": rec.run_id, "step": "CLOSE", "author": "alice"}
    assert "prose" not in json.dumps(seen)
    assert keys == [f"{rec.run_id}:OPEN", f"{rec.run_id}:CLOSE"]
    assert [n["sent"] for n in rec.data["notifications"]] == [True, True]
    assert rec.data["notifications"][0]["message_id"] == "17"
    assert "s3cret" not in json.dumps(rec.data)
    assert "s3cret" not in (tmp_path / "state" / "runs" / "audit.jsonl").read_text()


def test_unreachable_service(tmp_path):
    rec = _run(tmp_path, StatusClient(NotifyConfig(url="http://127.0.0.1:9", token="x", timeout_seconds=2)))
    d = rec.data["steps"]["OPEN"]["detail"]
    assert rec.data["status"] == "failed" and "cannot reach" in d and "fallback" in d


def test_not_configured_is_skipped(tmp_path):
    rec = _run(tmp_path, StatusClient(NotifyConfig()))
    assert rec.data["status"] == "completed"
    assert rec.data["steps"]["OPEN"]["state"] == rec.data["steps"]["CLOSE"]["state"] == "skipped"
    assert all(not n["sent"] and "NOT TOLD" in n["detail"] for n in rec.data["notifications"])
