"""A run killed with SIGKILL at every step boundary resumes to the same end state, never applying
a step twice; a real `agent recover` process killed mid-step, blocked by the lock, interrupted
with Ctrl-C (SIGINT), and resumed from its record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

BOOK = """
id = "crashbook"
title = "Three steps that each apply once"
[params.dir]
description = "work dir"
required = true
""" + "".join(f"""
[[steps]]
id = "S{i}"
title = "step {i}"
idempotent = true
check = {{ action = "probe", argv = ["test", "-e", "{{params.dir}}/S{i}"] }}
apply = {{ action = "run", argv = ["{PY}", "-c", "import sys; open(sys.argv[1], 'a').write('S{i}\\\\n'); open(sys.argv[2], 'w').close()", "{{params.dir}}/log", "{{params.dir}}/S{i}"] }}
verify = {{ action = "probe", argv = ["test", "-e", "{{params.dir}}/S{i}"] }}
on_failure = "look at {{params.dir}}"
""" for i in (1, 2, 3))


def child(state, book, work, kill_at, run_id=None):
    argv = [PY, str(HERE / "recover_child.py"), str(state), str(book), str(work), str(kill_at)]
    if run_id:
        argv.append(run_id)
    return subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=120)


def boundaries(tmp_path):
    """The transitions of an uninterrupted run, in order."""
    book = tmp_path / "crashbook.toml"
    book.write_text(BOOK)
    work = tmp_path / "clean"
    work.mkdir()
    out = child(tmp_path / "clean-state", book, work, -1)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if not line.startswith("STATUS")]
    assert out.stdout.strip().endswith("STATUS completed")
    return book, lines


def test_sigkill_at_every_step_boundary_then_resume(tmp_path):
    book, lines = boundaries(tmp_path)
    assert len(lines) == 12  # 3 steps x checking, applying, verifying, verified
    for k, boundary in enumerate(lines):
        work, state = tmp_path / f"w{k}", tmp_path / f"s{k}"
        work.mkdir()
        out = child(state, book, work, k)
        assert out.returncode == -signal.SIGKILL, (boundary, out.stdout, out.stderr)
        (rec_file,) = (state / "runs").glob("*.json")
        run_id = rec_file.stem
        killed = json.loads(rec_file.read_text())
        sid, st = boundary.split()
        assert killed["steps"][sid]["state"] == st and killed["status"] == "running"  # persisted before the kill
        res = child(state, book, work, -1, run_id)
        assert res.returncode == 0 and res.stdout.strip().endswith("STATUS completed"), (boundary, res.stdout, res.stderr)
        # the first open step was checked again, not trusted; no step applied twice
        assert (work / "log").read_text().splitlines() == ["S1", "S2", "S3"], boundary
        final = json.loads(rec_file.read_text())
        assert final["status"] == "completed"
        assert all(final["steps"][s]["state"] in ("verified", "already_done") for s in ("S1", "S2", "S3"))
        assert final["operators"] == ["crash-test"]
        events = [json.loads(x)["event"] for x in (state / "runs" / "audit.jsonl").read_text().splitlines()]
        assert events.count("run_start") == 1 and events.count("run_resume") == 1 and events[-1] == "run_complete"
        if st == "verifying":  # killed after apply: resume finds it done by its check
            assert final["steps"][sid]["state"] == "already_done"


SLOW = f"""
id = "slowbook"
title = "A slow step"
[params.dir]
description = "work dir"
required = true

[[steps]]
id = "FAST"
title = "fast"
check = {{ action = "probe", argv = ["test", "-e", "{{params.dir}}/fast"] }}
apply = {{ action = "run", argv = ["touch", "{{params.dir}}/fast"] }}
verify = {{ action = "probe", argv = ["test", "-e", "{{params.dir}}/fast"] }}
on_failure = "x"

