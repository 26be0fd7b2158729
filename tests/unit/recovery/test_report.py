"""Checklists and run reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.recovery import report
from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.unit.recovery.support import ScriptedRunner, host, runbook

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("path", sorted((ROOT / "runbooks").glob("*.toml")), ids=lambda p: p.stem)
def test_checklist_of_every_shipped_runbook(path):
    rb = rbm.load(path)
    text = report.checklist(rb)
    assert text.startswith(f"# {rb.title}\n")
    for n, s in enumerate(rb.steps, 1):
        assert f"## {n}. [ ] {s.id} · " in text
    assert text.count("- Verify: ") == len(rb.steps)
    for s in rb.steps:
        if s.destructive:
            assert f"{s.id} · {s.title}  (auto, **DESTRUCTIVE**" in text


TEXT = """
id = "t"
title = "Report demo"
[[steps]]
id = "LOUD"
title = "much output"
verify = { action = "probe", argv = ["cat", "/big"] }
[[steps]]
id = "SKIP"
title = "skipped"
verify = { action = "probe", argv = ["true"] }
[[steps]]
id = "BAD"
title = "fails"
verify = { action = "probe", argv = ["cat", "/x"], expect = { contains = "ok" } }
on_failure = "Replace | the cable."
"""


def test_run_report_markdown_and_json(tmp_path):
    big = "x" * 9000 + "END"

    def fn(argv):
        return (0, big) if argv == ("cat", "/big") else (0, "nope")
    store = RunStore(tmp_path / "state")
    ex = Executor(runbook(TEXT), host(tmp_path / "root", ScriptedRunner(fn)), ui=NullUI(), operator="dave", store=store)
    rec = ex.start(skips={"SKIP": "not needed"})
    md = report.run_markdown(store.load(rec.run_id).data, runbook(TEXT))
    assert f"# Recovery run {rec.run_id}" in md and "| Status | **failed** |" in md
    assert "| 1 | [x] LOUD much output | verified | 1 |" in md
    assert "| 2 | [x] SKIP skipped | skipped | 0 | not needed |" in md
    assert "| 3 | [ ] BAD fails | failed |" in md
    assert "**Step BAD failed:** verify failed: output does not contain 'ok'" in md
    assert "What to do: Replace | the cable." in md
    assert "skipped by dave: not needed" in md
    assert "[...]" in md and "stdout sha256" in md and "9003 bytes" in md  # bounded, with the full size
    data = report.run_json(store.load(rec.run_id).data)
    ev = data["steps"]["LOUD"]["evidence"][0]
    assert ev["stdout"]["truncated"] and ev["stdout"]["text"].endswith("END")
    assert report.dumps(data).startswith("{")


def test_non_finite_numbers_are_refused_in_runbooks_and_survived_in_records(tmp_path):
    """Found by the long fuzz run: TOML's `inf` as a step estimate crashed `recover show`, and a
    damaged run record with `created = inf` crashed the report."""
    with pytest.raises(rbm.RunbookError) as exc:
        runbook(TEXT.replace('title = "much output"', 'title = "much output"\nestimate_seconds = inf'))
    assert "LOUD" in str(exc.value) and "estimate_seconds" in str(exc.value) and "finite" in str(exc.value)
    with pytest.raises(rbm.RunbookError, match="finite"):
        runbook(TEXT.replace('verify = { action = "probe", argv = ["true"] }',
                             'apply = { action = "wait", seconds = nan }\nverify = { action = "probe", argv = ["true"] }\n'
                             'on_failure = "x"'))
    store = RunStore(tmp_path / "state")
    ex = Executor(runbook(TEXT), host(tmp_path / "root", ScriptedRunner(lambda argv: (0, "ok"))), ui=NullUI(),
                  operator="dave", store=store)
    rec = ex.start()
    data = dict(store.load(rec.run_id).data, created=float("inf"), finished=float("nan"))
    md = report.run_markdown(data, runbook(TEXT))
    assert f"# Recovery run {rec.run_id}" in md
