"""Availability from incident history (and agent heartbeats): percentage, downtime, what-if table.

The rule (also in the README):

* Measured, not negotiated. For each instant of the period the worst impact of any incident on
  the service counts, so overlapping incidents are never counted twice.
* ``major_outage`` counts fully as downtime. ``partial_outage`` counts with the configured
  ``partial_outage_weight`` (default 0.5: half the customers or half the function gone).
  ``degraded`` counts 0 but its time is listed.
* ``risk`` (a predictive hardware finding while the service still serves) counts 0.
* Drafts (incidents not published) count nowhere: the page and ``agent availability`` use one rule.
* An incident's impact changes are intervals: each stretch counts with the impact it had then.
* Planned maintenance is **not** subtracted: a maintenance window with impact ``maintenance`` or
  ``major_outage`` counts fully, like any outage, and the report lists how much of the downtime was
  planned so that a contract that excludes maintenance can be checked by hand.
* Host down from agent heartbeats (``agent statuspage heartbeat`` posts the boot id to
  ``/api/heartbeat``): a gap longer than ``heartbeat_gap_seconds`` between the last heartbeat of
  one boot and the next boot, or between two heartbeats of the same boot, counts as a major outage
  of the services on that host.
* An incident lasts from ``started_at`` (the alert's start) to ``ended_at`` (the alert's end or the
  operator's resolve time); an open incident runs until now.
* A month is its calendar length (February 672 h); the what-if table uses the usual contract
  bases, 30-day month = 720 h and year = 8,760 h, plus the actual period.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Iterable

from hwstatus import texts

TARGETS = (97.0, 98.0, 99.0, 99.9)
MONTH_30D = 30 * 86400
YEAR_365D = 365 * 86400
IMPACT_ORDER = {"risk": 0, "degraded": 1, "partial_outage": 2, "maintenance": 3, "major_outage": 4}


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    impact: str
    maintenance: bool = False
    incident_id: int | None = None
    title: str = ""
    source: str = "incident"


def weight(impact: str, partial_weight: float) -> float:
    return {"major_outage": 1.0, "maintenance": 1.0, "partial_outage": partial_weight}.get(impact, 0.0)


def tally(intervals: Iterable[Interval], start: float, end: float, partial_weight: float) -> dict:
    """Sweep the period: worst impact per instant -> seconds per impact, downtime, planned downtime."""
    clipped = [(max(i.start, start), min(i.end, end), i) for i in intervals if i.end > start and i.start < end]
    points = sorted({start, end, *(s for s, _, _ in clipped), *(e for _, e, _ in clipped)})
    seconds = {k: 0.0 for k in IMPACT_ORDER}
    downtime = planned = 0.0
    for a, b in zip(points, points[1:], strict=False):
        active = [i for s, e, i in clipped if s <= a and e >= b and e > s]
        if not active:
            continue
        worst = max(active, key=lambda i: (weight(i.impact, partial_weight), IMPACT_ORDER.get(i.impact, 0), not i.maintenance))
        seconds[worst.impact] = seconds.get(worst.impact, 0.0) + (b - a)
        d = (b - a) * weight(worst.impact, partial_weight)
        downtime += d
        if worst.maintenance:
            planned += d
    return {"seconds": seconds, "downtime": downtime, "planned": planned}


def percent(downtime: float, length: float) -> float:
    return 100.0 * (1.0 - downtime / length) if length > 0 else 100.0


def heartbeat_intervals(store, hosts: Iterable[str], gap: float) -> list[Interval]:
    out = []
    for host in hosts:
        rows = store.query("SELECT boot_id, boot_time, first_seen, last_seen FROM heartbeats WHERE host = ? "
                           "ORDER BY first_seen", (host,))
        for prev, nxt in zip(rows, rows[1:], strict=False):
            bt = min(nxt["boot_time"], nxt["first_seen"]) if nxt["boot_time"] else None  # never trust a clock ahead
            back = bt if bt and bt > prev["last_seen"] else nxt["first_seen"]
            if back - prev["last_seen"] > gap:
                out.append(Interval(prev["last_seen"], back, "major_outage", title=f"{host} down (agent heartbeats)",
                                    source="heartbeat"))
        for g in store.query("SELECT start, end FROM heartbeat_gaps WHERE host = ? ORDER BY start", (host,)):
            out.append(Interval(g["start"], g["end"], "major_outage", title=f"{host} silent (agent heartbeats)",
                                source="heartbeat"))
    return out


def service_intervals(service, service_id: str, now: float, *, published_only: bool = True) -> list[Interval]:
    """The service's impact intervals. One rule for the page and ``agent availability``: drafts (not
    published) do not count anywhere. An impact change splits an incident into intervals (a resolve
    "as degraded" never rewrites the outage before it)."""
    store = service.store
    sql = ("SELECT i.id, i.title, i.started_at, COALESCE(i.ended_at, i.resolved_at) AS end_at, i.maintenance, s.impact "
           "FROM incidents i JOIN incident_services s ON s.incident_id = i.id WHERE s.service_id = ?")
    if published_only:
        sql += " AND i.published = 1"
    out = []
    for r in store.query(sql, (service_id,)):
        title = json.loads(r["title"]).get(service.cfg.languages[0], "")
        end = r["end_at"] if r["end_at"] is not None else now
        log = store.query("SELECT at, impact FROM impact_log WHERE incident_id = ? AND service_id = ? ORDER BY at, rowid",
                          (r["id"], service_id))
        steps = [(max(x["at"], r["started_at"]), x["impact"]) for x in log] or [(r["started_at"], r["impact"])]
        steps[0] = (r["started_at"], steps[0][1])
        for k, (at, imp) in enumerate(steps):
            nxt = steps[k + 1][0] if k + 1 < len(steps) else end
            a, b = at, min(nxt, end)
            if b > a or (k == len(steps) - 1 and b >= a):
                out.append(Interval(a, b, imp, bool(r["maintenance"]), r["id"], title, "incident"))
    svc = service.cfg.services.get(service_id)
    if svc and svc.hosts:
        out.extend(heartbeat_intervals(store, svc.hosts, service.cfg.heartbeat_gap_seconds))
    return out


def month_bounds(year: int, month: int, tz: dt.tzinfo) -> tuple[float, float]:
    a = dt.datetime(year, month, 1, tzinfo=tz)
    b = dt.datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=tz)
    return a.timestamp(), b.timestamp()


def year_bounds(year: int, tz: dt.tzinfo) -> tuple[float, float]:
    return dt.datetime(year, 1, 1, tzinfo=tz).timestamp(), dt.datetime(year + 1, 1, 1, tzinfo=tz).timestamp()


def parse_period(month: str | None, year: str | int | None, now: float, tz: dt.tzinfo) -> tuple[str, float, float, str]:
    """-> (kind, start, end, label). Default: the current month."""
    if month and year:
        raise ValueError("give either a month or a year, not both")
    if year:
        try:
            y = int(year)
        except ValueError:
            raise ValueError(f"year: expected YYYY, got {year!r}") from None
        a, b = year_bounds(y, tz)
        return "year", a, b, f"{y}"
    if month:
        try:
            y, m = (int(x) for x in month.split("-"))
            a, b = month_bounds(y, m, tz)
        except (ValueError, TypeError):
            raise ValueError(f"month: expected YYYY-MM, got {month!r}") from None
        return "month", a, b, f"{y:04d}-{m:02d}"
    t = dt.datetime.fromtimestamp(now, tz)
    a, b = month_bounds(t.year, t.month, tz)
    return "month", a, b, f"{t.year:04d}-{t.month:02d}"


def what_if(downtime: float, worst_month_downtime: float, worst_month_length: float) -> list[dict]:
    rows = []
    for t in TARGETS:
        allow_m30 = (1 - t / 100) * MONTH_30D
        allow_month = (1 - t / 100) * worst_month_length
        allow_y = (1 - t / 100) * YEAR_365D
        rows.append({
            "target_percent": t,
            "allowed_per_30d_month_seconds": round(allow_m30, 1),
            "allowed_per_year_seconds": round(allow_y, 1),
            "month_ok": worst_month_downtime <= allow_month + 1e-6,
            "year_ok": downtime <= allow_y + 1e-6,
        })
    return rows


def report(service, *, service_id: str | None = None, month: str | None = None, year: str | None = None,
           now: float | None = None) -> dict:
    """The availability report as a dict (CLI text and the API's JSON are made from it)."""
    cfg = service.cfg
    now = service.clock() if now is None else now
    tz = service.tz
    kind, start, end, label = parse_period(month, year, now, tz)
    ids = [service_id] if service_id else list(cfg.services)
    for sid in ids:
        if sid not in cfg.services:
            raise ValueError(f"service: unknown service {sid!r} (configured: {', '.join(cfg.services) or 'none'})")
    measured_end = min(end, now)
    out = {"period": label, "kind": kind, "start": texts.iso(start), "end": texts.iso(end),
           "complete": now >= end, "timezone": cfg.timezone, "partial_outage_weight": cfg.partial_outage_weight,
           "rule": "major outage and maintenance count fully, partial outage x weight, degraded 0; "
                   "maintenance is listed, not subtracted", "services": []}
    for sid in ids:
        ivs = service_intervals(service, sid, now)
        length = max(measured_end - start, 0.0)
        t = tally(ivs, start, measured_end, cfg.partial_outage_weight)
        months = []
        if kind == "year":
            y = dt.datetime.fromtimestamp(start, tz).year
            for m in range(1, 13):
                a, b = month_bounds(y, m, tz)
                mb = min(b, now)
                if mb <= a:
                    break
                mt = tally(ivs, a, mb, cfg.partial_outage_weight)
                months.append({"month": f"{y:04d}-{m:02d}", "downtime_seconds": round(mt["downtime"], 1),
                               "length_seconds": b - a, "percent": round(percent(mt["downtime"], b - a), 4)})
        if months:
            worst = max(months, key=lambda m: m["downtime_seconds"] / m["length_seconds"])
            wm_down, wm_len = worst["downtime_seconds"], worst["length_seconds"]
        else:
            wm_down, wm_len = t["downtime"], end - start
        incidents = sorted({(i.incident_id, i.title, i.start, i.end, i.impact, i.maintenance, i.source) for i in ivs
                            if i.end > start and i.start < measured_end}, key=lambda x: x[2])
        out["services"].append({
            "service": sid, "name": cfg.services[sid].name,
            "length_seconds": length, "downtime_seconds": round(t["downtime"], 1),
            "planned_downtime_seconds": round(t["planned"], 1),
            "seconds_by_impact": {k: round(v, 1) for k, v in t["seconds"].items()},
            "percent": round(percent(t["downtime"], length), 4),
            "percent_of_full_period": round(percent(t["downtime"], end - start), 4),
            "months": months,
            "what_if": what_if(t["downtime"], wm_down, wm_len),
            "incidents": [{"id": i[0], "title": i[1], "start": texts.iso(i[2]), "end": texts.iso(i[3]),
                           "duration_seconds": round(min(i[3], measured_end) - max(i[2], start), 1), "impact": i[4],
                           "maintenance": i[5], "source": i[6]} for i in incidents],
        })
    return out


def incident_impact(service, incident_id: int, now: float | None = None) -> list[dict]:
    """Post-incident figures per affected service: availability of the incident's calendar month,
    its calendar year and the trailing 24 months (730 days) up to its end, with this incident's
    share of the downtime."""
    now = service.clock() if now is None else now
    tz = service.tz
    inc = service.store.one("SELECT started_at, COALESCE(ended_at, resolved_at) AS end_at FROM incidents WHERE id = ?",
                            (incident_id,))
    if inc is None:
        raise ValueError(f"incident {incident_id}: no such incident")
    start, end = inc["started_at"], inc["end_at"] or now
    t = dt.datetime.fromtimestamp(start, tz)
    windows = {"month": month_bounds(t.year, t.month, tz), "year": year_bounds(t.year, tz),
               "trailing_24_months": (end - 730 * 86400, end)}
    out = []
    for row in service.store.query("SELECT service_id FROM incident_services WHERE incident_id = ? ORDER BY rowid",
                                   (incident_id,)):
        sid = row["service_id"]
        ivs = service_intervals(service, sid, now)
        own = [i for i in ivs if i.incident_id == incident_id]
        fig = {"service": sid, "name": service.cfg.services[sid].name if sid in service.cfg.services else sid,
               "incident_downtime_seconds": round(tally(own, start, end, service.cfg.partial_outage_weight)["downtime"], 1)}
        for key, (a, b) in windows.items():
            length = b - a
            tt = tally(ivs, a, min(b, now), service.cfg.partial_outage_weight)
            fig[key] = {"percent": round(percent(tt["downtime"], length), 4), "downtime_seconds": round(tt["downtime"], 1),
                        "length_seconds": length}
        out.append(fig)
    return out


def render_text(rep: dict, lang: str = "en") -> str:
    lines = [f"Availability {rep['period']} ({rep['timezone']})" + ("" if rep["complete"] else ", so far"),
             f"rule: {rep['rule']}; partial outage weight {rep['partial_outage_weight']}", ""]
    for s in rep["services"]:
        lines.append(f"{s['name']} [{s['service']}]: {s['percent']:.2f} %  downtime {texts.fmt_duration(s['downtime_seconds'])}"
                     f" of {texts.fmt_duration(s['length_seconds'])}"
                     + (f"  (planned maintenance within it: {texts.fmt_duration(s['planned_downtime_seconds'])})"
                        if s["planned_downtime_seconds"] else ""))
        for m in s["months"]:
            lines.append(f"  {m['month']}  {m['percent']:.2f} %  {texts.fmt_duration(m['downtime_seconds'])}")
        for i in s["incidents"]:
            tag = " [maintenance]" if i["maintenance"] else ""
            lines.append(f"  #{i['id'] if i['id'] is not None else '-'} {i['start']} .. {i['end']}  "
                         f"{texts.fmt_duration(i['duration_seconds'])}  {i['impact']}{tag}  {i['title']}")
        lines.append("  target   allowed/30-d month   allowed/year      month   year")
        for w in s["what_if"]:
            lines.append(f"  {w['target_percent']:>5.1f} %  {texts.fmt_duration(w['allowed_per_30d_month_seconds']):>18}"
                         f"   {texts.fmt_duration(w['allowed_per_year_seconds']):>14}   "
                         f"{'met ' if w['month_ok'] else 'MISS'}    {'met' if w['year_ok'] else 'MISS'}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
