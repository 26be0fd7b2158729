"""Incident lifecycle: investigating -> identified (cause, ETA) -> monitoring -> resolved.

Three inputs feed it, all idempotent: Alertmanager webhooks (:meth:`StatusService.handle_alertmanager`),
the HTTP API and the operator's CLI (open/update/resolve/edit/publish). Every change is one SQLite
transaction that also queues the subscriber notices (see :mod:`agent.statuspage.notify`), so a
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
import hashlib
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from agent.statuspage import texts
from agent.statuspage.config import IMPACT_LABELS, IMPACTS, StatuspageConfig
from agent.statuspage.store import StatusStore

log = logging.getLogger("hwagent.statuspage")

STATES = texts.STATES
IMPACT_ORDER = {"operational": 0, "risk": 1, "maintenance": 2, "degraded": 3, "partial_outage": 4, "major_outage": 5}
OUTAGES = ("partial_outage", "major_outage")
HOST_LABELS = ("instance", "host", "hostname", "nodename")


# C0/C1 controls, DEL and the Unicode line/paragraph separators; a text may keep line feeds and tabs
_CONTROL_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def clean_text(value: str, field: str, *, one_line: bool = False, limit: int = 10_000) -> str:
    """Refuse control and line-separator characters (a title becomes a mail subject; one bad notice must
    never wedge the others), and over-long text; the message names the field and the character."""
    value = value.strip()
    m = (_CONTROL_LINE if one_line else _CONTROL_TEXT).search(value)
    if m:
        raise InputError(f"{field}: control character U+{ord(m.group()):04X} at position {m.start()} is not allowed"
                         + (" (one line)" if one_line else ""))
    if len(value) > limit:
        raise InputError(f"{field}: longer than {limit} characters")
    return value


class InputError(ValueError):
    """Bad input from a client; the message names the field. HTTP 400."""


class NotFound(LookupError):
    """No such incident/update. HTTP 404."""


class Conflict(ValueError):
    """The request conflicts with the incident's state. HTTP 409."""


# ---- time parsing ------------------------------------------------------------------------------

_FRAC = re.compile(r"(\.\d{1,6})\d*")


