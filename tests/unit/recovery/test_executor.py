"""The engine: dry run without side effects, execute, confirmations, retries, timeouts, until,
skip/start-at, Ctrl-C, resume semantics, template injection."""

from __future__ import annotations

import json
import sys

import pytest

from agent.recovery import actions as A
from agent.recovery.executor import ExecutionError, Executor, NullUI, RunInterrupted
from agent.recovery.record import RunStore
from tests.unit.recovery.support import ScriptedRunner, host, runbook

PY = sys.executable

BASIC = """
id = "t"
title = "t"
[params.dir]
description = "work dir"
required = true
[params.label]
description = "a device label"
default = "disk"

[[steps]]
id = "S1"
title = "create a"
check = { action = "probe", argv = ["test", "-e", "{params.dir}/a"] }
apply = { action = "run", argv = ["touch", "{params.dir}/a"] }
verify = { action = "probe", argv = ["test", "-e", "{params.dir}/a"] }
on_failure = "look"

[[steps]]
id = "S2"
title = "ask"
kind = "manual"
instructions = "Type the serial of {params.label}"
apply = { action = "manual", prompt = "serial", pattern = '^SN[0-9]+$' }
verify = { action = "answer", pattern = '^SN[0-9]+$' }

[[steps]]
id = "S3"
title = "destroy b"
destructive = true
confirm = { prompt = "type the serial", equals = "{answers.S2}" }
apply = { action = "run", argv = ["touch", "{params.dir}/b"] }
verify = { action = "probe", argv = ["ls", "{params.dir}"], expect = { regex = "^b$" } }
on_failure = "look"

[[steps]]
id = "S4"
title = "tell"
kind = "notify"
apply = { action = "notify", state = "resolved", message = "done on {run.host}" }
verify = { action = "notified" }
on_failure = "fallback"
"""


def make(tmp_path, text=BASIC, runner=None, answers=(), **kw):
    rb = runbook(text)
    store = RunStore(tmp_path / "state")
    ex = Executor(rb, host(tmp_path / "root", runner), params=kw.pop("params", {"dir": str(tmp_path / "w")}),
                  ui=NullUI(list(answers), reapply=kw.pop("reapply", False)), operator="alice", store=store,
                  sleep=kw.pop("sleep", lambda s: None), **kw)
    (tmp_path / "w").mkdir(exist_ok=True)
    return ex, store


# ---- dry run -------------------------------------------------------------------------------------

def test_dry_run_is_provably_side_effect_free(tmp_path, monkeypatch):
    """Fails if anything not read-only executes: mutating actions explode, the runner refuses
    every argv that is not read-only, no file is created, nothing is sent."""
    for name, cls in A.ACTIONS.items():
        if not cls.read_only:
            monkeypatch.setattr(cls, "run", lambda self, args, ctx, _n=name: pytest.fail(f"{_n} ran in a dry run"))

    def runner_fn(argv):
        ok, why = A.argv_read_only(argv)
        if not ok:
            pytest.fail(f"mutating argv reached the host in a dry run: {argv} ({why})")
        return 1, ""
    runner = ScriptedRunner(runner_fn)

    class Exploding:
        configured = True

        def send(self, **kw):
            pytest.fail("notification sent in a dry run")
    ex, store = make(tmp_path, runner=runner, notifier=Exploding())
    before = sorted(p for p in tmp_path.rglob("*"))
    items = ex.plan()
    assert [i.status for i in items] == ["would_run", "would_run", "would_run", "would_run"]
    assert items[0].apply.startswith("$ touch ") and "<answers.S2>" in items[2].confirm
    assert runner.calls == [("test", "-e", str(tmp_path / "w" / "a"))]  # only the read-only check ran
    assert sorted(p for p in tmp_path.rglob("*")) == before  # no run record, no audit log
    assert not (tmp_path / "state").exists()


