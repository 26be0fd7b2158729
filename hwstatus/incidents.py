"""Incident lifecycle: investigating -> identified (cause, ETA) -> monitoring -> resolved.

Three inputs feed it, all idempotent: Alertmanager webhooks (:meth:`StatusService.handle_alertmanager`),
the HTTP API and the operator's CLI (open/update/resolve/edit/publish). Every change is one SQLite
transaction that also queues the subscriber notices (see :mod:`hwstatus.notify`), so a
crash never leaves an update without its notices or the other way round.

Alert mapping. An alert affects the services named by its ``service`` label (comma-separated),
else every configured service whose ``hosts`` contain the alert's host (``instance``/``host``/
``hostname``/``nodename`` label, port stripped, also matched by the first DNS label), whose
``labels`` all match, and whose ``components`` contain the alert's ``component`` label (host-down
alerts affect all components). Impact: an ``impact`` label wins; host-down alerts are a major
outage; otherwise ``severity_impact`` by the ``severity`` label; severities not listed open
nothing.

Grouping and debounce. A firing alert joins the open incident that already covers one of its
services (the incident gains the other services), so ten alerts of one dead host are one
incident and one notice. Repeats of a known firing alert change nothing. When the last alert of
an incident resolves, the incident goes to *monitoring* (no notice by default) and a hold of
``resolve_hold_seconds`` starts; a re-fire inside the hold silently returns it to its previous
state; after the hold it resolves with the templated summary (``auto_resolve``), unless the
operator has written to it, in which case it waits in monitoring for the operator. An incident
the operator resolved stays resolved while the same alert episode (same ``startsAt``) keeps being
repeated; a new episode opens a new incident.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from typing import Any, Callable, Iterable

from hwstatus import texts
from hwstatus.alerting import AlertsMixin
from hwstatus.alertmap import HOST_LABELS, AlertMatch, alert_host  # noqa: F401 - re-exported
from hwstatus.config import IMPACTS, StatuspageConfig
from hwstatus.hosts import HostsMixin
from hwstatus.inputs import (IMPACT_ORDER, OUTAGES, STATES, Conflict, InputError, NotFound,  # noqa: F401
                                     clean_text, parse_eta, parse_time)
from hwstatus.readmodel import ReadMixin, for_customers, public  # noqa: F401 - re-exported
from hwstatus.store import StatusStore

log = logging.getLogger("hwstatus")


class StatusService(AlertsMixin, HostsMixin, ReadMixin):
    """The incident lifecycle over a :class:`StatusStore`."""

    def __init__(self, cfg: StatuspageConfig, store: StatusStore, *, clock: Callable[[], float] = time.time,
                 on_change: Callable[[], None] | None = None):
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.tz = texts.zone(cfg.timezone)
        self.on_change = on_change
        store.sync_services(cfg.services)

    # ---- internals -----------------------------------------------------------------------------
    def _changed(self) -> None:
        self.store.after_commit(self._notify_change)

    def _notify_change(self) -> None:
        if self.on_change:
            try:
                self.on_change()
            except Exception:  # noqa: BLE001 - publishing must not fail the request
                log.exception("re-rendering the status page failed")

    def service_names(self, ids: Iterable[str], lang: str) -> list[str]:
        out = []
        for sid in ids:
            svc = self.cfg.services.get(sid)
            out.append(svc.name if svc else sid)
        return out

    def _join(self, names: list[str], lang: str) -> str:
        if len(names) <= 1:
            return "".join(names)
        word = " und " if lang == "de" else " and "
        return ", ".join(names[:-1]) + word + names[-1]

    def _eta_text(self, a: float | None, b: float | None, lang: str) -> str:
        if a is None:
            return ""
        fa = texts.fmt_time(a, self.tz, lang)
        if b is None or abs(b - a) < 60:
            return (f"gegen {fa}" if lang == "de" else f"by {fa}")
        same_day = dt.datetime.fromtimestamp(a, self.tz).date() == dt.datetime.fromtimestamp(b, self.tz).date()
        fb = texts.fmt_clock(b, self.tz, lang) + (" " + dt.datetime.fromtimestamp(b, self.tz).strftime("%Z")) if same_day \
            else texts.fmt_time(b, self.tz, lang)
        return f"zwischen {fa} und {fb}" if lang == "de" else f"between {fa} and {fb}"

    def _context(self, inc: dict, services: list[str], lang: str, now: float, **extra) -> dict:
        names = self.service_names(services, lang)
        end = inc.get("ended_at") or inc.get("resolved_at") or now
        start = inc.get("outage_from") or inc["started_at"]  # an escalated risk: the outage's own start
        ctx = {
            "services": self._join(names, lang), "services_count": len(names),
            "start": texts.fmt_time(start, self.tz, lang),
            "end": texts.fmt_time(end, self.tz, lang),
            "duration": texts.fmt_duration(max(end - start, 0.0), lang),
            "next_update": texts.fmt_time(now + self.cfg.update_interval_minutes * 60, self.tz, lang),
            "cause": inc.get("cause") or "", "eta": self._eta_text(inc.get("eta_from"), inc.get("eta_to"), lang),
            "summary": "", "data_window": "", "actions": "", "impact": inc.get("impact"),
            "worst_impact": inc.get("worst_impact") or inc.get("impact"),
            "maintenance": bool(inc.get("maintenance")),
            "scheduled": bool(inc.get("maintenance")) and inc["started_at"] > now,
        }
        ctx.update({k: v for k, v in extra.items() if v is not None})
        return ctx

    def _texts(self, name: str, ctx_by_lang: Callable[[str], dict]) -> dict[str, str]:
        return {lang: texts.render_message(self.cfg.template_dir, lang, name, **ctx_by_lang(lang))
                for lang in self.cfg.languages}

    def _message(self, value: Any, field: str = "message") -> dict[str, str] | None:
        """Operator text: a string (all languages) or {lang: text}. Titles are one line."""
        if value in (None, ""):
            return None
        one_line = field == "title"
        limit = 200 if one_line else 10_000
        if isinstance(value, str):
            text = clean_text(value, field, one_line=one_line, limit=limit)
            return {lang: text for lang in self.cfg.languages}
        if isinstance(value, dict):
            out = {}
            for lang, text in value.items():
                if lang not in self.cfg.languages:
                    raise InputError(f"{field}.{lang}: language not configured ({', '.join(self.cfg.languages)})")
                if not isinstance(text, str):
                    raise InputError(f"{field}.{lang}: expected text")
                out[lang] = clean_text(text, f"{field}.{lang}", one_line=one_line, limit=limit)
            first = next(iter(out.values()), "")
            return {lang: out.get(lang, first) for lang in self.cfg.languages}
        raise InputError(f"{field}: expected text or an object of language -> text, got {type(value).__name__}")

    def _check_services(self, services: Any, field: str = "services") -> list[str]:
        if isinstance(services, str):
            services = [s.strip() for s in services.split(",") if s.strip()]
        if not isinstance(services, list) or not services or not all(isinstance(s, str) for s in services):
            raise InputError(f"{field}: expected a non-empty list of service ids")
        unknown = [s for s in services if s not in self.cfg.services]
        if unknown:
            raise InputError(f"{field}: unknown service {', '.join(map(repr, unknown))} "
                             f"(configured: {', '.join(self.cfg.services) or 'none'})")
        return list(dict.fromkeys(services))

    def _impact(self, value: Any, field: str = "impact") -> str:
        if value not in IMPACTS:
            raise InputError(f"{field}: expected one of {', '.join(IMPACTS)}, got {value!r}")
        return value

    def _state(self, value: Any, field: str = "state", allow_resolved: bool = False) -> str:
        allowed = STATES if allow_resolved else STATES[:-1]
        if value not in allowed:
            raise InputError(f"{field}: expected one of {', '.join(allowed)}, got {value!r}")
        return value

    def _incident_row(self, c, incident_id: int) -> dict:
        cur = c.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        row = cur.fetchone()
        if row is None:
            raise NotFound(f"incident {incident_id}: no such incident")
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def _incident_services(self, c, incident_id: int) -> dict[str, str]:
        return dict(c.execute("SELECT service_id, impact FROM incident_services WHERE incident_id = ? "
                              "ORDER BY rowid", (incident_id,)).fetchall())

    def _add_update(self, c, inc: dict, state: str, body: dict[str, str], now: float, *, author: str = "",
                    notify: bool = True) -> int:
        cur = c.execute("INSERT INTO updates (incident_id, state, body, author, created, notify) VALUES (?, ?, ?, ?, ?, ?)",
                        (inc["id"], state, json.dumps(body, ensure_ascii=False), author, now, int(notify)))
        uid = cur.lastrowid
        if inc["published"] and notify and state in self.cfg.notify_states:
            if inc["impact"] == "risk" and not self.cfg.notify_risk and not self._was_notified(c, inc["id"]):
                return uid  # a risk is a notice on the page; mail starts once customers are affected
            self._queue(c, inc["id"], uid, now)
        return uid

    @staticmethod
    def _was_notified(c, incident_id: int) -> bool:
        return c.execute("SELECT 1 FROM updates WHERE incident_id = ? AND queued = 1 LIMIT 1", (incident_id,)).fetchone() is not None

    # ---- impact as intervals -------------------------------------------------------------------
    @staticmethod
    def _log_impact(c, incident_id: int, impacts: dict[str, str], at: float) -> None:
        for sid, imp in impacts.items():
            c.execute("INSERT INTO impact_log (incident_id, service_id, at, impact) VALUES (?, ?, ?, ?)",
                      (incident_id, sid, at, imp))

    def _worst_impact(self, c, inc: dict) -> str:
        seen = [r[0] for r in c.execute("SELECT DISTINCT impact FROM impact_log WHERE incident_id = ?", (inc["id"],))]
        return max([inc["impact"], *seen], key=lambda i: IMPACT_ORDER[i])

    def _retitle(self, c, inc: dict, now: float) -> None:
        """An auto title follows the worst impact the incident had (``Outage: Web`` after a risk escalated)."""
        if not inc.get("title_auto"):
            return
        inc["worst_impact"] = self._worst_impact(c, inc)
        sids = list(self._incident_services(c, inc["id"]))
        title = self._texts("title", lambda lang: self._context(inc, sids, lang, now))
        c.execute("UPDATE incidents SET title = ? WHERE id = ?", (json.dumps(title, ensure_ascii=False), inc["id"]))
        inc["title"] = json.dumps(title, ensure_ascii=False)

    def _change_impact(self, c, inc: dict, impacts: dict[str, str], at: float, now: float) -> None:
        """Set per-service impacts from ``at`` on (an interval, never a rewrite of the past)."""
        have = self._incident_services(c, inc["id"])
        changed = {}
        for sid, imp in impacts.items():
            if sid not in have:
                c.execute("INSERT INTO incident_services (incident_id, service_id, impact) VALUES (?, ?, ?)",
                          (inc["id"], sid, imp))
                changed[sid] = imp
            elif have[sid] != imp:
                c.execute("UPDATE incident_services SET impact = ? WHERE incident_id = ? AND service_id = ?",
                          (imp, inc["id"], sid))
                changed[sid] = imp
        if not changed:
            return
        at = max(at, inc["started_at"])
        self._log_impact(c, inc["id"], changed, at)
        new = max(self._incident_services(c, inc["id"]).values(), key=lambda i: IMPACT_ORDER[i])
        c.execute("UPDATE incidents SET impact = ?, updated = ? WHERE id = ?", (new, now, inc["id"]))
        inc["impact"] = new
        self._retitle(c, inc, now)

    def _queue(self, c, incident_id: int, update_id: int, now: float) -> None:
        from hwstatus import notify  # noqa: PLC0415 - notify imports us for types only

        notify.enqueue_update(c, self.cfg, incident_id, update_id, now)
        c.execute("UPDATE updates SET queued = 1 WHERE id = ?", (update_id,))

    def _set_state(self, c, inc: dict, state: str, now: float) -> None:
        fields = {"state": state, "updated": now}
        if state == "identified" and not inc.get("identified_at"):
            fields["identified_at"] = now
        if state == "monitoring" and not inc.get("monitoring_at"):
            fields["monitoring_at"] = now
        sets = ", ".join(f"{k} = ?" for k in fields)
        c.execute(f"UPDATE incidents SET {sets} WHERE id = ?", (*fields.values(), inc["id"]))  # noqa: S608
        inc.update(fields)

    # ---- creating ------------------------------------------------------------------------------
    def _create(self, c, *, services: dict[str, str], state: str, title: dict[str, str] | None, body: dict[str, str] | None,
                started_at: float, now: float, source: str, published: bool, cause: str = "",
                eta: tuple[float | None, float | None] = (None, None), maintenance: bool = False, author: str = "",
                summary: str = "", operator: bool = False) -> int:
        impact = max(services.values(), key=lambda i: IMPACT_ORDER[i])
        inc: dict[str, Any] = {"title": "", "state": state, "impact": impact, "maintenance": int(maintenance), "source": source,
               "published": int(published), "operator_touched": int(operator), "cause": cause, "eta_from": eta[0],
               "eta_to": eta[1], "started_at": started_at, "created": now, "updated": now,
               "identified_at": now if state in ("identified", "monitoring") else None,
               "monitoring_at": now if state == "monitoring" else None}
        ids = list(services)
        inc["title_auto"] = int(title is None)
        if title is None:
            title = self._texts("title", lambda lang: self._context(inc, ids, lang, now))
        inc["title"] = json.dumps(title, ensure_ascii=False)
        cols = ", ".join(inc)
        cur = c.execute(f"INSERT INTO incidents ({cols}) VALUES ({', '.join('?' * len(inc))})", tuple(inc.values()))  # noqa: S608
        inc["id"] = cur.lastrowid
        for sid, imp in services.items():
            c.execute("INSERT INTO incident_services (incident_id, service_id, impact) VALUES (?, ?, ?)", (inc["id"], sid, imp))
        self._log_impact(c, inc["id"], services, started_at)
        if body is None:
            body = self._texts(state, lambda lang: self._context(inc, ids, lang, now, summary=summary))
        self._add_update(c, inc, state, body, now, author=author)
        return inc["id"]

    def open_incident(self, services: Any, *, state: str = "investigating", impact: str | None = None,
                      message: Any = None, title: Any = None, cause: str = "", eta: Any = None,
                      draft: bool | None = None, maintenance: bool = False, started_at: Any = None,
                      author: str = "", source: str = "api") -> dict:
        now = self.clock()
        sids = self._check_services(services)
        state = self._state(state)
        impact = self._impact(impact or ("maintenance" if maintenance else "major_outage"))
        if not isinstance(cause, str):
            raise InputError("cause: expected text")
        start = parse_time(started_at, "started_at") or now
        eta_t = parse_eta(eta, now, self.tz)
        if draft is None:
            draft = any(self.cfg.services[s].draft for s in sids)
        with self.store.tx() as c:
            iid = self._create(c, services={s: impact for s in sids}, state=state, title=self._message(title, "title"),
                               body=self._message(message), started_at=start if maintenance else min(start, now),
                               now=now, source=source,
                               published=not draft, cause=clean_text(cause, "cause", one_line=True, limit=500), eta=eta_t,
                               maintenance=bool(maintenance),
                               author=author, operator=True)
        self._changed()
        return self.incident(iid)

    # ---- updating ------------------------------------------------------------------------------
    def add_update(self, incident_id: int, *, state: str | None = None, message: Any = None, cause: str | None = None,
                   eta: Any = None, impact: str | None = None, notify: bool = True, publish: bool = False,
                   author: str = "", title: Any = None) -> dict:
        now = self.clock()
        with self.store.tx() as c:
            inc = self._incident_row(c, incident_id)
            if inc["state"] == "resolved":
                raise Conflict(f"incident {incident_id} is resolved; open a new one")
            new_state = self._state(state) if state else inc["state"]
            if cause is not None:
                if not isinstance(cause, str):
                    raise InputError("cause: expected text")
                cause = clean_text(cause, "cause", one_line=True, limit=500)
                c.execute("UPDATE incidents SET cause = ? WHERE id = ?", (cause, incident_id))
                inc["cause"] = cause
            new_title = self._message(title, "title")
            if new_title is not None:
                c.execute("UPDATE incidents SET title = ?, title_auto = 0 WHERE id = ?",
                          (json.dumps(new_title, ensure_ascii=False), incident_id))
            if eta not in (None, ""):
                a, b = parse_eta(eta, now, self.tz)
                c.execute("UPDATE incidents SET eta_from = ?, eta_to = ? WHERE id = ?", (a, b, incident_id))
                inc["eta_from"], inc["eta_to"] = a, b
            if impact:
                imp = self._impact(impact)
                self._change_impact(c, inc, {sid: imp for sid in self._incident_services(c, incident_id)}, now, now)
            c.execute("UPDATE incidents SET operator_touched = 1, hold_until = NULL, hold_state = NULL WHERE id = ?",
                      (incident_id,))
            self._set_state(c, inc, new_state, now)
            body = self._message(message)
            if body is None:
                sids = list(self._incident_services(c, incident_id))
                body = self._texts(new_state, lambda lang: self._context(inc, sids, lang, now))
            if publish and not inc["published"]:
                c.execute("UPDATE incidents SET published = 1 WHERE id = ?", (incident_id,))
                inc["published"] = 1
            self._add_update(c, inc, new_state, body, now, author=author, notify=notify)
        self._changed()
        return self.incident(incident_id)

    def resolve(self, incident_id: int, *, message: Any = None, ended_at: Any = None, data_window: str = "",
                actions: str = "", notify: bool = True, author: str = "") -> dict:
        now = self.clock()
        end = parse_time(ended_at, "ended_at")
        with self.store.tx() as c:
            inc = self._incident_row(c, incident_id)
            if inc["state"] == "resolved":
                raise Conflict(f"incident {incident_id} is already resolved")
            self._resolve(c, inc, now, end=end, message=self._message(message), data_window=data_window,
                          actions=actions, author=author, notify=notify)
        self._changed()
        return self.incident(incident_id)

    def _resolve(self, c, inc: dict, now: float, *, end: float | None = None, message: dict | None = None,
                 data_window: str = "", actions: str = "", author: str = "", notify: bool = True) -> None:
        end = end or inc.get("ended_at") or now
        end = max(min(end, now), inc["started_at"])
        c.execute("UPDATE incidents SET state = 'resolved', resolved_at = ?, ended_at = ?, updated = ?, hold_until = NULL, "
                  "hold_state = NULL WHERE id = ?", (now, end, now, inc["id"]))
        inc.update(state="resolved", resolved_at=now, ended_at=end)
        inc["worst_impact"] = self._worst_impact(c, inc)
        first_outage = c.execute("SELECT MIN(at) FROM impact_log WHERE incident_id = ? AND impact IN (?, ?)",
                                 (inc["id"], *OUTAGES)).fetchone()[0]
        if first_outage is not None and first_outage > inc["started_at"]:
            inc["outage_from"] = first_outage
        if message is None:
            sids = list(self._incident_services(c, inc["id"]))
            message = self._texts("resolved", lambda lang: self._context(
                inc, sids, lang, now, data_window=data_window or "", actions=actions or ""))
        self._add_update(c, inc, "resolved", message, now, author=author, notify=notify)

    def edit_update(self, incident_id: int, update_id: int, message: Any, author: str = "") -> dict:
        body = self._message(message)
        if body is None:
            raise InputError("message: required")
        now = self.clock()
        with self.store.tx() as c:
            self._incident_row(c, incident_id)
            row = c.execute("SELECT body FROM updates WHERE id = ? AND incident_id = ?", (update_id, incident_id)).fetchone()
            if row is None:
                raise NotFound(f"update {update_id} of incident {incident_id}: no such update")
            old = json.loads(row[0])
            if isinstance(message, dict):  # only the languages given
                body = {**old, **{k: clean_text(v, f"message.{k}") for k, v in message.items()}}
            c.execute("UPDATE updates SET body = ?, edited = ? WHERE id = ?", (json.dumps(body, ensure_ascii=False), now, update_id))
            c.execute("UPDATE incidents SET operator_touched = 1, updated = ? WHERE id = ?", (now, incident_id))
        self._changed()
        return self.incident(incident_id)

    def publish(self, incident_id: int, author: str = "") -> dict:
        """Publish a draft: it appears on the page and its latest update goes to subscribers."""
        now = self.clock()
        with self.store.tx() as c:
            inc = self._incident_row(c, incident_id)
            if inc["published"]:
                return self.incident(incident_id)
            c.execute("UPDATE incidents SET published = 1, operator_touched = 1, updated = ? WHERE id = ?", (now, incident_id))
            last = c.execute("SELECT id, state, notify FROM updates WHERE incident_id = ? ORDER BY id DESC LIMIT 1",
                             (incident_id,)).fetchone()
            if last and last[2] and last[1] in self.cfg.notify_states:
                self._queue(c, incident_id, last[0], now)
        self._changed()
        return self.incident(incident_id)
