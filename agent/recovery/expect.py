"""The expectation language of runbook steps: a table of predicates over an exit code and an output.

``exit_code`` (an integer or a list), ``contains``/``not_contains``, ``regex``/``not_regex`` (multi-line),
``empty``, ``equals`` (stripped text), ``count_regex`` with ``count_equals``/``count_min``, and
``json_path`` (``a.b[0].c``) with ``json_equals``/``json_min``/``json_max``. Tables are validated when
a runbook loads; :func:`evaluate` names the first predicate that fails.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

from agent.recovery.errors import SpecError


def _is_exit_code(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, list) and all(isinstance(x, int) for x in v)


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float))


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _anything(v: Any) -> bool:
    return True


_STRING = (_is_str, "expected a string")
_NUMBER = (_is_number, "expected a number")
# predicate -> (type check, error when it fails)
PREDICATES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "exit_code": (_is_exit_code, "expected an integer or a list of integers"),
    "contains": _STRING, "not_contains": _STRING, "regex": _STRING, "not_regex": _STRING,
    "empty": (_is_bool, "expected a boolean"), "equals": _STRING,
    "json_path": _STRING, "json_equals": (_anything, ""), "json_min": _NUMBER, "json_max": _NUMBER,
    "count_regex": _STRING, "count_equals": _NUMBER, "count_min": _NUMBER,
}
EXPECT_KEYS = set(PREDICATES)
_REGEXES = ("regex", "not_regex", "count_regex")  # also compiled at load time
# predicates that only mean something beside another one
_NEEDS = (("json_path", ("json_equals", "json_min", "json_max"), "missing (json_equals/json_min/json_max need it)"),
          ("count_regex", ("count_equals", "count_min"), "missing (count_equals/count_min need it)"))


def validate_expect(expect: Any, key: str = "expect") -> None:
    if not isinstance(expect, dict):
        raise SpecError(key, "expected a table")
    for k, v in expect.items():
        if k not in PREDICATES:
            raise SpecError(f"{key}.{k}", f"unknown predicate (known: {', '.join(sorted(EXPECT_KEYS))})")
        ok, error = PREDICATES[k]
        if not ok(v):
            raise SpecError(f"{key}.{k}", error)
        if k in _REGEXES:
            try:
                re.compile(v)
            except re.error as exc:
                raise SpecError(f"{key}.{k}", f"invalid regular expression: {exc}") from None
    for base, dependents, error in _NEEDS:
        if any(k in expect for k in dependents) and base not in expect:
            raise SpecError(f"{key}.{base}", error)


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


def _exit_code(expect: Mapping[str, Any], rc: int | None, default_exit: bool) -> str | None:
    codes = expect.get("exit_code", 0 if default_exit else None)
    if codes is None:
        return None
    allowed = codes if isinstance(codes, list) else [codes]
    return None if rc in allowed else f"exit code {rc}, expected {'/'.join(map(str, allowed))}"


def _contains(expect: Mapping[str, Any], text: str) -> str | None:
    return None if expect["contains"] in text else f"output does not contain {expect['contains']!r}"


def _not_contains(expect: Mapping[str, Any], text: str) -> str | None:
    return f"output contains {expect['not_contains']!r}" if expect["not_contains"] in text else None


def _regex(expect: Mapping[str, Any], text: str) -> str | None:
    return None if re.search(expect["regex"], text, re.M) else f"output does not match /{expect['regex']}/"


def _not_regex(expect: Mapping[str, Any], text: str) -> str | None:
    m = re.search(expect["not_regex"], text, re.M)
    return f"output matches /{expect['not_regex']}/: {m.group(0)[:80]!r}" if m else None


def _empty(expect: Mapping[str, Any], text: str) -> str | None:
    if (not text.strip()) == expect["empty"]:
        return None
    return "output is not empty" if expect["empty"] else "output is empty"


def _equals(expect: Mapping[str, Any], text: str) -> str | None:
    return None if text.strip() == expect["equals"] else f"output {text.strip()[:80]!r} != {expect['equals']!r}"


def _count(expect: Mapping[str, Any], text: str) -> str | None:
    n = len(re.findall(expect["count_regex"], text, re.M))
    if "count_equals" in expect and n != expect["count_equals"]:
        return f"{n} matches of /{expect['count_regex']}/, expected {expect['count_equals']:g}"
    if "count_min" in expect and n < expect["count_min"]:
        return f"{n} matches of /{expect['count_regex']}/, expected at least {expect['count_min']:g}"
    return None


def _json(expect: Mapping[str, Any], text: str) -> str | None:
    path = expect["json_path"]
    try:
        value = _json_path(json.loads(text), path)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        return f"json {path}: not found ({type(exc).__name__})"
    if "json_equals" in expect and value != expect["json_equals"] and str(value) != str(expect["json_equals"]):
        return f"json {path} = {value!r}, expected {expect['json_equals']!r}"
    try:
        if "json_min" in expect and float(value) < expect["json_min"]:
            return f"json {path} = {value!r} < {expect['json_min']:g}"
        if "json_max" in expect and float(value) > expect["json_max"]:
            return f"json {path} = {value!r} > {expect['json_max']:g}"
    except (TypeError, ValueError):
        return f"json {path} = {value!r} is not a number"
    return None


# output predicates in the order they are tested (the first failure is reported), by the key that
# switches each on
_OUTPUT_CHECKS: tuple[tuple[str, Callable[[Mapping[str, Any], str], str | None]], ...] = (
    ("contains", _contains), ("not_contains", _not_contains), ("regex", _regex), ("not_regex", _not_regex),
    ("empty", _empty), ("equals", _equals), ("count_regex", _count), ("json_path", _json))


def evaluate(expect: Mapping[str, Any], rc: int | None, text: str, default_exit: bool = True) -> tuple[bool, str]:
    """Check an output against a predicate table -> (passed, reason naming the first failure)."""
    failure = _exit_code(expect, rc, default_exit)
    for key, check in _OUTPUT_CHECKS:
        if failure is not None:
            break
        if key in expect:
            failure = check(expect, text)
    return (False, failure) if failure is not None else (True, "ok")


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
