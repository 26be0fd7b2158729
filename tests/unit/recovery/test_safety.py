"""Engine safety: a host root that is a tree, never-killed package-manager steps, SIGTERM/SIGHUP,
stale `running` records, follow-ups after a fix made by hand, step history in the report,
`agent recover audit`, and one live capture per run."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.host import Host, HostPaths
from agent.recovery import longrun
from agent.recovery import report as R
from agent.recovery.executor import ExecutionError, Executor, NullUI, RunInterrupted
from agent.recovery.record import RunStore
from tests.unit.recovery.support import ScriptedRunner, host, runbook

PY = sys.executable
ROOT = Path(__file__).resolve().parents[3]

TOUCH = """
id = "t"
title = "t"
[params.dir]
description = "work dir"
required = true
[[steps]]
id = "R"
title = "read a file of the tree"
verify = { action = "read_file", path = "/etc/hostname", expect = { contains = "tree-host" } }
[[steps]]
id = "P"
title = "probe"
verify = { action = "probe", argv = ["cat", "/etc/hostname"], expect = { contains = "tree-host" } }
[[steps]]
id = "W"
title = "write"
apply = { action = "run", argv = ["touch", "{params.dir}/made"] }
verify = { action = "probe", argv = ["test", "-e", "{params.dir}/made"] }
on_failure = "look"
"""


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("tree-host\n")
    (root / "proc/sys/kernel/random").mkdir(parents=True)
    (root / "proc/sys/kernel/random/boot_id").write_text("boot-1\n")
    return root


@pytest.fixture
def no_host_commands(monkeypatch):
    calls = []

    def refuse(argv, timeout, env=None):
        calls.append(list(argv))
        raise AssertionError(f"a command ran on this machine: {argv}")
    monkeypatch.setattr("agent.host._default_runner", refuse)
    return calls


# ---- defect 2: --path.rootfs is not a sandbox for commands -----------------------------------------

def test_execute_against_a_tree_refuses_before_running_anything(tmp_path, no_host_commands):
    root = tree(tmp_path)
    ex = Executor(runbook(TOUCH), Host(paths=HostPaths(rootfs=str(root))), params={"dir": str(tmp_path)},
                  ui=NullUI(), store=RunStore(tmp_path / "state"))
    with pytest.raises(ExecutionError, match="Refused.*--chroot"):
        ex.start()
    assert not (tmp_path / "made").exists() and not no_host_commands
    assert not (tmp_path / "state").exists()


def test_dry_run_against_a_tree_reads_files_but_runs_no_command(tmp_path, no_host_commands):
    root = tree(tmp_path)
    ex = Executor(runbook(TOUCH), Host(paths=HostPaths(rootfs=str(root))), params={"dir": str(tmp_path)}, ui=NullUI())
    items = ex.plan()
    assert [(i.step.id, i.status) for i in items] == [("R", "ok"), ("P", "not_run"), ("W", "not_run")]
    assert "would read this machine" in items[1].detail and not no_host_commands
    text = R.plan_text(items, ex.runbook, ["Host root is X"])
    assert "[skip] P probe" in text and "Host root is X" in text


def test_chroot_runs_every_command_inside_the_tree(tmp_path, monkeypatch):
    root = tree(tmp_path)
    seen = []

    def fake(argv, timeout, env=None):
        from agent.host import CommandResult
        seen.append(list(argv))
        return CommandResult(tuple(argv), 0, b"tree-host\n", b"", 0.0)
    monkeypatch.setattr("agent.host._default_runner", fake)
    ex = Executor(runbook(TOUCH), Host(paths=HostPaths(rootfs=str(root))), params={"dir": "/srv"}, ui=NullUI(),
                  chroot=True)
    items = ex.plan()
    assert items[1].status == "ok"
    assert seen == [["chroot", str(root), "cat", "/etc/hostname"]]


def test_cli_execute_with_a_tree_root_refuses(tmp_path, monkeypatch):
    books = tmp_path / "books"
    books.mkdir()
    (books / "t.toml").write_text(TOUCH)
    monkeypatch.setenv("HWAGENT_RUNBOOKS_DIR", str(books))
    root = tree(tmp_path)
    r = CliRunner().invoke(cli, ["recover", "t", "--execute", "--param", f"dir={tmp_path}", "--path.rootfs", str(root),
                                 "--state-dir", str(tmp_path / "state")])
    assert r.exit_code == 1 and "Refused" in r.output and not (tmp_path / "made").exists()
    r = CliRunner().invoke(cli, ["recover", "t", "--param", f"dir={tmp_path}", "--path.rootfs", str(root),
                                 "--state-dir", str(tmp_path / "state")])
    assert r.exit_code == 0 and "commands were NOT run" in r.output and "[skip] P" in r.output


# ---- defect 3: package managers are never killed ---------------------------------------------------

def fake_dpkg(tmp_path: Path, seconds: float) -> Path:
    """A stand-in named dpkg: sleeps, ignores SIGINT/SIGTERM like a busy dpkg would not want to get them,
    then writes its marker (a real process, so kill and wait behaviour is real)."""
    p = tmp_path / "bin" / "dpkg"
    p.parent.mkdir(exist_ok=True)
    p.write_text(f"#!{PY}\nimport sys, time\ntime.sleep({seconds})\nopen(sys.argv[1], 'w').write('configured')\n"
                 "print('Setting up fake (1.0) ...')\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


def dpkg_book(dpkg: Path, marker: Path, timeout: float = 0.3) -> str:
    return f"""
