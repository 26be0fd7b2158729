"""The webhook and the operator/host API of the status service (a mixin of :class:`hwstatus.app.StatusApp`)."""

from __future__ import annotations

import email.utils
import hashlib
import json
from typing import TYPE_CHECKING, Any, Callable, Iterable

from hwstatus import availability, notify, texts
from hwstatus.http import HTTPError, Request, Response, json_response
from hwstatus.incidents import Conflict, InputError, NotFound, StatusService, clean_text, public

if TYPE_CHECKING:
    from hwstatus.config import StatuspageConfig
    from hwstatus.store import StatusStore


class ApiMixin:
    if TYPE_CHECKING:  # provided by StatusApp (hwstatus.app), which mixes this in
        cfg: StatuspageConfig
        service: StatusService
        store: StatusStore
        dispatcher: notify.Dispatcher
        _idempotent: Callable[..., Response]
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
        who = req.principal
        assert who is not None  # the route requires a credential (auth=HOST)
        if isinstance(body.get("host"), str) and not who.may_act_for(body["host"]):
            raise HTTPError(403, f"credential {who.name!r} is for host {who.host!r}, "
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
        assert req.principal is not None  # the route requires a credential (auth=HOST)
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
