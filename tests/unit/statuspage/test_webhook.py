"""Alertmanager webhook receiver: auth, validation, mapping, grouping, debounce, idempotency."""

from __future__ import annotations

import json

from tests.unit.statuspage.conftest import FIX, TOKEN, Harness, alert_payload, make_cfg


def test_real_firing_body_opens_one_incident_for_web_and_mail(h):
    body = json.loads((FIX / "alertmanager-firing.json").read_text())
    r = h.call("POST", "/hooks/alertmanager", body)
    assert r.status == 200, r.text
    assert r.json["opened"] == [1]
    inc = h.service.incident(1)
    assert inc["state"] == "investigating" and inc["impact"] == "major_outage" and inc["published"]
    assert [s["id"] for s in inc["services"]] == ["web", "mail"]
    # started when the alert started (nanoseconds trimmed), not when the webhook arrived
    assert inc["started_at"] == "2025-11-24T11:58:30Z"
    # opened at once: created at the moment the webhook arrived (Alertmanager group_wait is the only delay)
    assert inc["created_at"] == "2025-11-24T12:00:00Z"
    assert "Web hosting and Mail: outage since 24.11.2025" not in inc["updates"][0]["body"]["en"]
    assert inc["updates"][0]["body"]["en"].startswith("Web hosting and Mail: outage since 2025-11-24 12:58 CET")
    assert inc["updates"][0]["body"]["de"].startswith("Web hosting und Mail: Störung seit 24.11.2025 12:58 CET")
    assert inc["title"] == {"en": "Outage: Web hosting and Mail", "de": "Ausfall: Web hosting und Mail"}


def test_replayed_webhook_creates_no_duplicate(h):
    body = alert_payload()
    first = h.call("POST", "/hooks/alertmanager", body)
    second = h.call("POST", "/hooks/alertmanager", body)
    assert first.status == second.status == 200
    assert second.json.get("replayed") is True
    # Alertmanager's repeat notification: same alert, new body (other group key order) -> unchanged
    again = h.call("POST", "/hooks/alertmanager", alert_payload(group="other"))
    assert again.json["unchanged"] == 1 and again.json["opened"] == []
    assert h.count("incidents") == 1 and h.count("updates") == 1 and h.count("alerts") == 1


def test_resolved_holds_then_resolves_with_summary(h, clock):
    h.call("POST", "/hooks/alertmanager", alert_payload())
    clock.advance(40 * 60)
    r = h.call("POST", "/hooks/alertmanager",
               alert_payload("resolved", ends="2025-11-24T12:38:00Z"))
    assert r.json["held"] == [1]
    inc = h.service.incident(1)
    assert inc["state"] == "monitoring" and inc["resolved_at"] is None
    assert inc["ended_at"] == "2025-11-24T12:38:00Z"
    assert h.service.tick(clock.t + 599) == []
    assert h.service.tick(clock.advance(600)) == [1]
    inc = h.service.incident(1)
    assert inc["state"] == "resolved" and inc["ended_at"] == "2025-11-24T12:38:00Z"
    assert inc["updates"][-1]["body"]["en"] == (
        "Resolved. Outage of Web hosting and Mail from 2025-11-24 12:58 CET to 2025-11-24 13:38 CET (39 min 30 s).")
    states = [u["state"] for u in inc["updates"]]
    assert states == ["investigating", "monitoring", "resolved"]
    # notices: investigating and resolved; monitoring is page-only by default
    assert [u["notified"] for u in inc["updates"]] == [True, False, True]


