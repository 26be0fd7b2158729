"""What an operator relies on when a runbook changes a server, beyond the happy path: an apply
happens once per decision (a crash or Ctrl-C while verifying never re-applies), a check the
machine measured cannot be overridden by a typed answer, a verify that does not pass fails the
step (and retries re-apply, with the delay), a resume picks up in the state the run stopped in,
and the audit chain names each of those decisions.

Written against the survivors of `tests/mutation/run.sh executor` (see docs/mutation.md)."""

from __future__ import annotations

import json
import time

import pytest

from agent.recovery.executor import NullUI, RunInterrupted
from agent.recovery.record import RunStore
from tests.unit.recovery.support import ScriptedRunner
from tests.unit.recovery.test_executor import make

ONE = """
id = "t"
title = "t"
[[steps]]
id = "A"
title = "change the thing"
check = { action = "probe", argv = ["cat", "/flag"], expect = { contains = "done" } }
apply = { action = "run", argv = ["doit"] }
verify = { action = "probe", argv = ["cat", "/flag"], expect = { contains = "done" } }
on_failure = "look at /flag"
"""


class Host:
    """A host whose /flag says "done" once `doit` ran (or when told so)."""

    def __init__(self, done: bool = False):
        self.applied = 0
        self.done = done
        self.verify_fails = 0  # the next N reads of /flag after an apply say "not yet"

    def __call__(self, argv):
        if argv[0] == "doit":
            self.applied += 1
            self.done = True
            return 0, ""
        if self.verify_fails and self.done:
            self.verify_fails -= 1
            return 0, "not yet"
        return 0, "done" if self.done else "not yet"


def _events(store: RunStore) -> list[dict]:
    return [json.loads(line) for line in (store.dir / "audit.jsonl").read_text().splitlines()]


def _crash_at(tmp_path, state: str, text: str = ONE) -> tuple[str, Host]:
    """Start a run whose process dies (SIGKILL-like) on entering `state` of step A."""
    h = Host()
    ex, store = make(tmp_path, text, runner=ScriptedRunner(h), params={})
    ex.on_transition = lambda sid, st: (_ for _ in ()).throw(SystemExit("killed")) if st == state else None
    with pytest.raises(SystemExit):
        ex.start()
    return store.list()[0]["run_id"], h


# ---- exactly-once apply ----------------------------------------------------------------------------

def test_crash_while_verifying_resumes_by_verifying_and_never_applies_again(tmp_path):
    run_id, h = _crash_at(tmp_path, "verifying")
    assert h.applied == 1
    store = RunStore(tmp_path / "state")
    s = store.load(run_id).data["steps"]["A"]
    assert s["state"] == "verifying" and s["attempts"] == 1
    h.done = False  # the check on resume fails (e.g. the change takes effect slowly) ...
    calls = []

    def fn(argv):
        calls.append(argv)
        if argv[0] == "doit":
            h.applied += 1
        # ... and the verify after it passes
        return 0, "done" if sum(1 for c in calls if c[0] == "cat") > 1 else "not yet"
    ex, _ = make(tmp_path, ONE, runner=ScriptedRunner(fn), params={})
    rec = ex.resume(run_id)
    assert h.applied == 1 and ("doit",) not in calls  # verified, not re-applied
    assert rec.data["status"] == "completed" and rec.data["steps"]["A"]["state"] == "verified"
    assert rec.data["steps"]["A"]["attempts"] == 1  # the resume made no new attempt


def test_crash_while_verifying_then_verify_fails_fails_the_step_without_applying(tmp_path):
    run_id, h = _crash_at(tmp_path, "verifying")
    runner = ScriptedRunner(lambda argv: (0, "not yet"))
    ex, store = make(tmp_path, ONE, runner=runner, params={})
    rec = ex.resume(run_id)
    assert ("doit",) not in runner.calls
    s = rec.data["steps"]["A"]
    assert rec.data["status"] == "failed" and rec.data["failed_step"] == "A"
    assert s["state"] == "failed" and s["detail"].startswith("verify failed: ")
    assert s["on_failure"] == "look at /flag"
    failed = [e for e in _events(store) if e["event"] == "step_failed"]
    assert failed and failed[-1]["step"] == "A"