id = "u"
title = "u"
[[steps]]
id = "U"
title = "configure packages"
timeout_seconds = {timeout}
apply = {{ action = "run", argv = ["{dpkg}", "{marker}"] }}
verify = {{ action = "probe", argv = ["test", "-e", "{marker}"] }}
on_failure = "dpkg --configure -a"
"""


def test_timeout_only_warns_for_a_package_manager(tmp_path):
    marker = tmp_path / "done"
    ex = Executor(runbook(dpkg_book(fake_dpkg(tmp_path, 1.2), marker)), host(tmp_path / "root"), ui=NullUI(),
                  store=RunStore(tmp_path / "state"), supervisor=longrun.Supervisor(poll=0.05))
    rec = ex.start()
    assert rec.data["status"] == "completed", rec.data["steps"]["U"]
    assert marker.read_text() == "configured"
    assert any("past its timeout of 0.3 s; it keeps running" in line for line in ex.ui.lines)
    ev = [e for e in rec.data["steps"]["U"]["evidence"] if e["phase"] == "apply"][0]
    assert ev["rc"] == 0 and "Setting up fake" in ev["stdout"]["text"]
    audit = (tmp_path / "state/runs/audit.jsonl").read_text()
    assert '"timeout_warning"' in audit and '"child_started"' in audit


class AskUI(NullUI):
    def __init__(self, answers):
        super().__init__()
        self.interrupt_answers = list(answers)

    def confirm_interrupt(self, argv, pid):
        self.lines.append(f"asked about {pid}")
        return self.interrupt_answers.pop(0)


def _ctrl_c_after(seconds: float) -> threading.Timer:
    t = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    return t


def test_ctrl_c_asks_and_no_keeps_waiting(tmp_path):
    marker = tmp_path / "done"
    ex = Executor(runbook(dpkg_book(fake_dpkg(tmp_path, 1.0), marker, timeout=60)), host(tmp_path / "root"),
                  ui=AskUI([False]), store=RunStore(tmp_path / "state"), supervisor=longrun.Supervisor(poll=0.05))
    _ctrl_c_after(0.3)
    rec = ex.start()
    assert rec.data["status"] == "completed" and marker.exists()
    assert any(line.startswith("asked about") for line in ex.ui.lines)


def test_ctrl_c_yes_leaves_the_command_running_and_resume_waits_for_it(tmp_path):
    marker = tmp_path / "done"
    store = RunStore(tmp_path / "state")
    book = runbook(dpkg_book(fake_dpkg(tmp_path, 1.5), marker, timeout=60))
    ex = Executor(book, host(tmp_path / "root"), ui=AskUI([True]), store=store,
                  supervisor=longrun.Supervisor(poll=0.05))
    _ctrl_c_after(0.3)
    with pytest.raises(RunInterrupted) as ei:
        ex.start()
    child = ei.value.child
    assert child and longrun.group_alive(child["pgid"]) and not marker.exists()  # not killed
    run_id = ei.value.run_id
    d = store.load(run_id).data
    assert d["status"] == "interrupted" and d["steps"]["U"]["child"]["pid"] == child["pid"]
    assert d["steps"]["U"]["interrupted_in"] == "applying"
    # resume: finds the still-running child by its process group, waits, then verifies (no re-apply)
    ex2 = Executor(book, host(tmp_path / "root"), ui=NullUI(), store=store, sleep=lambda s: time.sleep(0.05),
                   supervisor=longrun.Supervisor(poll=0.05))
    rec = ex2.resume(run_id)
    assert rec.data["status"] == "completed" and marker.read_text() == "configured"
    assert any("still running; waiting" in line for line in ex2.ui.lines)
    applies = [e for e in rec.data["steps"]["U"]["evidence"] if e["phase"] == "apply"]
    assert len(applies) == 1 and "Setting up fake" in applies[0]["stdout"]["text"]  # its output kept, not re-run
    assert "outlived" in applies[0]["error"]


def test_ordinary_steps_are_still_killed_on_timeout(tmp_path):
    text = f"""
