"""Status page outputs: HTML (DE/EN, autoescaped), JSON summary, Atom feed, 90-day bars, files."""

from __future__ import annotations

import datetime as dt
import json
import os
import xml.etree.ElementTree as ET

from hwstatus import page
from tests.unit.statuspage.conftest import Harness, alert_payload, make_cfg

ATOM = "{http://www.w3.org/2005/Atom}"
XSS = "<script>alert('x')</script>"


def test_xss_in_alert_and_operator_text_is_escaped(h):
    h.call("POST", "/hooks/alertmanager", alert_payload(annotations={"customer_summary": XSS}))
    h.call("POST", "/api/incidents/1/updates", {"message": f"cause: {XSS} <img src=x onerror=alert(1)>",
                                                "cause": XSS})
    for path in ("/", "/de/", "/en/"):
        html = h.call("GET", path, token=None).text
        assert "<script>" not in html and "<img" not in html, path
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    feed = h.call("GET", "/feed.atom", token=None).text
    assert "<script>" not in feed
    root = ET.fromstring(feed.encode())
    texts = [e.find(f"{ATOM}content").text for e in root.findall(f"{ATOM}entry")]
    assert any(XSS in t for t in texts)  # the parsed text is the original, the markup was escaped
    summary = h.call("GET", "/summary.json", token=None).json
    assert XSS in summary["incidents"][0]["updates"][0]["body"]["en"]  # JSON carries data, not markup
    assert h.call("GET", "/", token=None).headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_html_in_both_languages(h):
    h.call("POST", "/api/incidents", {"services": ["web"]})
    en = h.call("GET", "/en/", token=None).text
    de = h.call("GET", "/de/", token=None).text
    assert 'lang="en"' in en and "Investigating" in en and "Major outage" in en and "Current incidents" in en
    assert 'lang="de"' in de and "Wird untersucht" in de and "Ausfall" in de and "Aktuelle Störungen" in de
    assert "Web hosting: outage since" in en and "Web hosting: Störung seit" in de
    assert "Alle Dienste in Betrieb" not in de and "Einige Dienste sind betroffen" in de
    # / picks the language from Accept-Language, default the first configured one
    assert 'lang="de"' in h.call("GET", "/", token=None, headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    assert 'lang="en"' in h.call("GET", "/", token=None).text
    assert h.call("GET", "/fr/", token=None).status == 404


def test_all_operational_page(h):
    html = h.call("GET", "/en/", token=None).text
    assert "All systems operational" in html and "No current incidents." in html


def test_json_summary(h, clock):
    h.call("POST", "/hooks/alertmanager", alert_payload())
    s = h.call("GET", "/summary.json", token=None)
    assert s.headers["Content-Type"].startswith("application/json")
    data = s.json
    assert data["status"] == {"indicator": "critical", "worst": "major_outage", "monitoring": False}
    assert [(x["id"], x["status"]) for x in data["services"]] == [
        ("web", "major_outage"), ("mail", "major_outage"), ("dns", "operational")]
    assert len(data["incidents"]) == 1 and "_raw" not in data["incidents"][0]
    assert data["page"]["title"] == "Example Hosting status"


def test_atom_feed_is_valid(h, clock):
    h.call("POST", "/api/incidents", {"services": ["web"], "message": "Web down"})
    clock.advance(600)
    h.call("POST", "/api/incidents/1/updates", {"state": "identified", "cause": "disk"})
    clock.advance(600)
    h.call("POST", "/api/incidents/1/resolve", {})
    r = h.call("GET", "/de/feed.atom", token=None)
    assert r.headers["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(r.body)
    assert root.tag == f"{ATOM}feed"
    for child in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{child}") is not None, child
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 3
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert len(set(ids)) == 3 and all(i.startswith("tag:status.example.net,") for i in ids)
    for e in entries:
        dt.datetime.strptime(e.find(f"{ATOM}updated").text, "%Y-%m-%dT%H:%M:%SZ")
        assert e.find(f"{ATOM}link").get("href").startswith("https://status.example.net/de/#incident-1")
    assert entries[0].find(f"{ATOM}title").text.startswith("Behoben: ")
    assert root.find(f"{ATOM}updated").text == entries[0].find(f"{ATOM}updated").text


def test_ninety_day_bars_and_uptime(clock):
    hh = Harness(make_cfg(timezone="UTC"), clock=clock)
    # the service existed for the whole window
    hh.store.query("UPDATE services SET created = ?", (clock.t - 200 * 86400,))
    # 8 h major outage ten days ago, 4 h partial outage three days ago
    ten = clock.t - 10 * 86400
    hh.call("POST", "/api/incidents", {"services": ["web"], "started_at": ten - 12 * 3600 + 3600})
    hh.service.resolve(1, ended_at=ten - 12 * 3600 + 9 * 3600)
    three = clock.t - 3 * 86400
    hh.call("POST", "/api/incidents", {"services": ["web"], "impact": "partial_outage", "started_at": three - 2 * 3600})
    hh.service.resolve(2, ended_at=three + 2 * 3600)
    data = page.summary(hh.service)
    web = data["services"][0]
    assert len(web["days"]) == 90 and web["days"][-1]["date"] == "2025-11-24"
    by_date = {d["date"]: d for d in web["days"]}
    assert by_date["2025-11-14"] == {"date": "2025-11-14", "status": "major_outage", "downtime_seconds": 28800.0}
    assert by_date["2025-11-21"]["status"] == "partial_outage" and by_date["2025-11-21"]["downtime_seconds"] == 7200.0
    assert by_date["2025-11-20"]["status"] == "operational"
    window = 89 * 86400 + 12 * 3600  # 90 calendar days up to now (today only half over)
    expect = 100 * (1 - (8 * 3600 + 0.5 * 4 * 3600) / window)
    assert abs(web["uptime_90d_percent"] - round(expect, 3)) < 1e-9
    assert data["services"][1]["uptime_90d_percent"] == 100.0
    html = hh.call("GET", "/en/", token=None).text
    assert html.count('class="s-') >= 90 * 3
    assert "2025-11-14: Major outage, downtime 8 h" in html


def test_new_service_shows_no_data_before_it_existed(h):
    web = page.summary(h.service)["services"][0]
    assert web["days"][-1]["status"] == "operational" and web["days"][0]["status"] == "nodata"


def test_write_dir_atomic_and_complete(h, tmp_path):
    h.call("POST", "/api/incidents", {"services": ["web"]})
    out = tmp_path / "site"
    written = page.write_dir(h.service, out)
    assert written[-1].endswith("index.html")
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert names == ["de/feed.atom", "de/index.html", "en/feed.atom", "en/index.html", "feed.atom", "index.html",
                     "summary.json"]
    assert json.loads((out / "summary.json").read_text())["incidents"][0]["id"] == 1
    assert oct(os.stat(out / "index.html").st_mode & 0o777) == "0o644"
    ET.fromstring((out / "de" / "feed.atom").read_bytes())
    # links work from a static host: relative to the language folder
    assert 'href="../de/feed.atom"' in (out / "de" / "index.html").read_text()


def test_output_dir_rewritten_on_every_change(tmp_path, clock):
    out = tmp_path / "pub"
    hh = Harness(make_cfg(output_dir=str(out)), clock=clock)
    hh.call("POST", "/hooks/alertmanager", alert_payload())
    assert "Outage: Web hosting and Mail" in (out / "en" / "index.html").read_text()
    hh.call("POST", "/api/incidents/1/resolve", {})
    assert json.loads((out / "summary.json").read_text())["incidents"] == []


def test_template_override_dir(tmp_path, clock):
    (tmp_path / "en_investigating.txt.j2").write_text("We are looking at {{ services }}. Call 0800 123 if urgent.")
    hh = Harness(make_cfg(template_dir=str(tmp_path)), clock=clock)
    inc = hh.call("POST", "/api/incidents", {"services": ["mail"]}).json
    assert inc["updates"][0]["body"]["en"] == "We are looking at Mail. Call 0800 123 if urgent."
    assert inc["updates"][0]["body"]["de"].startswith("Mail: Störung seit")  # shipped German text


def test_no_uptime_figure_before_a_day_of_history(h, clock):
    h.call("POST", "/api/incidents", {"services": ["web"]})
    clock.advance(600)
    web = page.summary(h.service)["services"][0]
    assert web["uptime_90d_percent"] is None and web["measured_since"] == "2025-11-24T12:00:00Z"
    assert "since 2025-11-24" in h.call("GET", "/en/", token=None).text
    clock.advance(86400)
    assert page.summary(h.service)["services"][0]["uptime_90d_percent"] < 100


def test_scheduled_maintenance_is_announced_not_current(h, clock):
    r = h.call("POST", "/api/incidents", {"services": ["mail"], "maintenance": True, "started_at": "2025-11-26T01:00:00Z",
                                          "eta": "2025-11-26T03:00:00Z"})
    assert r.status == 201, r.text
    inc = r.json
    assert inc["started_at"] == "2025-11-26T01:00:00Z"
    assert inc["updates"][0]["body"]["en"].startswith(
        "Planned maintenance of Mail on 2025-11-26 02:00 CET, expected to be done by 2025-11-26 04:00 CET.")
    assert inc["updates"][0]["body"]["de"].startswith("Geplante Wartung von Mail am 26.11.2025 02:00 CET")
    data = page.summary(h.service)
    assert data["incidents"] == [] and [i["id"] for i in data["scheduled_maintenance"]] == [inc["id"]]
    assert data["services"][1]["status"] == "operational"
    assert "Geplante Wartungen" in h.call("GET", "/de/", token=None).text
    clock.advance(38 * 3600)  # 2025-11-26T02:00Z: it has begun
    data = page.summary(h.service)
    assert data["scheduled_maintenance"] == [] and data["services"][1]["status"] == "maintenance"