def test_ctrl_c_while_verifying_resumes_by_verifying_only(tmp_path):
    state = {"applied": 0, "cats": 0}

    def fn(argv):
        if argv[0] == "doit":
            state["applied"] += 1
            return 0, ""
        state["cats"] += 1
        if state["cats"] == 2:  # the first verify read after the apply: the operator presses Ctrl-C
            raise KeyboardInterrupt
        return 0, "done" if state["applied"] else "not yet"
    ex, store = make(tmp_path, ONE, runner=ScriptedRunner(fn), params={})
    with pytest.raises(RunInterrupted) as exc:
        ex.start()
    d = store.load(exc.value.run_id).data
    assert d["steps"]["A"]["state"] == "interrupted" and d["steps"]["A"]["interrupted_in"] == "verifying"
    assert d["status"] == "interrupted" and d["interrupted_by"] == "SIGINT"
    # on resume the check still fails (the change takes effect slowly) and the verify then passes:
    # the step is verified, never applied a second time
    reads = iter(["not yet", "done"])

    def fn2(argv):
        if argv[0] == "doit":
            state["applied"] += 1
            return 0, ""
        return 0, next(reads)
    ex2, _ = make(tmp_path, ONE, runner=ScriptedRunner(fn2), params={})
    rec = ex2.resume(exc.value.run_id)
    assert state["applied"] == 1
    assert rec.data["status"] == "completed" and rec.data["steps"]["A"]["state"] == "verified"
    assert "interrupted_in" not in rec.data["steps"]["A"]


def test_reapply_after_a_crash_in_apply_is_one_apply_and_audited_with_the_operator(tmp_path):
    run_id, h = _crash_at(tmp_path, "applying")
    assert h.applied == 0  # died before the command ran
    ex, store = make(tmp_path, ONE, runner=ScriptedRunner(h), params={}, reapply=True)
    rec = ex.resume(run_id)
    assert h.applied == 1 and rec.data["status"] == "completed"
    reapply = [e for e in _events(store) if e["event"] == "step_reapply"]
    assert [(e["step"], e["operator"]) for e in reapply] == [("A", "alice")]
    # the resume's check and the verify that found the apply missing, then the apply and the verify that passed
    phases = [e["phase"] for e in rec.data["steps"]["A"]["evidence"]]
    assert phases == ["check", "check", "verify", "apply", "verify"]  # the resume ran the check again first


def test_idempotent_step_is_reapplied_after_a_crash_without_asking(tmp_path):
    text = ONE.replace('title = "change the thing"', 'title = "change the thing"\nidempotent = true')
    run_id, h = _crash_at(tmp_path, "applying", text)
    ex, _ = make(tmp_path, text, runner=ScriptedRunner(h), params={}, reapply=False)
    rec = ex.resume(run_id)
    assert h.applied == 1 and rec.data["status"] == "completed"


# ---- a measured check cannot be overridden ---------------------------------------------------------

DECIDED = """
id = "t"
title = "t"
[[steps]]
id = "RPO"
title = "backup fresh enough"
check = { action = "backup_fresh", max_age_hours = "24", tool = "restic" }
kind = "manual"
apply = { action = "manual", prompt = "type yes when a backup ran", pattern = '^yes$' }
verify = { action = "answer", pattern = '^yes$' }
instructions = "run a backup"
on_failure = "fix the backup"
"""


def test_a_measured_failing_check_fails_the_step_without_prompt_or_apply(tmp_path):
    runner = ScriptedRunner(lambda argv: (1, ""))  # restic cannot list the repository
    ex, store = make(tmp_path, DECIDED, runner=runner, params={}, answers=["yes"])
    rec = ex.start()
    s = rec.data["steps"]["RPO"]
    assert rec.data["status"] == "failed" and s["state"] == "failed"
    assert s["detail"].startswith("check failed: newest backup unknown: restic snapshots failed")
    assert s["on_failure"] == "fix the backup"
    assert ex.ui.answers == ["yes"]  # the operator was never asked: a typed "yes" cannot vouch for it
    assert rec.data["answers"] == {} and s["attempts"] == 0
    assert [e["phase"] for e in s["evidence"]] == ["check"]
    assert [e["detail"] for e in _events(store) if e["event"] == "step_failed"] == [s["detail"][len("check failed: "):]]


# ---- verification fails closed; retries re-apply ------------------------------------------------------

RETRY_VERIFY = ONE.replace('title = "change the thing"',
                           'title = "change the thing"\nretries = 1\nretry_delay_seconds = 5\nidempotent = true') \
    .replace('on_failure = "look at /flag"', 'on_failure = "look at /flag"\nundo = { action = "run", argv = ["undoit"] }')


