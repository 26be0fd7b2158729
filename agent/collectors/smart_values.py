"""Reading smartctl's JSON tolerantly and decoding vendor raw values. Pure functions, no I/O.

The getters return None (or ``[]``) for a missing or mistyped field instead of raising, so one
odd section never costs the rest of a report; :class:`Rejects` drops implausible values (a
negative counter, a temperature of 65535 °C) and names each one. A leaf module (standard library
only), used by :mod:`agent.collectors.smart_parse`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

TEMP_RANGE = (-40.0, 150.0)  # plausible drive temperatures, celsius
# Seagate packs (error count, operation count) or three 16-bit counters into these raw values
SEAGATE_PACKED = {1, 7, 188, 195}
COUNT_ATTRIBUTES = {5, 10, 184, 187, 188, 196, 197, 198, 199}


# ---- small tolerant getters -------------------------------------------------------------------
def get(doc: Any, *path: str | int) -> Any:
    cur = doc
    for p in path:
        if type(cur) is dict and type(p) is str:  # the common case, without the ABC checks
            cur = cur.get(p)
        elif isinstance(p, int):
            if not isinstance(cur, list) or len(cur) <= p:
                return None
            cur = cur[p]
        else:
            if not isinstance(cur, Mapping):
                return None
            cur = cur.get(p)
    return cur


def as_list(v: Any) -> list:
    """A JSON array, or [] for anything else (a section that is a bool, string or object)."""
    return v if isinstance(v, list) else []


def as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v) if math.isfinite(v) else None
    if isinstance(v, str):
        s = v.strip().replace(",", "")
        if re.fullmatch(r"-?\d+", s):
            return int(s)
    return None


def as_str(v: Any) -> str | None:
    if isinstance(v, str):
        v = v.strip()
        return v or None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)
    return None


def as_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


class Rejects:
    def __init__(self, device: str):
        self.device = device
        self.items: list[str] = []

    def count(self, what: str, v: Any) -> int | None:
        n = as_int(v)
        if n is not None and n < 0:
            self.items.append(f"{self.device}: {what} {n} is negative, ignored")
            return None
        return n

    def temp(self, what: str, v: Any) -> float | None:
        n = as_int(v) if not isinstance(v, float) else v
        if n is None:
            return None
        if not (TEMP_RANGE[0] <= n <= TEMP_RANGE[1]) or n == 0 and what.endswith("limit"):
            if n != 0:
                self.items.append(f"{self.device}: {what} {n} °C is implausible, ignored")
            return None
        return float(n)


# ---- raw value decoding -------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+)h(?:\+(\d+)m)?(?:\+(\d+(?:\.\d+)?)s)?")
_LEADING_INT = re.compile(r"^\s*(-?\d+)(?:\s|$|\()")


def parse_duration_hours(text: str | None) -> float | None:
    """``"12345h+34m+56.789s"`` -> hours (float); None when the text is not that shape."""
    if not text:
        return None
    m = _DURATION.match(text)
    if not m:
        return None
    h = int(m.group(1))
    mins = int(m.group(2) or 0)
    secs = float(m.group(3) or 0.0)
    return h + mins / 60.0 + secs / 3600.0


def decode_count(attr_id: int, raw: int | None, raw_string: str, seagate: bool) -> int | None:
    """The count a rule may judge, from an attribute's raw value.

    Seagate's 188 packs three 16-bit counters (``0x0004_0004_0004`` = 4, 4, 4): the low word is
    the count. Seagate's 1/7/195 pack an error count with an operation count: no usable count.
    Raw strings like ``"34 (Min/Max 20/45)"`` give their leading number; ``"12h+34m"`` hours.
    """
    if attr_id in SEAGATE_PACKED and seagate:
        if attr_id == 188 and raw is not None:
            return raw & 0xFFFF
        return None
    if raw_string:
        hours = parse_duration_hours(raw_string)
        if hours is not None:
            return int(hours)
        m = _LEADING_INT.match(raw_string)
        if m:
            n = int(m.group(1))
            if attr_id in COUNT_ATTRIBUTES and n > 0xFFFFFFFF:
                return n & 0xFFFF  # packed by a vendor we do not know: the low word is the count
            return n
        if raw_string.strip().lower().startswith("0x"):
            try:
                return int(raw_string.split()[0], 16)
            except ValueError:
                pass  # not hex after all: fall through to the decimal parse below
    if raw is not None and attr_id in COUNT_ATTRIBUTES and raw > 0xFFFFFFFF:
        return raw & 0xFFFF
    return raw
