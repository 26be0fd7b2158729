"""Vocabulary and input checks of the status service: states, impacts, client errors, text and time
parsing. Imports nothing else of the service (every other module may import it)."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from hwstatus import texts

STATES = texts.STATES
IMPACT_ORDER = {"operational": 0, "risk": 1, "maintenance": 2, "degraded": 3, "partial_outage": 4, "major_outage": 5}
OUTAGES = ("partial_outage", "major_outage")

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
