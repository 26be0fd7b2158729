"""Defect 8: os-updates/data-restore as child runs under the parent's lock, resumed not restarted,
and a verify that accepts only a completed child of this run on this host."""

from __future__ import annotations

import pytest

from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.unit.recovery.support import ScriptedRunner, host

PARENT = """
id = "parent"
title = "parent"
[[steps]]
id = "P-01"
title = "before"
kind = "manual"
apply = { action = "manual", prompt = "go", pattern = "^go$" }
verify = { action = "answer", pattern = "^go$" }
[[steps]]
id = "P-02"
title = "updates as a child"
check = { action = "child_done", runbook = "kid" }
apply = { action = "child_run", runbook = "kid" }
verify = { action = "child_done", runbook = "kid" }
on_failure = "fix the child"
"""
KID = """
id = "kid"
title = "kid"
[params.path]
description = "what to update"
required = true
pattern = '^/[a-z]+$'
example = "/srv"
[[steps]]
id = "K-01"
title = "upgrade"
apply = { action = "run", argv = ["apt-get", "upgrade", "{params.path}"] }
verify = { action = "probe", argv = ["test", "-e", "/done"] }
on_failure = "apt"
"""


@pytest.fixture
def books(tmp_path):
    d = tmp_path / "books"
    d.mkdir()
    (d / "parent.toml").write_text(PARENT)
    (d / "kid.toml").write_text(KID)
    return d


def test_child_runs_under_the_parents_lock_and_is_resumed_not_restarted(tmp_path, books):
    state = {"done": False}
    runner = ScriptedRunner(lambda argv: (0 if argv[0] != "test" or state["done"] else 1, ""))
    store = RunStore(tmp_path / "state")
    rb = rbm.load(books / "parent.toml")
    ui = NullUI(["go", "nope", "/srv"])
    ex = Executor(rb, host(tmp_path / "root", runner), ui=ui, store=store, operator="alice", sleep=lambda s: None)
    d = ex.start().data
    assert d["status"] == "failed" and d["failed_step"] == "P-02"
    assert "child run" in d["steps"]["P-02"]["detail"] and "failed at K-01" in d["steps"]["P-02"]["detail"]
    kids = [r for r in store.list() if r["runbook"] == "kid"]
    assert len(kids) == 1
    kid = store.load(kids[0]["run_id"]).data
    assert kid["parent"] == d["run_id"] and kid["params"] == {"path": "/srv"}
    assert any("rejected 'nope'" in line for line in ui.lines)  # the child's parameter is validated
    state["done"] = True
    d = Executor(rb, host(tmp_path / "root", runner), ui=NullUI(), store=store, operator="bob",
                 sleep=lambda s: None).resume(d["run_id"]).data
    assert d["status"] == "completed", d["steps"]["P-02"]
    assert len([r for r in store.list() if r["runbook"] == "kid"]) == 1  # the same child continued
    assert store.load(kids[0]["run_id"]).data["status"] == "completed"
    # the failed child step is retried like any failed step (apply, verify), in the same child run
    assert runner.calls.count(("apt-get", "upgrade", "/srv")) == 2


def test_a_completed_run_that_is_not_our_child_does_not_count(tmp_path, books):
    runner = ScriptedRunner(lambda argv: (0, ""))
    store = RunStore(tmp_path / "state")
    other = Executor(rbm.load(books / "kid.toml"), host(tmp_path / "root", runner), params={"path": "/srv"}, ui=NullUI(),
                     store=store)
    assert other.start().data["status"] == "completed"  # an unrelated kid run, completed
    ex = Executor(rbm.load(books / "parent.toml"), host(tmp_path / "root", runner), ui=NullUI(["go", "/srv"]),
                  store=store)
    d = ex.start().data
    assert d["status"] == "completed"
    assert d["steps"]["P-02"]["state"] == "verified"  # not already_done through the unrelated run
    kids = [store.load(r["run_id"]).data for r in store.list() if r["runbook"] == "kid"]
    assert sorted(k.get("parent") or "" for k in kids) == ["", d["run_id"]]
