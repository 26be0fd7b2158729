"""The expectation language of runbook steps: a table of predicates over an exit code and an output.

``exit_code`` (an integer or a list), ``contains``/``not_contains``, ``regex``/``not_regex`` (multi-line),
``empty``, ``equals`` (stripped text), ``count_regex`` with ``count_equals``/``count_min``, and
``json_path`` (``a.b[0].c``) with ``json_equals``/``json_min``/``json_max``. Tables are validated when
a runbook loads; :func:`evaluate` names the first predicate that fails.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from agent.recovery.errors import SpecError

EXPECT_KEYS = {"exit_code", "contains", "not_contains", "regex", "not_regex", "empty", "equals", "json_path",
               "json_equals", "json_min", "json_max", "count_regex", "count_equals", "count_min"}


def validate_expect(expect: Any, key: str = "expect") -> None:
    if not isinstance(expect, dict):
        raise SpecError(key, "expected a table")
    for k, v in expect.items():
        if k not in EXPECT_KEYS:
            raise SpecError(f"{key}.{k}", f"unknown predicate (known: {', '.join(sorted(EXPECT_KEYS))})")
        if k in ("regex", "not_regex", "count_regex"):
            if not isinstance(v, str):
                raise SpecError(f"{key}.{k}", "expected a string")
            try:
                re.compile(v)
            except re.error as exc:
                raise SpecError(f"{key}.{k}", f"invalid regular expression: {exc}") from None
        if k == "exit_code" and not (isinstance(v, int) and not isinstance(v, bool)
                                     or isinstance(v, list) and all(isinstance(x, int) for x in v)):
            raise SpecError(f"{key}.{k}", "expected an integer or a list of integers")
        if k in ("contains", "not_contains", "equals", "json_path") and not isinstance(v, str):
            raise SpecError(f"{key}.{k}", "expected a string")
        if k == "empty" and not isinstance(v, bool):
            raise SpecError(f"{key}.{k}", "expected a boolean")
        if k in ("json_min", "json_max", "count_equals", "count_min") and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise SpecError(f"{key}.{k}", "expected a number")
    if any(k in expect for k in ("json_equals", "json_min", "json_max")) and "json_path" not in expect:
        raise SpecError(f"{key}.json_path", "missing (json_equals/json_min/json_max need it)")
    if any(k in expect for k in ("count_equals", "count_min")) and "count_regex" not in expect:
        raise SpecError(f"{key}.count_regex", "missing (count_equals/count_min need it)")


def _json_path(data: Any, path: str) -> Any:
    cur = data
    for part in re.findall(r"[^.\[\]]+", path):
        if isinstance(cur, list):
            cur = cur[int(part)]
        elif isinstance(cur, dict):
            cur = cur[part]
        else:
            raise KeyError(part)
    return cur


def evaluate(expect: Mapping[str, Any], rc: int | None, text: str, default_exit: bool = True) -> tuple[bool, str]:
    """Check an output against a predicate table -> (passed, reason naming the first failure)."""
    codes = expect.get("exit_code", 0 if default_exit else None)
    if codes is not None:
        allowed = codes if isinstance(codes, list) else [codes]
        if rc not in allowed:
            return False, f"exit code {rc}, expected {'/'.join(map(str, allowed))}"
    if "contains" in expect and expect["contains"] not in text:
        return False, f"output does not contain {expect['contains']!r}"
    if "not_contains" in expect and expect["not_contains"] in text:
        return False, f"output contains {expect['not_contains']!r}"
    if "regex" in expect and not re.search(expect["regex"], text, re.M):
        return False, f"output does not match /{expect['regex']}/"
    if "not_regex" in expect:
        m = re.search(expect["not_regex"], text, re.M)
        if m:
            return False, f"output matches /{expect['not_regex']}/: {m.group(0)[:80]!r}"
    if "empty" in expect and (not text.strip()) != expect["empty"]:
        return False, "output is not empty" if expect["empty"] else "output is empty"
    if "equals" in expect and text.strip() != expect["equals"]:
        return False, f"output {text.strip()[:80]!r} != {expect['equals']!r}"
    if "count_regex" in expect:
        n = len(re.findall(expect["count_regex"], text, re.M))
        if "count_equals" in expect and n != expect["count_equals"]:
            return False, f"{n} matches of /{expect['count_regex']}/, expected {expect['count_equals']:g}"
        if "count_min" in expect and n < expect["count_min"]:
            return False, f"{n} matches of /{expect['count_regex']}/, expected at least {expect['count_min']:g}"
    if "json_path" in expect:
        try:
            value = _json_path(json.loads(text), expect["json_path"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return False, f"json {expect['json_path']}: not found ({type(exc).__name__})"
        if "json_equals" in expect and value != expect["json_equals"] and str(value) != str(expect["json_equals"]):
            return False, f"json {expect['json_path']} = {value!r}, expected {expect['json_equals']!r}"
        try:
            if "json_min" in expect and float(value) < expect["json_min"]:
                return False, f"json {expect['json_path']} = {value!r} < {expect['json_min']:g}"
            if "json_max" in expect and float(value) > expect["json_max"]:
                return False, f"json {expect['json_path']} = {value!r} > {expect['json_max']:g}"
        except (TypeError, ValueError):
            return False, f"json {expect['json_path']} = {value!r} is not a number"
    return True, "ok"


def describe_expect(expect: Mapping[str, Any] | None) -> str:
    """A predicate table as one line for checklists (``exit 0`` when empty)."""
    if not expect:
        return "exit 0"
    parts = []
    for k, v in expect.items():
        if isinstance(v, bool):
            parts.append(f"{k}={str(v).lower()}")
        elif isinstance(v, str):
            parts.append(f"{k} '{v}'")
        else:
            parts.append(f"{k} {v}")
    return ", ".join(parts)