def test_dry_run_guard_refuses_mutating_argv_even_from_a_read_only_action(tmp_path):
    ex, _ = make(tmp_path)
    ex.dry_run = True
    ctx = A.ActionContext(ex.host, timeout=5, dry_run=True, operator="x", baseline=None)
    with pytest.raises(A.DryRunViolation):
        ctx.run(["mdadm", "--manage", "/dev/md0", "--fail", "/dev/sdb1"])
    with pytest.raises(A.DryRunViolation):
        ex._call(ex.runbook.steps[0].apply, ex.runbook.steps[0], {"argv": ["touch", "x"]})


def test_dry_run_runs_read_only_check_steps_and_reports_failures(tmp_path):
    text = """
id = "t"
title = "t"
[[steps]]
id = "OK"
title = "passes"
verify = { action = "probe", argv = ["cat", "/etc/x"], expect = { contains = "hello" } }
[[steps]]
id = "BAD"
title = "fails"
verify = { action = "probe", argv = ["cat", "/etc/x"], expect = { contains = "bye" } }
[[steps]]
id = "NA"
title = "n/a"
when = { path_exists = "/sys/firmware/efi" }
verify = { action = "probe", argv = ["true"] }
"""
    runner = ScriptedRunner(lambda argv: (0, "hello\n"))
    ex, _ = make(tmp_path, text, runner=runner, params={})
    items = ex.plan()
    assert [(i.step.id, i.status) for i in items] == [("OK", "ok"), ("BAD", "failing"), ("NA", "not_applicable")]
    assert "does not contain 'bye'" in items[1].detail


def test_dry_run_reports_missing_baseline_as_plan_error(tmp_path):
    text = """
id = "t"
title = "t"
[[steps]]
id = "B"
title = "b"
verify = { action = "probe", argv = ["cat", "/sys/class/dmi/id/board_serial"], expect = { equals = "{baseline.dmi.board_serial}" } }
"""
    ex, _ = make(tmp_path, text, runner=ScriptedRunner(lambda a: (0, "")), params={})
    item = ex.plan()[0]
    assert item.status == "error" and "no baseline available" in item.detail


# ---- execute --------------------------------------------------------------------------------------

def test_execute_records_answers_confirmation_evidence_and_notify_skip(tmp_path):
    ex, store = make(tmp_path, answers=["nope", "SN42", "SN41", "SN42"])
    rec = ex.start()
    d = rec.data
    assert d["status"] == "completed"
    assert [d["steps"][s]["state"] for s in d["order"]] == ["verified"] * 3 + ["skipped"]  # no notify target
    assert (tmp_path / "w" / "a").exists() and (tmp_path / "w" / "b").exists()
    assert d["answers"] == {"S2": "SN42"}
    assert d["steps"]["S2"]["answer"]["operator"] == "alice"
    assert d["steps"]["S3"]["confirmation"]["value"] == "SN42" and d["steps"]["S3"]["confirmation"]["destructive"]
    assert "rejected 'SN41'" in " ".join(ex.ui.lines)
    ev = [e for e in d["steps"]["S1"]["evidence"] if e["phase"] == "apply"][0]
    assert ev["argv"] == ["touch", str(tmp_path / "w" / "a")] and ev["rc"] == 0 and ev["operator"] == "alice"
    assert ev["stdout"]["sha256"] and ev["duration_seconds"] >= 0 and ev["started"] <= ev["ended"]
    assert d["notifications"][0]["sent"] is False and "NOT TOLD" in d["notifications"][0]["detail"]
    # the record on disk is what we have in memory
    assert json.loads(store.path(rec.run_id).read_text())["status"] == "completed"
    events = [json.loads(line)["event"] for line in (store.dir / "audit.jsonl").read_text().splitlines()]
    assert events[0] == "run_start" and events[-1] == "run_complete"
    assert {"answer", "confirmation", "notify", "step"} <= set(events)
    assert store.verify_audit() == (True, "chain intact")


