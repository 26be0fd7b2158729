"""agent recover and agent baseline through CliRunner: typed confirmations as input, reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import cli
from tests.unit.recovery.hosttree import NEW_MACS, build

ROOT = Path(__file__).resolve().parents[3]

DEMO = """
id = "demo"
title = "Demo swap"
[params.dir]
description = "work dir"
required = true

[[steps]]
id = "ID"
title = "Identify"
kind = "manual"
estimate_seconds = 120
instructions = "Look at the label of {params.dir}"
apply = { action = "manual", prompt = "Serial of the disk", pattern = '^SN[0-9]+$' }
verify = { action = "answer", pattern = '^SN[0-9]+$' }

[[steps]]
id = "WIPE"
title = "Replace the marker"
destructive = true
estimate_seconds = 60
confirm = { prompt = "Type the serial again", equals = "{answers.ID}" }
apply = { action = "run", argv = ["touch", "{params.dir}/wiped"] }
verify = { action = "probe", argv = ["test", "-e", "{params.dir}/wiped"] }
on_failure = "Check {params.dir}."

[[steps]]
id = "DONE"
title = "Final check"
verify = { action = "probe", argv = ["test", "-e", "{params.dir}/final"] }
on_failure = "Create {params.dir}/final."
"""


@pytest.fixture
def env(tmp_path, monkeypatch):
    books = tmp_path / "books"
    books.mkdir()
    (books / "demo.toml").write_text(DEMO)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HWAGENT_RUNBOOKS_DIR", str(books))
    monkeypatch.setenv("SUDO_USER", "carol")
    return {"state": str(tmp_path / "state"), "work": work, "books": books}


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_show_prints_checklist_of_shipped_runbook(monkeypatch):
    monkeypatch.delenv("HWAGENT_RUNBOOKS_DIR", raising=False)
    r = invoke("recover", "show", "mainboard-swap")
    assert r.exit_code == 0
    assert r.output.startswith("# Replace the mainboard")
    assert "## 1. [ ] MB-01 · Tell customers: identified, with the ETA of this runbook" in r.output
    assert "**DESTRUCTIVE**" not in r.output  # the board swap has no destructive automated step
    r = invoke("recover", "show", "disk-swap-mdadm")
    assert "DM-03 · Fail and remove the old member from the array  (auto, **DESTRUCTIVE**" in r.output
    r = invoke("recover", "list", "--runbooks", "--json")
    assert {x["id"] for x in json.loads(r.output)} >= {"mainboard-swap", "disk-swap-mdadm", "memory-ecc-errors"}
    assert invoke("recover", "show", "nope").exit_code == 1


def test_dry_run_is_default_and_writes_nothing(env):
    r = invoke("recover", "demo", "--param", f"dir={env['work']}", "--state-dir", env["state"])
    assert r.exit_code == 0, r.output
    assert "Dry run of demo" in r.output and "nothing was changed, nothing was sent" in r.output
    assert "[FAIL] DONE Final check" in r.output
    assert not Path(env["state"]).exists() and not (env["work"] / "wiped").exists()
    r = invoke("recover", "demo", "--json", "--param", f"dir={env['work']}", "--state-dir", env["state"])
    assert [s["status"] for s in json.loads(r.output)] == ["would_run", "would_run", "failing"]
    r = invoke("recover", "demo", "--state-dir", env["state"])
    assert r.exit_code == 2 and "--param dir=VALUE is required" in r.output


def test_execute_with_typed_confirmations_then_resume_and_report(env):
    args = ("recover", "demo", "--execute", "--param", f"dir={env['work']}", "--state-dir", env["state"])
    r = invoke(*args, input="wrong\nSN7\nSN8\nSN7\n")
    assert r.exit_code == 1, r.output
    assert "rejected: does not match /^SN[0-9]+$/" in r.output
    assert "rejected: does not match the expected target identity" in r.output
    assert re.search(r"\[2/3\] WIPE Replace the marker · elapsed \d+:\d\d:\d\d · ETA ~0:0[12]:\d\d", r.output)
    assert "step DONE failed" in r.output and f"Create {env['work']}/final." in r.output
    run_id = re.search(r"run (\S+) started by carol", r.output).group(1)
    assert (env["work"] / "wiped").exists()
    r = invoke("recover", "list", "--state-dir", env["state"])
    assert run_id in r.output and "failed" in r.output and "2/3" in r.output
    (env["work"] / "final").write_text("")
    r = invoke("recover", "--resume", run_id, "--state-dir", env["state"])
    assert r.exit_code == 0 and "completed" in r.output, r.output
    r = invoke("recover", "report", run_id, "--state-dir", env["state"])
    md = r.output
    assert md.startswith(f"# Recovery run {run_id}")
    assert "| Status | **completed** |" in md and "| Operators | carol |" in md
    assert "answer `SN7` by carol" in md and "confirmed `SN7` by carol" in md
    assert f"`touch {env['work']}/wiped` → exit 0" in md
    data = json.loads(invoke("recover", "report", run_id, "--json", "--state-dir", env["state"]).output)
    assert data["steps"]["DONE"]["state"] == "verified" and data["answers"] == {"ID": "SN7"}


def test_skip_and_start_at_from_the_cli(env):
    base = ("recover", "demo", "--execute", "--param", f"dir={env['work']}", "--state-dir", env["state"])
    r = invoke(*base, "--skip", "DONE")
    assert r.exit_code == 1 and "--skip DONE needs --reason" in r.output
    (env["work"] / "final").write_text("")
    r = invoke(*base, "--start-at", "DONE", "--reason", "disk swapped last night")
    assert r.exit_code == 0, r.output
    run_id = re.search(r"run (\S+) completed", r.output).group(1)
    md = invoke("recover", "report", run_id, "--state-dir", env["state"]).output
    assert "skipped by carol: start-at DONE: disk swapped last night" in md


def test_resume_of_corrupt_or_newer_record(env):
    runs = Path(env["state"]) / "runs"
    runs.mkdir(parents=True)
    (runs / "bad.json").write_text("{oops")
    r = invoke("recover", "--resume", "bad", "--state-dir", env["state"])
    assert r.exit_code == 1 and "is corrupt" in r.output and (runs / "bad.json").read_text() == "{oops"
    (runs / "new.json").write_text(json.dumps({"format_version": 9, "steps": {}}))
    r = invoke("recover", "--resume", "new", "--state-dir", env["state"])
    assert r.exit_code == 1 and "newer than this agent understands" in r.output


def test_recover_help_has_examples():
    r = invoke("recover", "--help")
    assert "Examples:" in r.output and "agent recover show mainboard-swap" in r.output


# ---- baseline ----------------------------------------------------------------------------------

@pytest.fixture
def replay_host(tmp_path, monkeypatch, make_host):
    """`live` captures read a synthetic tree through recorded commands, never this machine."""
    state = {"kw": {}, "n": 0}

    def fake(app):
        state["n"] += 1
        fs, runner = build(tmp_path / f"live{state['n']}", **state["kw"])
        return make_host(fs.root, runner=runner)
    monkeypatch.setattr("agent.cli.baseline._host", fake)
    return state


def test_baseline_capture_show_diff_export(tmp_path, replay_host):
    sd = ("--state-dir", str(tmp_path / "state"))
    assert invoke("baseline", "show", "--list", *sd).output.strip() == "no stored baselines"
    r = invoke("baseline", "capture", *sd)
    assert r.exit_code == 0 and r.output.startswith("stored baseline ")
    assert "unchanged, kept baseline" in invoke("baseline", "capture", *sd).output
    r = invoke("baseline", "show", *sd)
    assert "board       Supermicro X11SCL-F serial OLDBOARD0001" in r.output
    assert "nic         eno1 3c:ec:ef:00:00:01 igb 0000:01:00.0 up" in r.output
    assert "disk        sda WDC WD5000AAKX-0 serial WD-WCAYUS000001" in r.output
    r = invoke("baseline", "diff", *sd)
    assert r.exit_code == 0 and r.output.rstrip().endswith("no changes")
    replay_host["kw"] = {"board_serial": "NEWBOARD0002", "macs": NEW_MACS, "efi": "after"}
    r = invoke("baseline", "diff", "latest", "live", "--section", "dmi", "--section", "nics", *sd)
    assert r.exit_code == 1
    assert "~ dmi.board_serial: OLDBOARD0001 -> NEWBOARD0002" in r.output
    assert "~ nics.physical.eno1.mac: 3c:ec:ef:00:00:01 -> 3c:ec:ef:11:11:01" in r.output
    out = tmp_path / "export.json"
    r = invoke("baseline", "export", str(out), "latest", *sd)
    assert r.exit_code == 0 and out.exists()
    r = invoke("baseline", "diff", str(out), "live", "--json", *sd)
    changes = json.loads(r.output)["changes"]
    assert "dmi.board_serial" in {c["path"] for c in changes}
    assert invoke("baseline", "show", "nosuch", *sd).exit_code == 1


def test_dry_run_with_a_stored_baseline_touches_no_state_file(env, tmp_path, replay_host):
    import os

    sd = ("--state-dir", env["state"])
    assert invoke("baseline", "capture", "--known-good", *sd).exit_code == 0
    state = Path(env["state"])
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in state.rglob("*")}
    (env["books"] / "cmp.toml").write_text("""
