"""Incident API: lifecycle, timestamps, ETA, edits, drafts, idempotency keys, errors."""

from __future__ import annotations

import datetime as dt

import pytest

from hwstatus.incidents import InputError, parse_eta, parse_time


def test_lifecycle_with_timestamps(h, clock):
    r = h.call("POST", "/api/incidents", {"services": ["web", "mail"], "author": "ops"})
    assert r.status == 201, r.text
    inc = r.json
    iid = inc["id"]
    assert inc["state"] == "investigating" and inc["started_at"] == inc["created_at"] == "2025-11-24T12:00:00Z"
    clock.advance(1800)
    r = h.call("POST", f"/api/incidents/{iid}/updates", {"state": "identified", "cause": "failed mainboard",
                                                         "eta": "4h-6h"})
    assert r.status == 201, r.text
    inc = r.json
    assert inc["identified_at"] == "2025-11-24T12:30:00Z"
    assert inc["eta_from"] == "2025-11-24T16:30:00Z" and inc["eta_to"] == "2025-11-24T18:30:00Z"
    body = inc["updates"][-1]["body"]
    assert body["en"].startswith("Cause: failed mainboard. Expected back between 2025-11-24 17:30 CET and 19:30 CET.")
    assert body["de"].startswith("Ursache: failed mainboard. Voraussichtlich wieder verfügbar zwischen 24.11.2025 17:30 CET und 19:30 CET.")
    clock.advance(3 * 3600)
    inc = h.call("POST", f"/api/incidents/{iid}/updates", {"state": "monitoring"}).json
    assert inc["monitoring_at"] == "2025-11-24T15:30:00Z"
    clock.advance(600)
    r = h.call("POST", f"/api/incidents/{iid}/resolve", {"ended_at": "2025-11-24T15:25:00Z",
                                                         "data_window": "none, no data lost",
                                                         "actions": "a spare board is kept on site"})
    inc = r.json
    assert r.status == 200 and inc["state"] == "resolved"
    assert inc["resolved_at"] == "2025-11-24T15:40:00Z" and inc["ended_at"] == "2025-11-24T15:25:00Z"
    assert inc["updates"][-1]["body"]["en"] == (
        "Resolved. Outage of Web hosting and Mail from 2025-11-24 13:00 CET to 2025-11-24 16:25 CET (3 h 25 min). "
        "Data: none, no data lost. What we change: a spare board is kept on site.")
    assert inc["updates"][-1]["body"]["de"].startswith(
        "Behoben. Ausfall von Web hosting und Mail von 24.11.2025 13:00 CET bis 24.11.2025 16:25 CET (3 Std 25 Min).")
    assert [u["state"] for u in inc["updates"]] == ["investigating", "identified", "monitoring", "resolved"]
    # resolved is final
    assert h.call("POST", f"/api/incidents/{iid}/updates", {"message": "x"}).status == 409
    assert h.call("POST", f"/api/incidents/{iid}/resolve", {}).status == 409
    listed = h.call("GET", "/api/incidents").json["incidents"]
    assert listed == []
    assert [i["id"] for i in h.call("GET", "/api/incidents?all=1").json["incidents"]] == [iid]


def test_operator_text_in_one_or_both_languages(h):
    inc = h.call("POST", "/api/incidents", {"services": ["web"], "message": "Server 3 is down."}).json
    assert inc["updates"][0]["body"] == {"en": "Server 3 is down.", "de": "Server 3 is down."}
    inc = h.call("POST", f"/api/incidents/{inc['id']}/updates",
                 {"message": {"en": "Board ordered.", "de": "Platine bestellt."}}).json
    assert inc["updates"][-1]["body"] == {"en": "Board ordered.", "de": "Platine bestellt."}
    r = h.call("POST", f"/api/incidents/{inc['id']}/updates", {"message": {"fr": "non"}})
    assert r.status == 400 and "message.fr" in r.json["error"]


def test_edit_after_it_went_out(h, clock):
    inc = h.call("POST", "/api/incidents", {"services": ["web"], "message": "Typo in teh text"}).json
    uid = inc["updates"][0]["id"]
    clock.advance(60)
    r = h.call("PATCH", f"/api/incidents/{inc['id']}/updates/{uid}", {"message": {"en": "Typo fixed"}})
    assert r.status == 200, r.text
    upd = r.json["updates"][0]
    assert upd["body"] == {"en": "Typo fixed", "de": "Typo in teh text"} and upd["edited_at"] == "2025-11-24T12:01:00Z"
    assert "edited" in h.call("GET", "/en/", token=None).text
    assert h.call("PATCH", f"/api/incidents/{inc['id']}/updates/999", {"message": "x"}).status == 404