def test_check_pass_means_already_done(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "a").write_text("")
    ex, _ = make(tmp_path, answers=["SN1", "SN1"])
    rec = ex.start()
    assert rec.data["steps"]["S1"]["state"] == "already_done"
    assert not [e for e in rec.data["steps"]["S1"]["evidence"] if e["phase"] == "apply"]


def test_no_answer_fails_the_step_with_guidance(tmp_path):
    ex, _ = make(tmp_path, answers=[])
    rec = ex.start()
    assert rec.data["status"] == "failed" and rec.data["failed_step"] == "S2"
    assert "no valid answer" in rec.data["steps"]["S2"]["detail"]


def test_template_injection_stays_one_argv_element(tmp_path):
    text = """
id = "t"
title = "t"
[params.label]
description = "label"
[[steps]]
id = "S"
title = "t"
apply = { action = "run", argv = ["wipefs", "--no-act", "{params.label}"] }
verify = { action = "probe", argv = ["lsblk", "-dno", "NAME", "{params.label}"], expect = { exit_code = 0 } }
on_failure = "x"
"""
    evil = "/dev/sdb; rm -rf / #"
    runner = ScriptedRunner(lambda argv: (0, ""))
    ex, _ = make(tmp_path, text, runner=runner, params={"label": evil})
    ex.start()
    assert runner.calls == [("wipefs", "--no-act", evil), ("lsblk", "-dno", "NAME", evil)]
    # the run record keeps the argv as a list too
    for argv in runner.calls:
        assert len(argv) in (3, 4)


def test_param_validation(tmp_path):
    rbtext = BASIC
    with pytest.raises(ExecutionError, match="--param dir=VALUE is required"):
        make(tmp_path, rbtext, params={})
    with pytest.raises(ExecutionError, match="has no such parameter"):
        make(tmp_path, rbtext, params={"dir": "/x", "nope": "1"})
    text = rbtext.replace('description = "work dir"', 'description = "work dir"\npattern = "^/[a-z/]+$"')
    with pytest.raises(ExecutionError, match="does not match"):
        make(tmp_path, text, params={"dir": "/tmp; rm -rf /"})


RETRY = """
id = "t"
title = "t"
[[steps]]
id = "R"
title = "flaky"
retries = 2
retry_delay_seconds = 7
apply = { action = "run", argv = ["flaky"] }
verify = { action = "probe", argv = ["cat", "/state"], expect = { contains = "good" } }
on_failure = "it stays flaky"
"""


@pytest.mark.parametrize("fail_times,status", [(0, "completed"), (2, "completed"), (3, "failed")])
def test_retries_with_delay(tmp_path, fail_times, status):
    n = {"apply": 0}
    slept = []

    def fn(argv):
        if argv[0] == "flaky":
            n["apply"] += 1
            return (1, "") if n["apply"] <= fail_times else (0, "")
        return 0, "good"
    ex, _ = make(tmp_path, RETRY, runner=ScriptedRunner(fn), params={}, sleep=slept.append)
    rec = ex.start()
    assert rec.data["status"] == status
    assert n["apply"] == min(fail_times + 1, 3)
    assert slept == [7.0] * min(fail_times, 2)
    if status == "failed":
        assert rec.data["steps"]["R"]["on_failure"] == "it stays flaky"
        assert rec.data["steps"]["R"]["attempts"] == 3


def test_timeout_kills_the_command(tmp_path):
    text = f"""
id = "t"
title = "t"
[[steps]]
id = "SLOW"
title = "t"
timeout_seconds = 0.3
apply = {{ action = "run", argv = ["{PY}", "-c", "import time; time.sleep(30)"] }}
verify = {{ action = "probe", argv = ["true"] }}
on_failure = "x"
"""
    import time

    ex, _ = make(tmp_path, text, params={})
    t0 = time.monotonic()
    rec = ex.start()
    assert time.monotonic() - t0 < 10
    s = rec.data["steps"]["SLOW"]
    assert rec.data["status"] == "failed" and "timeout" in s["detail"]
    assert s["evidence"][-1]["error"] == "timeout"