def test_flapping_alert_does_not_spam(h, clock):
    from hwstatus import notify

    notify.add_subscriber(h.store, h.cfg, "webhook", "http://127.0.0.1:9/x", now=clock.t)
    for i in range(5):
        starts = f"2025-11-24T12:{10 + 4 * i:02d}:00Z"
        h.call("POST", "/hooks/alertmanager", alert_payload(starts=starts))
        clock.advance(120)
        h.call("POST", "/hooks/alertmanager", alert_payload("resolved", starts=starts,
                                                             ends=f"2025-11-24T12:{12 + 4 * i:02d}:00Z"))
        clock.advance(120)
        h.service.tick()
    assert h.count("incidents") == 1
    assert h.store.one("SELECT COUNT(*) AS n FROM outbox")["n"] == 1  # one notice: investigating
    inc = h.service.incident(1)
    assert inc["state"] == "monitoring"
    assert [u["state"] for u in inc["updates"]] == ["investigating", "monitoring"]
    clock.advance(601)
    assert h.service.tick() == [1]
    assert h.store.one("SELECT COUNT(*) AS n FROM outbox")["n"] == 2  # + resolved


def test_refire_after_resolution_opens_a_new_incident(h, clock):
    h.call("POST", "/hooks/alertmanager", alert_payload())
    h.call("POST", "/hooks/alertmanager", alert_payload("resolved", ends="2025-11-24T12:01:00Z"))
    h.service.tick(clock.advance(700))
    h.call("POST", "/hooks/alertmanager", alert_payload(starts="2025-11-24T13:00:00Z"))
    assert [i["state"] for i in h.service.incidents()] == ["investigating", "resolved"]


def test_second_alert_joins_open_incident_and_raises_impact(h):
    disk = alert_payload(alertname="HwagentFindingCritical", fingerprint="f2",
                         extra_labels={"rule": "disk.smart_failed", "component": "disk", "device": "sda",
                                       "impact": "partial_outage"})
    r = h.call("POST", "/hooks/alertmanager", disk)
    assert r.json["opened"] == [1]
    assert h.service.incident(1)["impact"] == "partial_outage"
    r = h.call("POST", "/hooks/alertmanager", alert_payload(fingerprint="f3"))
    assert r.json["joined"] == [1] and r.json["escalated"] == [1]
    inc = h.service.incident(1)
    # the escalation is an update of the same incident (and a notice), and the title follows
    assert inc["impact"] == "major_outage" and len(inc["updates"]) == 2
    assert inc["title"]["en"] == "Outage: Web hosting and Mail"
    assert {s["impact"] for s in inc["services"]} == {"major_outage"}


def test_mapping_by_component_service_label_and_unknowns(h):
    # dns only cares about host-level alerts on ns1
    r = h.call("POST", "/hooks/alertmanager", alert_payload(alertname="HwagentFindingCritical", instance="ns1:10067",
                                                             extra_labels={"component": "disk"}, fingerprint="a"))
    assert r.json["opened"] == [] and r.json["unmapped"] == [{"alert": "HwagentFindingCritical", "host": "ns1"}]
    r = h.call("POST", "/hooks/alertmanager", alert_payload(instance="ns1.example.net:10067", fingerprint="b"))
    assert r.json["opened"] == [1]
    assert [s["id"] for s in h.service.incident(1)["services"]] == ["dns"]
    # an explicit service label wins; an unknown one is reported, nothing opened
    r = h.call("POST", "/hooks/alertmanager", alert_payload(instance="other", fingerprint="c",
                                                             extra_labels={"service": "shop"}))
    assert r.json["unmapped"] == [{"alert": "HwagentHostDown", "unknown_services": ["shop"]}]
    assert h.count("incidents") == 1
    # warnings open nothing (severity_impact has only critical)
    r = h.call("POST", "/hooks/alertmanager", alert_payload(alertname="HwagentFindingWarning", fingerprint="d",
                                                             extra_labels={"severity": "warning", "component": "fan"}))
    assert r.json["ignored"] == [{"alert": "HwagentFindingWarning", "severity": "warning"}]


def test_default_service_catches_unmapped(clock):
    hh = Harness(make_cfg(default_service="web"), clock=clock)
    r = hh.call("POST", "/hooks/alertmanager", alert_payload(instance="unknown-host:1"))
    assert r.json["opened"] == [1]
    assert [s["id"] for s in hh.service.incident(1)["services"]] == ["web"]


