"""The incident path a dying server really takes: a predictive finding first (a risk, not an
outage), then the host goes down (the same incident escalates, with an update, a notice and a new
title), then it comes back. Plus the availability rules along that path."""

from __future__ import annotations

from hwstatus import availability as av
from hwstatus import page
from tests.unit.statuspage.conftest import T0, alert_payload

FINDING = {"rule": "cpu.temperature_critical", "component": "cpu", "device": "package0", "severity": "critical"}


def finding(status="firing", **kw):
    return alert_payload(status, alertname="HwagentFindingCritical", fingerprint="risk1",
                         extra_labels={**FINDING, "impact": "risk"}, starts="2025-11-24T11:12:00Z", **kw)


def host_down(status="firing", **kw):
    return alert_payload(status, alertname="HwagentHostDown", fingerprint="down1",
                         extra_labels={"impact": "outage", "component": "host"}, starts="2025-11-24T11:58:00Z", **kw)


def subscribe(h, address, lang):
    r = h.call("POST", "/api/subscribers", {"kind": "email", "address": address, "lang": lang})
    assert r.status == 201, r.text


def queued(h) -> list[tuple[str, int]]:
    return [(r["target"], r["update_id"]) for r in h.store.query("SELECT target, update_id FROM outbox WHERE kind = 'email' "
                                                                  "ORDER BY id")]


def test_a_finding_is_a_risk_notice_not_an_outage(h):
    subscribe(h, "kunde@example.de", "de")
    r = h.call("POST", "/hooks/alertmanager", finding())
    assert r.json["opened"] == [1]
    inc = h.service.incident(1)
    assert inc["impact"] == "risk" and inc["title"]["en"] == "Hardware warning: Web hosting and Mail (running)"
    assert "outage" not in inc["updates"][0]["body"]["en"].lower()
    assert "normal" in inc["updates"][0]["body"]["en"] and "laufen normal" in inc["updates"][0]["body"]["de"]
    assert queued(h) == []  # nobody is mailed "outage" for a server that works
    summ = page.summary(h.service)
    assert summ["status"]["worst"] == "risk" and summ["status"]["indicator"] == "none"
    html = page.render_html(h.service, "en")
    assert "All services are running; a hardware warning is being checked" in html
    assert "Some services are affected" not in html


def test_without_an_impact_label_a_critical_finding_is_still_only_a_risk(h):
    payload = alert_payload(alertname="HwagentFindingCritical", fingerprint="x", extra_labels=FINDING)
    h.call("POST", "/hooks/alertmanager", payload)
    assert h.service.incident(1)["impact"] == "risk"


def test_symptom_then_death_is_one_incident_that_escalates(h, clock):
    subscribe(h, "kunde@example.de", "de")
    subscribe(h, "customer@example.com", "en")
    h.call("POST", "/hooks/alertmanager", finding())
    clock.advance(60)
    # the host dies: its finding series vanish, so the finding alert resolves first ...
    r = h.call("POST", "/hooks/alertmanager", finding("resolved", ends="2025-11-24T11:59:00Z"))
    inc = h.service.incident(1)
    assert inc["state"] == "investigating" and [u["state"] for u in inc["updates"]] == ["investigating"]
    html = page.render_html(h.service, "en")
    assert "working again" not in html  # never "working again" for a server that just died
    # ... then HostDown fires: the same incident escalates
    clock.advance(45)
    r = h.call("POST", "/hooks/alertmanager", host_down())
    assert r.json["opened"] == [] and r.json["joined"] == [1] and r.json["escalated"] == [1]
    inc = h.service.incident(1)
    assert inc["impact"] == "major_outage"
    assert inc["title"] == {"en": "Outage: Web hosting and Mail", "de": "Ausfall: Web hosting und Mail"}
    assert [u["state"] for u in inc["updates"]] == ["investigating", "investigating"]
    assert inc["updates"][1]["body"]["en"].startswith("Web hosting and Mail: outage since 2025-11-24 12:58 CET")
    assert inc["updates"][1]["body"]["de"].startswith("Web hosting und Mail: Störung seit 24.11.2025 12:58 CET")
    esc = inc["updates"][1]["id"]
    assert sorted(queued(h)) == [("customer@example.com", esc), ("kunde@example.de", esc)]  # one notice each
    assert "Some services are affected" in page.render_html(h.service, "en")
    # back: monitoring, then resolved after the hold, mailed (customers were told of the outage)
    clock.advance(600)
    h.call("POST", "/hooks/alertmanager", host_down("resolved", ends="2025-11-24T12:08:00Z"))
    h.service.tick(clock.advance(700))
    inc = h.service.incident(1)
    assert inc["state"] == "resolved"
    res = inc["updates"][-1]
    assert res["body"]["en"].startswith("Resolved. Outage of Web hosting and Mail from 2025-11-24 12:58 CET to "
                                        "2025-11-24 13:08 CET (10 min)")
    assert sum(1 for _, uid in queued(h) if uid == res["id"]) == 2
    assert len(queued(h)) == 4  # two per subscriber: the outage and its end; none for the risk
    web = next(s for s in av.report(h.service, month="2025-11")["services"] if s["service"] == "web")
    assert web["downtime_seconds"] == 600.0  # the risk hour before counts nothing