UNTIL = """
id = "t"
title = "t"
[[steps]]
id = "SYNC"
title = "wait for resync"
verify = { action = "probe", argv = ["mdadm", "--detail", "/dev/md0"], expect = { regex = '^\\s*State : clean\\s*$' } }
until = { interval_seconds = 30, deadline_seconds = DEADLINE, progress_regex = 'Rebuild Status : (\\d+)% complete' }
on_failure = "x"
"""


def test_until_polls_with_progress(tmp_path):
    outputs = iter(["State : clean, degraded, recovering\nRebuild Status : 10% complete\n",
                    "State : clean, degraded, recovering\nRebuild Status : 55% complete\n",
                    "State : clean\n"])
    slept = []
    ex, _ = make(tmp_path, UNTIL.replace("DEADLINE", "3600"), runner=ScriptedRunner(lambda a: (0, next(outputs))),
                 params={}, sleep=slept.append)
    rec = ex.start()
    s = rec.data["steps"]["SYNC"]
    assert rec.data["status"] == "completed" and "after 3 poll(s)" in s["detail"]
    assert slept == [30.0, 30.0]
    assert s["progress"]["value"] == 55.0 and "about" in s["progress"]["note"]
    assert any("progress 55.0%" in line for line in ex.ui.lines)


def test_until_deadline_fails_when_progress_stalls(tmp_path):
    ex, _ = make(tmp_path, UNTIL.replace("DEADLINE", "0.05"),
                 runner=ScriptedRunner(lambda a: (0, "State : clean, degraded\nRebuild Status : 10% complete\n")),
                 params={}, sleep=lambda s: __import__("time").sleep(0.02))
    rec = ex.start()
    assert rec.data["status"] == "failed" and "deadline" in rec.data["steps"]["SYNC"]["detail"]


def test_until_deadline_extends_while_progress_grows(tmp_path):
    state = {"p": 0}

    def fn(argv):
        state["p"] += 10
        if state["p"] >= 100:
            return 0, "State : clean\n"
        return 0, f"State : clean, recovering\nRebuild Status : {state['p']}% complete\n"
    ex, store = make(tmp_path, UNTIL.replace("DEADLINE", "0.01"), runner=ScriptedRunner(fn), params={},
                     sleep=lambda s: __import__("time").sleep(0.02))
    rec = ex.start()
    assert rec.data["status"] == "completed"
    assert "deadline_extended" in (store.dir / "audit.jsonl").read_text()


SEQ = """
id = "t"
title = "t"
[[steps]]
id = "A"
title = "a"
verify = { action = "probe", argv = ["true"] }
[[steps]]
id = "B"
title = "b"
required = true
verify = { action = "probe", argv = ["true"] }
[[steps]]
id = "C"
title = "c"
verify = { action = "probe", argv = ["true"] }
"""


def test_skip_needs_reason_and_force_for_required(tmp_path):
    ex, _ = make(tmp_path, SEQ, params={})
    with pytest.raises(ExecutionError, match="needs --reason"):
        ex.start(skips={"A": ""})
    with pytest.raises(ExecutionError, match="required; skipping it also needs --force"):
        ex.start(skips={"B": "no time"})
    with pytest.raises(KeyError, match="no step 'Z'"):
        ex.start(skips={"Z": "x"})
    rec = ex.start(skips={"A": "not relevant here", "B": "checked by hand"}, force=True)
    st = rec.data["steps"]
    assert (st["A"]["state"], st["A"]["reason"], st["A"]["skipped_by"]) == ("skipped", "not relevant here", "alice")
    assert st["B"]["state"] == "skipped" and st["C"]["state"] == "verified"


