"""Defects found along the incident path with hostile or careless input: a line break in a title
wedged every notice (3), anyone could mute a subscriber (4), random ?lang= filled memory (5), and
small leaks of an internet-facing service (7: ?limit=abc, operator login names in public JSON)."""

from __future__ import annotations

import json
import re

import pytest

from tests.support.sinks import SMTPSink
from tests.unit.statuspage.conftest import Harness, alert_payload, make_cfg


@pytest.fixture
def smtp():
    with SMTPSink() as sink:
        yield sink


def mail_harness(clock, port, **over):
    return Harness(make_cfg(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                            mail_from="status@example.net", **over), clock=clock)


@pytest.mark.parametrize("title", ["Outage\nBcc: everyone@example.org", "Out\rage", "Out\u2028age", "Out\x00age",
                                   "Out\x85age"])
def test_control_characters_in_titles_are_refused(h, title):
    r = h.call("POST", "/api/incidents", {"services": ["web"], "title": title})
    assert r.status == 400 and r.json["error"].startswith("title: control character U+")
    assert h.count("incidents") == 0


def test_control_characters_in_texts_cause_and_author_are_refused(h):
    assert h.call("POST", "/api/incidents", {"services": ["web"], "message": "two\nlines are fine"}).status == 201
    for body in ({"message": "bell\x07"}, {"cause": "psu\nBcc: x"}, {"author": "e\r\nve"}, {"title": "a\u2029b"}):
        r = h.call("POST", "/api/incidents/1/updates", body)
        assert r.status == 400, body
    r = h.call("POST", "/api/incidents/1/updates", {"title": "Web hosting: power supply"})  # a title can be changed
    assert r.status == 201 and r.json["title"]["de"] == "Web hosting: power supply"


def test_one_broken_notice_never_blocks_the_others(clock, smtp):
    h = mail_harness(clock, smtp.port)
    h.call("POST", "/api/subscribers", {"kind": "email", "address": "a@example.org"})
    h.call("POST", "/hooks/alertmanager", alert_payload())
    # a title stored before titles were checked (an old database): its mail cannot be built
    h.store.query("UPDATE incidents SET title = ? WHERE id = 1", (json.dumps({"en": "x\ny", "de": "x\ny"}),))
    h.call("POST", "/api/incidents", {"services": ["dns"], "message": "DNS slow"})
    stats = h.app.dispatcher.run_once()
    assert stats["sent"] >= 1  # the DNS notice went out although the one before it is broken
    subjects = [m["msg"]["Subject"] for m in smtp.messages]
    assert any("DNS" in s for s in subjects) and not any("\n" in s for s in subjects)


def test_an_unbuildable_notice_is_retried_then_parked_and_healthz_says_so(clock, smtp):
    h = mail_harness(clock, smtp.port)
    h.call("POST", "/api/subscribers", {"kind": "email", "address": "a@example.org"})
    h.call("POST", "/hooks/alertmanager", alert_payload())
    h.store.query("UPDATE outbox SET update_id = 999 WHERE kind = 'email'")  # points nowhere: cannot be built
    assert h.call("GET", "/healthz", token=None).json["ok"] is True
    for _ in range(5):
        h.app.dispatcher.run_once()
        clock.advance(3600)
    row = h.store.one("SELECT attempts, failed, last_error FROM outbox WHERE kind = 'email'")
    assert row["attempts"] == 5 and row["failed"] is not None and "999" in row["last_error"]
    r = h.call("GET", "/healthz", token=None)
    assert r.json["ok"] is False and r.json["parked_notices_last_day"] == 1 and "parked" in r.json["problem"]


def test_healthz_reports_stuck_notices(clock):
    h = Harness(make_cfg(smtp_host="127.0.0.1", smtp_port=9, smtp_starttls=False), clock=clock)  # relay down
    h.call("POST", "/api/subscribers", {"kind": "email", "address": "a@example.org"})
    h.call("POST", "/hooks/alertmanager", alert_payload())
    h.app.dispatcher.run_once()
    clock.advance(601)
    r = h.call("GET", "/healthz", token=None)
    assert r.status == 503 and r.json["stuck_notices"] == 1 and r.json["ok"] is False


def form(h, email, lang="en", services="", ip="198.51.100.7"):
    return h.call("POST", "/subscribe", f"email={email}&lang={lang}&services={services}", token=None,
                  content_type="application/x-www-form-urlencoded", ip=ip)


