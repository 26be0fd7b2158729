"""The status service over HTTP: a WSGI app served by waitress.

Public (no token): ``GET /`` and ``/<lang>/`` (HTML), ``/summary.json``, ``/feed.atom`` and
``/<lang>/feed.atom``, ``/healthz``, ``POST /subscribe``, ``GET /subscribe/confirm?token=``,
``GET|POST /unsubscribe?token=``.

Bearer token (``Authorization: Bearer <token>``, compared in constant time; checked before the
body is read, so a request without it stores nothing):

* ``POST /hooks/alertmanager`` — Alertmanager webhook (version 4).
* ``GET /api/incidents[?all=1]``, ``GET /api/incidents/<id>``
* ``POST /api/incidents`` — open: ``services``, ``state``, ``impact``, ``message``, ``title``,
  ``cause``, ``eta``, ``draft``, ``maintenance``, ``started_at``, ``author``, ``source``.
* ``POST /api/incidents/<id>/updates`` — ``state``, ``message``, ``cause``, ``eta``, ``impact``,
  ``notify``, ``publish``, ``author``; ``state: resolved`` resolves (as ``/resolve``).
* ``PATCH /api/incidents/<id>/updates/<uid>`` — edit the text: ``message``.
* ``POST /api/incidents/<id>/resolve`` — ``message``, ``ended_at``, ``data_window``, ``actions``;
  the answer adds ``availability``: per service the month, year and trailing 24 months.
* ``POST /api/incidents/<id>/publish`` — publish a draft.
* ``POST /api/heartbeat`` — ``host``, ``boot_id``, ``boot_time`` (agent boot/down history).
* ``POST /api/hosts/<host>/notify`` — a runbook's notify step: ``state`` (investigating, identified,
  monitoring, resolved, maintenance), ``eta_seconds``, ``run_id``, ``step``; attaches to the host's
  open incident (opens one only if none is) and renders the text from the templates.
* ``POST /api/subscribers`` — operator-added email or webhook subscriber.
* ``GET /api/availability?service=&month=YYYY-MM|year=YYYY``, ``GET /api/outbox``.

Every ``POST``/``PATCH`` under ``/api/`` honours an ``Idempotency-Key`` header: the first answer is
stored with the change in one transaction and replayed for a retry with the same key and body
(``Idempotent-Replayed: true``); the same key with another body is 422. Webhook deliveries are
idempotent by alert fingerprint, and a body identical to the last one of its ``groupKey`` is
answered from the record without touching incidents.
"""

from __future__ import annotations

import collections
import email.utils
import hashlib
import json
import logging
import re
import threading
import time
from typing import Any, Callable

from hwstatus import auth, notify, page, texts
from hwstatus.api import ApiMixin
from hwstatus.config import StatuspageConfig
from hwstatus.http import (CACHE_ENTRIES, SECURITY_HEADERS, STATUS_TEXT, HTTPError, Request, Response,  # noqa: F401
                           json_response, public_file)
from hwstatus.incidents import Conflict, InputError, NotFound, StatusService
from hwstatus.store import StatusStore, StoreBusy, StoreError

log = logging.getLogger("hwstatus")