def test_draft_service_waits_for_publish(clock):
    cfg = make_cfg()
    hh = Harness(cfg.__class__(**{**cfg.__dict__, "services": {
        "web": cfg.services["web"].__class__(name="Web", hosts=("server-3",), draft=True)}}), clock=clock)
    hh.call("POST", "/hooks/alertmanager", alert_payload())
    inc = hh.service.incident(1)
    assert not inc["published"] and inc["updates"][0]["notified"] is False
    assert hh.call("GET", "/summary.json", token=None).json["incidents"] == []
    r = hh.call("POST", "/api/incidents/1/publish", {})
    assert r.status == 200 and r.json["published"] is True
    assert [i["id"] for i in hh.call("GET", "/summary.json", token=None).json["incidents"]] == [1]


def test_bad_or_missing_token_is_401_and_stores_nothing(h):
    body = alert_payload()
    for token in ("wrong", TOKEN[:-1], TOKEN + "x", ""):
        r = h.call("POST", "/hooks/alertmanager", body, token=token)
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = h.call("POST", "/hooks/alertmanager", body, token=None)
    assert r.status == 401 and "missing" in r.json["error"]
    r = h.call("POST", "/hooks/alertmanager", body, headers={"Authorization": f"Basic {TOKEN}"}, token=None)
    assert r.status == 401
    assert h.count("incidents") == h.count("alerts") == h.count("idempotency") == 0


def test_token_compare_is_constant_time(monkeypatch, h):
    import hmac

    seen = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    h.call("POST", "/hooks/alertmanager", alert_payload(), token="nope")
    assert seen == [(b"nope", TOKEN.encode())]


def test_malformed_bodies_are_400_naming_the_problem(h):
    cases = [
        (b"{\"alerts\": [", "invalid JSON at line 1 column 13"),
        (b"[]", "expected a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps({"version": "3", "alerts": []}).encode(), "version: unsupported"),
        (json.dumps({"version": "4"}).encode(), "alerts: missing or not a list"),
        (json.dumps({"version": "4", "alerts": [{"status": "burning", "labels": {}}]}).encode(), "alerts[0].status"),
        (json.dumps({"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}}]}).encode(), "alerts[0].labels"),
        (json.dumps({"version": "4", "alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}).encode(),
         "alerts[0].startsAt: not an RFC 3339 time"),
    ]
    for raw, expect in cases:
        r = h.call("POST", "/hooks/alertmanager", raw)
        assert r.status == 400, (raw, r.text)
        assert expect in r.json["error"], (expect, r.json["error"])
    assert h.count("incidents") == 0


def test_one_bad_alert_rejects_the_whole_batch(h):
    body = alert_payload()
    body["alerts"].append({**body["alerts"][0], "fingerprint": "zz", "startsAt": "never"})
    r = h.call("POST", "/hooks/alertmanager", body)
    assert r.status == 400 and "alerts[1].startsAt" in r.json["error"]
    assert h.count("incidents") == 0 and h.count("alerts") == 0


def test_huge_body_is_413_without_reading(clock):
    hh = Harness(make_cfg(max_body_bytes=1000), clock=clock)
    body = alert_payload(annotations={"description": "x" * 2000})
    r = hh.call("POST", "/hooks/alertmanager", body)
    assert r.status == 413 and "limit of 1000 bytes" in r.json["error"]
    assert hh.count("incidents") == 0


def test_wrong_method_and_unknown_path(h):
    assert h.call("GET", "/hooks/alertmanager").status == 405
    assert h.call("GET", "/nope", token=None).status == 404


def test_operator_resolution_stands_against_repeats_of_the_same_episode(h, clock):
    h.call("POST", "/hooks/alertmanager", alert_payload())
    h.call("POST", "/api/incidents/1/resolve", {"message": "Fixed; the probe lags."})
    clock.advance(4 * 3600)  # Alertmanager's repeat_interval: same alert, same startsAt
    r = h.call("POST", "/hooks/alertmanager", alert_payload(group="repeat"))
    assert r.json["unchanged"] == 1 and h.count("incidents") == 1
    r = h.call("POST", "/hooks/alertmanager", alert_payload(starts="2025-11-24T16:00:00Z", group="new"))
    assert r.json["opened"] == [2]  # a new episode is a new incident
