"""Fuzz the recovery loaders: runbook TOML (every shipped runbook, mutated) and run-state JSON
files (a real run record, mutated) through load, list, report and resume. Only the documented
errors (RunbookError, RecordError, ExecutionError) may come out."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import hypothesis.strategies as st
import pytest
from hypothesis import given

from agent.recovery import report
from agent.recovery import runbook as rbm
from agent.recovery.executor import ExecutionError, Executor, NullUI
from agent.recovery.record import RecordError, RunStore
from tests.unit.recovery.support import ScriptedRunner, host, runbook

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = {p.stem: p.read_text() for p in sorted((ROOT / "runbooks").glob("*.toml"))}
leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False),
                 st.text(max_size=12), st.sampled_from(["", "{{ params.x }}", "{{", "(", "*", "sh", "-c", "probe",
                                                         "command", "manual", "wait", "rm -rf /"]))
anyval = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=8), c, max_size=3)),
                      max_leaves=10)


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def mutate(data, doc, value, delete):
    path = data.draw(st.sampled_from(list(_paths(doc))))
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    if delete:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return doc


def test_runbook_mappings(count):
    @given(st.sampled_from(sorted(SHIPPED)), st.data(), anyval, st.booleans())
    def inner(name, data, value, delete):
        count()
        doc = mutate(data, tomllib.loads(SHIPPED[name]), value, delete)
        try:
            rb = rbm.from_mapping(doc, f"{name}.toml", "0" * 64, expect_id=name)
        except rbm.RunbookError as exc:
            assert str(exc).startswith(f"{name}.toml")
            return
        report.checklist(rb)
    inner()


def test_runbook_files(tmp_path_factory, count):
    @given(st.sampled_from(sorted(SHIPPED)), st.integers(0, 10_000), st.binary(max_size=30), st.booleans())
    def inner(name, cut, junk, insert):
        count()
        raw = SHIPPED[name].encode()
        cut %= len(raw) + 1
        raw = raw[:cut] + junk + (raw[cut:] if insert else b"")
        p = tmp_path_factory.mktemp("rb") / f"{name}.toml"
        p.write_bytes(raw)
        try:
            report.checklist(rbm.load(p))
        except rbm.RunbookError:
            pass
    inner()


TEXT = """
id = "t"
title = "Fuzz demo"
[params.disk]
description = "a disk"
default = "sda"
[[steps]]
id = "LOOK"
title = "look at {{ params.disk }}"
verify = { action = "probe", argv = ["cat", "/x"], expect = { contains = "ok" } }
[[steps]]
id = "AGAIN"
title = "look again"
verify = { action = "probe", argv = ["cat", "/y"] }
"""


@pytest.fixture(scope="module")
def record_template(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    store = RunStore(base / "state")
    ex = Executor(runbook(TEXT), host(base / "root", ScriptedRunner(lambda argv: (0, "nope"))), ui=NullUI(),
                  operator="erin", store=store)
    rec = ex.start()
    return json.loads(store.path(rec.run_id).read_text()), rec.run_id


def test_run_state_files(tmp_path_factory, record_template, count):
    template, run_id = record_template

    @given(st.data(), anyval, st.booleans(), st.booleans())
    def inner(data, value, delete, as_bytes):
        count()
        doc = mutate(data, json.loads(json.dumps(template)), value, delete)
        base = tmp_path_factory.mktemp("st")
        store = RunStore(base / "state")
        store.ensure()
        raw = json.dumps(doc).encode()
        if as_bytes:
            raw = raw[: data.draw(st.integers(0, len(raw)))]
        store.path(run_id).write_bytes(raw)
        assert isinstance(store.list(), list)
        try:
            rec = store.load(run_id)
        except RecordError as exc:
            assert str(run_id) in str(exc) or "run" in str(exc)
            return
        report.run_markdown(rec.data)
        report.dumps(report.run_json(rec.data))
        ex = Executor(runbook(TEXT), host(base / "root", ScriptedRunner(lambda argv: (0, "ok"))), ui=NullUI(),
                      operator="frank", store=store)
        try:
            ex.resume(run_id, accept_changed=True)
        except (RecordError, ExecutionError):
            pass
    inner()