def test_idempotency_key_replays_and_rejects_reuse(h):
    hdr = {"Idempotency-Key": "phone-retry-1"}
    a = h.call("POST", "/api/incidents", {"services": ["web"]}, headers=hdr)
    b = h.call("POST", "/api/incidents", {"services": ["web"]}, headers=hdr)
    assert a.status == b.status == 201 and a.json["id"] == b.json["id"]
    assert b.headers.get("Idempotent-Replayed") == "true"
    assert h.count("incidents") == 1 and h.count("updates") == 1
    c = h.call("POST", "/api/incidents", {"services": ["mail"]}, headers=hdr)
    assert c.status == 422 and "different request" in c.json["error"]
    u1 = h.call("POST", "/api/incidents/1/updates", {"message": "step 3 done"}, headers={"Idempotency-Key": "u"})
    u2 = h.call("POST", "/api/incidents/1/updates", {"message": "step 3 done"}, headers={"Idempotency-Key": "u"})
    assert u1.json == u2.json and h.count("updates") == 2
    # a failed request stores no key: the retry after fixing it goes through
    bad = h.call("POST", "/api/incidents", {"services": ["shop"]}, headers={"Idempotency-Key": "k2"})
    assert bad.status == 400 and h.count("idempotency") == 2


def test_errors_name_the_field(h):
    r = h.call("POST", "/api/incidents", {"services": ["web", "shop"]})
    assert r.status == 400 and "unknown service 'shop'" in r.json["error"] and "web, mail, dns" in r.json["error"]
    r = h.call("POST", "/api/incidents", {"services": ["web"], "state": "resolved"})
    assert r.status == 400 and r.json["error"].startswith("state:")
    r = h.call("POST", "/api/incidents", {"services": ["web"], "impact": "total"})
    assert r.status == 400 and r.json["error"].startswith("impact:")
    r = h.call("POST", "/api/incidents", {"services": ["web"], "colour": "red"})
    assert r.status == 400 and "unknown field colour" in r.json["error"]
    r = h.call("POST", "/api/incidents", {"services": ["web"], "eta": "soonish"})
    assert r.status == 400 and r.json["error"].startswith("eta: not understood")
    assert h.call("POST", "/api/incidents", {}).status == 400
    assert h.call("GET", "/api/incidents/42").status == 404
    assert h.count("incidents") == 0


def test_api_draft_and_maintenance(h):
    inc = h.call("POST", "/api/incidents", {"services": ["web"], "draft": True}).json
    assert inc["published"] is False and h.count("outbox") == 0
    m = h.call("POST", "/api/incidents", {"services": ["mail"], "maintenance": True, "message": "Disk swap"}).json
    assert m["impact"] == "maintenance" and m["maintenance"] is True
    assert m["title"]["en"] == "Maintenance: Mail" and m["title"]["de"] == "Wartung: Mail"


def test_heartbeat_validation(h):
    assert h.call("POST", "/api/heartbeat", {"host": "server-3", "boot_id": "0f1e2d3c-aaaa-bbbb-cccc-000000000001"}).status == 200
    r = h.call("POST", "/api/heartbeat", {"host": "server 3; rm", "boot_id": "x"})
    assert r.status == 400 and r.json["error"].startswith("host:")


def test_parse_time_and_eta():
    assert parse_time("2025-11-24T11:58:30.123456789Z", "t") == pytest.approx(1763985510.123456)
    assert parse_time("0001-01-01T00:00:00Z", "t") is None
    with pytest.raises(InputError, match="t: not an RFC 3339 time"):
        parse_time("later", "t")
    tz = dt.timezone.utc
    now = 1763985600.0  # 12:00Z
    assert parse_eta("90m", now, tz) == (now + 5400, now + 5400)
    assert parse_eta("2h-4h", now, tz) == (now + 7200, now + 14400)
    assert parse_eta("14:30", now, tz) == (now + 9000, now + 9000)
    assert parse_eta("11:00", now, tz)[0] == now + 23 * 3600  # already past today -> tomorrow
    assert parse_eta(["2025-11-24T15:00:00Z", "2025-11-24T13:00:00Z"], now, tz) == (now + 3600, now + 3 * 3600)


def test_update_with_state_resolved_resolves(h):
    iid = h.call("POST", "/api/incidents", {"services": ["web"], "source": "agent recover run-1"}).json["id"]
    r = h.call("POST", f"/api/incidents/{iid}/updates", {"state": "resolved", "eta": "2h"})
    assert r.status == 400 and "use /resolve for eta" in r.json["error"]
    r = h.call("POST", f"/api/incidents/{iid}/updates", {"state": "resolved", "message": "Back."})
    assert r.status == 201 and r.json["state"] == "resolved" and r.json["updates"][-1]["body"]["en"] == "Back."
    assert r.json["source"] == "agent recover run-1"
    assert h.call("POST", "/api/incidents", {"services": ["web"], "source": 5}).status == 400
