"""Templates and wording: the Jinja2 environments (HTML/XML autoescaped, plain text not), the
page's fixed strings in English and German, and date/duration formatting in the page's zone.

Customer texts per incident state live in ``templates/<lang>_<state>.txt.j2``; a
``template_dir`` in the config overrides any shipped file of the same name, so the operator can
change the wording without touching the package.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import jinja2


TEMPLATE_ROOT = Path(__file__).with_name("templates")
STATES = ("investigating", "identified", "monitoring", "resolved")

UI = {
    "en": {
        "operational": "Operational", "degraded": "Degraded performance", "partial_outage": "Partial outage",
        "major_outage": "Major outage", "maintenance": "Maintenance", "nodata": "No data",
        "risk": "Operational (hardware warning)",
        "risk_banner": "All services are running; a hardware warning is being checked",
        "monitoring_banner": "Services are working again; we are watching them",
        "eta_passed": "The expected time has passed (was {eta}); we post an update as soon as we know more",
        "all_ok": "All systems operational", "some_down": "Some services are affected",
        "open_incidents": "Current incidents", "scheduled": "Scheduled maintenance", "no_incidents": "No current incidents.",
        "history": "Past 90 days", "uptime": "uptime", "recent": "Resolved in the last 14 days",
        "investigating": "Investigating", "identified": "Identified", "monitoring": "Monitoring",
        "resolved": "Resolved", "affected": "Affected", "eta": "Expected back", "cause": "Cause",
        "updated": "Last updated", "edited": "edited", "subscribe": "Get notices by email",
        "subscribe_button": "Subscribe", "email": "Email address", "feed": "Atom feed", "json": "JSON",
        "since": "since", "days_ago": "90 days ago", "today": "Today", "language": "Language",
        "downtime": "downtime", "no_downtime": "No downtime recorded",
        "subscribe_sent": "Please confirm: we sent a link to your address.",
        "subscribe_confirmed": "Subscription confirmed. You will get notices about incidents.",
        "unsubscribed": "You are unsubscribed and will get no further notices.",
        "unsubscribe_q": "Stop receiving status notices?", "unsubscribe_button": "Unsubscribe",
        "bad_token": "This link is not valid (any more).",
        "rate_limited": "Too many requests, please try again later.",
        "bad_email": "That does not look like an email address.",
    },
    "de": {
        "operational": "In Betrieb", "degraded": "Eingeschränkte Leistung", "partial_outage": "Teilausfall",
        "major_outage": "Ausfall", "maintenance": "Wartung", "nodata": "Keine Daten",
        "risk": "In Betrieb (Hardwarewarnung)",
        "risk_banner": "Alle Dienste laufen; eine Hardwarewarnung wird geprüft",
        "monitoring_banner": "Die Dienste laufen wieder; wir beobachten sie",
        "eta_passed": "Die erwartete Zeit ist überschritten (war {eta}); wir melden uns, sobald wir mehr wissen",
        "all_ok": "Alle Dienste in Betrieb", "some_down": "Einige Dienste sind betroffen",
        "open_incidents": "Aktuelle Störungen", "scheduled": "Geplante Wartungen", "no_incidents": "Keine aktuellen Störungen.",
        "history": "Letzte 90 Tage", "uptime": "Verfügbarkeit", "recent": "Behoben in den letzten 14 Tagen",
        "investigating": "Wird untersucht", "identified": "Ursache gefunden", "monitoring": "Wird beobachtet",
        "resolved": "Behoben", "affected": "Betroffen", "eta": "Voraussichtlich wieder da", "cause": "Ursache",
        "updated": "Zuletzt aktualisiert", "edited": "bearbeitet", "subscribe": "Benachrichtigung per E-Mail",
        "subscribe_button": "Abonnieren", "email": "E-Mail-Adresse", "feed": "Atom-Feed", "json": "JSON",
        "since": "seit", "days_ago": "vor 90 Tagen", "today": "Heute", "language": "Sprache",
        "downtime": "Ausfallzeit", "no_downtime": "Keine Ausfallzeit",
        "subscribe_sent": "Bitte bestätigen: Wir haben einen Link an Ihre Adresse geschickt.",
        "subscribe_confirmed": "Abonnement bestätigt. Sie erhalten Nachrichten zu Störungen.",
        "unsubscribed": "Sie sind abgemeldet und erhalten keine weiteren Nachrichten.",
        "unsubscribe_q": "Keine Statusnachrichten mehr erhalten?", "unsubscribe_button": "Abmelden",
        "bad_token": "Dieser Link ist nicht (mehr) gültig.",
        "rate_limited": "Zu viele Anfragen, bitte später erneut versuchen.",
        "bad_email": "Das sieht nicht wie eine E-Mail-Adresse aus.",
    },
}


@lru_cache(maxsize=16)
def environments(template_dir: str = "") -> tuple["jinja2.Environment", "jinja2.Environment"]:
    """(html_env, text_env). HTML/XML autoescape; text templates are plain (escaped on output)."""
    import jinja2  # noqa: PLC0415 - the web stack ([status] extra), only where pages and texts are rendered

    loaders: list[jinja2.BaseLoader] = []
    if template_dir:
        loaders.append(jinja2.FileSystemLoader(template_dir))
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATE_ROOT)))
    loader = jinja2.ChoiceLoader(loaders)
    html = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(
        enabled_extensions=("html", "xml", "atom", "j2"), default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    text = jinja2.Environment(loader=loader, autoescape=False, undefined=jinja2.StrictUndefined,  # noqa: S701 - plain text
                              keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
    return html, text


def zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"statuspage.timezone: unknown time zone {name!r}") from None


def fmt_time(ts: float | None, tz: dt.tzinfo, lang: str) -> str:
    if ts is None:
        return ""
    t = dt.datetime.fromtimestamp(ts, tz)
    return t.strftime("%d.%m.%Y %H:%M %Z" if lang == "de" else "%Y-%m-%d %H:%M %Z")


def fmt_clock(ts: float | None, tz: dt.tzinfo, lang: str) -> str:
    if ts is None:
        return ""
    return dt.datetime.fromtimestamp(ts, tz).strftime("%H:%M")


def fmt_duration(seconds: float, lang: str = "en") -> str:
    seconds = int(round(max(0.0, seconds)))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    units = ("T", "Std", "Min", "s") if lang == "de" else ("d", "h", "min", "s")
    parts = [f"{v} {u}" for v, u in zip((d, h, m), units[:3], strict=True) if v]
    if s and not d and not h:
        parts.append(f"{s} {units[3]}")
    return " ".join(parts) or f"0 {units[2]}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    try:
        return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):  # a stored time no calendar can show: never a failed page
        return None


def render_message(template_dir: str, lang: str, name: str, **ctx) -> str:
    """Render ``<lang>_<name>.txt.j2`` as one plain-text paragraph."""
    import jinja2  # noqa: PLC0415

    _, text = environments(template_dir)
    try:
        tpl = text.get_template(f"{lang}_{name}.txt.j2")
    except jinja2.TemplateNotFound:
        raise ValueError(f"no template {lang}_{name}.txt.j2") from None
    # one paragraph: line breaks in the template are layout, not text
    return re.sub(r"[ \t]*\n\s*", " ", tpl.render(**ctx)).strip()
