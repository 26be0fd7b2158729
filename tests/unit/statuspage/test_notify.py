"""Subscriber notices: double opt-in and unsubscribe through a loopback SMTP sink, webhooks to a
loopback receiver, retries when the relay is down, subscribe rate limits."""

from __future__ import annotations

import hashlib
import hmac
import re
import socket

import pytest

from hwstatus import notify
from tests.support.sinks import SMTPSink, WebhookReceiver
from tests.unit.statuspage.conftest import Harness, alert_payload, make_cfg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    with SMTPSink() as sink:
        yield sink


def mail_harness(clock, port, **over):
    return Harness(make_cfg(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False,
                            mail_from="status@example.net", **over), clock=clock)


def form(h, email, lang="en", ip="198.51.100.7"):
    return h.call("POST", "/subscribe", f"email={email}&lang={lang}", token=None,
                  content_type="application/x-www-form-urlencoded", ip=ip)


def test_double_opt_in_notice_and_unsubscribe(clock, smtp):
    h = mail_harness(clock, smtp.port)
    r = form(h, "kunde%40example.org", "de")
    assert r.status == 200 and "Bitte bestätigen" in r.text
    h.call("POST", "/hooks/alertmanager", alert_payload())  # incident before confirmation
    assert h.app.dispatcher.run_once() == {"sent": 1, "retry": 0, "failed": 0}
    assert len(smtp.messages) == 1  # only the confirmation, no notice to an unconfirmed address
    confirm = smtp.messages[0]["msg"]
    assert confirm["To"] == "kunde@example.org" and "bestätigen" in confirm["Subject"]
    link = re.search(r"https://status\.example\.net(/subscribe/confirm\?token=\S+)", confirm.get_content()).group(1)
    r = h.call("GET", link, token=None)
    assert r.status == 200 and "Abonnement bestätigt" in r.text
    assert h.call("GET", "/subscribe/confirm?token=forged", token=None).status == 404
    clock.advance(60)
    h.call("POST", "/api/incidents/1/updates", {"state": "identified", "cause": "Netzteil defekt", "eta": "2h"})
    h.app.dispatcher.run_once()
    assert len(smtp.messages) == 2
    notice = smtp.messages[1]["msg"]
    assert notice["Subject"].strip() == "[Example Hosting status] Ursache gefunden: Ausfall: Web hosting und Mail"
    body = notice.get_content()
    assert "Ursache: Netzteil defekt." in body and "Betroffen: Web hosting, Mail" in body
    unsub = re.search(r"Abmelden: https://status\.example\.net(/unsubscribe\?token=\S+)", body).group(1)
    assert notice["List-Unsubscribe"] == f"<https://status.example.net{unsub}>"
    assert notice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Abmelden" in h.call("GET", unsub, token=None).text  # GET shows a button, changes nothing
    assert h.store.one("SELECT unsubscribed FROM subscribers")["unsubscribed"] is None
    r = h.call("POST", unsub, "List-Unsubscribe=One-Click", token=None, content_type="application/x-www-form-urlencoded")
    assert r.status == 200 and "abgemeldet" in r.text
    h.call("POST", "/api/incidents/1/resolve", {})
    h.app.dispatcher.run_once()
    assert len(smtp.messages) == 2  # nothing after unsubscribing


def test_service_filter_on_subscription(clock, smtp):
    h = mail_harness(clock, smtp.port)
    notify.add_subscriber(h.store, h.cfg, "email", "dns-only@example.org", services=["dns"], now=clock.t)
    notify.add_subscriber(h.store, h.cfg, "email", "all@example.org", now=clock.t)
    h.call("POST", "/api/incidents", {"services": ["web"]})
    h.app.dispatcher.run_once()
    assert [m["to"] for m in smtp.messages] == [["all@example.org"]]


def test_relay_down_queues_and_retries_page_still_published(clock):
    port = free_port()  # nothing listens here yet
    h = mail_harness(clock, port)
    notify.add_subscriber(h.store, h.cfg, "email", "a@example.org", now=clock.t)
    h.call("POST", "/hooks/alertmanager", alert_payload())
    assert h.call("GET", "/summary.json", token=None).json["incidents"][0]["id"] == 1  # published regardless
    assert h.app.dispatcher.run_once() == {"sent": 0, "retry": 1, "failed": 0}
    row = h.store.one("SELECT attempts, next_attempt, last_error FROM outbox")
    assert row["attempts"] == 1 and row["next_attempt"] == clock.t + 30 and "SMTP relay 127.0.0.1" in row["last_error"]
    assert h.app.dispatcher.run_once() == {"sent": 0, "retry": 0, "failed": 0}  # not due yet
    assert [p["target"] for p in h.call("GET", "/api/outbox").json["pending"]] == ["a@example.org"]
    with SMTPSink(port) as sink:
        clock.advance(31)
        assert h.app.dispatcher.run_once()["sent"] == 1
        assert len(sink.messages) == 1
    assert h.call("GET", "/healthz", token=None).json["pending_notices"] == 0


