"""The complexity ratchet (tools/complexity.py): the checkout passes it, and it fails when it should."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _load():
    spec = importlib.util.spec_from_file_location("hwagent_complexity_tool", ROOT / "tools" / "complexity.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


cx = _load()


def _function(name: str, branches: int) -> str:
    """Source of a function with CC 1 + branches (one ``if`` per branch)."""
    body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(branches))
    return f"def {name}(x):\n{body}    return -1\n"


def _cc(source: str) -> dict[str, int]:
    return {b.key: b.cc for b in cx.blocks_of(source, "m.py")}


def test_the_checkout_passes_the_ratchet():
    violations, _notes = cx.check(cx.scan(), cx.read_baseline())
    assert violations == []


def test_every_baseline_entry_is_over_rank_c():
    base = cx.read_baseline()
    assert base and all(cc > cx.LIMIT for cc in base.values())
    # the worst function the issue names (CC 93 when the ratchet came) is split into rank C: off the list
    worst = "agent/collectors/smart_parse.py::parse_json"
    assert worst not in base and cx.scan()[worst] <= cx.LIMIT


def test_new_function_may_reach_but_not_pass_the_top_of_rank_c():
    assert _cc(_function("f", 19)) == {"m.py::f": 20}
    assert cx.check(_cc(_function("f", 19)), {}) == ([], [])
    violations, _ = cx.check(_cc(_function("f", 20)), {})
    assert violations == ["m.py::f: CC 21 > 20 (rank D): new functions stay within rank C; "
                          "split it into named phases or make it table-driven"]


def test_listed_function_may_not_grow_and_is_noted_when_it_shrinks():
    base = {"m.py::f": 30}
    assert cx.check(_cc(_function("f", 29)), base) == ([], [])
    violations, _ = cx.check(_cc(_function("f", 30)), base)
    assert violations == ["m.py::f: CC 31 grew beyond its baseline 30: it may only get simpler"]
    violations, notes = cx.check(_cc(_function("f", 24)), base)
    assert violations == [] and notes == ["m.py::f: CC 25, baseline 30: run tools/complexity.py --update to lower it"]
    violations, notes = cx.check({}, base)
    assert violations == [] and notes == ["m.py::f: gone (baseline 30): run tools/complexity.py --update to drop it"]


def test_update_only_lowers_and_drops():
    base = {"m.py::a": 30, "m.py::b": 25, "m.py::gone": 40, "m.py::small_now": 22}
    current = {"m.py::a": 26, "m.py::b": 27, "m.py::small_now": 12, "m.py::new": 50}
    assert cx.updated(current, base) == {"m.py::a": 26, "m.py::b": 25}


def test_methods_and_closures_have_their_own_names():
    src = ("class C:\n"
           "    def m(self, x):\n"
           "        def inner(y):\n"
           "            return 1 if y else 2\n"
           "        return inner(x) if x else 0\n")
    assert _cc(src) == {"m.py::C.m": 2, "m.py::C.m.inner": 2}


def test_baseline_file_errors_name_the_line(tmp_path):
    p = tmp_path / "b.txt"
    p.write_text("# comment\nagent/x.py::f 25\nagent/x.py::g twenty\n")
    with pytest.raises(SystemExit, match=r"b.txt:3: expected 'path::function CC'"):
        cx.read_baseline(p)