@pytest.mark.parametrize("verify_fails,status,applied,slept", [(1, "completed", 2, [5.0]), (2, "failed", 2, [5.0])])
def test_a_verify_that_fails_retries_the_apply_then_fails_the_step(tmp_path, verify_fails, status, applied, slept):
    h = Host()
    h.verify_fails = verify_fails
    sleeps: list[float] = []
    runner = ScriptedRunner(h)
    ex, store = make(tmp_path, RETRY_VERIFY, runner=runner, params={}, sleep=sleeps.append)
    rec = ex.start()
    s = rec.data["steps"]["A"]
    assert (rec.data["status"], h.applied, sleeps) == (status, applied, slept)
    assert s["attempts"] == 2
    retries = [e for e in _events(store) if e["event"] == "step_retry"]
    assert [(e["attempt"], e["detail"]) for e in retries] == [(1, "verify failed: output does not contain 'done'")]
    assert [(e["phase"], e["attempt"]) for e in s["evidence"]] == [("check", 1), ("apply", 1), ("verify", 1),
                                                                    ("apply", 2), ("verify", 2)]
    if status == "failed":
        assert s["detail"] == "verify failed: output does not contain 'done'"
        assert s["undo"].startswith("$ undoit") and ("undoit",) not in runner.calls  # shown, never run
        assert rec.data["failed_step"] == "A"
    else:
        assert s["state"] == "verified" and "undo" not in s
    assert "result" not in s  # only a typed summary (restore_compare ...) is kept as the step's result


def test_a_failed_step_stops_the_run_and_later_steps_stay_pending(tmp_path):
    text = ONE + """
[[steps]]
id = "B"
title = "after"
apply = { action = "run", argv = ["after"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
"""
    runner = ScriptedRunner(lambda argv: (1, "") if argv[0] == "doit" else (0, "not yet"))
    ex, store = make(tmp_path, text, runner=runner, params={})
    rec = ex.start()
    assert rec.data["status"] == "failed" and rec.data["steps"]["B"]["state"] == "pending"
    assert ("after",) not in runner.calls
    assert rec.data["steps"]["A"]["detail"] == "apply failed: exit code 1, expected 0"
    ev = _events(store)
    assert ev[-1]["event"] == "run_failed" and ev[-1]["step"] == "A" and ev[-1]["detail"] == "apply failed: exit code 1, expected 0"
    assert store.verify_audit() == (True, "chain intact")


# ---- until: deadline --------------------------------------------------------------------------------

UNTIL = """
id = "t"
title = "t"
[[steps]]
id = "SYNC"
title = "wait"
verify = { action = "probe", argv = ["cat", "/state"], expect = { contains = "clean" } }
until = { interval_seconds = 30, deadline_seconds = 0.001, progress_regex = 'at (\\d+)%' }
on_failure = "x"
"""


def test_until_past_its_deadline_without_progress_fails_closed(tmp_path):
    slept: list[float] = []

    def sleep(s):
        slept.append(s)
        assert len(slept) < 20, "a stalled progress kept extending the deadline"
        time.sleep(0.005)
    runner = ScriptedRunner(lambda argv: (0, "degraded, at 10%"))  # no progress between polls
    ex, _ = make(tmp_path, UNTIL, runner=runner, params={}, sleep=sleep)
    rec = ex.start()
    s = rec.data["steps"]["SYNC"]
    polls = len(runner.calls)
    assert rec.data["status"] == "failed" and 1 <= polls <= 2 and slept == [30.0] * (polls - 1)
    assert s["detail"] == ("verify failed: output does not contain 'clean' "
                           f"(deadline of 0.001 s passed after {polls} poll(s))")


def test_until_passing_on_the_first_poll_never_sleeps(tmp_path):
    slept: list[float] = []
    ex, _ = make(tmp_path, UNTIL.replace("deadline_seconds = 0.001", "deadline_seconds = 600"),
                 runner=ScriptedRunner(lambda argv: (0, "clean")), params={}, sleep=slept.append)
    rec = ex.start()
    assert rec.data["steps"]["SYNC"]["detail"].endswith("(after 1 poll(s))") and slept == []


# ---- progress the operator reads ---------------------------------------------------------------------

