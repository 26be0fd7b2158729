"""Defect 8: one token for everything let a compromised or decommissioned server resolve real
outages, add webhook subscribers and read subscriber addresses. Now: one credential per role, host
credentials bound to their host, revocable, stored hashed. Plus Contract B's per-host documents."""

from __future__ import annotations

import json

import pytest

from hwstatus import auth
from tests.unit.statuspage.conftest import alert_payload


@pytest.fixture
def creds(h):
    now = h.clock()
    return {"am": auth.create(h.store, "alertmanager", "alertmanager", now=now),
            "s3": auth.create(h.store, "server-3", "host", "server-3", now=now),
            "ns1": auth.create(h.store, "ns1", "host", "ns1", now=now),
            "op": auth.create(h.store, "alice", "operator", now=now)}


def test_a_host_credential_can_only_speak_for_its_host(h, creds):
    s3 = creds["s3"]
    assert h.call("POST", "/api/heartbeat", {"host": "server-3", "boot_id": "b1"}, token=s3).status == 200
    assert h.call("POST", "/api/heartbeat", {"host": "ns1", "boot_id": "b1"}, token=s3).status == 403
    assert h.call("POST", "/api/hosts/server-3/notify", {"state": "identified"}, token=s3).status == 200
    r = h.call("POST", "/api/hosts/ns1/notify", {"state": "resolved"}, token=s3)
    assert r.status == 403 and "server-3" in r.json["error"]
    # what a stolen server token could do before: resolve any outage, add subscribers, read them
    assert h.call("POST", "/api/incidents/1/resolve", {}, token=s3).status == 403
    assert h.call("POST", "/api/subscribers", {"kind": "webhook", "address": "https://evil.example/x"}, token=s3).status == 403
    assert h.call("GET", "/api/outbox", token=s3).status == 403
    assert h.call("GET", "/api/incidents", token=s3).status == 403
    assert h.call("POST", "/hooks/alertmanager", alert_payload(), token=s3).status == 403


def test_the_alertmanager_credential_only_posts_webhooks(h, creds):
    assert h.call("POST", "/hooks/alertmanager", alert_payload(), token=creds["am"]).status == 200
    assert h.call("POST", "/api/incidents/1/resolve", {}, token=creds["am"]).status == 403
    assert h.call("POST", "/api/heartbeat", {"host": "server-3", "boot_id": "b1"}, token=creds["am"]).status == 403


def test_operator_credential_and_revocation(h, creds):
    assert h.call("GET", "/api/incidents", token=creds["op"]).status == 200
    assert auth.revoke(h.store, "server-3", now=h.clock())
    assert h.call("POST", "/api/heartbeat", {"host": "server-3", "boot_id": "b1"}, token=creds["s3"]).status == 401
    assert h.call("GET", "/api/incidents", token="hws_guess").status == 401


def test_tokens_are_stored_hashed(h, creds):
    dump = "\n".join(h.store._conn.iterdump())
    for token in creds.values():
        assert token not in dump
    assert auth.digest(creds["s3"]) in dump
    with pytest.raises(ValueError, match="exists"):
        auth.create(h.store, "server-3", "host", "server-3", now=h.clock())
    with pytest.raises(ValueError, match="names its host"):
        auth.create(h.store, "x", "host", now=h.clock())


def test_host_documents_kept_off_host(h, creds):
    """Contract B: the host pushes its baseline and checklist; the operator reads them when it is dead."""
    baseline = json.dumps({"format": 1, "host": "server-3", "nics": [{"mac": "52:54:00:12:34:56"}]})
    r = h.call("PUT", "/api/hosts/server-3/baseline", baseline, token=creds["s3"])
    assert r.status == 200 and r.json["bytes"] == len(baseline)
    r = h.call("PUT", "/api/hosts/server-3/checklist", "# Mainboard swap\n- [ ] MB-01", token=creds["s3"],
               content_type="text/markdown")
    assert r.status == 200
    assert h.call("PUT", "/api/hosts/ns1/baseline", baseline, token=creds["s3"]).status == 403
    assert h.call("PUT", "/api/hosts/server-3/baseline", "not json", token=creds["s3"]).status == 400
    got = h.call("GET", "/api/hosts/server-3/baseline", token=creds["op"])
    assert got.status == 200 and got.body == baseline.encode() and got.headers["Content-Type"] == "application/json"
    assert got.headers["ETag"] and got.headers["Last-Modified"].endswith("GMT")
    assert h.call("GET", "/api/hosts/server-3/baseline", token=creds["op"],
                  headers={"If-None-Match": got.headers["ETag"]}).status == 304
    assert h.call("GET", "/api/hosts/server-3/checklist", token=creds["s3"]).text.startswith("# Mainboard swap")
    assert h.call("GET", "/api/hosts/server-3/baseline", token=creds["ns1"]).status == 403
    assert h.call("GET", "/api/hosts/ns1/baseline", token=creds["op"]).status == 404
