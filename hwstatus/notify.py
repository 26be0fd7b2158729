"""Subscriber notices: email through an external SMTP relay and JSON webhooks, via an outbox.

Every published update in a state listed in ``notify_states`` queues one outbox row per matching
subscriber (and per configured operator webhook) in the same transaction that stores the update.
A dispatcher sends due rows; failures (relay down, webhook 5xx) are retried with exponential
backoff (30 s doubling up to 1 h, 48 attempts ≈ two days) and never block the page. Text is
rendered at send time, so an edit made before the notice went out is what the customer gets.

Email subscriptions use double opt-in: ``POST /subscribe`` stores the address unconfirmed and
queues a confirmation mail with a secret link; only confirmed addresses get notices. Every
notice carries an unsubscribe link (also as ``List-Unsubscribe`` with one-click POST, RFC 8058).
Subscribing is rate limited per client address and in total.
"""

from __future__ import annotations

import email.message
import email.utils
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from typing import Any

from hwstatus import texts
from hwstatus.config import StatuspageConfig
from hwstatus.store import StatusStore

log = logging.getLogger("hwstatus.notify")

MAX_ATTEMPTS = 48
MAX_ATTEMPTS_BROKEN = 5  # a notice that cannot even be built (not a relay problem) is parked sooner
STUCK_SECONDS = 600  # a notice still unsent after retries for this long is "stuck" on /healthz
EMAIL_RE = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
CONFIRM_RESEND_SECONDS = 600


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many subscription requests; retry in {retry_after} s")
        self.retry_after = retry_after


def backoff(attempts: int) -> float:
    return float(min(30 * 2 ** max(attempts - 1, 0), 3600))


def enqueue_update(c, cfg: StatuspageConfig, incident_id: int, update_id: int, now: float) -> int:
    services = {r[0] for r in c.execute("SELECT service_id FROM incident_services WHERE incident_id = ?", (incident_id,))}
    n = 0
    for sid, kind, address, subs in c.execute(
            "SELECT id, kind, address, services FROM subscribers WHERE confirmed IS NOT NULL AND unsubscribed IS NULL").fetchall():
        wanted = set(json.loads(subs or "[]"))
        if wanted and not wanted & services:
            continue
        cur = c.execute("INSERT OR IGNORE INTO outbox (kind, target, subscriber_id, update_id, payload, created, next_attempt) "
                        "VALUES (?, ?, ?, ?, '{}', ?, ?)", (kind, address, sid, update_id, now, now))
        n += cur.rowcount
    for url in cfg.webhooks:
        cur = c.execute("INSERT OR IGNORE INTO outbox (kind, target, subscriber_id, update_id, payload, created, next_attempt) "
                        "VALUES ('webhook', ?, 0, ?, '{}', ?, ?)", (url, update_id, now, now))
        n += cur.rowcount
    return n


# ---- subscriptions ---------------------------------------------------------------------------------

def _check_services(cfg: StatuspageConfig, services: Any) -> list[str]:
    if services in (None, "", []):
        return []
    if isinstance(services, str):
        services = [s for s in re.split(r"[,\s]+", services) if s]
    if not isinstance(services, list):
        raise ValueError("services: expected a list of service ids")
    unknown = [s for s in services if s not in cfg.services]
    if unknown:
        raise ValueError(f"services: unknown service {', '.join(map(repr, unknown))}")
    return services