def test_start_at_skips_earlier_steps_with_reason(tmp_path):
    ex, store = make(tmp_path, SEQ, params={})
    with pytest.raises(ExecutionError, match="needs --reason"):
        ex.start(start_at="C")
    with pytest.raises(ExecutionError, match="would skip required step B"):
        ex.start(start_at="C", reason="done before")
    rec = ex.start(start_at="C", reason="done before", force=True)
    assert rec.data["steps"]["A"]["reason"] == "start-at C: done before"
    assert rec.data["steps"]["C"]["state"] == "verified"
    assert "step_skip" in (store.dir / "audit.jsonl").read_text()


def test_ctrl_c_mid_step_saves_interrupted_and_resume_continues(tmp_path):
    calls = {"n": 0}

    def fn(argv):
        calls["n"] += 1
        if argv[0] == "slow" and calls["n"] == 1:
            raise KeyboardInterrupt
        return 0, "ok"
    text = """
id = "t"
title = "t"
[[steps]]
id = "A"
title = "a"
idempotent = true
apply = { action = "run", argv = ["slow"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
"""
    ex, store = make(tmp_path, text, runner=ScriptedRunner(fn), params={})
    with pytest.raises(RunInterrupted) as exc:
        ex.start()
    run_id = exc.value.run_id
    d = store.load(run_id).data
    assert d["status"] == "interrupted" and d["steps"]["A"]["state"] == "interrupted"
    assert d["steps"]["A"]["interrupted_in"] == "applying"
    ex2, _ = make(tmp_path, text, runner=ScriptedRunner(fn), params={})
    rec = ex2.resume(run_id)
    assert rec.data["status"] == "completed"


NONIDEM = """
id = "t"
title = "t"
[[steps]]
id = "A"
title = "a"
check = { action = "probe", argv = ["cat", "/flag"], expect = { contains = "done" } }
apply = { action = "run", argv = ["doit"] }
verify = { action = "probe", argv = ["cat", "/flag"], expect = { contains = "done" } }
on_failure = "x"
"""


def _crashed_in_applying(tmp_path, store):
    """A record as a SIGKILL during apply leaves it: step A in 'applying'."""
    ex, _ = make(tmp_path, NONIDEM, runner=ScriptedRunner(lambda a: (0, "not yet")), params={})
    ex.on_transition = lambda sid, st: (_ for _ in ()).throw(SystemExit("killed")) if st == "applying" else None
    with pytest.raises(SystemExit):
        ex.start()
    runs = store.list()
    return runs[0]["run_id"]


@pytest.mark.parametrize("reapply,expected", [(False, "failed"), (True, "completed")])
def test_resume_after_crash_in_apply_verifies_before_reapplying(tmp_path, reapply, expected):
    store = RunStore(tmp_path / "state")
    run_id = _crashed_in_applying(tmp_path, store)
    assert store.load(run_id).data["steps"]["A"]["state"] == "applying"
    applied = []

    def fn(argv):
        if argv[0] == "doit":
            applied.append(argv)
            return 0, ""
        return 0, "done" if applied else "not yet"
    ex, _ = make(tmp_path, NONIDEM, runner=ScriptedRunner(fn), params={}, reapply=reapply)
    rec = ex.resume(run_id)
    assert rec.data["status"] == expected
    assert len(applied) == (1 if reapply else 0)
    if not reapply:
        assert "not re-applied without the operator's decision" in rec.data["steps"]["A"]["detail"]


def test_resume_after_crash_when_apply_had_finished_only_checks(tmp_path):
    store = RunStore(tmp_path / "state")
    run_id = _crashed_in_applying(tmp_path, store)
    applied = []

    def fn(argv):
        if argv[0] == "doit":
            applied.append(argv)
        return 0, "done"  # the apply did land before the crash
    ex, _ = make(tmp_path, NONIDEM, runner=ScriptedRunner(fn), params={})
    rec = ex.resume(run_id)
    assert rec.data["steps"]["A"]["state"] == "already_done" and applied == []


