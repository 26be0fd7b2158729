"""Availability arithmetic against hand-computed cases (including a one-day outage: 96.7 % for its month, 99.73 % for its year)."""

from __future__ import annotations

import datetime as dt

import pytest

from hwstatus import availability as av
from tests.unit.statuspage.conftest import Clock, Harness, make_cfg

UTC = dt.timezone.utc


def ts(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.fixture
def hu():
    return Harness(make_cfg(timezone="UTC"), clock=Clock(ts("2027-03-01T00:00:00")))


def outage(hh, service, start, end, impact="major_outage", maintenance=False):
    inc = hh.service.open_incident([service], impact=impact, started_at=start, maintenance=maintenance)
    hh.service.resolve(inc["id"], ended_at=end)
    return inc["id"]


def web(rep):
    return next(s for s in rep["services"] if s["service"] == "web")


def test_eight_hours_in_a_30_day_month(hu):
    outage(hu, "web", "2026-11-10T02:00:00Z", "2026-11-10T10:00:00Z")
    rep = av.report(hu.service, month="2026-11")
    s = web(rep)
    assert s["downtime_seconds"] == 8 * 3600 and s["length_seconds"] == 720 * 3600
    assert round(s["percent"], 2) == 98.89  # 1 - 8/720
    wi = {w["target_percent"]: w for w in s["what_if"]}
    assert wi[98.0]["month_ok"] and not wi[99.0]["month_ok"]  # 99 % allows 7 h 12 min per 30 days
    assert wi[99.0]["allowed_per_30d_month_seconds"] == 7 * 3600 + 12 * 60
    assert wi[99.9]["allowed_per_30d_month_seconds"] == 43 * 60 + 12
    assert wi[99.9]["allowed_per_year_seconds"] == 8 * 3600 + 45 * 60 + 36
    assert wi[97.0]["allowed_per_year_seconds"] == 10 * 86400 + 22 * 3600 + 48 * 60
    assert wi[99.0]["year_ok"] and wi[99.9]["year_ok"]  # alone in a year, 8 h fits even 99.9 % (8 h 45 min 36 s)
    assert round(av.report(hu.service, month="2026-11", service_id="mail")["services"][0]["percent"], 2) == 100.0


def test_one_day_down(hu):
    """One ~24 h outage: 96.7 % for its 30-day month (breaks 97 %), 99.73 % for its year."""
    outage(hu, "web", "2026-11-10T08:00:00Z", "2026-11-11T08:00:00Z")
    m = web(av.report(hu.service, month="2026-11"))
    assert round(m["percent"], 2) == 96.67
    wi = {w["target_percent"]: w for w in m["what_if"]}
    assert not wi[97.0]["month_ok"]  # breaks a 97 % monthly SLA
    assert wi[97.0]["year_ok"] and wi[98.0]["year_ok"] and wi[99.0]["year_ok"] and not wi[99.9]["year_ok"]
    y = web(av.report(hu.service, year="2026"))
    assert y["length_seconds"] == 8760 * 3600
    assert round(y["percent"], 2) == 99.73
    nov = next(x for x in y["months"] if x["month"] == "2026-11")
    assert round(nov["percent"], 2) == 96.67 and len(y["months"]) == 12
    wy = {w["target_percent"]: w for w in y["what_if"]}
    assert not wy[97.0]["month_ok"] and wy[99.0]["year_ok"]  # the worst month breaks it, the year does not


def test_february_is_its_own_length(hu):
    outage(hu, "web", "2026-02-10T00:00:00Z", "2026-02-11T00:00:00Z")
    s = web(av.report(hu.service, month="2026-02"))
    assert s["length_seconds"] == 672 * 3600 and round(s["percent"], 1) == 96.4


def test_overlaps_are_not_counted_twice_and_partial_is_weighted(hu):
    outage(hu, "web", "2026-11-10T00:00:00Z", "2026-11-10T06:00:00Z")
    outage(hu, "web", "2026-11-10T04:00:00Z", "2026-11-10T08:00:00Z")           # overlaps 2 h
    outage(hu, "web", "2026-11-12T00:00:00Z", "2026-11-12T04:00:00Z", "partial_outage")
    outage(hu, "web", "2026-11-13T00:00:00Z", "2026-11-13T10:00:00Z", "degraded")
    s = web(av.report(hu.service, month="2026-11"))
    assert s["seconds_by_impact"]["major_outage"] == 8 * 3600
    assert s["seconds_by_impact"]["partial_outage"] == 4 * 3600
    assert s["seconds_by_impact"]["degraded"] == 10 * 3600
    assert s["downtime_seconds"] == 8 * 3600 + 0.5 * 4 * 3600  # degraded counts 0
    assert len(s["incidents"]) == 4


def test_maintenance_is_counted_and_listed_never_subtracted(hu):
    outage(hu, "web", "2026-11-03T01:00:00Z", "2026-11-03T03:00:00Z", maintenance=True)
    outage(hu, "web", "2026-11-20T01:00:00Z", "2026-11-20T02:00:00Z")
    s = web(av.report(hu.service, month="2026-11"))
    assert s["downtime_seconds"] == 3 * 3600 and s["planned_downtime_seconds"] == 2 * 3600
    assert round(s["percent"], 3) == round(100 * (1 - 3 / 720), 3)
    assert [i["maintenance"] for i in s["incidents"]] == [True, False]
    text = av.render_text(av.report(hu.service, month="2026-11", service_id="web"))
    assert "planned maintenance within it: 2 h" in text and "[maintenance]" in text


def test_incident_crossing_the_month_boundary_is_clipped(hu):
    outage(hu, "web", "2026-10-31T22:00:00Z", "2026-11-01T02:00:00Z")
    assert web(av.report(hu.service, month="2026-10"))["downtime_seconds"] == 2 * 3600
    assert web(av.report(hu.service, month="2026-11"))["downtime_seconds"] == 2 * 3600


def test_agent_heartbeats_give_host_down_time(hu):
    clock = hu.clock
    for t, boot in (("2026-11-05T09:58:00", "b1"), ("2026-11-05T10:00:00", "b1"),
                    ("2026-11-05T13:00:00", "b2"), ("2026-11-05T13:01:00", "b2")):
        clock.t = ts(t)
        hu.service.heartbeat("server-3", f"00000000-0000-0000-0000-0000000000{boot[-1]}0",
                             "2026-11-05T12:58:00Z" if boot == "b2" else None)
    clock.t = ts("2027-03-01T00:00:00")
    s = web(av.report(hu.service, month="2026-11"))
    assert s["downtime_seconds"] == 2 * 3600 + 58 * 60  # last beat 10:00 -> new boot 12:58
    assert s["incidents"][0]["source"] == "heartbeat"


def test_bad_periods_and_services(hu):
    with pytest.raises(ValueError, match="month: expected YYYY-MM"):
        av.report(hu.service, month="11/2026")
    with pytest.raises(ValueError, match="either a month or a year"):
        av.report(hu.service, month="2026-11", year="2026")
    with pytest.raises(ValueError, match="unknown service 'shop'"):
        av.report(hu.service, service_id="shop")


def test_api_and_text_report(hu):
    outage(hu, "web", "2026-11-10T02:00:00Z", "2026-11-10T10:00:00Z")
    r = hu.call("GET", "/api/availability?service=web&month=2026-11")
    assert r.status == 200 and round(r.json["services"][0]["percent"], 2) == 98.89
    assert hu.call("GET", "/api/availability?month=2026-13").status == 400
    text = av.render_text(r.json)
    assert "Web hosting [web]: 98.89 %  downtime 8 h of 30 d" in text
    assert "99.0 %          7 h 12 min   3 d 15 h 36 min   MISS    met" in text


def test_silence_within_one_boot_counts(hu):
    clock = hu.clock
    boot = "00000000-0000-0000-0000-000000000077"
    for t in ("2026-11-07T00:00:00", "2026-11-07T00:01:00", "2026-11-07T01:31:00", "2026-11-07T01:32:00"):
        clock.t = ts(t)
        hu.service.heartbeat("server-3", boot)
    clock.t = ts("2027-03-01T00:00:00")
    s = web(av.report(hu.service, month="2026-11"))
    assert s["downtime_seconds"] == 90 * 60 and s["incidents"][0]["title"] == "server-3 silent (agent heartbeats)"


def test_resolve_answers_with_the_post_incident_figures(hu):
    """A 24 h outage in a 30-day month of an otherwise clean history."""
    clock = hu.clock
    clock.t = ts("2026-11-11T08:30:00")
    iid = hu.call("POST", "/api/incidents", {"services": ["web"], "started_at": "2026-11-10T08:00:00Z"}).json["id"]
    r = hu.call("POST", f"/api/incidents/{iid}/resolve", {"ended_at": "2026-11-11T08:00:00Z"})
    assert r.status == 200
    fig = r.json["availability"][0]
    assert fig["service"] == "web" and fig["incident_downtime_seconds"] == 86400
    assert round(fig["month"]["percent"], 2) == 96.67
    assert round(fig["year"]["percent"], 2) == 99.73
    assert round(fig["trailing_24_months"]["percent"], 2) == 99.86  # 24 h of 17,520 h


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

IMPACTS = ("major_outage", "partial_outage", "degraded", "maintenance")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 80), st.sampled_from(IMPACTS), st.booleans()),
                max_size=8), st.floats(0, 1))
def test_tally_matches_a_minute_by_minute_count(spans, weight):
    """Whole-minute intervals over a 240-minute period: the sweep equals brute force per minute."""
    ivs = [av.Interval(60.0 * s, 60.0 * (s + d), imp, maint) for s, d, imp, maint in spans]
    got = av.tally(ivs, 0.0, 240 * 60.0, weight)
    down = planned = 0.0
    for minute in range(240):
        active = [i for i in ivs if i.start <= minute * 60 < i.end]
        if not active:
            continue
        worst = max(active, key=lambda i: (av.weight(i.impact, weight), av.IMPACT_ORDER[i.impact], not i.maintenance))
        down += 60 * av.weight(worst.impact, weight)
        planned += 60 * av.weight(worst.impact, weight) if worst.maintenance else 0
    assert got["downtime"] == pytest.approx(down)
    assert got["planned"] == pytest.approx(planned)
    assert 0 <= got["downtime"] <= 240 * 60