class RecordingUI(NullUI):
    def __init__(self):
        super().__init__()
        self.seen: list[tuple[int, str, float, float | None, str]] = []

    def progress(self, *, index, total, step, elapsed, eta, note=""):
        self.seen.append((index, step.id, elapsed, eta, note))


ETA = """
id = "t"
title = "t"
[[steps]]
id = "A"
title = "a"
estimate_seconds = 60
verify = { action = "probe", argv = ["cat", "/a"], expect = { contains = "ok" } }
[[steps]]
id = "B"
title = "b"
estimate_seconds = 120
verify = { action = "probe", argv = ["cat", "/b"], expect = { contains = "ok" } }
until = { interval_seconds = 10, deadline_seconds = 600 }
[[steps]]
id = "C"
title = "c"
estimate_seconds = 300
verify = { action = "probe", argv = ["cat", "/c"], expect = { contains = "ok" } }
[[steps]]
id = "D"
title = "d (no estimate)"
estimate_seconds = 0
verify = { action = "probe", argv = ["cat", "/d"], expect = { contains = "ok" } }
"""


def test_progress_shows_the_time_left_of_the_steps_not_done_and_the_time_since_start(tmp_path):
    polls = {"b": 0}

    def fn(argv):
        if argv[1] == "/b":
            polls["b"] += 1
            return 0, "ok" if polls["b"] == 2 else "syncing"
        return 0, "ok"
    ex, _ = make(tmp_path, ETA, runner=ScriptedRunner(fn), params={})
    ex.ui = RecordingUI()
    rec = ex.start()
    assert rec.data["status"] == "completed"
    seen = ex.ui.seen
    assert [(i, sid) for i, sid, *_ in seen] == [(1, "A"), (2, "B"), (2, "B"), (3, "C"), (4, "D")]
    etas = [eta for *_, eta, _note in seen]
    # at each step: what is left of its own estimate (the time spent on it counts down, never up)
    # plus the estimates of the steps after it
    for eta, full in zip(etas, (60 + 120 + 300, 120 + 300, 120 + 300, 300), strict=False):
        assert full - 5 <= eta <= full
    assert etas[4] == 0.0  # the last step, estimated at 0: nothing left, not a second
    assert all(0 <= elapsed < 60 for _i, _s, elapsed, _e, _n in seen)  # seconds since the run started
    assert seen[2][4] == "waiting: output does not contain 'ok'"


def test_the_time_left_leaves_out_steps_already_done(tmp_path):
    ex, _ = make(tmp_path, ETA, runner=ScriptedRunner(lambda argv: (0, "ok")), params={})
    ex.ui = RecordingUI()
    rec = ex.start(skips={"B": "synced by hand"})
    assert rec.data["steps"]["B"]["state"] == "skipped"
    assert [(sid, eta) for _i, sid, _el, eta, _n in ex.ui.seen] == [("A", pytest.approx(360, abs=5)),
                                                                      ("C", pytest.approx(300, abs=5)), ("D", 0.0)]


# ---- a package manager outlives Ctrl-C ------------------------------------------------------------------

class LeftRunning:
    """A supervisor whose command started (pid 4242) when the operator pressed Ctrl-C and chose to
    leave it running (what longrun.Supervisor does for a package manager)."""

    def run(self, argv, timeout, env, *, on_spawn, boot_id, **kw):
        on_spawn({"pid": 4242, "pgid": 4242, "argv": list(argv), "boot_id": boot_id, "started": T_START})
        raise KeyboardInterrupt


T_START = 1_764_003_600.0
APT = """
id = "t"
title = "t"
[[steps]]
id = "UP"
title = "upgrade"
apply = { action = "run", argv = ["apt-get", "-y", "upgrade"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
"""


def test_ctrl_c_during_a_package_manager_names_the_command_that_keeps_running(tmp_path):
    ex, store = make(tmp_path, APT, runner=ScriptedRunner(lambda argv: (0, "")), params={}, supervisor=LeftRunning())
    with pytest.raises(RunInterrupted) as exc:
        ex.start()
    assert exc.value.child["pid"] == 4242 and exc.value.step_id == "UP"
    d = store.load(exc.value.run_id).data
    s = d["steps"]["UP"]
    assert (s["state"], s["interrupted_in"]) == ("interrupted", "applying")
    assert s["detail"] == "interrupted by SIGINT; apt-get (pid 4242) keeps running"
    last = _events(store)[-1]
    assert (last["event"], last["step"], last["child_pid"], last["signal"]) == ("run_interrupted", "UP", 4242, "SIGINT")