def parse_time(value: Any, field: str) -> float | None:
    """RFC 3339 (Alertmanager sends nanoseconds) or epoch seconds -> epoch; Go's zero time -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _epoch(float(value), field)
    if not isinstance(value, str):
        raise InputError(f"{field}: expected an RFC 3339 time string, got {value!r}")
    text = _FRAC.sub(lambda m: m.group(1), value.strip())
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{field}: not an RFC 3339 time: {value!r}") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    if t.year <= 1:
        return None
    return t.timestamp()


_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$", re.I)
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _eta_point(text: str, now: float, tz: dt.tzinfo, field: str) -> float:
    m = _REL.match(text)
    if m:
        n, unit = float(m.group(1)), m.group(2).lower()
        return now + n * {"m": 60, "min": 60, "h": 3600, "d": 86400}[unit]
    m = _CLOCK.match(text)
    if m:
        base = dt.datetime.fromtimestamp(now, tz)
        t = base.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
        if t.timestamp() <= now:
            t += dt.timedelta(days=1)
        return t.timestamp()
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{field}: not understood: {text!r} (use 2h, 90m, 14:30, 2026-11-25T14:30, "
                         "or a range like 2h-4h)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return t.timestamp()


def parse_eta(value: Any, now: float, tz: dt.tzinfo, field: str = "eta") -> tuple[float | None, float | None]:
    """ETA as one point or a range: ``2h``, ``90m``, ``14:30``, ISO time, ``2h-4h``, ``[from, to]``."""
    if value in (None, ""):
        return None, None
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise InputError(f"{field}: a range needs two values")
        a, b = (_eta_point(str(v), now, tz, field) for v in value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        a = b = float(value)
    elif isinstance(value, str):
        parts = re.split(r"\s*(?:\.\.|–|—|\s-\s|(?<=[hmd])-)\s*", value.strip(), maxsplit=1)
        a = _eta_point(parts[0], now, tz, field)
        b = _eta_point(parts[1], now, tz, field) if len(parts) == 2 else a
    else:
        raise InputError(f"{field}: expected text like 2h or 2h-4h, got {value!r}")
    a, b = _epoch(a, field), _epoch(b, field)
    if b < a:
        a, b = b, a
    return a, b


EPOCH_MIN, EPOCH_MAX = 0.0, 253402300799.0  # 1970-01-01 .. 9999-12-31T23:59:59Z (no incident predates Unix time)


def _epoch(t: float, field: str) -> float:
    """A time every renderer can print: finite and within years 1970-9999, else the input is refused."""
    if not math.isfinite(t) or not EPOCH_MIN <= t <= EPOCH_MAX:
        raise InputError(f"{field}: time out of range (years 1970-9999): {t!r}")
    return t


# ---- alert mapping -------------------------------------------------------------------------------

def alert_host(labels: dict) -> str:
    for key in HOST_LABELS:
        v = labels.get(key)
        if v:
            v = v.strip()
            if v.startswith("["):  # [ipv6]:port
                return v[1:v.index("]")] if "]" in v else v
            if v.count(":") == 1:
                v = v.split(":", 1)[0]
            return v
    return ""


@dataclass(frozen=True)
class AlertMatch:
    services: tuple[str, ...]
    impact: str | None
    unknown: tuple[str, ...] = ()


class StatusService:
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
        return dict(zip([d[0] for d in cur.description], row))

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
        from agent.statuspage import notify  # noqa: PLC0415 - notify imports us for types only

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
        inc = {"title": "", "state": state, "impact": impact, "maintenance": int(maintenance), "source": source,
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

    # ---- alerts --------------------------------------------------------------------------------
    def match_alert(self, labels: dict) -> AlertMatch:
        name = labels.get("alertname", "")
        label = IMPACT_LABELS.get(labels.get("impact", ""), labels.get("impact"))
        host_down = (name in self.cfg.host_down_alerts or labels.get("rule") in ("host.down", "agent.down")
                     or labels.get("impact") == "outage")
        if label in IMPACTS:
            impact: str | None = label
        elif host_down:
            impact = "major_outage"
        else:
            impact = self.cfg.severity_impact.get(labels.get("severity", ""))
        if labels.get("service"):
            wanted = [s.strip() for s in labels["service"].split(",") if s.strip()]
            known = tuple(s for s in wanted if s in self.cfg.services)
            unknown = tuple(s for s in wanted if s not in self.cfg.services)
            if known or not self.cfg.default_service:
                return AlertMatch(known, impact, unknown)
            return AlertMatch((self.cfg.default_service,), impact, unknown)
        host = alert_host(labels)
        out = []
        for sid, svc in self.cfg.services.items():
            if not svc.hosts and not svc.labels:
                continue
            if svc.hosts and host not in svc.hosts and host.split(".")[0] not in svc.hosts:
                continue
            if any(labels.get(k) != v for k, v in svc.labels.items()):
                continue
            if svc.components and not host_down and labels.get("component") not in svc.components:
                continue
            out.append(sid)
        if not out and self.cfg.default_service:
            out.append(self.cfg.default_service)
        return AlertMatch(tuple(out), impact)

    @staticmethod
    def validate_webhook(payload: Any) -> list[dict]:
        """Check an Alertmanager webhook body (version 4); returns normalised alerts or raises InputError."""
        if not isinstance(payload, dict):
            raise InputError(f"body: expected a JSON object, got {type(payload).__name__}")
        version = payload.get("version", "4")
        if str(version) != "4":
            raise InputError(f"version: unsupported Alertmanager webhook version {version!r} (expected \"4\")")
        alerts = payload.get("alerts")
        if not isinstance(alerts, list):
            raise InputError("alerts: missing or not a list")
        out = []
        for i, a in enumerate(alerts):
            where = f"alerts[{i}]"
            if not isinstance(a, dict):
                raise InputError(f"{where}: expected an object")
            status = a.get("status")
            if status not in ("firing", "resolved"):
                raise InputError(f"{where}.status: expected \"firing\" or \"resolved\", got {status!r}")
            labels = a.get("labels")
            if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
                raise InputError(f"{where}.labels: expected an object of string labels")
            ann = a.get("annotations") or {}
            if not isinstance(ann, dict):
                raise InputError(f"{where}.annotations: expected an object")
            starts = parse_time(a.get("startsAt"), f"{where}.startsAt")
            ends = parse_time(a.get("endsAt"), f"{where}.endsAt")
            fp = a.get("fingerprint")
            if fp is not None and not isinstance(fp, str):
                raise InputError(f"{where}.fingerprint: expected a string")
            if not fp:
                fp = hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
            out.append({"status": status, "labels": labels, "annotations": {str(k): str(v) for k, v in ann.items()},
                        "starts": starts, "ends": ends, "fingerprint": fp})
        return out

    def handle_alertmanager(self, payload: Any) -> dict:
        alerts = self.validate_webhook(payload)
        now = self.clock()
        result = {"opened": [], "joined": [], "unchanged": 0, "held": [], "reopened": [], "ignored": [], "unmapped": []}
        changed = False
        with self.store.tx() as c:
            # firing alerts first (so a batch that resolves one alert and fires another keeps the incident)
            for a in sorted(alerts, key=lambda a: a["status"] != "firing"):
                if a["status"] == "firing":
                    changed |= self._alert_firing(c, a, now, result)
                else:
                    changed |= self._alert_resolved(c, a, now, result)
        if changed:
            self._changed()
        return result

    def _alert_firing(self, c, a: dict, now: float, result: dict) -> bool:
        fp, labels = a["fingerprint"], a["labels"]
        episode = min(a["starts"] or now, now)
        row = c.execute("SELECT incident_id, status, COALESCE(episode, starts_at) FROM alerts WHERE fingerprint = ?",
                        (fp,)).fetchone()
        if row and row[0] is not None:
            inc = self._incident_row(c, row[0])
            if inc["state"] == "resolved" and row[1] == "firing" and a["starts"] is not None \
                    and abs(episode - row[2]) < 1.0:
                # the operator (or the runbook) resolved it while this very alert episode still fires (a
                # silence, a slow Alertmanager): the decision stands; a new episode opens a new incident
                c.execute("UPDATE alerts SET last_seen = ? WHERE fingerprint = ?", (now, fp))
                result["unchanged"] += 1
                return False
            if inc["state"] != "resolved":
                c.execute("UPDATE alerts SET status = 'firing', ends_at = NULL, last_seen = ? WHERE fingerprint = ?", (now, fp))
                if inc["hold_until"] is not None:  # flapping: back to the previous state, no notice
                    c.execute("UPDATE incidents SET state = ?, hold_until = NULL, hold_state = NULL, ended_at = NULL, "
                              "updated = ? WHERE id = ?", (inc["hold_state"] or "investigating", now, inc["id"]))
                    result["reopened"].append(inc["id"])
                    return True
                result["unchanged"] += 1
                return False
        match = self.match_alert(labels)
        name = labels.get("alertname", fp)
        if match.unknown:
            result["unmapped"].append({"alert": name, "unknown_services": list(match.unknown)})
        if not match.services:
            if not match.unknown:
                result["unmapped"].append({"alert": name, "host": alert_host(labels)})
            log.warning("alert %s (%s) maps to no service; configure statuspage.services or default_service", name, fp)
            return False
        if match.impact is None:
            result["ignored"].append({"alert": name, "severity": labels.get("severity", "")})
            return False
        start = episode
        if match.impact in OUTAGES:
            start = self.sign_of_life(c, alert_host(labels), start)
        iid = self._raise(c, match.services, match.impact, start, now, result,
                          summary=a["annotations"].get("customer_summary", ""))
        c.execute("INSERT INTO alerts (fingerprint, incident_id, alertname, labels, status, starts_at, ends_at, last_seen, "
                  "episode) VALUES (?, ?, ?, ?, 'firing', ?, NULL, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET "
                  "incident_id = excluded.incident_id, labels = excluded.labels, status = 'firing', "
                  "starts_at = excluded.starts_at, ends_at = NULL, last_seen = excluded.last_seen, episode = excluded.episode",
                  (fp, iid, name, json.dumps(labels, sort_keys=True), start, now, episode))
        return True

    def _open_for(self, c, services: Iterable[str], *, maintenance: bool | None = False) -> int | None:
        services = list(services)
        where = "" if maintenance is None else f" AND i.maintenance = {int(maintenance)}"
        row = c.execute(
            "SELECT i.id FROM incidents i JOIN incident_services s ON s.incident_id = i.id "
            f"WHERE i.resolved_at IS NULL{where} AND s.service_id IN ({','.join('?' * len(services))}) "  # noqa: S608
            "ORDER BY i.maintenance, i.id DESC LIMIT 1", services).fetchone()
        return row[0] if row else None

    def _raise(self, c, services: Iterable[str], impact: str, start: float, now: float, result: dict, *,
               summary: str = "", source: str = "alert") -> int:
        """Open the incident of these services, or join (and escalate) the one that is open: one host
        outage is one incident, whatever told us first (a risk finding, an alert, the dead-man switch)."""
        services = tuple(services)
        iid = self._open_for(c, services)
        if iid is None:
            draft = any(self.cfg.services[s].draft for s in services)
            iid = self._create(c, services={s: impact for s in services}, state="investigating", title=None,
                               body=None, started_at=start, now=now, source=source, published=not draft, summary=summary)
            result["opened"].append(iid)
            return iid
        inc = self._incident_row(c, iid)
        have = self._incident_services(c, iid)
        if inc["hold_until"] is not None:
            c.execute("UPDATE incidents SET state = ?, hold_until = NULL, hold_state = NULL, ended_at = NULL WHERE id = ?",
                      (inc["hold_state"] or inc["state"], iid))
            inc.update(state=inc["hold_state"] or inc["state"], hold_until=None, ended_at=None)
        old = inc["impact"]
        if start < inc["started_at"]:
            c.execute("UPDATE incidents SET started_at = ? WHERE id = ?", (start, iid))
            c.execute("UPDATE impact_log SET at = ? WHERE incident_id = ? AND at = ?", (start, iid, inc["started_at"]))
            inc["started_at"] = start
        wanted = {s: impact for s in services if s not in have or IMPACT_ORDER[impact] > IMPACT_ORDER[have[s]]}
        self._change_impact(c, inc, wanted, start, now)
        if IMPACT_ORDER[inc["impact"]] > IMPACT_ORDER[old] and inc["impact"] in OUTAGES:
            # a risk (or a lesser impact) became an outage: the same incident escalates, says so, and mails
            state = "identified" if inc["state"] == "identified" else "investigating"
            self._set_state(c, inc, state, now)
            inc["outage_from"] = start
            sids = list(self._incident_services(c, iid))
            body = self._texts(state, lambda lang: self._context(inc, sids, lang, now, summary=summary))
            self._add_update(c, inc, state, body, now)
            result.setdefault("escalated", []).append(iid)
        result["joined"].append(iid)
        return iid

    def sign_of_life(self, c, host: str, start: float) -> float:
        """An outage starts at the host's last sign of life (its last heartbeat) when that is shortly before
        the alert's own start (a `for:` delay, a scrape interval), not at the alert's firing."""
        if not host:
            return start
        row = c.execute("SELECT MAX(last_seen) FROM heartbeats WHERE host = ? OR host LIKE ?",
                        (host, host.split(".")[0] + ".%")).fetchone()
        last = row[0] if row else None
        if last is not None and start - self.cfg.sign_of_life_window_seconds <= last < start:
            return last
        return start

    def _alert_resolved(self, c, a: dict, now: float, result: dict) -> bool:
        fp = a["fingerprint"]
        row = c.execute("SELECT incident_id, status FROM alerts WHERE fingerprint = ?", (fp,)).fetchone()
        if row is None or row[0] is None or row[1] == "resolved":
            result["unchanged"] += 1
            return False
        end = min(a["ends"] or now, now)
        c.execute("UPDATE alerts SET status = 'resolved', ends_at = ?, last_seen = ? WHERE fingerprint = ?", (end, now, fp))
        inc = self._incident_row(c, row[0])
        if inc["state"] == "resolved":
            return True
        firing = [json.loads(r[0]) for r in c.execute("SELECT labels FROM alerts WHERE incident_id = ? AND status = 'firing'",
                                                       (inc["id"],))]
        if firing:
            rest = max((self.match_alert(labels).impact or "risk" for labels in firing), key=lambda i: IMPACT_ORDER[i])
            if inc["impact"] in OUTAGES and IMPACT_ORDER[rest] < IMPACT_ORDER[inc["impact"]] and not inc["operator_touched"]:
                # the outage is over, a lesser alert (the hardware risk) still fires: working again, still a notice
                self._change_impact(c, inc, {sid: rest for sid in self._incident_services(c, inc["id"])}, end, now)
                self._set_state(c, inc, "monitoring", now)
                sids = list(self._incident_services(c, inc["id"]))
                body = self._texts("monitoring", lambda lang: self._context(
                    inc, sids, lang, now, end=texts.fmt_time(end, self.tz, lang)))
                self._add_update(c, inc, "monitoring", body, now)
            return True
        last_end = c.execute("SELECT MAX(ends_at) FROM alerts WHERE incident_id = ?", (inc["id"],)).fetchone()[0] or end
        if self._worst_impact(c, inc) not in OUTAGES and inc["impact"] == "risk":
            # a risk whose alert ended: nothing was down, so no "working again"; resolved quietly after the hold
            # (the finding also vanishes when the host dies: the outage that follows joins this incident)
            c.execute("UPDATE incidents SET hold_until = ?, hold_state = ?, ended_at = ? WHERE id = ?",
                      (now + self.cfg.resolve_hold_seconds, inc["state"], last_end, inc["id"]))
            result["held"].append(inc["id"])
            return True
        hold_state = inc["state"] if inc["state"] != "monitoring" else (inc["hold_state"] or "monitoring")
        c.execute("UPDATE incidents SET hold_until = ?, hold_state = ?, ended_at = ? WHERE id = ?",
                  (now + self.cfg.resolve_hold_seconds, hold_state, last_end, inc["id"]))
        inc.update(ended_at=last_end)
        self._set_state(c, inc, "monitoring", now)
        had = c.execute("SELECT COUNT(*) FROM updates WHERE incident_id = ? AND state = 'monitoring'", (inc["id"],)).fetchone()[0]
        if not had:
            sids = list(self._incident_services(c, inc["id"]))
            body = self._texts("monitoring", lambda lang: self._context(inc, sids, lang, now))
            self._add_update(c, inc, "monitoring", body, now)
        result["held"].append(inc["id"])
        return True

    def tick(self, now: float | None = None) -> list[int]:
        """Finish holds that ran out: resolve (auto_resolve) or leave in monitoring for the operator."""
        now = self.clock() if now is None else now
        due = self.store.query("SELECT id FROM incidents WHERE hold_until IS NOT NULL AND hold_until <= ? "
                               "AND resolved_at IS NULL", (now,))
        done = []
        for row in due:
            with self.store.tx() as c:
                inc = self._incident_row(c, row["id"])
                if inc["hold_until"] is None or inc["hold_until"] > now or inc["state"] == "resolved":
                    continue
                if self.cfg.auto_resolve and not inc["operator_touched"]:
                    self._resolve(c, inc, now)
                    done.append(inc["id"])
                else:
                    c.execute("UPDATE incidents SET hold_until = NULL, hold_state = NULL WHERE id = ?", (inc["id"],))
        if done:
            self._changed()
        return done

    # ---- runbook notify (Contract C) -----------------------------------------------------------
    NOTIFY_STATES = ("investigating", "identified", "monitoring", "resolved", "maintenance")

    def host_services(self, host: Any) -> list[str]:
        if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,253}", host or ""):
            raise InputError(f"host: expected a host name, got {host!r}")
        short = host.split(".")[0]
        out = [sid for sid, svc in self.cfg.services.items() if host in svc.hosts or short in svc.hosts
               or any(h.split(".")[0] == short for h in svc.hosts)]
        if not out and self.cfg.default_service:
            out = [self.cfg.default_service]
        if not out:
            raise InputError(f"host: {host!r} is in no service's hosts (statuspage.services.*.hosts) and no "
                             "default_service is set")
        return out

    def host_notify(self, host: Any, state: Any, *, eta_seconds: Any = None, run_id: str = "", step: str = "",
                    author: str = "") -> dict:
        """A runbook's notify step: attach to the host's open incident (open one only if none is), post
        the state with the service's own text in every language, the ETA from the runbook's remaining
        step estimates, and resolve it. One host outage = one incident, whoever speaks first."""
        sids = self.host_services(host)
        if state not in self.NOTIFY_STATES:
            raise InputError(f"state: expected one of {', '.join(self.NOTIFY_STATES)}, got {state!r}")
        if eta_seconds is not None and (isinstance(eta_seconds, bool) or not isinstance(eta_seconds, (int, float))
                                        or not math.isfinite(eta_seconds) or not 0 <= eta_seconds <= 30 * 86400):
            raise InputError(f"eta_seconds: expected seconds (0 .. 30 days), got {eta_seconds!r}")
        for name, value in (("run_id", run_id), ("step", step), ("author", author)):
            if not isinstance(value, str):
                raise InputError(f"{name}: expected text")
        now = self.clock()
        eta = (None, None)
        if eta_seconds:  # the runbook's estimate, and half again as a margin
            eta = (now + float(eta_seconds), now + 1.5 * float(eta_seconds))
        source = f"runbook {run_id}".strip()
        with self.store.tx() as c:
            iid = self._open_for(c, sids, maintenance=None)
            if state == "resolved":
                if iid is None:
                    return {"incident": None, "detail": f"no open incident of {host}; nothing to resolve"}
                inc = self._incident_row(c, iid)
                self._resolve(c, inc, now, author=author)
            elif iid is None:
                maint = state == "maintenance"
                st = "identified" if maint else state
                start = now if maint else self.sign_of_life(c, host, now)
                iid = self._create(c, services={s: "maintenance" if maint else "major_outage" for s in sids}, state=st,
                                   title=None, body=None, started_at=start, now=now, source=source, published=True,
                                   eta=eta, maintenance=maint, author=author, operator=True)
            else:
                inc = self._incident_row(c, iid)
                st = "identified" if state == "maintenance" else state
                fields = {"operator_touched": 1, "hold_until": None, "hold_state": None}
                if eta[0] is not None:
                    fields.update(eta_from=eta[0], eta_to=eta[1])
                sets = ", ".join(f"{k} = ?" for k in fields)
                c.execute(f"UPDATE incidents SET {sets} WHERE id = ?", (*fields.values(), iid))  # noqa: S608
                inc.update(fields)
                self._set_state(c, inc, st, now)
                body = self._texts(st, lambda lang: self._context(inc, list(self._incident_services(c, iid)), lang, now))
                self._add_update(c, inc, st, body, now, author=author)
        self._changed()
        return {"incident": public(self.incident(iid)), "detail": f"incident {iid}: {state}"}

    # ---- heartbeats ----------------------------------------------------------------------------
    def heartbeat(self, host: Any, boot_id: Any, boot_time: Any = None) -> dict:
        if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9._-]{1,253}", host or ""):
            raise InputError(f"host: expected a host name, got {host!r}")
        if not isinstance(boot_id, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", boot_id or ""):
            raise InputError(f"boot_id: expected the kernel boot id, got {boot_id!r}")
        bt = parse_time(boot_time, "boot_time")
        now = self.clock()
        out: dict[str, Any] = {}
        if bt is not None and bt > now:
            # a new board's clock ahead (or behind the truth): never date the past from a sender's clock
            out["note"] = (f"boot_time {texts.iso(bt)} is {round(bt - now)} s ahead of the status service's clock; "
                           "used the time of this heartbeat instead (check the host's clock/NTP)")
            log.warning("heartbeat from %s: %s", host, out["note"])
            bt = now
        with self.store.tx() as c:
            row = c.execute("SELECT last_seen FROM heartbeats WHERE host = ? AND boot_id = ?", (host, boot_id)).fetchone()
            if row and now - row[0] > self.cfg.heartbeat_gap_seconds:
                c.execute("INSERT OR IGNORE INTO heartbeat_gaps (host, boot_id, start, end) VALUES (?, ?, ?, ?)",
                          (host, boot_id, row[0], now))
            c.execute("INSERT INTO heartbeats (host, boot_id, boot_time, first_seen, last_seen) VALUES (?, ?, ?, ?, ?) "
                      "ON CONFLICT(host, boot_id) DO UPDATE SET last_seen = excluded.last_seen, "
                      "boot_time = COALESCE(heartbeats.boot_time, excluded.boot_time)", (host, boot_id, bt, now, now))
            alive = self._deadman_clear(c, host, now)
        if alive:
            self._changed()
        return {"host": host, "boot_id": boot_id, "last_seen": texts.iso(now), **out}

    # ---- dead-man switch -----------------------------------------------------------------------
    @staticmethod
    def _deadman_fp(host: str) -> str:
        return f"deadman:{host}"

    def _deadman_clear(self, c, host: str, now: float) -> bool:
        row = c.execute("SELECT status FROM alerts WHERE fingerprint = ?", (self._deadman_fp(host),)).fetchone()
        if not row or row[0] != "firing":
            return False
        result = {"opened": [], "joined": [], "unchanged": 0, "held": [], "reopened": [], "ignored": [], "unmapped": []}
        return self._alert_resolved(c, {"fingerprint": self._deadman_fp(host), "ends": now}, now, result)

    def check_heartbeats(self, now: float | None = None) -> list[str]:
        """The dead-man switch: a watched host whose heartbeats stopped for ``deadman_seconds`` opens (or
        escalates) its incident by itself, dated from its last heartbeat, without Prometheus."""
        now = self.clock() if now is None else now
        if self.cfg.deadman_seconds <= 0:
            return []
        fired = []
        rows = self.store.query("SELECT host, MAX(last_seen) AS last FROM heartbeats GROUP BY host")
        for r in rows:
            host, last = r["host"], r["last"]
            if now - last <= self.cfg.deadman_seconds:
                continue
            short = host.split(".")[0]
            if not any(host in svc.hosts or short in {h.split(".")[0] for h in svc.hosts} for svc in self.cfg.services.values()):
                continue  # only hosts named in a service are watched (a removed host stops being watched)
            fp = self._deadman_fp(host)
            with self.store.tx() as c:
                row = c.execute("SELECT status, COALESCE(episode, starts_at) FROM alerts WHERE fingerprint = ?",
                                (fp,)).fetchone()
                if row and row[0] == "firing" and abs(row[1] - last) < 1.0:
                    continue
                result = {"opened": [], "joined": [], "unchanged": 0, "held": [], "reopened": [], "ignored": [],
                          "unmapped": []}
                labels = {"alertname": "HostSilent", "instance": host, "impact": "outage", "severity": "critical",
                          "component": "host"}
                self._alert_firing(c, {"fingerprint": fp, "labels": labels, "annotations": {}, "starts": last,
                                       "ends": None, "status": "firing"}, now, result)
            log.warning("dead-man switch: %s silent since %s (%d s)", host, texts.iso(last), now - last)
            fired.append(host)
        if fired:
            self._changed()
        return fired

    # ---- reading -------------------------------------------------------------------------------
    def incident(self, incident_id: int) -> dict:
        row = self.store.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        if row is None:
            raise NotFound(f"incident {incident_id}: no such incident")
        return self._expand(row)

    def _expand(self, row: dict) -> dict:
        services = self.store.query("SELECT service_id, impact FROM incident_services WHERE incident_id = ? ORDER BY rowid",
                                    (row["id"],))
        updates = self.store.query("SELECT * FROM updates WHERE incident_id = ? ORDER BY id", (row["id"],))
        return {
            "id": row["id"], "title": json.loads(row["title"]), "state": row["state"], "impact": row["impact"],
            "maintenance": bool(row["maintenance"]), "source": row["source"], "published": bool(row["published"]),
            "cause": row["cause"], "eta_from": texts.iso(row["eta_from"]), "eta_to": texts.iso(row["eta_to"]),
            "started_at": texts.iso(row["started_at"]), "created_at": texts.iso(row["created"]),
            "updated_at": texts.iso(row["updated"]), "identified_at": texts.iso(row["identified_at"]),
            "monitoring_at": texts.iso(row["monitoring_at"]), "resolved_at": texts.iso(row["resolved_at"]),
            "ended_at": texts.iso(row["ended_at"]), "hold_until": texts.iso(row["hold_until"]),
            "services": [{"id": s["service_id"], "impact": s["impact"]} for s in services],
            "updates": [{"id": u["id"], "state": u["state"], "body": json.loads(u["body"]), "author": u["author"],
                         "created_at": texts.iso(u["created"]), "edited_at": texts.iso(u["edited"]),
                         "notified": bool(u["queued"])} for u in updates],
            "_raw": row,
        }

    def incidents(self, *, open_only: bool = False, published_only: bool = False, since: float | None = None,
                  limit: int = 200) -> list[dict]:
        where, params = [], []
        if open_only:
            where.append("resolved_at IS NULL")
        if published_only:
            where.append("published = 1")
        if since is not None:
            where.append("(resolved_at IS NULL OR COALESCE(ended_at, resolved_at) >= ?)")
            params.append(since)
        sql = "SELECT * FROM incidents" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return [self._expand(r) for r in self.store.query(sql, (*params, limit))]


def public(inc: dict) -> dict:
    """An incident without internal fields (for the operator API's JSON)."""
    return {k: v for k, v in inc.items() if not k.startswith("_") and k != "hold_until"}


def for_customers(inc: dict) -> dict:
    """What the public page, summary.json and feeds show: no operator login names, no sources."""
    out = public(inc)
    out.pop("source", None)
    out["updates"] = [{k: v for k, v in u.items() if k != "author"} for u in out["updates"]]
    return out
