"""The public page: HTML (one per language), JSON summary and Atom feed, served by the service and
optionally written to a directory for any static web host.

Only published incidents appear. Per service: the current state (worst impact among its open
incidents), 90 day bars (worst impact per calendar day in the page's time zone, with downtime)
and the 90-day uptime by the availability rule of :mod:`hwstatus.availability`.
Templates are rendered with Jinja2 autoescaping, so incident text can never inject markup.
Files are written atomically (temp file in the same directory, fsync, rename).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from urllib.parse import urlparse

from agent import fileutil
from hwstatus import availability, texts
from hwstatus.incidents import IMPACT_ORDER, for_customers

DAYS = 90
RECENT_DAYS = 14


def _day_starts(now: float, tz: dt.tzinfo, days: int) -> list[tuple[dt.date, float, float]]:
    today = dt.datetime.fromtimestamp(now, tz).date()
    out = []
    for k in range(days - 1, -1, -1):
        d = today - dt.timedelta(days=k)
        a = dt.datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
        nd = d + dt.timedelta(days=1)
        b = dt.datetime(nd.year, nd.month, nd.day, tzinfo=tz).timestamp()
        out.append((d, a, b))
    return out


def summary(service, now: float | None = None) -> dict:
    """The JSON summary (also the data behind the HTML page)."""
    cfg = service.cfg
    now = service.clock() if now is None else now
    tz = service.tz
    everything_open = service.incidents(open_only=True, published_only=True)
    future = lambda i: i["maintenance"] and (_ts(i["started_at"]) or 0.0) > now  # noqa: E731
    open_incs = [i for i in everything_open if not future(i)]
    scheduled = [i for i in everything_open if future(i)]
    recent = [i for i in service.incidents(published_only=True, since=now - RECENT_DAYS * 86400) if i["state"] == "resolved"]
    created = {r["id"]: r["created"] for r in service.store.services()}
    days = _day_starts(now, tz, DAYS)
    window_start = days[0][1]
    services = []
    for sid, svc in cfg.services.items():
        state = _service_state(sid, open_incs)
        ivs = availability.service_intervals(service, sid, now, published_only=True)
        since = min([created.get(sid, now), *(i.start for i in ivs)])
        bars = _day_bars(ivs, days, since, now, cfg.partial_outage_weight)
        # the figure under "Past 90 days" covers those 90 days (not the time since the first incident)
        measured_from = window_start
        total = availability.tally(ivs, measured_from, now, cfg.partial_outage_weight)
        services.append({
            "id": sid, "name": svc.name, "description": svc.description, "status": state,
            # less than a day of history says nothing yet: no figure rather than a misleading one
            "uptime_90d_percent": (round(availability.percent(total["downtime"], now - measured_from), 3)
                                   if now - since >= 86400 else None),
            "measured_since": texts.iso(max(window_start, since)), "window_start": texts.iso(window_start),
            "downtime_90d_seconds": round(total["downtime"], 1), "days": bars,
        })
    worst = max([s["status"] for s in services] or ["operational"], key=lambda i: IMPACT_ORDER[i])
    indicator = {"operational": "none", "risk": "none", "maintenance": "maintenance", "degraded": "minor",
                 "partial_outage": "major", "major_outage": "critical"}[worst]
    return {
        "page": {"title": cfg.title, "url": cfg.public_url, "updated_at": texts.iso(now), "timezone": cfg.timezone,
                 "languages": list(cfg.languages)},
        "status": {"indicator": indicator, "worst": worst,
                   "monitoring": any(i["state"] == "monitoring" for i in open_incs)},
        "services": services,
        "incidents": [for_customers(i) for i in open_incs],
        "scheduled_maintenance": [for_customers(i) for i in reversed(scheduled)],
        "recent_incidents": [for_customers(i) for i in recent],
    }


def _service_state(sid: str, open_incs: list[dict]) -> str:
    """The worst impact on one service of the open incidents (a monitored incident counts as risk only)."""
    state = "operational"
    for inc in open_incs:
        watching = inc["state"] == "monitoring"  # working again, being watched: not red any more
        for s in inc["services"]:
            if watching and s["impact"] != "risk":
                continue
            if s["id"] == sid and IMPACT_ORDER[s["impact"]] > IMPACT_ORDER[state]:
                state = s["impact"]
    return state


def _day_bars(ivs: list[availability.Interval], days: list[tuple[dt.date, float, float]], since: float, now: float,
              weight: float) -> list[dict]:
    """One bar per day: its worst impact and downtime; "nodata" before the service's history begins."""
    bars = []
    for d, a, b in days:
        if b <= since:
            bars.append({"date": d.isoformat(), "status": "nodata", "downtime_seconds": 0.0})
            continue
        t = availability.tally(ivs, a, min(b, now), weight)
        worst = "operational"
        for imp, secs in t["seconds"].items():
            if secs > 0 and IMPACT_ORDER[imp] > IMPACT_ORDER[worst]:
                worst = imp
        bars.append({"date": d.isoformat(), "status": worst, "downtime_seconds": round(t["downtime"], 1)})
    return bars