id = "cmp"
title = "compare"
[[steps]]
id = "B"
title = "board serial as before"
verify = { action = "read_file", path = "/etc/hostname", expect = { regex = "{baseline.dmi.board_serial}" } }
""")
    r = invoke("recover", "cmp", *sd)
    assert r.exit_code == 0 and "OLDBOARD0001" in r.output  # the stored baseline was used
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in state.rglob("*")} == before
    assert not os.path.exists(state / "runs")


def test_an_operators_known_good_mark_is_synced_to_disk_when_the_command_returns(env, replay_host, monkeypatch):
    """`baseline capture --known-good` commits with synchronous=FULL (the WAL fsynced per commit):
    with the daemon's NORMAL the mark sat in the page cache, and the rehearsal's board, dying ~25 s
    later, took it back (the run then compared with the daemon's older capture)."""
    from agent.state.store import Store
    from tests.support.sqltrace import synced_before, trace_store

    seen = trace_store(monkeypatch)
    sd = ("--state-dir", env["state"])
    assert invoke("baseline", "capture", "--known-good", *sd).exit_code == 0
    assert synced_before(seen, "INSERT OR REPLACE INTO baselines")
    assert synced_before(seen, "UPDATE baselines SET known_good = 1")
    # the daemon's store keeps NORMAL (a storm's writes are not fsynced one by one)
    seen.clear()
    Store(Path(env["state"]) / "state.db").close()
    assert "PRAGMA synchronous = NORMAL" in [sql for _, sql in seen]


def test_capture_warns_when_the_network_could_not_be_read(tmp_path, monkeypatch, make_host):
    """An operator marking a baseline known-good learns at once that it cannot prove the network is
    back (as the daemon's captures could not while its unit refused netlink sockets)."""
    from agent.runner import CommandResult
    from tests.unit.recovery.test_baseline import NETLINK_REFUSED

    fs, runner = build(tmp_path / "live", rich=True)  # recorded ip and ss output

    def no_netlink(argv, timeout, env=None):
        if argv[0] == "ip":
            return CommandResult(tuple(argv), 1, b"", NETLINK_REFUSED, 0.01)
        return runner(argv, timeout, env)
    monkeypatch.setattr("agent.cli.baseline._host", lambda app: make_host(fs.root, runner=no_netlink))
    r = invoke("baseline", "capture", "--known-good", "--state-dir", str(tmp_path / "state"))
    assert r.exit_code == 0, r.output
    assert ("warning: network: `ip -j addr show` failed (rc 1, Cannot open netlink socket: Address family not "
            "supported by protocol): the recovery cannot compare") in r.output
    assert "warning: listening" not in r.output
    monkeypatch.setattr("agent.cli.baseline._host", lambda app: make_host(fs.root, runner=runner))
    r = invoke("baseline", "capture", "--state-dir", str(tmp_path / "state"))
    assert r.output.startswith("stored baseline") and "warning" not in r.output, r.output