# ---- a step that cannot be evaluated stops the run -------------------------------------------------

WHEN_BASELINE = """
id = "t"
title = "t"
[[steps]]
id = "EFI"
title = "only on EFI boards"
when = { value = "{baseline.firmware.mode}", equals = "efi" }
apply = { action = "run", argv = ["efibootmgr", "-v"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "capture a baseline first"
[[steps]]
id = "NEXT"
title = "after"
apply = { action = "run", argv = ["after"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
"""


def test_a_condition_that_cannot_be_evaluated_fails_the_step_and_stops_the_run(tmp_path):
    runner = ScriptedRunner(lambda argv: (0, ""))
    ex, store = make(tmp_path, WHEN_BASELINE, runner=runner, params={})  # no baseline
    rec = ex.start()
    s = rec.data["steps"]["EFI"]
    assert rec.data["status"] == "failed" and rec.data["failed_step"] == "EFI"
    assert s["state"] == "failed" and s["detail"].startswith("when: ") and s["on_failure"] == "capture a baseline first"
    assert runner.calls == [] and rec.data["steps"]["NEXT"]["state"] == "pending"


# ---- a notification that was not sent says so ----------------------------------------------------------

NOTIFY = """
id = "t"
title = "t"
[[steps]]
id = "TELL"
title = "tell customers"
kind = "notify"
apply = { action = "notify", state = "investigating", message = "disk swap on {run.host}" }
verify = { action = "notified" }
on_failure = "tell them by mail"
"""


def test_a_notification_without_a_status_service_is_recorded_as_skipped_not_sent(tmp_path):
    ex, store = make(tmp_path, NOTIFY, runner=ScriptedRunner(lambda argv: (0, "")), params={})
    rec = ex.start()
    s = rec.data["steps"]["TELL"]
    assert s["state"] == "skipped" and rec.data["notifications"][0]["sent"] is False
    (ev,) = s["evidence"]
    assert (ev["phase"], ev["action"], ev["skipped"]) == ("apply", "notify", True)


# ---- resuming after a package manager was left running ----------------------------------------------------

APT_CHECKED = """
id = "t"
title = "t"
[[steps]]
id = "UP"
title = "install the fix"
check = { action = "probe", argv = ["cat", "/flag"], expect = { contains = "done" } }
apply = { action = "run", argv = ["apt-get", "-y", "install", "fix"] }
verify = { action = "probe", argv = ["cat", "/flag"], expect = { contains = "done" } }
on_failure = "x"
"""


class Spawned:
    """A supervisor that really started the command (a short sleep in its own process group), then
    either the operator pressed Ctrl-C and left it running, or it finished normally."""

    def __init__(self, seconds: float, interrupt: bool):
        self.seconds, self.interrupt = seconds, interrupt
        self.proc = None

    def run(self, argv, timeout, env, *, on_spawn, boot_id, **kw):
        import subprocess
        import sys

        from agent.host import CommandResult

        self.proc = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({self.seconds})"],
                                     start_new_session=True)
        on_spawn({"pid": self.proc.pid, "pgid": self.proc.pid, "argv": list(argv), "boot_id": boot_id,
                  "started": T_START})
        if self.interrupt:
            raise KeyboardInterrupt
        self.proc.wait()
        return CommandResult(tuple(argv), 0, b"", b"", self.seconds)


def test_resume_waits_for_the_package_manager_left_running_before_checking(tmp_path):
    from agent.recovery import longrun

    sup = Spawned(0.8, interrupt=True)
    ex, store = make(tmp_path, APT_CHECKED, runner=ScriptedRunner(lambda argv: (0, "not yet")), params={},
                     supervisor=sup)
    with pytest.raises(RunInterrupted) as exc:
        ex.start()
    pgid = sup.proc.pid
    seen = []

    def fn(argv):
        seen.append((argv, longrun.group_alive(pgid)))
        return 0, "done"
    ex2, _ = make(tmp_path, APT_CHECKED, runner=ScriptedRunner(fn), params={}, sleep=lambda s: time.sleep(0.02))
    rec = ex2.resume(exc.value.run_id)
    sup.proc.wait()
    assert seen and seen[0] == (("cat", "/flag"), False)  # the check ran only after the command ended
    assert rec.data["steps"]["UP"]["state"] == "already_done" and rec.data["status"] == "completed"
    (orphan,) = [e for e in rec.data["steps"]["UP"]["evidence"] if str(e.get("error")).startswith("outlived")]
    assert orphan["argv"] == ["apt-get", "-y", "install", "fix"]
    assert orphan["passed"] is False and orphan["rc"] is None  # its exit status is unknown: never a pass


