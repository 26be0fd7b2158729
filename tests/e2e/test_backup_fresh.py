"""MB-03 of mainboard-swap reads the newest backup itself from real restic and borg repositories
built in the test (Debian packages restic, borgbackup), at the RPO boundary: a snapshot exactly
``backup_max_age_hours`` old passes, one second older fails the step without asking for a typed
time. The snapshot times are set with ``restic backup --time`` (local time) and ``borg create
--timestamp`` (UTC) in a non-UTC zone, so the zone handling of both listings is exercised."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.e2e.test_restore_tools import TOOLS, drill_host, make_repo, make_tree

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
RPO_H = 24


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def timed_repo(tool: str, tmp: Path, monkeypatch) -> tuple[str, int]:
    """A repository whose first snapshot is taken now and whose newest one 10 days later (whole minute)."""
    data = make_tree(tmp / "src")
    repo, pw, env = make_repo(tool, tmp, data)
    for k in ("BORG_PASSCOMMAND", "BORG_BASE_DIR", "BORG_RELOCATED_REPO_ACCESS_IS_OK", "RESTIC_CACHE_DIR"):
        monkeypatch.setenv(k, env[k])
    monkeypatch.setenv("RESTIC_PASSWORD_FILE", str(pw))  # the agent passes no password: the tool's own env
    t0 = (int(time.time()) // 60 + 10 * 24 * 60) * 60
    if tool == "restic":
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t0))  # restic --time is local time
        subprocess.run(["restic", "backup", "-q", "-r", repo, "--time", when, str(data)], check=True, env=dict(os.environ))
    else:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0))  # borg --timestamp is UTC
        subprocess.run(["borg", "create", f"{repo}::newest", str(data)] + ["--timestamp", when], check=True,
                       env=dict(os.environ))
    return repo, t0


def mb03() -> rbm.Runbook:
    rb = rbm.load(RUNBOOKS / "mainboard-swap.toml")
    return dataclasses.replace(rb, steps=(rb.step("MB-03"),))


def no_lock(tool: str, repo: str) -> bool:
    locks = Path(repo) / ("locks" if tool == "restic" else "lock.exclusive")
    return not (any(locks.iterdir()) if locks.is_dir() else locks.exists())


@pytest.mark.parametrize("tool", TOOLS)
@pytest.mark.parametrize(("delta", "fresh"), [(-1, True), (0, True), (1, False)])
def test_mb03_reads_the_newest_snapshot_against_the_rpo(tool, delta, fresh, tmp_path, monkeypatch, berlin):
    repo, t0 = timed_repo(tool, tmp_path, monkeypatch)
    now = t0 + RPO_H * 3600 + delta
    params = {"backup_tool": tool, "backup_repository": repo, "backup_max_age_hours": str(RPO_H)}
    utc = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0))
    (item,) = Executor(mb03(), drill_host(tmp_path), params=params, ui=NullUI(), clock=lambda: now).plan()
    assert item.status == ("already_done" if fresh else "failing"), item.detail  # the dry run says the same
    assert no_lock(tool, repo)
    ui = NullUI()  # no answers: a prompt would fail the step with "no answer"
    ex = Executor(mb03(), drill_host(tmp_path), params=params, ui=ui, store=RunStore(tmp_path / "state"),
                  clock=lambda: now)
    d = ex.start().data
    st = d["steps"]["MB-03"]
    assert f"newest {tool} snapshot {utc} UTC is" in st["detail"], st["detail"]  # the 10-days-later one, zone right
    assert "MB-03" not in d.get("answers", {})  # nothing typed, no prompt shown
    assert not any(line.startswith("manual MB-03") for line in ui.lines), ui.lines
    if fresh:
        assert d["status"] == "completed" and st["state"] == "already_done", st
        assert f"{RPO_H + delta / 3600:.2f} h old (limit {RPO_H} h)" in st["detail"] or delta < 0
    else:
        assert d["status"] == "failed" and d["failed_step"] == "MB-03" and st["state"] == "failed", st
        assert st["detail"].startswith("check failed:") and f"more than {RPO_H} h" in st["detail"]
    (ev,) = [e for e in st["evidence"] if e["phase"] == "check"]  # the listing run, as evidence
    argv = ev["argv"]
    assert ev["rc"] == 0 and ev["action"] == "backup_fresh"
    assert argv[:2] == ([tool, "snapshots"] if tool == "restic" else [tool, "list"])
    assert ("--no-lock" if tool == "restic" else "--bypass-lock") in argv and repo in argv
    assert no_lock(tool, repo)


@pytest.mark.parametrize("tool", TOOLS)
def test_mb03_an_unreadable_repository_fails_and_is_not_typed_over(tool, tmp_path, monkeypatch):
    params = {"backup_tool": tool, "backup_repository": str(tmp_path / "no-such-repo")}
    monkeypatch.setenv("BORG_BASE_DIR", str(tmp_path / "borgbase"))
    monkeypatch.setenv("RESTIC_PASSWORD", "x")
    ex = Executor(mb03(), drill_host(tmp_path), params=params, ui=NullUI(["2026-12-05 03:00"]),
                  store=RunStore(tmp_path / "state"))
    d = ex.start().data
    assert d["status"] == "failed" and d["failed_step"] == "MB-03"
    assert f"newest backup unknown: {tool} {'snapshots' if tool == 'restic' else 'list'} failed" in \
        d["steps"]["MB-03"]["detail"]
    assert "MB-03" not in d.get("answers", {})


def test_mb03_without_a_backup_tool_tests_the_typed_time(tmp_path):
    t = 1_764_900_000  # 2025-12-05 02:00 UTC
    typed = time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))
    for delta, state in ((0, "verified"), (60, "failed")):  # typed times have minutes: one minute past the RPO
        ex = Executor(mb03(), drill_host(tmp_path), ui=NullUI([typed]), store=RunStore(tmp_path / f"state{delta}"),
                      clock=lambda delta=delta: t + RPO_H * 3600 + delta)
        d = ex.start().data
        st = d["steps"]["MB-03"]
        assert st["state"] == state and "typed (no backup_tool configured)" in st["detail"], st
        assert d["answers"]["MB-03"] == typed



@pytest.mark.parametrize("tool", TOOLS)
def test_agent_recover_takes_the_tool_from_the_baseline_collector_config(tool, tmp_path, monkeypatch, berlin):
    """The readiness finding and MB-03 read the same configured repository: no --param needed."""
    from click.testing import CliRunner

    from agent.cli import cli

    repo, t0 = timed_repo(tool, tmp_path, monkeypatch)
    shipped = (RUNBOOKS / "mainboard-swap.toml").read_text()
    start = shipped.index('[[steps]]\nid = "MB-03"')
    books = tmp_path / "books"
    books.mkdir()
    (books / "mainboard-swap.toml").write_text(shipped[:shipped.index("[[steps]]")] +
                                               shipped[start:shipped.index("[[steps]]", start + 1)])
    monkeypatch.setenv("HWAGENT_RUNBOOKS_DIR", str(books))
    cfg = tmp_path / "agent.toml"
    cfg.write_text(f'[collectors.baseline]\nbackup_tool = "{tool}"\nbackup_repository = "{repo}"\n')
    r = CliRunner().invoke(cli, ["--config", str(cfg), "recover", "mainboard-swap", "--json", "--state-dir",
                                 str(tmp_path / "state")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    (item,) = json.loads(r.output)
    # the snapshot is 10 days in the future of the real clock: the machine reading says so, no typed time
    assert item["status"] == "failing" and f"newest {tool} snapshot" in item["detail"] and "future" in item["detail"], item
    cfg.write_text("")
    r = CliRunner().invoke(cli, ["--config", str(cfg), "recover", "mainboard-swap", "--json", "--state-dir",
                                 str(tmp_path / "state")], catch_exceptions=False)
    (item,) = json.loads(r.output)
    assert item["status"] == "would_run" and "typed" in item["verify"], item  # no tool: the operator types it


@pytest.mark.parametrize("tool", TOOLS)
def test_mb03_reads_the_password_file_of_the_config_not_the_operators_shell(tool, tmp_path, monkeypatch):
    """The operator's root shell on the new board has no RESTIC_PASSWORD_FILE / BORG_PASSCOMMAND
    (the daemon's unit had them in /etc/default/hwagent): MB-03 passes the configured password file
    itself (the baseline collector's backup_password_file, handed over as the runbook parameter)."""
    data = make_tree(tmp_path / "src")
    repo, pw, env = make_repo(tool, tmp_path, data)
    for k in ("BORG_BASE_DIR", "BORG_RELOCATED_REPO_ACCESS_IS_OK", "RESTIC_CACHE_DIR"):
        monkeypatch.setenv(k, env[k])
    for k in ("RESTIC_PASSWORD_FILE", "RESTIC_PASSWORD", "BORG_PASSCOMMAND", "BORG_PASSPHRASE"):
        monkeypatch.delenv(k, raising=False)
    params = {"backup_tool": tool, "backup_repository": repo, "backup_max_age_hours": str(RPO_H)}
    ex = Executor(mb03(), drill_host(tmp_path), params=params, ui=NullUI(), store=RunStore(tmp_path / "s1"))
    d = ex.start().data
    assert d["status"] == "failed" and "newest backup unknown" in d["steps"]["MB-03"]["detail"]  # no password: unreadable
    ex = Executor(mb03(), drill_host(tmp_path), params={**params, "backup_password_file": str(pw)}, ui=NullUI(),
                  store=RunStore(tmp_path / "s2"))
    d = ex.start().data
    st = d["steps"]["MB-03"]
    assert d["status"] == "completed" and st["state"] == "already_done", st["detail"]
    (ev,) = [e for e in st["evidence"] if e["phase"] == "check"]
    if tool == "restic":
        assert ev["argv"][-2:] == ["--password-file", str(pw)] and "env" not in ev
    else:
        assert ev["env"] == ["BORG_PASSCOMMAND"]  # the variable's name is evidence, never its value
    missing = str(tmp_path / "no-such-password")
    ex = Executor(mb03(), drill_host(tmp_path), params={**params, "backup_password_file": missing}, ui=NullUI(),
                  store=RunStore(tmp_path / "s3"))
    d = ex.start().data
    assert d["status"] == "failed" and f"backup password file {missing} does not exist" in d["steps"]["MB-03"]["detail"]
