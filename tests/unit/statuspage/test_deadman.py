"""The dead-man switch: a host whose heartbeats stop opens (or escalates) its incident by itself
within 60 s with the shipped settings, dated from its last heartbeat, without Prometheus. And the
sender's clock is never trusted for the past."""

from __future__ import annotations

from hwstatus import availability as av
from hwstatus import page
from hwstatus.config import StatuspageConfig
from tests.unit.statuspage.conftest import alert_payload


def beat(h, host="server-3", boot="b1", boot_time=None):
    r = h.call("POST", "/api/heartbeat", {"host": host, "boot_id": boot, "boot_time": boot_time})
    assert r.status == 200, r.text
    return r.json


def test_shipped_settings_detect_within_60_s():
    shipped = StatuspageConfig()
    assert shipped.deadman_seconds == 45.0
    unit = (__import__("pathlib").Path(__file__).resolve().parents[3] / "systemd" / "hwagent-heartbeat.service").read_text()
    assert "agent statuspage heartbeat --every 15\n" in unit and "Restart=always" in unit
    # worst case from death: a heartbeat just before it (every 15 s), silence beyond deadman_seconds, one 2 s loop turn
    assert shipped.deadman_seconds + 2 <= 60


def test_silence_opens_the_incident_dated_from_the_last_heartbeat(h, clock):
    beat(h)
    last = clock()
    clock.advance(45)
    assert h.service.check_heartbeats() == []  # 45 s: not yet (boundary)
    clock.advance(1)
    assert h.service.check_heartbeats() == ["server-3"]
    inc = h.service.incidents()[0]
    assert inc["impact"] == "major_outage" and inc["source"] == "alert"
    assert page._ts(inc["started_at"]) == last  # from the last sign of life, not from detection
    assert {s["id"] for s in inc["services"]} == {"web", "mail"}
    assert h.service.check_heartbeats() == []  # once per silence
    assert len(h.service.incidents()) == 1
    # back: the next heartbeat ends it (monitoring now, resolved after the hold)
    clock.advance(120)
    beat(h, boot="b2", boot_time=clock() - 30)
    inc = h.service.incidents()[0]
    assert inc["state"] == "monitoring"
    h.service.tick(clock.advance(700))
    assert h.service.incidents()[0]["state"] == "resolved"
    web = next(s for s in av.report(h.service, month="2025-11")["services"] if s["service"] == "web")
    assert web["downtime_seconds"] == 166.0  # last heartbeat .. next heartbeat, once (heartbeat gap overlaps)


def test_silence_escalates_the_open_risk_and_hostdown_then_joins(h, clock):
    beat(h)
    h.call("POST", "/hooks/alertmanager", alert_payload(alertname="HwagentFindingCritical", fingerprint="r",
                                                        extra_labels={"impact": "risk", "component": "cpu"}))
    clock.advance(50)
    h.service.check_heartbeats()
    inc = h.service.incident(1)
    assert inc["impact"] == "major_outage" and inc["title"]["en"] == "Outage: Web hosting and Mail"
    assert [u["state"] for u in inc["updates"]] == ["investigating", "investigating"]
    r = h.call("POST", "/hooks/alertmanager", alert_payload(fingerprint="hd", starts="2025-11-24T11:02:00Z",
                                                            extra_labels={"impact": "outage"}))
    assert r.json["joined"] == [1] and not r.json.get("escalated")
    assert len(h.service.incidents()) == 1


def test_unwatched_hosts_are_ignored(h, clock):
    beat(h, host="laptop")
    clock.advance(600)
    assert h.service.check_heartbeats() == []
    assert h.service.incidents() == []


def test_hostdown_is_dated_from_the_last_heartbeat(h, clock):
    beat(h)  # 12:00:00Z
    clock.advance(185)
    # HostDown (for: 2m) starts 65 s after the last heartbeat (evaluation after the first failed scrape)
    h.call("POST", "/hooks/alertmanager", alert_payload(starts="2025-11-24T12:01:05Z", extra_labels={"impact": "outage"}))
    inc = h.service.incident(1)
    assert inc["started_at"] == "2025-11-24T12:00:00Z"


def test_boot_time_in_the_future_is_clamped_and_said(h, clock):
    beat(h, boot="b1")
    clock.advance(60)
    r = beat(h, boot="b2", boot_time=clock() + 30 * 86400)  # a new board's clock a month ahead
    assert "ahead" in r["note"]
    for _ in range(40):  # ten minutes of regular heartbeats
        clock.advance(15)
        beat(h, boot="b2")
    web = next(s for s in av.report(h.service, month="2025-11")["services"] if s["service"] == "web")
    assert web["downtime_seconds"] == 0.0  # the old code: 30 days of phantom downtime, growing