def test_a_risk_that_clears_resolves_quietly(h, clock):
    subscribe(h, "kunde@example.de", "de")
    h.call("POST", "/hooks/alertmanager", finding())
    clock.advance(300)
    h.call("POST", "/hooks/alertmanager", finding("resolved", ends="2025-11-24T11:17:00Z"))
    assert h.service.incident(1)["state"] == "investigating"  # no "working again"; it never stopped
    h.service.tick(clock.advance(700))
    inc = h.service.incident(1)
    assert inc["state"] == "resolved" and inc["updates"][-1]["body"]["en"].startswith(
        "Resolved. The hardware warning for Web hosting and Mail is cleared; there was no outage.")
    assert queued(h) == []


def test_outage_ends_while_the_risk_still_fires(h, clock):
    h.call("POST", "/hooks/alertmanager", finding())
    h.call("POST", "/hooks/alertmanager", host_down())
    clock.advance(600)
    h.call("POST", "/hooks/alertmanager", host_down("resolved", ends="2025-11-24T12:05:00Z"))
    inc = h.service.incident(1)
    assert inc["impact"] == "risk" and inc["state"] == "monitoring"
    assert "working again" in inc["updates"][-1]["body"]["en"]
    assert inc["title"]["en"] == "Outage: Web hosting and Mail"  # the title keeps the worst it was
    assert page.summary(h.service)["status"]["worst"] == "risk"


def test_impact_changes_are_intervals_not_a_rewrite(h, clock):
    """556 s down, then the operator marks it degraded and resolves: 556 s stay downtime (was 44 s)."""
    inc = h.service.open_incident(["web"], impact="major_outage", started_at=T0 + 12 * 3600)
    clock.advance(556)
    h.service.add_update(inc["id"], impact="degraded", message="Back, slower for a while.")
    clock.advance(44)
    h.service.resolve(inc["id"])
    web = next(s for s in av.report(h.service, month="2025-11")["services"] if s["service"] == "web")
    assert web["downtime_seconds"] == 556.0
    assert web["seconds_by_impact"]["major_outage"] == 556.0 and web["seconds_by_impact"]["degraded"] == 44.0


def test_drafts_count_nowhere(h, clock):
    inc = h.service.open_incident(["web"], draft=True, started_at=T0 + 12 * 3600)
    clock.advance(3600)
    h.service.resolve(inc["id"])
    web = next(s for s in av.report(h.service, month="2025-11")["services"] if s["service"] == "web")
    assert web["downtime_seconds"] == 0.0
    clock.advance(86400)
    assert page.summary(h.service)["services"][0]["downtime_90d_seconds"] == 0.0


def test_uptime_is_over_the_90_days_shown(h, clock):
    # one 8 h outage 10 days ago: 90 days shown -> 1 - 8/2160 = 99.63 % (the old figure, over the
    # time since the first incident, was 96.67 %)
    start = clock() - 10 * 86400
    inc = h.service.open_incident(["web"], started_at=start)
    h.service.resolve(inc["id"], ended_at=start + 8 * 3600)
    web = page.summary(h.service)["services"][0]
    assert web["downtime_90d_seconds"] == 8 * 3600
    assert web["window_start"] == web["days"][0]["date"] + "T00:00:00Z" or web["window_start"].startswith("2025-08-2")
    length = clock() - page._ts(web["window_start"])
    assert abs(web["uptime_90d_percent"] - round(100 * (1 - 8 * 3600 / length), 3)) < 0.001
    assert 99.6 < web["uptime_90d_percent"] < 99.7


def test_every_shipped_alert_carries_instance_and_an_impact_label():
    """Contract A: `impact` is `outage` or `risk` on every shipped alert; the status service relies on it."""
    from pathlib import Path

    import yaml

    rules = yaml.safe_load((Path(__file__).resolve().parents[3] / "agent" / "data" / "alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert alerts
    for r in alerts:
        assert r["labels"].get("impact") in ("outage", "risk"), r["alert"]
        # label-preserving outer functions keep `instance` (changes/resets over a per-host series)
        assert "instance" in r["expr"] or r["expr"].startswith(("up{", "hwagent_", "time()", "changes(", "resets(")), r["alert"]
    assert {r["alert"]: r["labels"]["impact"] for r in alerts}["HwagentHostDown"] == "outage"


def test_warnings_and_agent_health_stay_with_the_operator(h):
    """Every shipped alert carries `impact`, but only critical risks are a public notice."""
    for name, sev, comp in (("HwagentFindingWarning", "warning", "board"), ("HwagentCollectorFailing", "warning", "agent")):
        r = h.call("POST", "/hooks/alertmanager", alert_payload(alertname=name, fingerprint=name, group=name,
                                                                extra_labels={"impact": "risk", "severity": sev,
                                                                              "component": comp}))
        assert r.json["opened"] == [] and r.json["ignored"][0]["alert"] == name
    assert h.service.incidents() == []