def test_a_crash_while_verifying_a_finished_package_manager_adds_no_orphan_evidence(tmp_path):
    sup = Spawned(0.05, interrupt=False)
    ex, store = make(tmp_path, APT_CHECKED, runner=ScriptedRunner(lambda argv: (0, "not yet")), params={},
                     supervisor=sup)
    ex.on_transition = lambda sid, st: (_ for _ in ()).throw(SystemExit("killed")) if st == "verifying" else None
    with pytest.raises(SystemExit):
        ex.start()
    run_id = store.list()[0]["run_id"]
    reads = iter(["not yet", "done"])  # check still failing, then the verify passes
    ex2, _ = make(tmp_path, APT_CHECKED, runner=ScriptedRunner(lambda argv: (0, next(reads))), params={})
    rec = ex2.resume(run_id)
    s = rec.data["steps"]["UP"]
    assert s["state"] == "verified"
    assert not [e for e in s["evidence"] if str(e.get("error", "")).startswith("outlived")]


def test_until_shows_a_progress_that_does_not_move(tmp_path):
    outputs = iter(["degraded, at 10%", "degraded, at 10%", "clean"])
    ex, _ = make(tmp_path, UNTIL.replace("deadline_seconds = 0.001", "deadline_seconds = 600"),
                 runner=ScriptedRunner(lambda argv: (0, next(outputs))), params={})
    ex.ui = RecordingUI()
    rec = ex.start()
    assert rec.data["status"] == "completed"
    notes = [n for *_, n in ex.ui.seen if n]
    assert notes == ["waiting: output does not contain 'clean'", "progress 10.0%"]


# ---- typed confirmations ------------------------------------------------------------------------------

CONFIRM = """
id = "t"
title = "t"
[params.serial]
description = "serial of the disk to wipe"
[[steps]]
id = "WIPE"
title = "wipe"
destructive = true
confirm = CONFIRM
apply = { action = "run", argv = ["wipefs", "-a", "/dev/sdz"] }
verify = { action = "probe", argv = ["true"] }
on_failure = "x"
"""


def test_confirmation_by_pattern_rejects_other_text_and_accepts_a_match(tmp_path):
    text = CONFIRM.replace("CONFIRM", "{ prompt = 'type WIPE', pattern = '^WIPE$' }")
    runner = ScriptedRunner(lambda argv: (0, ""))
    ex, _ = make(tmp_path, text, runner=runner, params={}, answers=["wipe", "WIPE"])
    rec = ex.start()
    assert rec.data["status"] == "completed" and rec.data["steps"]["WIPE"]["confirmation"]["value"] == "WIPE"
    assert "rejected 'wipe': does not match /^WIPE$/" in ex.ui.lines


def test_a_confirmation_target_that_fills_empty_refuses_and_runs_nothing(tmp_path):
    text = CONFIRM.replace("CONFIRM", "{ prompt = 'type the serial', equals = '{params.serial}' }")
    runner = ScriptedRunner(lambda argv: (0, ""))
    ex, _ = make(tmp_path, text, runner=runner, params={"serial": " "}, answers=[" "])
    rec = ex.start()
    s = rec.data["steps"]["WIPE"]
    assert s["state"] == "failed" and "cannot be confirmed against nothing" in s["detail"]
    assert runner.calls == []


def test_an_argument_that_cannot_be_filled_fails_the_step_and_stops_the_run(tmp_path):
    text = WHEN_BASELINE.replace('when = { value = "{baseline.firmware.mode}", equals = "efi" }\n', "").replace(
        'argv = ["efibootmgr", "-v"]', 'argv = ["efibootmgr", "-b", "{baseline.firmware.boot_current}"]')
    runner = ScriptedRunner(lambda argv: (0, ""))
    ex, _ = make(tmp_path, text, runner=runner, params={})  # no baseline
    rec = ex.start()
    s = rec.data["steps"]["EFI"]
    assert rec.data["status"] == "failed" and s["detail"].startswith("template: ")
    assert runner.calls == [] and rec.data["steps"]["NEXT"]["state"] == "pending"