id = "k"
title = "k"
[[steps]]
id = "S"
title = "slow"
timeout_seconds = 0.3
apply = {{ action = "run", argv = ["{PY}", "-c", "import time; time.sleep(5)"] }}
verify = {{ action = "probe", argv = ["true"] }}
on_failure = "x"
"""
    ex = Executor(runbook(text), host(tmp_path / "root"), ui=NullUI(), store=RunStore(tmp_path / "state"),
                  supervisor=longrun.Supervisor(poll=0.05))
    t0 = time.monotonic()
    rec = ex.start()
    assert rec.data["status"] == "failed" and time.monotonic() - t0 < 4
    assert longrun.never_killed(ex.runbook.steps[0]) is False


# ---- defect 6: SIGTERM/SIGHUP and stale records ---------------------------------------------------

CHILD = """
import sys
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.unit.recovery.support import host, runbook
import time
text = '''
id = "w"
title = "w"
[[steps]]
id = "WAIT"
title = "wait for the reboot"
apply = { action = "wait", seconds = 30 }
verify = { action = "probe", argv = ["true"] }
'''
ex = Executor(runbook(text), host(__import__("pathlib").Path(sys.argv[1]) / "root"), ui=NullUI(),
              store=RunStore(sys.argv[1] + "/state"), sleep=time.sleep)
print("started", flush=True)
try:
    ex.start()
