"""`agent recover` notify steps against this API over HTTP (Contract C): one host outage is one
incident. The runbook attaches to the alert's incident, posts progress with its own step estimates
as the ETA, and resolves it; texts come from the service's templates in each subscriber's
language; a silence that keeps the alert "firing" does not keep the incident red."""

from __future__ import annotations

import pytest

from agent.recovery.executor import Executor, NullUI
from agent.recovery.notify import StatusClient
from agent.recovery.record import RunStore
from agent.recovery.settings import NotifyConfig
from hwstatus import page
from tests.unit.recovery.support import host, runbook
from tests.unit.statuspage.conftest import TOKEN, Harness, alert_payload, make_cfg
from tests.unit.statuspage.served import Served

RUNBOOK = """
id = "mb"
title = "mainboard swap (short)"
[[steps]]
id = "MB-01"
title = "Tell customers"
kind = "notify"
estimate_seconds = 60
apply = { action = "notify", state = "identified", eta = "steps" }
verify = { action = "notified" }
on_failure = "Use the fallback channel."
[[steps]]
id = "MB-02"
title = "swap the board"
kind = "auto"
estimate_seconds = 7200
apply = { action = "run", argv = ["true"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "look"
[[steps]]
id = "MB-03"
title = "Tell customers: resolved"
kind = "notify"
estimate_seconds = 60
apply = { action = "notify", state = "resolved" }
verify = { action = "notified" }
on_failure = "Use the fallback channel."
"""


@pytest.fixture
def hs():
    cfg = make_cfg(services={"web": {"name": "Web hosting", "hosts": ["testhost"]}})
    hh = Harness(cfg)
    for addr, lang in (("kunde@example.de", "de"), ("customer@example.com", "en")):
        assert hh.call("POST", "/api/subscribers", {"kind": "email", "address": addr, "lang": lang}).status == 201
    srv = Served(hh.app)
    yield hh, srv
    srv.stop()


def _run(tmp_path, notifier):
    from tests.unit.recovery.support import ScriptedRunner  # noqa: PLC0415

    runner = ScriptedRunner(lambda argv: (0, ""))
    ex = Executor(runbook(RUNBOOK), host(tmp_path / "root", runner), ui=NullUI(), operator="alice",
                  store=RunStore(tmp_path / "state"), notifier=notifier)
    return ex, ex.start()


def per_subscriber(hh) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in hh.store.query("SELECT o.target, u.state FROM outbox o JOIN updates u ON u.id = o.update_id "
                            "WHERE o.kind = 'email' ORDER BY o.id"):
        out.setdefault(r["target"], []).append(r["state"])
    return out


def test_runbook_joins_the_alerts_incident_and_resolves_it(hs, tmp_path):
    hh, srv = hs
    down = alert_payload(instance="testhost:10067", fingerprint="down", starts="2025-11-24T11:58:00Z")
    assert hh.call("POST", "/hooks/alertmanager", down).json["opened"] == [1]
    now = hh.clock()
    _, rec = _run(tmp_path, StatusClient(NotifyConfig(url=srv.url, token=TOKEN)))
    assert rec.data["status"] == "completed", rec.data
    incs = hh.service.incidents()
    assert [i["id"] for i in incs] == [1]  # one host outage = one incident
    inc = incs[0]
    assert [u["state"] for u in inc["updates"]] == ["investigating", "identified", "resolved"]
    assert inc["state"] == "resolved"
    ident = inc["updates"][1]["body"]
    # the service's own text in each language; ETA = the runbook's remaining estimates (7200 s + 60 s), +50 %
    assert ident["de"].startswith("Wir haben die Ursache gefunden.") or "Ursache" in ident["de"]
    assert "Expected back between 2025-11-24 15:01 CET and 16:01 CET" in ident["en"]
    assert "Voraussichtlich" in ident["de"] or "voraussichtlich" in ident["de"]
    assert hh.service.incident(1)["eta_from"] == "2025-11-24T14:01:00Z" and now == hh.clock()
    # each subscriber: one mail per state, in their language (rendered per language at send time)
    assert per_subscriber(hh) == {"kunde@example.de": ["investigating", "identified", "resolved"],
                                  "customer@example.com": ["investigating", "identified", "resolved"]}
    # the alert is silenced during the repair, so Alertmanager keeps reporting the old episode as firing:
    assert hh.call("POST", "/hooks/alertmanager", {**down, "groupKey": "again"}).json["unchanged"] == 1
    assert hh.service.incident(1)["state"] == "resolved"
    assert page.summary(hh.service)["status"]["worst"] == "operational"  # green at the runbook's resolve
    notes = rec.data["notifications"]
    assert [n["sent"] for n in notes] == [True, True] and notes[0]["message_id"] == "1"


def test_runbook_opens_the_incident_when_none_is_open(hs, tmp_path):
    hh, srv = hs
    _, rec = _run(tmp_path, StatusClient(NotifyConfig(url=srv.url, token=TOKEN)))
    assert rec.data["status"] == "completed"
    incs = hh.service.incidents()
    assert len(incs) == 1 and incs[0]["source"].startswith("runbook ")
    assert [u["state"] for u in incs[0]["updates"]] == ["identified", "resolved"]
    assert incs[0]["title"] == {"en": "Outage: Web hosting", "de": "Ausfall: Web hosting"}


def test_a_resumed_step_is_not_posted_twice(hs):
    hh, srv = hs
    client = StatusClient(NotifyConfig(url=srv.url, token=TOKEN))
    for _ in range(2):
        assert client.send(state="identified", host="testhost", eta_seconds=3600, run_id="r1", step="MB-01").ok
    assert len(hh.service.incident(1)["updates"]) == 1


def test_wrong_token_fails_the_step_with_fallback_guidance(hs, tmp_path):
    hh, srv = hs
    _, rec = _run(tmp_path, StatusClient(NotifyConfig(url=srv.url, token="nope")))
    s = rec.data["steps"]["MB-01"]
    assert rec.data["status"] == "failed" and "HTTP 401" in s["detail"] and "agent incident" in s["detail"]
    assert hh.service.incidents() == []


def test_no_notify_target_skips_loudly(tmp_path):
    """Issue 13 item 9: without a status service the notify steps end `skipped`, and the operator is
    told in capitals that customers were NOT told, with `agent incident open` as the way out."""
    ex, rec = _run(tmp_path, StatusClient(NotifyConfig()))
    assert rec.data["status"] == "completed"
    for sid in ("MB-01", "MB-03"):
        st = rec.data["steps"][sid]
        assert st["state"] == "skipped" and "CUSTOMERS WERE NOT TOLD" in st["reason"]
    banner = "\n".join(ex.ui.lines)
    assert "CUSTOMERS WERE NOT TOLD" in banner and "agent incident open" in banner
    assert all(not n["sent"] for n in rec.data["notifications"])