class StatusApp(ApiMixin):
    """WSGI callable. ``service`` owns the lifecycle; the app does HTTP, auth and idempotency."""

    def __init__(self, cfg: StatuspageConfig, service: StatusService, token: str, *,
                 dispatcher: notify.Dispatcher | None = None):
        if not token and not service.store.one("SELECT 1 AS x FROM credentials WHERE revoked IS NULL"):
            raise StoreError("statuspage.token / token_file: no token configured and no credential in the database "
                             "(hwstatus credential add); the API and webhook refuse unauthenticated use")
        self.cfg = cfg
        self.service = service
        self.store = service.store
        self._token = token.encode()
        self.dispatcher = dispatcher or notify.Dispatcher(cfg, service.store, service)
        self._cache: collections.OrderedDict[str, tuple[float, bytes]] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self._last_change = time.time()
        self.routes: list[tuple[str, re.Pattern, Callable, tuple[str, ...]]] = []
        r = self._route
        r("GET", r"/", self.html)
        r("GET", r"/index\.html", self.html)
        r("GET", r"/(?P<lang>[a-z]{2})/(?:index\.html)?", self.html)
        r("GET", r"/summary\.json", self.summary)
        r("GET", r"/feed\.atom", self.atom)
        r("GET", r"/(?P<lang>[a-z]{2})/feed\.atom", self.atom)
        r("GET", r"/healthz", self.healthz)
        r("POST", r"/subscribe", self.subscribe)
        r("GET", r"/subscribe/confirm", self.confirm)
        r("GET", r"/unsubscribe", self.unsubscribe_form)
        r("POST", r"/unsubscribe", self.unsubscribe)
        AM, HOST = ("operator", "alertmanager"), ("operator", "host")  # noqa: N806
        r("POST", r"/hooks/alertmanager", self.alertmanager, auth=AM)
        r("GET", r"/api/incidents", self.list_incidents, auth=True)
        r("POST", r"/api/incidents", self.open_incident, auth=True)
        r("GET", r"/api/incidents/(?P<iid>\d+)", self.get_incident, auth=True)
        r("POST", r"/api/incidents/(?P<iid>\d+)/updates", self.add_update, auth=True)
        r("PATCH", r"/api/incidents/(?P<iid>\d+)/updates/(?P<uid>\d+)", self.edit_update, auth=True)
        r("POST", r"/api/incidents/(?P<iid>\d+)/resolve", self.resolve, auth=True)
        r("POST", r"/api/incidents/(?P<iid>\d+)/publish", self.publish, auth=True)
        r("POST", r"/api/heartbeat", self.heartbeat, auth=HOST)
        r("POST", r"/api/hosts/(?P<host>[A-Za-z0-9._-]{1,253})/notify", self.host_notify, auth=HOST)
        r("PUT", r"/api/hosts/(?P<host>[A-Za-z0-9._-]{1,253})/(?P<kind>baseline|checklist)", self.put_document, auth=HOST)
        r("GET", r"/api/hosts/(?P<host>[A-Za-z0-9._-]{1,253})/(?P<kind>baseline|checklist)", self.get_document, auth=HOST)
        r("POST", r"/api/subscribers", self.add_subscriber, auth=True)
        r("GET", r"/api/availability", self.availability, auth=True)
        r("GET", r"/api/outbox", self.outbox, auth=True)
        service.on_change = self._changed

    def _route(self, method: str, pattern: str, fn: Callable, auth: bool | tuple[str, ...] = False) -> None:
        roles = ("operator",) if auth is True else (auth or ())
        self.routes.append((method, re.compile(pattern + r"\Z"), fn, roles))

    # ---- plumbing ------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable) -> list[bytes]:
        try:
            resp = self.dispatch(environ)
        except HTTPError as exc:
            resp = json_response(exc.status, {"error": str(exc)}, exc.headers)
        except InputError as exc:
            resp = json_response(400, {"error": str(exc)})
        except NotFound as exc:
            resp = json_response(404, {"error": str(exc)})
        except Conflict as exc:
            resp = json_response(409, {"error": str(exc)})
        except StoreBusy as exc:
            resp = json_response(503, {"error": str(exc)}, [("Retry-After", "5")])
        except Exception:  # noqa: BLE001 - one bad request never takes the service down
            log.exception("request %s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            resp = json_response(500, {"error": "internal error; see the service log"})
        if resp.status == 200 and getattr(resp, "public", False) and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            # real validators for the public files: a CDN or browser revalidates cheaply (304)
            etag = '"' + hashlib.sha256(resp.body).hexdigest()[:32] + '"'
            resp.headers += [("ETag", etag), ("Last-Modified", email.utils.formatdate(self._last_change, usegmt=True))]
            if etag in [t.strip() for t in environ.get("HTTP_IF_NONE_MATCH", "").split(",")]:
                resp = Response(304, b"", resp.headers[0][1], resp.headers[1:])
        headers = [*resp.headers, *SECURITY_HEADERS, ("Content-Length", str(len(resp.body))),
                   ("Cache-Control", "no-cache")]
        start_response(f"{resp.status} {STATUS_TEXT.get(resp.status, 'Status')}", headers)
        return [resp.body] if environ.get("REQUEST_METHOD") != "HEAD" else [b""]

    def dispatch(self, environ: dict) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        allowed = []
        for m, rx, fn, roles in self.routes:
            match = rx.match(path)
            if not match:
                continue
            if m != method and not (m == "GET" and method == "HEAD"):
                allowed.append(m)
                continue
            principal = self.check_auth(environ, roles) if roles else None
            req = Request(environ, self.cfg.max_body_bytes, self.client_ip(environ))
            req.principal = principal
            groups = match.groupdict()
            if principal is not None and "host" in groups and not principal.may_act_for(groups["host"]):
                raise HTTPError(403, f"credential {principal.name!r} is for host {principal.host!r}, not {groups['host']!r}")
            return fn(req, **groups)
        if allowed:
            raise HTTPError(405, f"{method} not allowed on {path} (allowed: {', '.join(sorted(set(allowed)))})",
                            [("Allow", ", ".join(sorted(set(allowed))))])
        raise HTTPError(404, f"{path}: not found")

    def check_auth(self, environ: dict, roles: tuple[str, ...] = ("operator",)) -> auth.Principal:
        header = environ.get("HTTP_AUTHORIZATION", "")
        scheme, _, given = header.partition(" ")
        who = auth.verify(self.store, given.strip(), self._token, now=self.service.clock()) \
            if scheme.lower() == "bearer" else None
        if who is None:
            raise HTTPError(401, "missing or wrong bearer token" if header else "missing Authorization: Bearer <token>",
                            [("WWW-Authenticate", 'Bearer realm="hwagent-statuspage"')])
        if who.role not in roles:
            raise HTTPError(403, f"credential {who.name!r} (role {who.role}) may not do this (needs {' or '.join(roles)})")
        return who

    def client_ip(self, environ: dict) -> str:
        """The peer, unless it is a trusted proxy: then the rightmost X-Forwarded-For hop that is not one
        (the leftmost is whatever the client wrote, so it is never believed)."""
        peer = environ.get("REMOTE_ADDR", "")
        xff = environ.get("HTTP_X_FORWARDED_FOR", "")
        if not xff or not self.cfg.is_trusted_proxy(peer):
            return peer
        client = peer
        for hop in reversed([h.strip() for h in xff.split(",")]):
            if not hop:
                continue
            if not self.cfg.is_trusted_proxy(hop):
                return hop[:64]
            client = hop
        return client

    def _changed(self) -> None:
        self._last_change = time.time()
        with self._cache_lock:
            self._cache.clear()
        if self.cfg.output_dir:
            page.write_dir(self.service, self.cfg.output_dir)

    def _cached(self, key: str, make: Callable[[], bytes], ttl: float = 30.0) -> bytes:
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit and now - hit[0] < ttl:
                return hit[1]
        data = make()
        with self._cache_lock:
            self._cache[key] = (now, data)
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_ENTRIES:  # keys come from configured languages only; bounded anyway
                self._cache.popitem(last=False)
        return data

    def _idempotent(self, req: "Request", scope: str, fn: Callable[[], tuple[int, Any]]) -> Response:
        key = req.header("Idempotency-Key")
        if not key:
            status, data = fn()
            return json_response(status, data)
        if len(key) > 200:
            raise HTTPError(400, "Idempotency-Key: longer than 200 characters")
        full = f"{scope}:{key}"
        digest = hashlib.sha256(req.raw).hexdigest()
        with self.store.tx() as c:
            row = c.execute("SELECT request_hash, status, response FROM idempotency WHERE key = ?", (full,)).fetchone()
            if row:
                if row[0] != digest:
                    raise HTTPError(422, "Idempotency-Key was already used for a different request")
                return json_response(row[1], json.loads(row[2]), [("Idempotent-Replayed", "true")])
            status, data = fn()
            self.store.idempotent_put(c, full, digest, status, data)
        return json_response(status, data)

    # ---- public pages --------------------------------------------------------------------------
    def html(self, req: "Request", lang: str | None = None) -> Response:
        if lang is not None and lang not in self.cfg.languages:
            raise HTTPError(404, f"language {lang!r} not configured")
        asked = req.query.get("lang")
        lang = lang or (asked if asked in self.cfg.languages else None) or self._accept_lang(req)
        root = "../" if req.path.startswith(f"/{lang}/") else ""
        body = self._cached(f"html:{lang}:{root}", lambda: page.render_html(self.service, lang, root=root).encode())
        return public_file(Response(200, body, "text/html; charset=utf-8"))

    def _accept_lang(self, req: "Request") -> str:
        accept = req.header("Accept-Language") or ""
        for part in accept.split(","):
            code = part.split(";")[0].strip().lower()[:2]
            if code in self.cfg.languages:
                return code
        return self.cfg.languages[0]

    def summary(self, req: "Request") -> Response:
        body = self._cached("summary", lambda: json.dumps(page.summary(self.service), indent=1, ensure_ascii=False,
                                                          sort_keys=True).encode())
        return public_file(Response(200, body, "application/json; charset=utf-8", [("Access-Control-Allow-Origin", "*")]))

    def atom(self, req: "Request", lang: str | None = None) -> Response:
        if lang is not None and lang not in self.cfg.languages:
            raise HTTPError(404, f"language {lang!r} not configured")
        lang = lang or self.cfg.languages[0]
        body = self._cached(f"atom:{lang}", lambda: page.render_atom(self.service, lang).encode())
        return public_file(Response(200, body, "application/atom+xml; charset=utf-8"))

    def healthz(self, req: "Request") -> Response:
        self.store.query("SELECT 1")
        row = self.store.one("SELECT COUNT(*) AS n FROM outbox WHERE sent IS NULL AND failed IS NULL")
        pending = row["n"] if row else 0
        notices = self.dispatcher.health(self.service.clock())
        ok = notices["stuck"] == 0 and notices["parked_last_day"] == 0
        data = {"ok": ok, "pending_notices": pending, "stuck_notices": notices["stuck"],
                "parked_notices_last_day": notices["parked_last_day"], "schema": self.store.schema_version}
        if not ok:
            data["problem"] = (f"{notices['stuck']} notice(s) stuck, {notices['parked_last_day']} parked in the last day; "
                               "see GET /api/outbox and the service log")
        return json_response(200 if notices["stuck"] == 0 else 503, data)

    def _message_page(self, status: int, lang: str, text: str, *, form_action: str = "", token: str = "",
                      button: str = "") -> Response:
        env, _ = texts.environments(self.cfg.template_dir)
        body = env.get_template("message.html.j2").render(
            lang=lang, title=self.cfg.title, text=text, form_action=form_action, token=token, button=button,
            back=self.cfg.public_url.rstrip("/") + f"/{lang}/", back_label=self.cfg.title)
        return Response(status, body, "text/html; charset=utf-8")

    def subscribe(self, req: "Request") -> Response:
        form = req.form()
        asked = form.get("lang")
        lang = asked if asked is not None and asked in self.cfg.languages else self.cfg.languages[0]
        ui = texts.UI[lang]
        if not self.cfg.smtp_host:
            raise HTTPError(404, "subscriptions are not enabled (no SMTP relay configured)")
        try:
            notify.subscribe_email(self.store, self.cfg, form.get("email", ""), lang, form.get("services"), req.ip,
                                   self.service.clock())
        except notify.RateLimited as exc:
            return self._reply(req, 429, lang, ui["rate_limited"], {"error": str(exc)}, [("Retry-After", str(exc.retry_after))])
        except ValueError as exc:
            return self._reply(req, 400, lang, ui["bad_email"] if "email" in str(exc) else str(exc), {"error": str(exc)})
        return self._reply(req, 202 if req.wants_json else 200, lang, ui["subscribe_sent"], {"status": "confirmation sent"})

    def _reply(self, req: "Request", status: int, lang: str, text: str, data: dict, headers=()) -> Response:
        if req.wants_json:
            return json_response(status, data, headers)
        resp = self._message_page(status, lang, text)
        resp.headers.extend(headers)
        return resp

    def confirm(self, req: "Request") -> Response:
        lang = req.query.get("lang") if req.query.get("lang") in self.cfg.languages else None
        token = req.query.get("token", "")
        sub = self.store.one("SELECT lang FROM subscribers WHERE token = ?", (token,)) if token else None
        lang = lang or (sub["lang"] if sub else self.cfg.languages[0])
        if not notify.confirm(self.store, token, self.service.clock()):
            return self._message_page(404, lang, texts.UI[lang]["bad_token"])
        return self._message_page(200, lang, texts.UI[lang]["subscribe_confirmed"])

    def unsubscribe_form(self, req: "Request") -> Response:
        token = req.query.get("token", "")
        sub = self.store.one("SELECT lang FROM subscribers WHERE token = ?", (token,)) if token else None
        lang = sub["lang"] if sub else self.cfg.languages[0]
        if not sub:
            return self._message_page(404, lang, texts.UI[lang]["bad_token"])
        return self._message_page(200, lang, texts.UI[lang]["unsubscribe_q"], form_action=self.cfg.public_url.rstrip("/")
                                  + "/unsubscribe", token=token, button=texts.UI[lang]["unsubscribe_button"])

    def unsubscribe(self, req: "Request") -> Response:
        form = req.form()
        token = form.get("token") or req.query.get("token", "")
        sub = self.store.one("SELECT lang FROM subscribers WHERE token = ?", (token,)) if token else None
        lang = sub["lang"] if sub else self.cfg.languages[0]
        if not notify.unsubscribe(self.store, token, self.service.clock()):
            return self._message_page(404, lang, texts.UI[lang]["bad_token"])
        return self._message_page(200, lang, texts.UI[lang]["unsubscribed"])


def build(cfg: StatuspageConfig, *, clock: Callable[[], float] = time.time, database: str | None = None) -> StatusApp:
    store = StatusStore(database or cfg.database, clock=clock)
    service = StatusService(cfg, store, clock=clock)
    return StatusApp(cfg, service, cfg.read_token())
