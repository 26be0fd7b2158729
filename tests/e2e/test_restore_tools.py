"""Restore drill and restore actions against real restic and borg repositories built in the test
(Debian packages restic, borgbackup): the newest snapshot is restored into scratch and compared
with the snapshot's own listing; damage to the restored copy is found; a dry run takes no
repository lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agent.host import Host, HostPaths
from agent.recovery import actions as A
from agent.recovery import actions_data as D
from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
TOOLS = [pytest.param(t, marks=pytest.mark.skipif(shutil.which(t) is None, reason=f"{t} not installed "
                                                   "(tests/run.sh installs it)")) for t in ("restic", "borg")]


def make_tree(root: Path) -> Path:
    data = root / "srv" / "www"
    (data / "site" / "img").mkdir(parents=True)
    (data / "index.html").write_text("<h1>hello</h1>\n")
    (data / "site" / "img" / "logo.bin").write_bytes(os.urandom(200_000))
    (data / "site" / "empty").write_bytes(b"")
    (data / "current").symlink_to("site")
    for i in range(30):
        (data / "site" / f"page{i}.html").write_text(f"page {i}\n" * (i + 1))
    return data


def make_repo(tool: str, tmp: Path, data: Path) -> tuple[str, Path, dict]:
    pw = tmp / "password"
    pw.write_text("correct horse\n")
    env = {**os.environ, "BORG_PASSCOMMAND": f"cat {pw}", "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes",
           "BORG_BASE_DIR": str(tmp / "borgbase"), "RESTIC_CACHE_DIR": str(tmp / "cache")}
    repo = tmp / f"{tool}-repo"
    if tool == "restic":
        subprocess.run(["restic", "init", "-q", "-r", str(repo), "--password-file", str(pw)], check=True, env=env)
        subprocess.run(["restic", "backup", "-q", "-r", str(repo), "--password-file", str(pw), str(data)], check=True,
                       env=env)
    else:
        subprocess.run(["borg", "init", "-e", "repokey", str(repo)], check=True, env=env)
        subprocess.run(["borg", "create", f"{repo}::first", str(data)], check=True, env=env)
    return str(repo), pw, env


def drill_host(tmp: Path) -> Host:
    proc = tmp / "proc"
    (proc / "sys/kernel/random").mkdir(parents=True, exist_ok=True)
    (proc / "sys/kernel/random/boot_id").write_text("boot-1\n")
    (proc / "sys/kernel/hostname").write_text("drillhost\n")
    return Host(paths=HostPaths(rootfs="/", procfs=str(proc)))


@pytest.mark.parametrize("tool", TOOLS)
def test_restore_drill_restores_the_newest_snapshot_and_compares_it(tool, tmp_path, monkeypatch):
    data = make_tree(tmp_path / "src")
    repo, pw, env = make_repo(tool, tmp_path, data)
    for k in ("BORG_PASSCOMMAND", "BORG_BASE_DIR", "BORG_RELOCATED_REPO_ACCESS_IS_OK", "RESTIC_CACHE_DIR"):
        monkeypatch.setenv(k, env[k])
    rb = rbm.load(RUNBOOKS / "restore-drill.toml")
    params = {"tool": tool, "repo": repo, "password_file": str(pw), "path": str(data),
              "scratch": str(tmp_path / "scratch" / "drill"), "samples": "5"}
    locks = Path(repo) / ("locks" if tool == "restic" else "lock.exclusive")
    ex = Executor(rb, drill_host(tmp_path), params=params, ui=NullUI())
    plan = {i.step.id: i.status for i in ex.plan()}
    assert plan["RD-01" if tool == "restic" else "RD-01b"] == "ok"
    assert plan["RD-03"] == "would_run" and not (tmp_path / "scratch").exists()
    assert not (locks.exists() and any(locks.iterdir()) if locks.is_dir() else locks.exists())  # no lock taken
    store = RunStore(tmp_path / "state")
    ex = Executor(rb, drill_host(tmp_path), params=params, ui=NullUI(), store=store)
    rec = ex.start()
    st = rec.data["steps"]["RD-03"]
    assert rec.data["status"] == "completed", st
    assert "37 entries (33 files" in st["detail"] and "5 sampled checksum(s) match" in st["detail"], st["detail"]
    assert not (tmp_path / "scratch" / "drill" / rec.run_id).exists()  # scratch copy removed


@pytest.mark.parametrize("tool", TOOLS)
def test_compare_finds_damage_in_the_restored_copy(tool, tmp_path, monkeypatch):
    data = make_tree(tmp_path / "src")
    repo, pw, env = make_repo(tool, tmp_path, data)
    for k in ("BORG_PASSCOMMAND", "BORG_BASE_DIR", "BORG_RELOCATED_REPO_ACCESS_IS_OK", "RESTIC_CACHE_DIR"):
        monkeypatch.setenv(k, env[k])
    host = drill_host(tmp_path)
    ctx = A.ActionContext(host, timeout=120, dry_run=False, operator="t", baseline=None)
    target = tmp_path / "restore"
    args = {"tool": tool, "repo": repo, "password_file": str(pw), "path": str(data), "target": str(target)}
    out = D.BackupRestore().run(args, ctx)
    assert out.passed, out.detail
    marker = json.loads((target / D.MARKER).read_text())
    assert marker["tool"] == tool and marker["snapshot"]
    cmp_args = {"target": str(target), "samples": "0", "password_file": str(pw)}
    ok = D.RestoreCompare().run(cmp_args, ctx)
    assert ok.passed, ok.detail
    restored = target / str(data).lstrip("/")
    page = restored / "site" / "page3.html"
    page.write_text(page.read_text().replace("page", "pagX"))  # same size, other content
    bad = D.RestoreCompare().run({**cmp_args, "samples": "100"}, ctx)  # every file sampled
    assert not bad.passed and "checksum differs" in bad.detail and "page3.html" in bad.detail
    (restored / "index.html").unlink()
    bad = D.RestoreCompare().run(cmp_args, ctx)
    assert not bad.passed and any("missing:" in p and "index.html" in p for p in bad.value["problems"])


@pytest.mark.skipif(shutil.which("restic") is None, reason="restic not installed (tests/run.sh installs it)")
def test_unattended_drill_from_the_cli_writes_its_result(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from agent.cli import cli

    data = make_tree(tmp_path / "src")
    repo, pw, env = make_repo("restic", tmp_path, data)
    monkeypatch.setenv("RESTIC_CACHE_DIR", env["RESTIC_CACHE_DIR"])
    monkeypatch.delenv("HWAGENT_RUNBOOKS_DIR", raising=False)
    state = tmp_path / "state"
    args = ["recover", "restore-drill", "--execute", "--yes", "--param", f"repo={repo}", "--param", f"password_file={pw}",
            "--param", f"path={data}", "--param", f"scratch={tmp_path}/scratch/drill", "--param", "samples=3",
            "--state-dir", str(state)]
    r = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads((state / "restore-drill.json").read_text())
    assert res["success"] is True and res["files"] == 33 and res["sampled"] == 3 and res["snapshot"]
    (data / "index.html").unlink()  # the next drill restores the old snapshot: still fine
    bad = [*args[:4], "--param", "repo=/nonexistent/repo", *args[6:]]
    r = CliRunner().invoke(cli, bad, catch_exceptions=False)
    assert r.exit_code == 1
    res = json.loads((state / "restore-drill.json").read_text())
    assert res["success"] is False and res["status"] == "failed"
