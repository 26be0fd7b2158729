"""Defect 8: steps run for a dead server from another machine (`--host NAME`), carried to the
repaired host with `agent recover import` as one audit chain; a second run of a runbook with an
unfinished run is warned about."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.recovery.record import RecordError, RunStore

BOOK = """
id = "dead"
title = "board dead"
[[steps]]
id = "D-01"
title = "Silence {run.host}"
kind = "manual"
instructions = "amtool silence add instance=~{run.host}"
apply = { action = "manual", prompt = "Silence id for {run.host}", pattern = '^[0-9a-f-]{8,}$' }
verify = { action = "answer", pattern = '^[0-9a-f-]{8,}$' }
[[steps]]
id = "D-02"
title = "On the repaired host"
kind = "manual"
apply = { action = "manual", prompt = "Type done", pattern = '^done$' }
verify = { action = "answer", pattern = '^done$' }
"""


@pytest.fixture
def books(tmp_path, monkeypatch):
    d = tmp_path / "books"
    d.mkdir()
    (d / "dead.toml").write_text(BOOK)
    monkeypatch.setenv("HWAGENT_RUNBOOKS_DIR", str(d))
    monkeypatch.setenv("SUDO_USER", "carol")
    return d


def _invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_run_for_a_dead_host_then_import_and_resume_there(tmp_path, books):
    laptop = str(tmp_path / "laptop-state")
    me = os.uname().nodename
    r = _invoke("recover", "dead", "--execute", "--host", me, "--state-dir", laptop, input="0123abcd\n")
    assert f"Silence id for {me}" in r.output
    run_id = RunStore(laptop).list()[0]["run_id"]
    d = RunStore(laptop).load(run_id).data
    assert d["host"] == me and d["steps"]["D-01"]["state"] == "verified" and d["status"] == "failed"
    # a run for another host cannot be imported here
    other = tmp_path / "other-state"
    shutil.copytree(laptop, other)
    rec = json.loads((other / "runs" / f"{run_id}.json").read_text())
    rec["host"] = "someone-else"
    (other / "runs" / f"{run_id}.json").write_text(json.dumps(rec))
    r = _invoke("recover", "import", str(other), run_id, "--state-dir", str(tmp_path / "server-state"))
    assert r.exit_code == 1 and "is for host 'someone-else'" in r.output
    # carried over: one chain on the server holding the run's lines verbatim
    server = str(tmp_path / "server-state")
    r = _invoke("recover", "import", laptop, run_id, "--state-dir", server)
    assert r.exit_code == 0 and "imported run" in r.output, r.output
    store = RunStore(server)
    assert store.verify_audit() == (True, "chain intact")
    lines = [json.loads(x) for x in (store.dir / "audit.jsonl").read_text().splitlines()]
    assert lines[0]["event"] == "run_import" and lines[0]["lines"] == len(lines) - 1 >= 3
    assert json.loads(lines[1]["original"])["event"] == "run_start"
    r = _invoke("recover", "--resume", run_id, "--state-dir", server, input="done\n")
    assert r.exit_code == 0 and "completed" in r.output, r.output
    assert store.load(run_id).data["status"] == "completed"
    assert _invoke("recover", "import", laptop, run_id, "--state-dir", server).exit_code == 1  # not twice


def test_import_refuses_a_changed_audit(tmp_path, books):
    laptop = tmp_path / "laptop-state"
    _invoke("recover", "dead", "--execute", "--host", os.uname().nodename, "--state-dir", str(laptop), input="0123abcd\n")
    run_id = RunStore(laptop).list()[0]["run_id"]
    audit = laptop / "runs" / "audit.jsonl"
    lines = audit.read_text().splitlines()
    audit.write_text("\n".join(lines[:1] + lines[2:]) + "\n")
    from agent.recovery.transfer import import_run
    with pytest.raises(RecordError, match="chain broken"):
        import_run(laptop, run_id, RunStore(tmp_path / "server"), os.uname().nodename)


def test_second_run_with_an_unfinished_one_is_warned(tmp_path, books):
    sd = ("--state-dir", str(tmp_path / "state"))
    _invoke("recover", "dead", "--execute", *sd, input="0123abcd\n")  # stops at D-02 (no answer)
    first = RunStore(tmp_path / "state").list()[0]["run_id"]
    r = _invoke("recover", "dead", "--execute", *sd, input="\n")
    assert f"WARNING: run {first} of dead is unfinished" in r.output and "--resume " + first in r.output
    assert r.exit_code == 1 and len(RunStore(tmp_path / "state").list()) == 1
    r = _invoke("recover", "dead", "--execute", *sd, input="new\n0123abcd\n")
    assert len(RunStore(tmp_path / "state").list()) == 2