def test_changing_a_subscription_needs_the_same_double_opt_in(clock, smtp):
    h = mail_harness(clock, smtp.port)
    form(h, "kunde%40example.org", "de", "web")
    h.app.dispatcher.run_once()
    link = re.search(r"(/subscribe/confirm\?token=\S+)", smtp.messages[0]["msg"].get_content()).group(1)
    assert h.call("GET", link, token=None).status == 200
    # an attacker "re-subscribes" the confirmed address to a service that never has incidents
    clock.advance(3600)
    r = form(h, "kunde%40example.org", "en", "dns", ip="203.0.113.66")
    assert r.status == 200  # same answer as always (does not reveal who subscribed)
    sub = h.store.one("SELECT services, lang FROM subscribers WHERE address = 'kunde@example.org'")
    assert json.loads(sub["services"]) == ["web"] and sub["lang"] == "de"  # unchanged until confirmed
    h.call("POST", "/hooks/alertmanager", alert_payload())
    h.app.dispatcher.run_once()
    notices = [m for m in smtp.messages if "Ausfall" in m["msg"]["Subject"]]
    assert len(notices) == 1  # the customer still gets the outage notice, in German
    change = [m for m in smtp.messages if "/subscribe/confirm" in m["msg"].get_content()][-1]
    link2 = re.search(r"(/subscribe/confirm\?token=\S+)", change["msg"].get_content()).group(1)
    assert link2 != link and h.call("GET", link2, token=None).status == 200  # the owner confirms: now it changes
    sub = h.store.one("SELECT services, lang FROM subscribers WHERE address = 'kunde@example.org'")
    assert json.loads(sub["services"]) == ["dns"] and sub["lang"] == "en"


def test_random_languages_do_not_grow_the_render_cache(h):
    for i in range(300):
        r = h.call("GET", f"/?lang=x{i:04d}", token=None)
        assert r.status == 200
    assert len(h.app._cache) <= 2  # only configured languages are rendered and cached
    assert 'lang="en"' in h.call("GET", "/?lang=zz", token=None).text


def test_limit_must_be_a_number(h):
    r = h.call("GET", "/api/incidents?limit=abc")
    assert r.status == 400 and "limit" in r.json["error"]
    assert h.call("GET", "/api/incidents?limit=5").status == 200


def test_no_operator_login_in_public_json(h):
    h.call("POST", "/api/incidents", {"services": ["web"], "author": "jdoe", "message": "Down."})
    assert "jdoe" in h.call("GET", "/api/incidents/1").text  # the operator's own API keeps it
    for path in ("/summary.json", "/", "/en/feed.atom"):
        assert "jdoe" not in h.call("GET", path, token=None).text, path


def proxied(h, email, real_ip, forged=None, proxy="127.0.0.1"):
    xff = ", ".join([*([forged] if forged else []), real_ip])
    return h.call("POST", "/subscribe", f"email={email}&lang=en", token=None, ip=proxy,
                  content_type="application/x-www-form-urlencoded", headers={"X-Forwarded-For": xff})


def test_behind_the_proxy_each_customer_is_their_own_address(clock, smtp):
    """Behind the recommended reverse proxy every customer was one IP (5 subscriptions an hour for all)."""
    h = mail_harness(clock, smtp.port, trusted_proxies=["127.0.0.1"])
    for i in range(12):
        assert proxied(h, f"c{i}%40example{i}.org", f"198.51.{100 + i}.7").status == 200
    assert h.count("subscribers") == 12


def test_a_forged_leftmost_forwarded_for_is_not_believed(clock, smtp):
    """With the old trust_forwarded_for the leftmost hop was taken: 12/12 forged requests got through."""
    h = mail_harness(clock, smtp.port, trust_forwarded_for=True)
    ok = sum(proxied(h, f"f{i}%40example{i}.org", "203.0.113.9", forged=f"192.0.2.{i}").status == 200 for i in range(12))
    assert ok == 5  # the attacker's own address (the rightmost untrusted hop) hits its limit of 5
    # a request straight from the internet with a made-up header is its own peer address
    r = h.call("POST", "/subscribe", "email=x%40example.net&lang=en", token=None, ip="203.0.113.9",
               content_type="application/x-www-form-urlencoded", headers={"X-Forwarded-For": "192.0.2.200"})
    assert r.status == 429


def test_one_mailbox_gets_at_most_three_confirmations_a_day(clock, smtp):
    h = mail_harness(clock, smtp.port)
    codes = []
    for i in range(5):
        codes.append(form(h, "victim%40example.org", ip=f"198.51.{i}.1").status)
        clock.advance(601)
    assert codes == [200, 200, 200, 429, 429]
    assert h.count("outbox") == 3


def test_many_addresses_cannot_lock_real_customers_out(clock, smtp):
    """89 requests from 18 addresses used up the global 100/h: now one network is limited, and past
    the global cap customers are still accepted with their confirmation mail delayed."""
    h = mail_harness(clock, smtp.port, subscribe_per_hour=30)
    codes = [form(h, f"spam{i}%40example{i % 7}.com", ip=f"203.0.113.{i % 18}").status for i in range(89)]
    assert codes.count(200) == 20  # the whole /24 counts once: 20 per hour
    for i in range(15):
        assert form(h, f"real{i}%40example.de", ip=f"198.{i}.0.1").status == 200
    h.app.dispatcher.run_once()
    assert len(smtp.messages) == 30  # the mails sent within the hour stay capped