def test_resume_refuses_changed_runbook_and_completed_runs(tmp_path):
    ex, store = make(tmp_path, SEQ, params={}, runner=ScriptedRunner(lambda a: (1, "")))
    rec = ex.start()
    assert rec.data["status"] == "failed"
    changed = SEQ.replace('title = "c"', 'title = "c2"')
    ex2, _ = make(tmp_path, changed, params={})
    with pytest.raises(ExecutionError, match="changed since run"):
        ex2.resume(rec.run_id)
    ex3, _ = make(tmp_path, changed, params={})
    done = ex3.resume(rec.run_id, accept_changed=True)
    assert done.data["status"] == "completed"
    ex4, _ = make(tmp_path, changed, params={})
    with pytest.raises(ExecutionError, match="already completed"):
        ex4.resume(rec.run_id)


def test_resume_reruns_check_of_first_unverified_step_only(tmp_path):
    runner = ScriptedRunner(lambda a: (1, "") if a[0] == "false-verify" else (0, ""))
    text = SEQ.replace('id = "C"\ntitle = "c"\nverify = { action = "probe", argv = ["true"] }',
                       'id = "C"\ntitle = "c"\ncheck = { action = "probe", argv = ["cat", "/c"] }\n'
                       'verify = { action = "probe", argv = ["cat", "/c"] }')
    ex, store = make(tmp_path, text, runner=ScriptedRunner(lambda a: (1, "") if a == ("cat", "/c") else (0, "")), params={})
    rec = ex.start()
    assert rec.data["failed_step"] == "C"
    ex2, _ = make(tmp_path, text, runner=runner, params={})
    rec2 = ex2.resume(rec.run_id)
    assert runner.calls == [("cat", "/c")]  # A and B (verified) not re-run; C's check re-run and passes
    assert rec2.data["steps"]["C"]["state"] == "already_done"
    assert len(rec2.data["boot_ids"]) == 1 and rec2.data["operators"] == ["alice"]


def test_when_uses_params_and_records_condition(tmp_path):
    text = """
id = "t"
title = "t"
[params.boot]
description = "b"
default = "bios"
[[steps]]
id = "U"
title = "uefi only"
when = { value = "{params.boot}", equals = "uefi" }
verify = { action = "probe", argv = ["true"] }
[[steps]]
id = "B"
title = "bios or none"
when = { value = "{params.boot}", in = ["bios", "none"] }
verify = { action = "probe", argv = ["true"] }
"""
    ex, _ = make(tmp_path, text, params={})
    rec = ex.start()
    assert rec.data["steps"]["U"]["state"] == "not_applicable"
    assert "'bios', equals 'uefi'" in rec.data["steps"]["U"]["detail"]
    assert rec.data["steps"]["B"]["state"] == "verified"


def test_failed_step_shows_undo_but_never_runs_it(tmp_path):
    text = """
id = "t"
title = "t"
[[steps]]
id = "A"
title = "a"
apply = { action = "run", argv = ["change", "x"] }
verify = { action = "probe", argv = ["cat", "/x"], expect = { contains = "ok" } }
undo = { action = "run", argv = ["revert", "x"] }
on_failure = "look"
"""
    runner = ScriptedRunner(lambda a: (0, "bad"))
    ex, _ = make(tmp_path, text, runner=runner, params={})
    rec = ex.start()
    assert rec.data["steps"]["A"]["undo"].startswith("$ revert x")
    assert ("revert", "x") not in runner.calls
    ev = rec.data["steps"]["A"]["evidence"][0]
    assert ev["boot_id"] == "boot-1"


