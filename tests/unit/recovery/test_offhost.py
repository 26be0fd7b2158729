"""`agent baseline push`: the known-good baseline and the filled checklist kept off-host, only when
they changed; directory, rsync/scp and status-service targets."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.recovery import offhost
from tests.unit.recovery.hosttree import build


def _invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def live(tmp_path, monkeypatch, make_host):
    calls = []

    class Runner:
        def __init__(self, replay):
            self.replay = replay

        def __call__(self, argv, timeout, env=None):
            calls.append(tuple(argv))
            return self.replay(argv, timeout, env)

    built = {}

    def fake(app):
        if "host" not in built:
            fs, runner = build(tmp_path / "live")
            built["host"] = make_host(fs.root, runner=Runner(runner))
        return built["host"]
    monkeypatch.setattr("agent.cli.baseline._host", fake)
    return calls


def test_push_to_a_directory_only_when_changed(tmp_path, live):
    sd = ("--state-dir", str(tmp_path / "state"))
    dest = tmp_path / "offhost"
    dest.mkdir()
    assert _invoke("baseline", "capture", *sd).exit_code == 0
    r = _invoke("baseline", "push", "--target", str(dest), *sd)
    assert r.exit_code == 1 and "no known-good baseline" in r.output
    assert _invoke("baseline", "capture", "--known-good", *sd).exit_code == 0
    r = _invoke("baseline", "push", "--target", str(dest), *sd)
    assert r.exit_code == 0, r.output
    import os
    host = os.uname().nodename
    doc = json.loads((dest / f"{host}-baseline.json").read_text())
    assert doc["kind"] == "hwagent-baseline" and doc["baseline"]["dmi"]["board_serial"] == "OLDBOARD0001"
    md = (dest / f"{host}-mainboard-swap.md").read_text()
    assert "MB-15" in md and "firmware to 2.3 (03/11/2024)" in md
    assert oct((dest / f"{host}-baseline.json").stat().st_mode & 0o777) == "0o600"
    r = _invoke("baseline", "push", "--target", str(dest), *sd)
    assert r.exit_code == 0 and r.output.startswith("unchanged since")
    assert _invoke("baseline", "push", "--target", str(dest), "--force", *sd).output.startswith("wrote ")
    r = _invoke("baseline", "push", "--target", str(tmp_path / "nope"), *sd)
    assert r.exit_code == 1 and "not a directory" in r.output


def test_push_without_target_names_the_setting(tmp_path, live):
    r = _invoke("baseline", "push", "--state-dir", str(tmp_path / "state"))
    assert r.exit_code == 1 and "[recovery] export_target" in r.output


def test_remote_targets_run_rsync_or_scp_without_prompts():
    seen = []

    def run(argv):
        seen.append(argv)
        return 0, ""
    docs = {"h-baseline.json": b"{}", "h-mainboard-swap.md": b"# x\n"}
    assert offhost.kind_of("backup@vault:hwagent") == "remote" and offhost.kind_of("/srv/x") == "directory"
    offhost.push("backup@vault:hwagent", "h", docs, run=run)
    argv = seen[-1]
    assert argv[:3] == ["rsync", "-t", "--chmod=F600"] and argv[-1] == "backup@vault:hwagent/"
    assert "ssh -o BatchMode=yes -o ConnectTimeout=20" in argv
    offhost.push("backup@vault:hwagent/", "h", docs, method="scp", run=run)
    assert seen[-1][:2] == ["scp", "-q"] and "BatchMode=yes" in seen[-1] and seen[-1][-1] == "backup@vault:hwagent/"
    with pytest.raises(offhost.PushError, match="rsync to backup@vault:hwagent failed \\(exit 255\\): Permission denied"):
        offhost.push("backup@vault:hwagent", "h", docs, run=lambda argv: (255, "Permission denied (publickey)."))


def test_statuspage_target_puts_both_documents():
    got = []
    docs = {"h-baseline.json": b"{}", "h-mainboard-swap.md": b"# x\n"}
    out = offhost.push("statuspage", "h", docs, put=lambda host, kind, body: got.append((host, kind, body)))
    assert sorted(got) == [("h", "baseline", b"{}"), ("h", "checklist", b"# x\n")] and "status service" in out

    def fail(host, kind, body):
        raise RuntimeError("HTTP 401")
    with pytest.raises(offhost.PushError, match="PUT baseline for h failed: HTTP 401"):
        offhost.push("statuspage", "h", docs, put=fail)


def test_digest_changes_with_either_document():
    a = offhost.digest({"x": b"1", "y": b"2"})
    assert a == offhost.digest({"y": b"2", "x": b"1"})
    assert a != offhost.digest({"x": b"1", "y": b"3"})
    assert offhost.needs_push(None, "id", a, "/t")
    last = offhost.record("id", a, "/t", "ok", now=1.0)
    assert not offhost.needs_push(last, "id", a, "/t") and offhost.needs_push(last, "id2", a, "/t")