def test_backoff_grows_and_gives_up():
    assert [notify.backoff(n) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]
    assert sum(notify.backoff(n) for n in range(1, notify.MAX_ATTEMPTS)) > 36 * 3600


def test_webhook_notices_with_signature(clock):
    with WebhookReceiver() as recv, WebhookReceiver(status=500) as broken:
        h = Harness(make_cfg(webhooks=[broken.url]), clock=clock)
        notify.add_subscriber(h.store, h.cfg, "webhook", recv.url, secret="k3y", now=clock.t)
        assert h.call("POST", "/api/subscribers", {"kind": "webhook", "address": "ftp://nope"}).status == 400
        h.call("POST", "/hooks/alertmanager", alert_payload())
        assert h.app.dispatcher.run_once() == {"sent": 1, "retry": 1, "failed": 0}
        assert len(recv.requests) == 1 and len(broken.requests) == 1
        req = recv.requests[0]
        assert req["json"]["event"] == "incident.update"
        assert req["json"]["incident"]["state"] == "investigating"
        assert req["json"]["update"]["state"] == "investigating"
        sig = hmac.new(b"k3y", req["body"], hashlib.sha256).hexdigest()
        assert req["headers"]["X-Hwagent-Signature"] == f"sha256={sig}"
        assert "HTTP 500" in h.store.one("SELECT last_error FROM outbox WHERE target = ?", (broken.url,))["last_error"]


def test_subscribe_rate_limits(clock, smtp):
    h = mail_harness(clock, smtp.port, subscribe_per_ip_per_hour=3, subscribe_per_hour=5)
    for i in range(3):
        assert form(h, f"u{i}%40example.org").status == 200
    r = form(h, "u9%40example.org")
    assert r.status == 429 and int(r.headers["Retry-After"]) == 3600
    assert form(h, "v1%40example.org", ip="203.0.113.1").status == 200
    assert form(h, "v2%40example.org", ip="203.0.113.2").status == 200
    # past the global limit a real customer is not turned away; the confirmation waits for room in the hour
    assert form(h, "v3%40example.org", ip="203.0.113.3").status == 200
    assert h.store.one("SELECT next_attempt FROM outbox WHERE target = 'v3@example.org'")["next_attempt"] > clock() + 3000
    clock.advance(3601)
    assert form(h, "u9%40example.org").status == 200
    assert h.count("subscribers") == 7


def test_same_address_gets_one_confirmation_per_ten_minutes(clock, smtp):
    h = mail_harness(clock, smtp.port)
    for _ in range(3):
        assert form(h, "a%40example.org").status == 200  # same answer every time
    assert h.count("outbox") == 1
    clock.advance(601)
    form(h, "a%40example.org")
    assert h.count("outbox") == 2


def test_bad_address_and_json_subscribe(clock, smtp):
    h = mail_harness(clock, smtp.port)
    assert form(h, "not-an-address").status == 400
    r = h.call("POST", "/subscribe", {"email": "j@example.org", "services": ["web"]}, token=None)
    assert r.status == 202 and r.json == {"status": "confirmation sent"}
    r = h.call("POST", "/subscribe", {"email": "j2@example.org", "services": ["shop"]}, token=None)
    assert r.status == 400 and "unknown service 'shop'" in r.json["error"]


def test_subscribe_disabled_without_relay(h):
    assert form(h, "a%40example.org").status == 404


def test_port_465_uses_implicit_tls(clock, monkeypatch):
    import smtplib

    used = []

    class Fake:
        def __init__(self, host, port, timeout=None, **kw):
            used.append((host, port, sorted(kw)))
            raise OSError("no relay in this test")

    monkeypatch.setattr(smtplib, "SMTP_SSL", Fake)
    monkeypatch.setattr(smtplib, "SMTP", lambda *a, **k: pytest.fail("plain SMTP used on port 465"))
    h = mail_harness(clock, 465)
    notify.add_subscriber(h.store, h.cfg, "email", "a@example.org", now=clock.t)
    h.call("POST", "/api/incidents", {"services": ["web"]})
    assert h.app.dispatcher.run_once()["retry"] == 1
    assert used == [("127.0.0.1", 465, ["context"])]


def test_subscribe_limits_of_zero_refuse_or_delay_instead_of_failing(clock, smtp):
    # 0 is a valid limit (config range 0 ..): with nothing logged in the window yet, MIN(ts) is NULL;
    # the request used to fail with a TypeError (HTTP 500) instead of being refused or delayed
    h = mail_harness(clock, smtp.port, subscribe_per_ip_per_hour=0)
    r = form(h, "a%40example.org")
    assert r.status == 429 and int(r.headers["Retry-After"]) == 3600
    assert h.count("subscribers") == 0
    h = mail_harness(clock, smtp.port, subscribe_per_hour=0)
    assert form(h, "b%40example.org").status == 200  # accepted, its confirmation waits in the outbox
    assert h.count("subscribers") == 1
    assert h.store.one("SELECT next_attempt FROM outbox WHERE target = 'b@example.org'")["next_attempt"] >= clock()