[[steps]]
id = "SLOW"
title = "slow"
estimate_seconds = 600
check = {{ action = "probe", argv = ["test", "-e", "{{params.dir}}/slow"] }}
apply = {{ action = "run", argv = ["{PY}", "-c", "import os, sys, time; open(sys.argv[3], 'w').write(str(os.getpid())); time.sleep(float(open(sys.argv[1]).read())); open(sys.argv[2], 'w').close()", "{{params.dir}}/delay", "{{params.dir}}/slow", "{{params.dir}}/slow.pid"] }}
verify = {{ action = "probe", argv = ["test", "-e", "{{params.dir}}/slow"] }}
on_failure = "x"
"""


def agent(*args, state, books, input=None, wait=True):
    env = {**ENV, "HWAGENT_RUNBOOKS_DIR": str(books), "SUDO_USER": "erin"}
    argv = [PY, "-m", "agent", "recover", *args, "--state-dir", str(state)]
    if not wait:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env, start_new_session=True)
    return subprocess.run(argv, input=input, capture_output=True, text=True, env=env, timeout=120)


def wait_for(pred, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("condition not reached")


def _record(state):
    files = list((Path(state) / "runs").glob("*.json")) if (Path(state) / "runs").is_dir() else []
    return json.loads(files[0].read_text()) if files else None


def test_cli_killed_mid_step_locked_meanwhile_then_resumed(tmp_path):
    books, work, state = tmp_path / "books", tmp_path / "work", tmp_path / "state"
    books.mkdir()
    work.mkdir()
    (books / "slowbook.toml").write_text(SLOW)
    (work / "delay").write_text("30")
    p = agent("slowbook", "--execute", "--param", f"dir={work}", state=state, books=books, wait=False)
    try:
        rec = wait_for(lambda: (r := _record(state)) and r["steps"]["SLOW"]["state"] == "applying" and r)
        # a second process on the same host is refused while the first one runs
        second = agent("--resume", rec["run_id"], state=state, books=books)
        assert second.returncode == 1 and f"another `agent recover` (pid {p.pid})" in second.stderr
        os.killpg(p.pid, signal.SIGKILL)  # the process and its command, as a power cut would
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert _record(state)["steps"]["SLOW"]["state"] == "applying"
    (work / "delay").write_text("0")
    # the apply was cut off: check and verify fail, the step is not idempotent -> the operator decides
    r = agent("--resume", rec["run_id"], state=state, books=books, input="maybe\nreapply\n")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "was interrupted while applying" in r.stdout and "rejected: type reapply or stop" in r.stdout
    final = _record(state)
    assert final["status"] == "completed" and final["steps"]["FAST"]["state"] == "verified"
    assert [e["phase"] for e in final["steps"]["FAST"]["evidence"]].count("apply") == 1
    assert "step_reapply" in (state / "runs" / "audit.jsonl").read_text()


def test_ctrl_c_mid_step_saves_interrupted(tmp_path):
    books, work, state = tmp_path / "books", tmp_path / "work", tmp_path / "state"
    books.mkdir()
    work.mkdir()
    (books / "slowbook.toml").write_text(SLOW)
    (work / "delay").write_text("60")
    p = agent("slowbook", "--execute", "--param", f"dir={work}", state=state, books=books, wait=False)
    wait_for(lambda: (r := _record(state)) and r["steps"]["SLOW"]["state"] == "applying")
    cmd_pid = int(wait_for(lambda: (work / "slow.pid").exists() and (work / "slow.pid").read_text()))
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)  # what the terminal sends to the foreground group: the agent only
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, out + err
    assert time.monotonic() - t0 < 10, "Ctrl-C waited for the running command"
    assert "interrupted at step SLOW" in err and "agent recover --resume" in err
    # the running command (its own process group) was stopped too, not left running orphaned
    assert not Path(f"/proc/{cmd_pid}").exists() or "zombie" in Path(f"/proc/{cmd_pid}/status").read_text()
    assert not (work / "slow").exists()
    rec = _record(state)
    assert rec["status"] == "interrupted" and rec["steps"]["SLOW"]["state"] == "interrupted"
    assert rec["steps"]["SLOW"]["interrupted_in"] == "applying"
    (work / "delay").write_text("0")
    r = agent("--resume", rec["run_id"], state=state, books=books, input="reapply\n")
    assert r.returncode == 0 and _record(state)["status"] == "completed", r.stdout + r.stderr
