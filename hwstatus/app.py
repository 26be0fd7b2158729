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
import urllib.parse
from typing import Any, Callable, Iterable

from hwstatus import auth, availability, notify, page, texts
from hwstatus.config import StatuspageConfig
from hwstatus.incidents import Conflict, InputError, NotFound, StatusService, clean_text, public
from hwstatus.store import StatusStore, StoreBusy, StoreError

log = logging.getLogger("hwhwstatus")

STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 303: "See Other", 304: "Not Modified", 400: "Bad Request",
               401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
               411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type",
               422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error",
               503: "Service Unavailable"}
CACHE_ENTRIES = 32
SECURITY_HEADERS = [("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
                    ("X-Frame-Options", "DENY"),
                    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *; "
                                                "frame-ancestors 'none'; base-uri 'none'")]


class HTTPError(Exception):
    def __init__(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.status = status
        self.headers = list(headers)


class Response:
    def __init__(self, status: int, body: bytes | str, content_type: str = "application/json",
                 headers: Iterable[tuple[str, str]] = ()):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = [("Content-Type", content_type), *headers]


def public_file(resp: Response) -> Response:
    resp.public = True
    return resp


def json_response(status: int, data: Any, headers: Iterable[tuple[str, str]] = ()) -> Response:
    return Response(status, json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                    "application/json; charset=utf-8", headers)


class StatusApp:
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
        pending = self.store.one("SELECT COUNT(*) AS n FROM outbox WHERE sent IS NULL AND failed IS NULL")["n"]
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
        lang = form.get("lang") if form.get("lang") in self.cfg.languages else self.cfg.languages[0]
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

    # ---- webhook -------------------------------------------------------------------------------
    def alertmanager(self, req: "Request") -> Response:
        payload = req.json()
        alerts = StatusService.validate_webhook(payload) if isinstance(payload, dict) else None
        if alerts is None:
            raise HTTPError(400, f"body: expected a JSON object, got {type(payload).__name__}")
        group = str(payload.get("groupKey") or "")
        digest = hashlib.sha256(req.raw).hexdigest()
        with self.store.tx() as c:
            if group:
                row = c.execute("SELECT request_hash, response FROM idempotency WHERE key = ?", (f"am:{group}",)).fetchone()
                if row and row[0] == digest:
                    return json_response(200, {**json.loads(row[1]), "replayed": True})
            result = self.service.handle_alertmanager(payload)
            if group:
                c.execute("INSERT INTO idempotency (key, request_hash, status, response, created) VALUES (?, ?, 200, ?, ?) "
                          "ON CONFLICT(key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response, "
                          "created = excluded.created", (f"am:{group}", digest, json.dumps(result), self.service.clock()))
        return json_response(200, result)

    # ---- API -----------------------------------------------------------------------------------
    def list_incidents(self, req: "Request") -> Response:
        everything = req.query.get("all") in ("1", "true", "yes")
        text = req.query.get("limit", "200") or "200"
        if not text.isdecimal() or not 1 <= int(text) <= 1000:
            raise HTTPError(400, f"limit: expected a whole number 1..1000, got {text!r}")
        incs = self.service.incidents(open_only=not everything, limit=int(text))
        return json_response(200, {"incidents": [public(i) for i in incs]})

    def get_incident(self, req: "Request", iid: str) -> Response:
        return json_response(200, public(self.service.incident(int(iid))))

    def _call(self, fn: Callable, *args, **kw) -> Any:
        try:
            return fn(*args, **kw)
        except InputError as exc:
            raise HTTPError(400, str(exc)) from None
        except NotFound as exc:
            raise HTTPError(404, str(exc)) from None
        except Conflict as exc:
            raise HTTPError(409, str(exc)) from None

    @staticmethod
    def _fields(body: Any, allowed: Iterable[str]) -> dict:
        if not isinstance(body, dict):
            raise HTTPError(400, f"body: expected a JSON object, got {type(body).__name__}")
        unknown = sorted(set(body) - set(allowed))
        if unknown:
            raise HTTPError(400, f"body: unknown field {', '.join(unknown)} (known: {', '.join(sorted(allowed))})")
        for key in ("author", "source", "run_id", "step"):
            if key in body:
                if not isinstance(body[key], str):
                    raise HTTPError(400, f"{key}: expected text, got {type(body[key]).__name__}")
                body[key] = clean_text(body[key], key, one_line=True, limit=120)
        return body

    def open_incident(self, req: "Request") -> Response:
        body = self._fields(req.json(), ("services", "state", "impact", "message", "title", "cause", "eta", "draft",
                                         "maintenance", "started_at", "author", "source"))
        source = body.pop("source", None)
        if source is not None:
            if not isinstance(source, str):
                raise HTTPError(400, "source: expected text")
            body["source"] = source.strip()[:120] or "api"
        if "services" not in body:
            raise HTTPError(400, "services: required (list of service ids)")
        return self._idempotent(req, "open", lambda: (201, public(self._call(self.service.open_incident, **body))))

    def add_update(self, req: "Request", iid: str) -> Response:
        body = self._fields(req.json(), ("state", "message", "cause", "eta", "impact", "notify", "publish", "author",
                                         "title"))
        if body.get("state") == "resolved":  # an update that resolves (runbook notify steps) = resolve
            extra = sorted(set(body) - {"state", "message", "notify", "author"})
            if extra:
                raise HTTPError(400, f"state resolved: use /resolve for {', '.join(extra)}")
            fields = {k: v for k, v in body.items() if k != "state"}
            return self._idempotent(req, f"update:{iid}", lambda: (201, public(self._call(self.service.resolve, int(iid),
                                                                                          **fields))))
        return self._idempotent(req, f"update:{iid}", lambda: (201, public(self._call(self.service.add_update, int(iid), **body))))

    def edit_update(self, req: "Request", iid: str, uid: str) -> Response:
        body = self._fields(req.json(), ("message", "author"))
        return self._idempotent(req, f"edit:{iid}:{uid}", lambda: (200, public(self._call(
            self.service.edit_update, int(iid), int(uid), body.get("message"), body.get("author", "")))))

    def resolve(self, req: "Request", iid: str) -> Response:
        body = self._fields(req.json() if req.raw else {}, ("message", "ended_at", "data_window", "actions", "notify", "author"))

        def run():
            inc = public(self._call(self.service.resolve, int(iid), **body))
            inc["availability"] = availability.incident_impact(self.service, int(iid))  # post-incident figures
            return 200, inc

        return self._idempotent(req, f"resolve:{iid}", run)

    def publish(self, req: "Request", iid: str) -> Response:
        return self._idempotent(req, f"publish:{iid}", lambda: (200, public(self._call(self.service.publish, int(iid)))))

    def heartbeat(self, req: "Request") -> Response:
        body = self._fields(req.json(), ("host", "boot_id", "boot_time"))
        if isinstance(body.get("host"), str) and not req.principal.may_act_for(body["host"]):
            raise HTTPError(403, f"credential {req.principal.name!r} is for host {req.principal.host!r}, "
                                 f"not {body['host']!r}")
        return json_response(200, self._call(self.service.heartbeat, body.get("host"), body.get("boot_id"),
                                             body.get("boot_time")))

    def host_notify(self, req: "Request", host: str) -> Response:
        body = self._fields(req.json(), ("state", "eta_seconds", "run_id", "step", "author"))
        return self._idempotent(req, f"notify:{host}", lambda: (200, self._call(self.service.host_notify, host,
                                                                                body.get("state"), **{k: v for k, v in body.items() if k != "state"})))

    DOC_TYPES = {"baseline": "application/json", "checklist": "text/markdown; charset=utf-8"}

    def put_document(self, req: "Request", host: str, kind: str) -> Response:
        """Contract B: the host's known-good baseline export (JSON) or its filled checklist (text), kept here
        so the operator can read them when the server itself is dead."""
        if not req.raw:
            raise HTTPError(400, "body: empty")
        try:
            text = req.raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "body: not UTF-8") from None
        if kind == "baseline":
            try:
                if not isinstance(json.loads(text), dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                raise HTTPError(400, f"body: a baseline export is a JSON object ({exc})") from None
        now = self.service.clock()
        digest = hashlib.sha256(req.raw).hexdigest()
        with self.store.tx() as c:
            c.execute("INSERT INTO host_documents (host, kind, content_type, body, sha256, updated, updated_by) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(host, kind) DO UPDATE SET body = excluded.body, "
                      "sha256 = excluded.sha256, updated = excluded.updated, updated_by = excluded.updated_by, "
                      "content_type = excluded.content_type",
                      (host, kind, self.DOC_TYPES[kind], req.raw, digest, now, req.principal.name))
        return json_response(200, {"host": host, "kind": kind, "sha256": digest, "bytes": len(req.raw),
                                   "updated_at": texts.iso(now)})

    def get_document(self, req: "Request", host: str, kind: str) -> Response:
        row = self.store.one("SELECT content_type, body, sha256, updated FROM host_documents WHERE host = ? AND kind = ?",
                             (host, kind))
        if row is None:
            raise HTTPError(404, f"no {kind} stored for host {host!r} (the host pushes it: agent baseline export, "
                                 "target statuspage)")
        etag = f'"{row["sha256"]}"'
        if req.header("If-None-Match") == etag:
            return Response(304, b"", row["content_type"], [("ETag", etag)])
        return Response(200, bytes(row["body"]), row["content_type"],
                        [("ETag", etag), ("Last-Modified", email.utils.formatdate(row["updated"], usegmt=True))])

    def add_subscriber(self, req: "Request") -> Response:
        body = self._fields(req.json(), ("kind", "address", "lang", "services", "secret"))
        try:
            sub = notify.add_subscriber(self.store, self.cfg, body.get("kind", "email"), body.get("address", ""),
                                        lang=body.get("lang", ""), services=body.get("services"),
                                        secret=body.get("secret", ""), now=self.service.clock())
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        return json_response(201, sub)

    def availability(self, req: "Request") -> Response:
        try:
            rep = availability.report(self.service, service_id=req.query.get("service") or None,
                                      month=req.query.get("month") or None, year=req.query.get("year") or None)
        except ValueError as exc:
            raise HTTPError(400, str(exc)) from None
        return json_response(200, rep)

    def outbox(self, req: "Request") -> Response:
        return json_response(200, {"pending": self.dispatcher.pending()})


class Request:
    principal: "auth.Principal | None" = None

    def __init__(self, environ: dict, limit: int, ip: str):
        self.environ = environ
        self.path = environ.get("PATH_INFO", "/")
        self.ip = ip
        self.query = {k: v[-1] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.raw = b""
        if environ.get("REQUEST_METHOD") in ("POST", "PATCH", "PUT"):
            length_text = environ.get("CONTENT_LENGTH") or "0"
            try:
                length = int(length_text)
            except ValueError:
                raise HTTPError(400, f"Content-Length: not a number: {length_text!r}") from None
            if length > limit:
                raise HTTPError(413, f"body of {length} bytes exceeds the limit of {limit} bytes (statuspage.max_body_bytes)")
            self.raw = environ["wsgi.input"].read(length) if length > 0 else b""

    def header(self, name: str) -> str:
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), "")

    @property
    def wants_json(self) -> bool:
        return "application/json" in (self.environ.get("CONTENT_TYPE") or "") or "application/json" in self.header("Accept")

    def json(self) -> Any:
        if not self.raw:
            raise HTTPError(400, "body: empty; expected JSON")
        try:
            return json.loads(self.raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise HTTPError(400, "body: not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise HTTPError(400, f"body: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None

    def form(self) -> dict:
        ctype = self.environ.get("CONTENT_TYPE") or ""
        if "application/json" in ctype:
            data = self.json()
            if not isinstance(data, dict):
                raise HTTPError(400, "body: expected a JSON object")
            return data
        try:
            text = self.raw.decode("utf-8")
        except UnicodeDecodeError:
            raise HTTPError(400, "body: not UTF-8") from None
        return {k: v[-1] for k, v in urllib.parse.parse_qs(text).items()}


# ---- server ------------------------------------------------------------------------------------------
# waitress (a production WSGI server, pure Python): bounded worker threads and connections, idle
# connections closed after statuspage.idle_timeout_seconds, header and body size limits, no
# Server header naming the software or the Python version.


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        raise ValueError(f"statuspage.listen: expected host:port, got {listen!r}")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - explicit ':port' means all addresses
    try:
        return host, int(port)
    except ValueError:
        raise ValueError(f"statuspage.listen: bad port in {listen!r}") from None


def build(cfg: StatuspageConfig, *, clock: Callable[[], float] = time.time, database: str | None = None) -> StatusApp:
    store = StatusStore(database or cfg.database, clock=clock)
    service = StatusService(cfg, store, clock=clock)
    return StatusApp(cfg, service, cfg.read_token())


class Server:
    """The HTTP server (waitress) plus the background loop (dead-man switch, holds, notices, page, pruning)."""

    def __init__(self, app: StatusApp, listen: str, *, interval: float = 2.0):
        import waitress  # noqa: PLC0415 - the status service's web stack, only here

        host, port = parse_listen(listen)
        cfg = app.cfg
        self.app = app
        self.httpd = waitress.create_server(
            app, host=host, port=port, threads=cfg.threads, connection_limit=cfg.connection_limit,
            channel_timeout=cfg.idle_timeout_seconds, cleanup_interval=max(1, min(10, int(cfg.idle_timeout_seconds // 3))),
            max_request_header_size=16 * 1024, max_request_body_size=cfg.max_body_bytes, ident="",
            clear_untrusted_proxy_headers=False, expose_tracebacks=False, asyncore_use_poll=True)
        self.interval = interval
        self._stop = threading.Event()
        self._bg = threading.Thread(target=self._loop, name="statuspage-bg", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return str(self.httpd.effective_host), int(self.httpd.effective_port)

    def _loop(self) -> None:
        last_render = last_prune = 0.0
        while not self._stop.wait(self.interval):
            try:
                self.app.service.check_heartbeats()
                self.app.service.tick()
                self.app.dispatcher.run_once()
                now = time.monotonic()
                if self.app.cfg.output_dir and now - last_render > 300:
                    page.write_dir(self.app.service, self.app.cfg.output_dir)  # day bars roll over
                    last_render = now
                if now - last_prune > 3600:
                    self.app.store.prune(self.app.service.clock())
                    last_prune = now
            except StoreBusy as exc:
                log.warning("background: %s", exc)
            except Exception:  # noqa: BLE001 - keep serving
                log.exception("background loop failed; continuing")

    def start_background(self) -> None:
        self._bg.start()

    def serve_forever(self) -> None:
        self.start_background()
        if self.app.cfg.output_dir:
            page.write_dir(self.app.service, self.app.cfg.output_dir)
        try:
            self.httpd.run()
        finally:
            self._stop.set()
            self.httpd.close()

    def shutdown(self) -> None:
        self._stop.set()
        self.httpd.close()