def network_of(ip: str) -> str:
    """The client's network as a text prefix: IPv4 /24, IPv6 /64 (one customer rarely has more)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if addr.version == 4:
        return ".".join(str(addr).split(".")[:3]) + "."
    return ":".join(addr.exploded.split(":")[:4]) + ":"


def subscribe_email(store: StatusStore, cfg: StatuspageConfig, address: str, lang: str, services: Any, ip: str,
                    now: float) -> str:
    """Start a double opt-in; returns 'sent', 'already' (confirmed) or 'recent' (mail sent lately).

    Raises ValueError for a bad address and :class:`RateLimited` beyond the limits. The answer to
    the client is the same in every case, so the form does not reveal who subscribed."""
    address = (address or "").strip()
    if not EMAIL_RE.match(address) or len(address) > 254:
        raise ValueError("email: not an email address")
    lang = lang if lang in cfg.languages else cfg.languages[0]
    wanted = _check_services(cfg, services)
    domain = address.rpartition("@")[2].lower()
    net = network_of(ip)
    delay_until = None
    with store.tx() as c:
        def count(sql: str, *args) -> tuple[int, float | None]:
            return c.execute(sql, args).fetchone()

        checks = (
            (count("SELECT COUNT(*), MIN(ts) FROM subscribe_log WHERE ip = ? AND ts > ?", ip, now - 3600),
             cfg.subscribe_per_ip_per_hour, 3600),
            (count("SELECT COUNT(*), MIN(ts) FROM subscribe_log WHERE ip LIKE ? AND ts > ?", net + "%", now - 3600),
             cfg.subscribe_per_network_per_hour, 3600),
            (count("SELECT COUNT(*), MIN(ts) FROM subscribe_targets WHERE target = ? AND ts > ?", address.lower(),
                   now - 86400), cfg.subscribe_per_mailbox_per_day, 86400),
            (count("SELECT COUNT(*), MIN(ts) FROM subscribe_targets WHERE target = ? AND ts > ?", "@" + domain,
                   now - 3600), cfg.subscribe_per_domain_per_hour, 3600),
        )
        for (n, first), limit, window in checks:
            if n >= limit:  # a limit of 0 refuses with nothing logged yet (first is None): retry after a window
                raise RateLimited(max(1, int((first if first is not None else now) + window - now)))
        # the global limit caps the confirmation mails we send, it never turns real customers away: beyond
        # it, their confirmation waits in the outbox until the hour has room again
        n_all, first_all = count("SELECT COUNT(*), MIN(ts) FROM subscribe_log WHERE ts > ?", now - 3600)
        if n_all >= cfg.subscribe_per_hour:
            delay_until = (first_all if first_all is not None else now) + 3600 * (n_all // max(cfg.subscribe_per_hour, 1))
        c.execute("INSERT INTO subscribe_log (ip, ts) VALUES (?, ?)", (ip, now))
        row = c.execute("SELECT id, confirmed, unsubscribed, confirm_sent FROM subscribers WHERE kind = 'email' AND "
                        "address = ? COLLATE NOCASE", (address,)).fetchone()
        if row and row[1] is not None and row[2] is None:
            # a confirmed address: any change (services, language) waits for a click in that mailbox,
            # so nobody can mute or re-route another customer's notices
            cur = c.execute("SELECT services, lang FROM subscribers WHERE id = ?", (row[0],)).fetchone()
            if cur == (json.dumps(wanted), lang):
                return "already"
            if row[3] and now - row[3] < CONFIRM_RESEND_SECONDS:
                return "recent"
            token = secrets.token_urlsafe(24)
            c.execute("UPDATE subscribers SET pending = ?, pending_token = ?, confirm_sent = ? WHERE id = ?",
                      (json.dumps({"services": wanted, "lang": lang}), token, now, row[0]))
            c.execute("INSERT INTO outbox (kind, target, subscriber_id, update_id, payload, created, next_attempt) "
                      "VALUES ('confirm', ?, ?, NULL, ?, ?, ?)", (address, row[0], json.dumps({"token": token}), now,
                                                                 delay_until or now))
            c.execute("INSERT INTO subscribe_targets (target, ts) VALUES (?, ?), (?, ?)", (address.lower(), now,
                                                                                         "@" + domain, now))
            return "change"
        if row and row[3] and now - row[3] < CONFIRM_RESEND_SECONDS and row[2] is None:
            return "recent"
        token = secrets.token_urlsafe(24)
        if row:
            sid = row[0]
            c.execute("UPDATE subscribers SET token = ?, lang = ?, services = ?, confirmed = NULL, unsubscribed = NULL, "
                      "confirm_sent = ? WHERE id = ?", (token, lang, json.dumps(wanted), now, sid))
        else:
            sid = c.execute("INSERT INTO subscribers (kind, address, lang, services, token, created, confirm_sent) "
                            "VALUES ('email', ?, ?, ?, ?, ?, ?)", (address, lang, json.dumps(wanted), token, now, now)).lastrowid
        c.execute("INSERT INTO outbox (kind, target, subscriber_id, update_id, payload, created, next_attempt) "
                  "VALUES ('confirm', ?, ?, NULL, ?, ?, ?)", (address, sid, json.dumps({"token": token}), now,
                                                             delay_until or now))
        c.execute("INSERT INTO subscribe_targets (target, ts) VALUES (?, ?), (?, ?)", (address.lower(), now,
                                                                                     "@" + domain, now))
    return "delayed" if delay_until else "sent"


def confirm(store: StatusStore, token: str, now: float) -> bool:
    if not token:
        return False
    with store.tx() as c:
        row = c.execute("SELECT id, pending FROM subscribers WHERE pending_token = ? AND unsubscribed IS NULL",
                        (token,)).fetchone()
        if row:  # a confirmed change of an existing subscription
            change = json.loads(row[1] or "{}")
            c.execute("UPDATE subscribers SET services = ?, lang = ?, pending = '', pending_token = NULL WHERE id = ?",
                      (json.dumps(change.get("services", [])), change.get("lang", "en"), row[0]))
            return True
        cur = c.execute("UPDATE subscribers SET confirmed = COALESCE(confirmed, ?) WHERE token = ? AND unsubscribed IS NULL",
                        (now, token))
        return cur.rowcount == 1


def unsubscribe(store: StatusStore, token: str, now: float) -> bool:
    if not token:
        return False
    with store.tx() as c:
        row = c.execute("SELECT id FROM subscribers WHERE token = ?", (token,)).fetchone()
        if row is None:
            return False
        c.execute("UPDATE subscribers SET unsubscribed = COALESCE(unsubscribed, ?) WHERE id = ?", (now, row[0]))
        c.execute("UPDATE outbox SET failed = ?, last_error = 'unsubscribed' WHERE subscriber_id = ? AND sent IS NULL "
                  "AND failed IS NULL", (now, row[0]))
        return True


def add_subscriber(store: StatusStore, cfg: StatuspageConfig, kind: str, address: str, *, lang: str = "",
                   services: Any = None, secret: str = "", now: float) -> dict:
    """Operator-added subscriber (API, authenticated): confirmed at once. Webhooks only this way."""
    if kind not in ("email", "webhook"):
        raise ValueError("kind: expected email or webhook")
    if kind == "email" and not EMAIL_RE.match(address or ""):
        raise ValueError("address: not an email address")
    if kind == "webhook" and not re.match(r"^https?://[^\s]+$", address or ""):
        raise ValueError("address: expected an http(s) URL")
    lang = lang if lang in cfg.languages else cfg.languages[0]
    wanted = _check_services(cfg, services)
    token = secrets.token_urlsafe(24)
    with store.tx() as c:
        c.execute("INSERT INTO subscribers (kind, address, lang, services, token, secret, created, confirmed) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(kind, address) DO UPDATE SET lang = excluded.lang, "
                  "services = excluded.services, secret = excluded.secret, confirmed = COALESCE(subscribers.confirmed, "
                  "excluded.confirmed), unsubscribed = NULL", (kind, address, lang, json.dumps(wanted), token, secret, now, now))
    row = store.one("SELECT id, kind, address, lang, services, token FROM subscribers WHERE kind = ? AND address = ?",
                    (kind, address))
    assert row is not None  # written just above
    return {"id": row["id"], "kind": row["kind"], "address": row["address"], "lang": row["lang"],
            "services": json.loads(row["services"]), "unsubscribe_token": row["token"]}


# ---- sending -----------------------------------------------------------------------------------------

class SendError(Exception):
    """A notice could not be delivered (SMTP relay or webhook); it stays queued for a retry."""


class BrokenNotice(Exception):
    """A notice that cannot be built (its update vanished, an unknown kind): parked after a few tries."""


class Dispatcher:
    """Sends due outbox rows. ``run_once`` is called by the server's background thread and tests."""

    def __init__(self, cfg: StatuspageConfig, store: StatusStore, service, *, timeout: float = 10.0):
        self.cfg = cfg
        self.store = store
        self.service = service
        self.timeout = timeout

    def run_once(self, now: float | None = None, limit: int = 100) -> dict:
        now = self.service.clock() if now is None else now
        rows = self.store.query("SELECT * FROM outbox WHERE sent IS NULL AND failed IS NULL AND next_attempt <= ? "
                                "ORDER BY id LIMIT ?", (now, limit))
        stats = {"sent": 0, "retry": 0, "failed": 0}
        for row in rows:
            # each item alone: whatever one notice raises (a relay error, a bad stored title, a bug), it is
            # retried with backoff and then parked with its error; it never blocks the ones behind it
            try:
                self._send(row, now)
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                attempts = row["attempts"] + 1
                permanent = not isinstance(exc, SendError)
                gave_up = attempts >= (MAX_ATTEMPTS_BROKEN if permanent else MAX_ATTEMPTS)
                error = (f"{type(exc).__name__}: " if permanent else "") + str(exc)
                with self.store.tx() as c:
                    c.execute("UPDATE outbox SET attempts = ?, next_attempt = ?, last_error = ?, failed = ? WHERE id = ?",
                              (attempts, now + backoff(attempts), error[:500], now if gave_up else None, row["id"]))
                stats["failed" if gave_up else "retry"] += 1
                if permanent:
                    log.error("notice %s #%s to %s cannot be built or sent (attempt %d%s): %s", row["kind"], row["id"],
                              row["target"], attempts, ", parked" if gave_up else "", error)
                else:
                    log.warning("notice %s to %s failed (attempt %d%s): %s", row["kind"], row["target"], attempts,
                                ", giving up" if gave_up else "", exc)
            else:
                with self.store.tx() as c:
                    c.execute("UPDATE outbox SET attempts = attempts + 1, sent = ?, last_error = '' WHERE id = ?", (now, row["id"]))
                stats["sent"] += 1
        return stats

    def health(self, now: float) -> dict:
        """For /healthz: notices overdue (stuck) and parked (given up) in the last day."""
        stuck = self.store.one("SELECT COUNT(*) AS n, MIN(created) AS oldest FROM outbox WHERE sent IS NULL AND "
                               "failed IS NULL AND attempts > 0 AND created < ?", (now - STUCK_SECONDS,))
        parked = self.store.query("SELECT id, kind, target, last_error FROM outbox WHERE failed IS NOT NULL AND "
                                  "failed > ? AND last_error != 'unsubscribed' ORDER BY id DESC LIMIT 5", (now - 86400,))
        assert stuck is not None  # an aggregate query always returns its row
        return {"stuck": stuck["n"], "oldest_stuck_age_seconds": round(now - stuck["oldest"]) if stuck["oldest"] else None,
                "parked_last_day": len(parked), "parked": [{"id": p["id"], "kind": p["kind"], "error": p["last_error"]}
                                                           for p in parked]}

    def pending(self) -> list[dict]:
        return self.store.query("SELECT id, kind, target, attempts, next_attempt, last_error FROM outbox "
                                "WHERE sent IS NULL AND failed IS NULL ORDER BY id")

    # ---- building ----------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return self.cfg.public_url.rstrip("/") + path

    def _subscriber(self, sid: int | None) -> dict | None:
        if not sid:
            return None
        return self.store.one("SELECT * FROM subscribers WHERE id = ?", (sid,))

    def _send(self, row: dict, now: float) -> None:
        sub = self._subscriber(row["subscriber_id"])
        if row["subscriber_id"] and (sub is None or (sub["unsubscribed"] is not None and row["kind"] != "confirm")):
            raise SendError("subscriber gone")
        if row["kind"] == "confirm":
            lang = sub["lang"] if sub else self.cfg.languages[0]
            token = json.loads(row["payload"])["token"]
            _, env = texts.environments(self.cfg.template_dir)
            body = env.get_template(f"{lang}_mail_confirm.txt.j2").render(
                site=self.cfg.title, confirm_url=self._url(f"/subscribe/confirm?token={token}"))
            subject = f"{self.cfg.title}: " + ("Abonnement bestätigen" if lang == "de" else "please confirm your subscription")
            self._mail(row["target"], subject, body, None)
            return
        inc = self.service.incident(self._incident_of(row["update_id"]))
        upd = next((u for u in inc["updates"] if u["id"] == row["update_id"]), None)
        if upd is None:
            raise BrokenNotice(f"update {row['update_id']} vanished")
        if row["kind"] == "email":
            lang = sub["lang"] if sub else self.cfg.languages[0]
            ui = texts.UI[lang]
            unsub = self._url(f"/unsubscribe?token={sub['token']}") if sub else ""
            names = self.service.service_names([s["id"] for s in inc["services"]], lang)
            title = inc["title"].get(lang) or next(iter(inc["title"].values()))
            _, env = texts.environments(self.cfg.template_dir)
            body = env.get_template(f"{lang}_mail_notice.txt.j2").render(
                state_label=ui[upd["state"]], title=title, body=upd["body"].get(lang) or next(iter(upd["body"].values())),
                services=", ".join(names), page_url=self._url(f"/{lang}/#incident-{inc['id']}"), site=self.cfg.title,
                unsubscribe_url=unsub)
            subject = re.sub(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+", " ", f"[{self.cfg.title}] {ui[upd['state']]}: {title}")
            self._mail(row["target"], subject, body, unsub)
        elif row["kind"] == "webhook":
            from hwstatus.readmodel import for_customers  # noqa: PLC0415

            payload = {"event": "incident.update", "incident": for_customers(inc),
                       "update": {k: v for k, v in upd.items() if k != "author"},
                       "page_url": self._url(f"/#incident-{inc['id']}")}
            self._post(row["target"], payload, sub["secret"] if sub else "")
        else:
            raise BrokenNotice(f"unknown outbox kind {row['kind']!r}")

    def _incident_of(self, update_id: int) -> int:
        row = self.store.one("SELECT incident_id FROM updates WHERE id = ?", (update_id,))
        if row is None:
            raise BrokenNotice(f"update {update_id} vanished")
        return row["incident_id"]

    def _mail(self, to: str, subject: str, body: str, unsubscribe_url: str | None) -> None:
        if not self.cfg.smtp_host:
            raise SendError("no SMTP relay configured (statuspage.smtp_host)")
        msg = email.message.EmailMessage()
        msg["From"] = self.cfg.mail_from
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = email.utils.formatdate(localtime=False)
        msg["Message-ID"] = email.utils.make_msgid(domain=self.cfg.mail_from.rpartition("@")[2] or None)
        msg["Auto-Submitted"] = "auto-generated"
        if unsubscribe_url:
            msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(body)
        try:
            implicit = self.cfg.smtp_port == 465  # SMTPS: TLS from the first byte
            cls = smtplib.SMTP_SSL if implicit else smtplib.SMTP
            kw: dict[str, Any] = {"context": ssl.create_default_context()} if implicit else {}
            with cls(self.cfg.smtp_host, self.cfg.smtp_port, timeout=self.timeout, **kw) as smtp:
                smtp.ehlo()
                if self.cfg.smtp_starttls and not implicit:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                if self.cfg.smtp_user:
                    smtp.login(self.cfg.smtp_user, self.cfg.smtp_password())
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            raise SendError(f"SMTP relay {self.cfg.smtp_host}:{self.cfg.smtp_port}: {exc}") from None

    def _post(self, url: str, payload: dict, secret: str) -> None:
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "hwagent-statuspage"}
        if secret:
            headers["X-Hwagent-Signature"] = "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310 - operator-configured URL
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                if resp.status >= 300:
                    raise SendError(f"webhook {url}: HTTP {resp.status}")
        except urllib.error.HTTPError as exc:
            raise SendError(f"webhook {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SendError(f"webhook {url}: {getattr(exc, 'reason', exc)}") from None
