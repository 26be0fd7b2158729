"""Fuzz the status service's HTTP inputs through the WSGI app: Alertmanager webhook bodies
(mutations of a real payload) and the incident API bodies. Any answer may be 4xx; a 500 means an
uncaught exception in the service and fails the target."""

from __future__ import annotations

import json

import hypothesis.strategies as st
from hypothesis import given

from tests.unit.statuspage.conftest import Harness, alert_payload, make_cfg

leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                 st.text(max_size=16), st.sampled_from(["firing", "resolved", "", "0001-01-01T00:00:00Z",
                                                         "2025-11-24T11:58:30Z", "2025-13-45T99:99:99Z", "server-3:10067",
                                                         "in 2 hours", "critical", "web", "<script>", "9" * 30]))
anyjson = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=10), c, max_size=3)),
                       max_leaves=12)


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _mutate(data, doc, value):
    path = data.draw(st.sampled_from(list(_paths(doc))))
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    if data.draw(st.booleans()):
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return doc


def test_alertmanager_webhook_bodies(count):
    h = Harness(make_cfg())

    @given(st.data(), anyjson, st.sampled_from(["firing", "resolved"]), st.booleans())
    def inner(data, value, status, raw):
        count()
        doc = _mutate(data, alert_payload(status), value)
        body = json.dumps(doc).encode()
        if raw:
            body = body[: data.draw(st.integers(0, len(body)))] + data.draw(st.binary(max_size=8))
        r = h.call("POST", "/hooks/alertmanager", body)
        assert r.status < 500, (r.status, r.body[:300])
        assert r.headers.get("Content-Type", "").startswith("application/json")
    inner()


INCIDENT = {"title": "Web hosting degraded", "services": ["web"], "state": "investigating", "impact": "degraded",
            "message": "We are looking into it.", "eta": "2h-4h", "author": "ops"}


def test_incident_api_bodies(count):
    h = Harness(make_cfg())
    first = h.call("POST", "/api/incidents", INCIDENT)
    assert first.status in (200, 201), first.body
    iid = first.json.get("id") or first.json.get("incident", {}).get("id")

    @given(st.data(), anyjson, st.sampled_from(["open", "update", "resolve", "heartbeat", "subscriber", "patch"]))
    def inner(data, value, what):
        count()
        doc = _mutate(data, json.loads(json.dumps(INCIDENT)), value) if data.draw(st.booleans()) else value
        route = {"open": ("POST", "/api/incidents"), "update": ("POST", f"/api/incidents/{iid}/updates"),
                 "resolve": ("POST", f"/api/incidents/{iid}/resolve"), "heartbeat": ("POST", "/api/heartbeat"),
                 "subscriber": ("POST", "/api/subscribers"),
                 "patch": ("PATCH", f"/api/incidents/{iid}/updates/1")}[what]
        r = h.call(*route, json.dumps(doc))
        assert r.status < 500, (route, doc, r.status, r.body[:300])
        for path in ("/", "/summary.json", "/feed.atom", f"/api/incidents/{iid}"):
            assert h.call("GET", path).status < 500, path
    inner()


def test_query_strings_and_form_bodies(count):
    h = Harness(make_cfg())

    @given(st.text(max_size=60), st.binary(max_size=80), st.sampled_from(
        ["/subscribe", "/unsubscribe", "/subscribe/confirm", "/api/availability", "/api/incidents", "/api/outbox"]))
    def inner(query, body, path):
        count()
        for method in ("GET", "POST"):
            r = h.call(method, f"{path}?{query}", body, content_type="application/x-www-form-urlencoded")
            assert r.status < 500, (method, path, query, body, r.status, r.body[:300])
    inner()