except Exception as exc:
    print(type(exc).__name__, exc, flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_while_waiting_records_interrupted(tmp_path, sig):
    p = subprocess.Popen([PY, "-c", CHILD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    runs = tmp_path / "state/runs"
    for _ in range(100):
        if list(runs.glob("*-w-*.json")):
            break
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(sig)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 130, out
    rec = json.loads(next(runs.glob("*-w-*.json")).read_text())
    assert rec["status"] == "interrupted" and rec["interrupted_by"] == signal.Signals(sig).name
    assert rec["steps"]["WAIT"]["state"] == "interrupted"


def test_stale_running_record_is_marked_interrupted(tmp_path):
    store = RunStore(tmp_path / "state")
    store.ensure()
    rec = {"format_version": 1, "run_id": "20260101T000000Z-x-0001", "runbook": {"id": "x"}, "status": "running",
           "pid": 999999, "current_step": "S", "steps": {"S": {"state": "applying", "attempts": 1, "evidence": [],
                                                             "history": [], "intent": ["touch", "/x"]}}}
    (store.dir / f"{rec['run_id']}.json").write_text(json.dumps(rec))
    r = CliRunner().invoke(cli, ["recover", "list", "--state-dir", str(tmp_path / "state")])
    assert "marked interrupted" in r.output and "interrupted" in r.output.splitlines()[-1]
    d = store.load(rec["run_id"]).data
    assert d["status"] == "interrupted" and d["steps"]["S"]["state"] == "interrupted"
    assert d["steps"]["S"]["interrupted_in"] == "applying"
    md = R.run_markdown(d)
    assert "the agent stopped during the apply** (`touch /x`)" in md  # a kill -9 leaves a trace
    with store.lock("other"):  # a live run holding the lock is not touched
        rec2 = dict(rec, run_id="20260101T000000Z-x-0002")
        (store.dir / f"{rec2['run_id']}.json").write_text(json.dumps(rec2))
        assert store.reap_stale() == ["20260101T000000Z-x-0002"]  # the holder runs 'other', not this one


# ---- defect 7: follow-ups and history --------------------------------------------------------------

FOLLOW = """
id = "f"
title = "f"
[params.dir]
description = "d"
required = true
[[steps]]
id = "LINK"
title = "write the .link file"
check = { action = "probe", argv = ["test", "-e", "{params.dir}/link"] }
apply = { action = "run", argv = ["false"] }
verify = { action = "probe", argv = ["test", "-e", "{params.dir}/link"] }
on_failure = "write it by hand"
followup = "rebuild the initramfs and reboot once"
"""


def test_followup_kept_when_the_fix_was_made_by_hand(tmp_path):
    store = RunStore(tmp_path / "state")
    ex = Executor(runbook(FOLLOW), host(tmp_path / "root"), params={"dir": str(tmp_path)}, ui=NullUI(), store=store)
    rec = ex.start()
    assert rec.data["status"] == "failed"
    (tmp_path / "link").write_text("")  # the operator fixed it outside the step
    ex2 = Executor(runbook(FOLLOW), host(tmp_path / "root"), params={"dir": str(tmp_path)}, ui=NullUI(), store=store)
    rec = ex2.resume(rec.run_id)
    assert rec.data["steps"]["LINK"]["state"] == "already_done"
    assert rec.data["status"] == "followups_open"
    assert [f["text"] for f in rec.data["followups"]] == ["rebuild the initramfs and reboot once"]
    md = R.run_markdown(rec.data)
    hist = md.split("### LINK: history")[1]
    assert hist.index(" failed: apply failed") < hist.index(" already_done: check passed")


def test_a_step_done_before_the_run_owes_no_followup(tmp_path):
    (tmp_path / "link").write_text("")
    ex = Executor(runbook(FOLLOW), host(tmp_path / "root"), params={"dir": str(tmp_path)}, ui=NullUI(),
                  store=RunStore(tmp_path / "state"))
    assert ex.start().data["status"] == "completed"


# ---- defect 8: agent recover audit ------------------------------------------------------------------

def test_audit_command_prints_and_verifies_the_chain(tmp_path):
    state = tmp_path / "state"
    ex = Executor(runbook(FOLLOW), host(tmp_path / "root"), params={"dir": str(tmp_path)}, ui=NullUI(),
                  store=RunStore(state))
    run_id = ex.start().run_id
    sd = ["--state-dir", str(state)]
    r = CliRunner().invoke(cli, ["recover", "audit", "--verify", *sd])
    assert r.exit_code == 0 and "chain intact" in r.output
    r = CliRunner().invoke(cli, ["recover", "audit", "--run", run_id, *sd])
    assert "run_start" in r.output and "run_failed" in r.output
    log = state / "runs/audit.jsonl"
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace("LINK", "LINX")
    log.write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(cli, ["recover", "audit", "--verify", *sd])
    assert r.exit_code == 1 and "line 3: chain broken" in r.output


# ---- item 9: one live capture per run --------------------------------------------------------------

def test_dry_run_captures_the_live_host_once(tmp_path):
    text = 'id = "b"\ntitle = "b"\n' + "".join(f"""
[[steps]]
id = "B{i}"
title = "compare {i}"
verify = {{ action = "baseline_compare", check = "machine_id" }}
""" for i in range(5))
    n = []

    def capture():
        n.append(1)
        return {"identity": {"machine_id": "m"}}
    ex = Executor(runbook(text), host(tmp_path / "root", ScriptedRunner(lambda a: (0, ""))),
                  baseline={"identity": {"machine_id": "m"}}, live_baseline=capture, ui=NullUI())
    assert [i.status for i in ex.plan()] == ["ok"] * 5
    assert len(n) == 1
    ex2 = Executor(runbook(text), host(tmp_path / "root", ScriptedRunner(lambda a: (0, ""))),
                   baseline={"identity": {"machine_id": "m"}}, live_baseline=capture, ui=NullUI(),
                   store=RunStore(tmp_path / "state"))
    assert ex2.start().data["status"] == "completed" and len(n) == 2  # execute: once more, nothing applied


# ---- defect 4: a misspelled unit is not "stopped" -----------------------------------------------------

def test_data_restore_refuses_to_swap_while_the_named_unit_does_not_exist(tmp_path):
    """`systemctl is-active nosuch.service` prints inactive; the step must demand LoadState=loaded,
    and the rsync over the live data never runs."""
    def fn(argv):
        if argv[:2] == ("systemctl", "show"):
            return 0, "LoadState=not-found\nActiveState=inactive\n"
        if argv[:2] == ("systemctl", "is-active"):
            return 3, "inactive\n"
        if argv[:2] == ("systemctl", "stop"):
            return 5, ""
        return 0, ""
    runner = ScriptedRunner(fn)
    rb = __import__("agent.recovery.runbook", fromlist=["load"]).load(ROOT / "runbooks/data-restore.toml")
    ex = Executor(rb, host(tmp_path / "root", runner), ui=NullUI(["/var/lib/mysql"] * 3),
                  params={"repo": "/r", "path": "/var/lib/mysql", "service": "mysqld.service"},
                  store=RunStore(tmp_path / "state"))
    first = next(s.id for s in rb.steps if s.id.startswith("D-07"))
    rec = ex.start(start_at=first, reason="test", force=True)
    assert rec.data["status"] == "failed" and rec.data["failed_step"] == first
    assert not any(c[0] == "rsync" and "--delete" in c and "-n" not in c for c in runner.calls)


def test_data_restore_stops_every_writer_of_a_mail_store(tmp_path):
    state = {"postfix.service": "active", "dovecot.service": "active"}

    def fn(argv):
        if argv[:2] == ("systemctl", "show"):
            return 0, f"LoadState=loaded\nActiveState={state[argv[-1]]}\n"
        if argv[:2] == ("systemctl", "stop"):
            state[argv[2]] = "inactive"
            return 0, ""
        return 0, ""
    runner = ScriptedRunner(fn)
    rb = __import__("agent.recovery.runbook", fromlist=["load"]).load(ROOT / "runbooks/data-restore.toml")
    ex = Executor(rb, host(tmp_path / "root", runner), ui=NullUI(),
                  params={"repo": "/r", "path": "/var/vmail", "kind": "maildir", "service": "postfix.service",
                          "service2": "dovecot.service"}, store=RunStore(tmp_path / "state"))
    rec = ex.start(start_at="D-07", reason="test", force=True)
    assert rec.data["steps"]["D-07"]["state"] == "verified" and rec.data["steps"]["D-07a"]["state"] == "verified"
    assert rec.data["steps"]["D-07a3"]["state"] == "not_applicable"
    assert ("systemctl", "stop", "dovecot.service") in runner.calls and state == {"postfix.service": "inactive",
                                                                                  "dovecot.service": "inactive"}


DPKG_CHILD = """
import sys, pathlib
from agent.host import Host, HostPaths
from agent.recovery import longrun
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.unit.recovery.support import runbook
tmp = pathlib.Path(sys.argv[1])
(tmp / "proc/sys/kernel/random").mkdir(parents=True, exist_ok=True)
(tmp / "proc/sys/kernel/random/boot_id").write_text("boot-1\\n")
ex = Executor(runbook(open(sys.argv[2]).read()), Host(paths=HostPaths(procfs=str(tmp / "proc"))), ui=NullUI(),
              store=RunStore(tmp / "state"), supervisor=longrun.Supervisor(poll=0.05))
try:
    ex.start()
except Exception as exc:
    print("child", (exc.child or {}).get("pid"), flush=True)
    sys.exit(130)
"""


def test_sigterm_during_a_package_manager_stops_the_agent_not_the_command(tmp_path):
    marker = tmp_path / "done"
    book = tmp_path / "u.toml"
    book.write_text(dpkg_book(fake_dpkg(tmp_path, 2.0), marker, timeout=60))
    p = subprocess.Popen([PY, "-c", DPKG_CHILD, str(tmp_path), str(book)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    audit = tmp_path / "state/runs/audit.jsonl"
    for _ in range(200):
        if audit.exists() and "child_started" in audit.read_text():
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=30)
    assert p.returncode == 130 and out.startswith("child ")
    assert not marker.exists()  # the agent stopped while dpkg still ran ...
    rec = json.loads(next((tmp_path / "state/runs").glob("*-u-*.json")).read_text())
    assert rec["status"] == "interrupted" and rec["interrupted_by"] == "SIGTERM"
    for _ in range(100):  # ... and dpkg finished on its own: it was never signalled
        if marker.exists():
            break
        time.sleep(0.1)
    assert marker.read_text() == "configured"