def _localise(service, inc: dict, lang: str) -> dict:
    tz = service.tz
    pick = lambda d: d.get(lang) or next(iter(d.values()), "")  # noqa: E731
    out = dict(inc)
    out["title_text"] = pick(inc["title"])
    out["service_names"] = service.service_names([s["id"] for s in inc["services"]], lang)
    out["updates_local"] = [{**u, "text": pick(u["body"]), "when": texts.fmt_time(_ts(u["created_at"]), tz, lang),
                             "edited_when": texts.fmt_time(_ts(u["edited_at"]), tz, lang) if u["edited_at"] else ""}
                            for u in reversed(inc["updates"])]
    out["eta_text"], out["eta_passed"] = "", False
    if inc["eta_from"] and inc["state"] not in ("monitoring", "resolved"):  # no stale ETA once it works again
        out["eta_text"] = service._eta_text(_ts(inc["eta_from"]), _ts(inc["eta_to"]), lang)
        out["eta_passed"] = (_ts(inc["eta_to"] or inc["eta_from"]) or 0) < service.clock()
    out["started_local"] = texts.fmt_time(_ts(inc["started_at"]), tz, lang)
    return out


def _ts(iso: str | None) -> float | None:
    if not iso:
        return None
    try:
        return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp()
    except ValueError:  # strftime writes year 1 as "1": a stored odd time never fails the page
        return None


def render_html(service, lang: str | None = None, now: float | None = None, data: dict | None = None, *,
                root: str = "") -> str:
    cfg = service.cfg
    lang = lang if lang is not None and lang in cfg.languages else cfg.languages[0]
    now = service.clock() if now is None else now
    data = data or summary(service, now)
    html_env, _ = texts.environments(cfg.template_dir)
    ui = texts.UI[lang]
    for s in data["services"]:
        for b in s["days"]:
            b["label"] = f"{b['date']}: {ui[b['status']]}" + (
                f", {ui['downtime']} {texts.fmt_duration(b['downtime_seconds'], lang)}" if b["downtime_seconds"] else "")
    incidents = [_localise(service, i, lang) for i in data["incidents"]]
    # the banner names what is affected and when it is expected back (the first screen on a phone)
    down = [i for i in incidents if i["state"] != "monitoring" and i["impact"] not in ("risk", "maintenance")]
    names = list(dict.fromkeys(n for i in down for n in i["service_names"]))
    eta = next((i for i in down if i["eta_text"]), None)
    maint = list(dict.fromkeys(n for i in incidents if i["maintenance"] for n in i["service_names"]))
    banner = {"services": service._join(names, lang), "maintenance": service._join(maint, lang),
              "eta": (ui["eta_passed"].format(eta=eta["eta_text"]) if eta["eta_passed"] else f"{ui['eta']} {eta['eta_text']}")
              if eta else ""}
    return html_env.get_template("page.html.j2").render(
        cfg=cfg, ui=ui, lang=lang, data=data, root=root, subscribe=bool(cfg.smtp_host), banner=banner,
        incidents=incidents,
        recent=[_localise(service, i, lang) for i in data["recent_incidents"]],
        scheduled=[_localise(service, i, lang) for i in data.get("scheduled_maintenance", [])],
        updated=texts.fmt_time(now, service.tz, lang), fmt_duration=texts.fmt_duration)


def render_atom(service, lang: str | None = None, now: float | None = None, limit: int = 50) -> str:
    cfg = service.cfg
    lang = lang if lang is not None and lang in cfg.languages else cfg.languages[0]
    now = service.clock() if now is None else now
    base = cfg.public_url.rstrip("/")
    host = urlparse(base).hostname or "localhost"
    entries = []
    for inc in service.incidents(published_only=True, limit=limit):
        loc = _localise(service, inc, lang)
        for u in loc["updates_local"]:
            entries.append({"id": f"tag:{host},2024:incident-{inc['id']}-update-{u['id']}",
                            "title": f"{texts.UI[lang][u['state']]}: {loc['title_text']}",
                            "updated": u["edited_at"] or u["created_at"], "published": u["created_at"],
                            "link": f"{base}/{lang}/#incident-{inc['id']}", "text": u["text"]})
    entries.sort(key=lambda e: e["updated"], reverse=True)
    entries = entries[:limit]
    html_env, _ = texts.environments(cfg.template_dir)
    feed = html_env.get_template("feed.atom.j2").render(
        cfg=cfg, lang=lang, base=base, feed_id=f"tag:{host},2024:status-{lang}",
        updated=entries[0]["updated"] if entries else texts.iso(now), entries=entries)
    # characters XML 1.0 forbids even escaped (ESC, BEL... from pasted terminal text) would make
    # the whole feed unreadable for feed readers: replace them
    return _XML_ILLEGAL.sub("\ufffd", feed)


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def render_all(service, now: float | None = None) -> dict[str, bytes]:
    """Every public file: path -> bytes."""
    cfg = service.cfg
    now = service.clock() if now is None else now
    data = summary(service, now)
    files = {"summary.json": json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True).encode() + b"\n",
             "index.html": render_html(service, cfg.languages[0], now, json.loads(json.dumps(data))).encode(),
             "feed.atom": render_atom(service, cfg.languages[0], now).encode()}
    for lang in cfg.languages:
        files[f"{lang}/index.html"] = render_html(service, lang, now, json.loads(json.dumps(data)), root="../").encode()
        files[f"{lang}/feed.atom"] = render_atom(service, lang, now).encode()
    return files


def atomic_write(path: Path, data: bytes) -> None:
    fileutil.atomic_write(path, data, 0o644)


def write_dir(service, out: str | Path, now: float | None = None) -> list[str]:
    out = Path(out)
    written = []
    files = render_all(service, now)
    # the index last, so a reader never sees an index newer than its feed and summary
    for name in sorted(files, key=lambda n: n.endswith("index.html")):
        atomic_write(out / name, files[name])
        written.append(name)
    return written