def test_run_env_is_added_and_recorded_by_name(tmp_path):
    text = f"""
id = "t"
title = "t"
[[steps]]
id = "E"
title = "env"
apply = {{ action = "run", argv = ["{sys.executable}", "-c", "import os, sys; open(sys.argv[1], 'w').write(os.environ['DEBIAN_FRONTEND'] + os.environ.get('HOME', '-'))", "{{params.dir}}/env"], env = {{ DEBIAN_FRONTEND = "noninteractive" }} }}
verify = {{ action = "read_file", path = "{{params.dir}}/env", expect = {{ regex = "^noninteractive" }} }}
on_failure = "x"
[params.dir]
description = "d"
"""
    ex, _ = make(tmp_path, text)
    ex.host = __import__("agent.host", fromlist=["Host"]).Host()  # real root: read_file reads the work dir
    rec = ex.start()
    assert rec.data["status"] == "completed", rec.data["steps"]["E"]
    ev = [e for e in rec.data["steps"]["E"]["evidence"] if e["phase"] == "apply"][0]
    assert ev["env"] == ["DEBIAN_FRONTEND"]
    assert (tmp_path / "w" / "env").read_text().startswith("noninteractive") and "-" != (tmp_path / "w" / "env").read_text()[14:]
    from agent.recovery.runbook import RunbookError
    with pytest.raises(RunbookError, match="may not be overridden"):
        runbook(text.replace("DEBIAN_FRONTEND", "LD_PRELOAD"))


def test_an_unexpected_error_is_recorded_not_lost(tmp_path):
    def fn(argv):
        raise RuntimeError("runner broke")
    ex, store = make(tmp_path, SEQ, runner=ScriptedRunner(fn), params={})
    rec = ex.start()
    assert rec.data["status"] == "failed"
    assert "internal error: RuntimeError: runner broke" in store.load(rec.run_id).data["steps"]["A"]["detail"]


FOLLOW = """
id = "t"
title = "t"
[[steps]]
id = "LINK"
title = "edit a .link file"
apply = { action = "run", argv = ["edit"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
followup = "update-initramfs -u and reboot"
[[steps]]
id = "OTHER"
title = "other"
verify = { action = "probe", argv = ["true"] }
"""


def test_followups_block_closing_until_closed_or_acknowledged(tmp_path):
    ex, store = make(tmp_path, FOLLOW, runner=ScriptedRunner(lambda a: (0, "")), params={})
    rec = ex.start()
    assert rec.data["status"] == "followups_open"
    assert [f["text"] for f in ex.open_followups()] == ["update-initramfs -u and reboot"]
    ex2, _ = make(tmp_path, FOLLOW, runner=ScriptedRunner(lambda a: (0, "")), params={})
    with pytest.raises(ExecutionError, match="needs --reason"):
        ex2.resume(rec.run_id, ack_followups={"LINK": ""})
    with pytest.raises(ExecutionError, match="no open follow-up of step OTHER"):
        ex2.resume(rec.run_id, ack_followups={"OTHER": "x"})
    again = ex2.resume(rec.run_id)  # listed at every resume, still open
    assert again.data["status"] == "followups_open"
    assert "pending follow-up from LINK: update-initramfs -u and reboot" in " ".join(ex2.ui.lines)
    done = ex2.resume(rec.run_id, ack_followups={"LINK": "rebuilt and rebooted at 02:10"})
    assert done.data["status"] == "completed"
    assert done.data["followups"][0]["closed_by"] == "alice: rebuilt and rebooted at 02:10"
    from agent.recovery import report
    assert "- LINK: update-initramfs -u and reboot — done (alice: rebuilt and rebooted at 02:10" in report.run_markdown(done.data)


def test_a_closing_step_closes_the_followup(tmp_path):
    text = FOLLOW.replace('id = "OTHER"\ntitle = "other"', 'id = "OTHER"\ntitle = "reboot test"\ncloses = ["LINK"]')
    ex, _ = make(tmp_path, text, runner=ScriptedRunner(lambda a: (0, "")), params={})
    rec = ex.start()
    assert rec.data["status"] == "completed" and rec.data["followups"][0]["closed_by"] == "step OTHER"
    from agent.recovery.runbook import RunbookError
    with pytest.raises(RunbookError, match="not an earlier step"):
        runbook(FOLLOW.replace('id = "LINK"\ntitle = "edit a .link file"', 'id = "LINK"\ntitle = "e"\ncloses = ["OTHER"]'))
