"""A typed confirmation or answer that must equal an identity can never be confirmed against an
empty value (found by the long fuzz run: a manual step with `equals = ""` crashed `recover show`).
"""

from __future__ import annotations

import pytest

from agent.recovery import runbook as rbm
from agent.recovery.actions import Manual
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from agent.recovery.report import checklist
from tests.unit.recovery.support import ScriptedRunner, host, runbook

HEAD = '''
id = "t"
title = "t"
[params.target]
description = "device"
default = ""
pattern = '^(/dev/[a-z0-9]+)?$'
'''


def test_literal_empty_equals_is_a_load_error_naming_step_and_key():
    for step, key in ((
            '[[steps]]\nid = "S1"\ntitle = "s"\nkind = "manual"\ninstructions = "x"\n'
            'apply = { action = "manual", prompt = "serial", equals = "" }\nverify = { action = "answer", pattern = ".+" }\n',
            "apply.equals"), (
            '[[steps]]\nid = "S1"\ntitle = "s"\ndestructive = true\nconfirm = { prompt = "type it", equals = "" }\n'
            'apply = { action = "run", argv = ["true"] }\nverify = { action = "probe", argv = ["true"] }\non_failure = "x"\n',
            "confirm.equals")):
        with pytest.raises(rbm.RunbookError) as exc:
            runbook(HEAD + step)
        assert "S1" in str(exc.value) and key in str(exc.value) and "empty" in str(exc.value)


def test_confirmation_whose_template_fills_empty_fails_the_step_and_runs_nothing(tmp_path):
    rb = runbook(HEAD + '''
[[steps]]
id = "S1"
title = "wipe"
destructive = true
confirm = { prompt = "Type the device", equals = "{params.target}" }
apply = { action = "run", argv = ["wipefs", "-a", "/dev/null"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
''')
    runner = ScriptedRunner(lambda argv: (0, ""))
    ex = Executor(rb, host(tmp_path / "root", runner), params={}, ui=NullUI([""]), operator="alice",
                  store=RunStore(tmp_path / "state"))
    rec = ex.start()
    s = rec.data["steps"]["S1"]
    assert rec.data["status"] == "failed" and s["state"] == "failed" and "empty" in s["detail"]
    assert not [c for c in runner.calls if c[0] == "wipefs"]
    assert "S1" in checklist(rb)


def test_manual_answer_against_an_empty_filled_value_is_described_and_refused():
    assert "cannot be confirmed" in Manual.describe({"prompt": "Serial of the OLD board", "equals": ""})
