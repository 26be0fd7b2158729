"""Runbook files: every shipped runbook loads and lints; broken files name file, step and key;
the schema README documents every key and action; findings point at runbooks that exist."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agent.recovery import actions as A
from agent.recovery import runbook as rbm

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "runbooks"
BROKEN = ROOT / "tests" / "fixtures" / "runbooks" / "broken"
EXPECTED = json.loads((BROKEN / "expected.json").read_text())
REQUIRED = ("mainboard-swap", "disk-swap-mdadm", "disk-swap-zfs", "disk-swap-hwraid", "os-updates",
            "config-restore", "data-restore", "memory-ecc-errors", "restore-drill")


@pytest.mark.parametrize("name", REQUIRED)
def test_shipped_runbook_loads_and_lints(name):
    rb = rbm.load(SHIPPED / f"{name}.toml")
    assert rb.id == name and rb.steps
    for s in rb.steps:
        assert s.verify is not None and s.verify.read_only, s.id
        if s.check is not None:
            assert s.check.read_only, s.id
        if s.mutating and s.kind == "auto":
            assert s.on_failure, s.id
        if s.destructive:
            assert s.confirm and not s.retries, s.id
        if s.apply is not None and s.apply.action in ("probe", "run"):
            assert s.apply.args["argv"][0][0] != "{"
        assert s.estimate_seconds > 0


def test_every_shipped_file_is_a_known_runbook():
    assert sorted(p.stem for p in rbm.available(SHIPPED)) == sorted(REQUIRED)


def test_applies_to_names_real_rules():
    from agent.rules import RULES_BY_ID

    for p in rbm.available(SHIPPED):
        for rid in rbm.load(p).applies_to:
            assert rid in RULES_BY_ID, f"{p.name}: applies_to {rid} is not a rule id"


def test_findings_suggest_runbooks_that_exist():
    from agent.rules import RULES

    named = {m.runbook for m in RULES if m.runbook}
    for path in (ROOT / "agent" / "rules").glob("*.py"):
        named |= set(re.findall(r'runbook="([a-z0-9-]+)"', path.read_text()))
        named |= set(re.findall(r'RUNBOOK = "([a-z0-9-]+)"', path.read_text()))
    assert {"mainboard-swap", "disk-swap-mdadm", "memory-ecc-errors"} <= named
    missing = sorted(n for n in named if not (SHIPPED / f"{n}.toml").exists())
    assert not missing, f"findings name runbooks that do not exist: {missing}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_runbook_error_names_file_step_and_key(name):
    step, key, fragment = EXPECTED[name]
    with pytest.raises(rbm.RunbookError) as exc:
        rbm.load(BROKEN / f"{name}.toml")
    msg = str(exc.value)
    assert msg.startswith(str(BROKEN / f"{name}.toml")), msg
    assert exc.value.step == step, msg
    assert exc.value.key == key, msg
    assert fragment in msg, msg
    if step:
        assert f"step {step}" in msg
    if key:
        assert f": {key}: " in msg


def test_every_broken_fixture_is_listed():
    assert sorted(p.stem for p in BROKEN.glob("*.toml")) == sorted(EXPECTED)


def test_readme_documents_schema_and_actions():
    text = (SHIPPED / "README.md").read_text()
    for name, cls in A.ACTIONS.items():
        row = re.search(rf"^\| `{name}` \| (yes|no) \|", text, re.M)
        assert row, f"action {name} missing from runbooks/README.md"
        assert (row.group(1) == "yes") == cls.read_only, f"README says wrong read-only for {name}"
    assert sorted(re.findall(r"^\| `([a-z_]+)` \| (?:yes|no) \|", text, re.M)) == sorted(A.ACTIONS)
    for key in rbm.STEP_KEYS | rbm.RUNBOOK_KEYS:
        assert f"`{key}`" in text, f"key {key} missing from runbooks/README.md"
    for key in A.EXPECT_KEYS:
        assert f"`{key}`" in text, f"predicate {key} missing from runbooks/README.md"
    for check in A.BaselineCompare.CHECKS:
        assert f"`{check}`" in text, f"baseline_compare check {check} missing"
    for name in REQUIRED:
        assert f"`{name}`" in text


def test_runbooks_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("HWAGENT_RUNBOOKS_DIR", raising=False)
    assert rbm.runbooks_dir("") == SHIPPED  # a checkout: runbooks/ next to the package
    assert rbm.runbooks_dir(str(tmp_path)) == tmp_path
    with pytest.raises(rbm.RunbookError, match="not a directory"):
        rbm.runbooks_dir(str(tmp_path / "nope"))
    monkeypatch.setenv("HWAGENT_RUNBOOKS_DIR", str(tmp_path))
    assert rbm.runbooks_dir("") == tmp_path
    with pytest.raises(rbm.RunbookError, match="available: "):
        rbm.find("nope", SHIPPED)


READ_ONLY = [
    (["smartctl", "-i", "/dev/sda"], True), (["smartctl", "-t", "long", "/dev/sda"], False),
    (["mdadm", "--detail", "/dev/md0"], True), (["mdadm", "--detail", "--scan"], True),
    (["mdadm", "--manage", "/dev/md0", "--fail", "/dev/sdb1"], False), (["mdadm", "--create", "/dev/md0"], False),
    (["mdadm", "--detail", "/dev/md0", "--fail", "x"], False),
    (["zpool", "import"], True), (["zpool", "import", "-d", "/dev/disk/by-id"], True),
    (["zpool", "import", "tank"], False), (["zpool", "status", "-x"], True), (["zpool", "destroy", "tank"], False),
    (["efibootmgr"], True), (["efibootmgr", "-v"], True), (["efibootmgr", "-c", "-d", "/dev/sda"], False),
    (["sgdisk", "-p", "/dev/sda"], True), (["sgdisk", "/dev/sda", "-R", "/dev/sdb"], False),
    (["sfdisk", "--json", "/dev/sda"], True), (["sfdisk", "/dev/sdb"], False),
    (["storcli64", "/c0/eall/sall", "show"], True), (["storcli64", "/c0/fall", "del"], False),
    (["storcli64", "/c0/e252/s1", "start", "locate"], False), (["storcli64", "/c0", "show", "set"], False),
    (["systemctl", "is-active", "ssh"], True), (["systemctl", "restart", "ssh"], False),
    (["find", "/etc", "-name", "x"], True), (["find", "/", "-delete"], False),
    (["curl", "-sS", "-o", "/dev/null", "https://x"], True), (["curl", "-o", "/tmp/x", "https://x"], False),
    (["curl", "-X", "POST", "https://x"], False), (["ip", "-br", "addr"], True), (["ip", "link", "set", "eno1", "up"], False),
    (["apt-get", "check"], True), (["apt-get", "update"], False), (["dpkg", "--audit"], True), (["dpkg", "-i", "x.deb"], False),
    (["ipmitool", "lan", "print", "1"], True), (["ipmitool", "lan", "set", "1", "ipaddr", "1.2.3.4"], False),
    (["ipmitool", "chassis", "power", "off"], False), (["rsync", "-n", "-a", "a/", "b/"], True), (["rsync", "-a", "a/", "b/"], False),
    (["needrestart", "-b", "-r", "l"], True), (["needrestart", "-b", "-r", "a"], False),
    (["/usr/sbin/mdadm", "--examine", "/dev/sdb1"], True), (["rm", "-rf", "/"], False), (["sh", "-c", "true"], False),
    (["journalctl", "-k", "-b"], True), (["journalctl", "--vacuum-time=1d"], False), ([], False),
]


@pytest.mark.parametrize("argv,ok", READ_ONLY, ids=[" ".join(a) or "empty" for a, _ in READ_ONLY])
def test_read_only_classification(argv, ok):
    assert A.argv_read_only(argv)[0] is ok


@pytest.mark.parametrize("expect,rc,text,ok", [
    ({}, 0, "", True), ({}, 1, "", False), ({"exit_code": [0, 4]}, 4, "", True),
    ({"contains": "clean"}, 0, "State : clean", True), ({"not_contains": "faulty"}, 0, "1 faulty", False),
    ({"regex": r"^\s*State : clean\s*$"}, 0, "x\n   State : clean\ny", True),
    ({"regex": r"^\s*State : clean\s*$"}, 0, "State : clean, degraded", False),
    ({"not_regex": "FAIL"}, 0, "PASSED", True), ({"empty": True}, 0, " \n", True), ({"empty": False}, 0, "", False),
    ({"equals": "yes"}, 0, "yes\n", True), ({"count_regex": "^Boot", "count_min": 2}, 0, "Boot1\nBoot2\n", True),
    ({"count_regex": "Dgrd", "count_equals": 0}, 0, "Optl Dgrd", False),
    ({"json_path": "a.b[1]", "json_equals": 3}, 0, '{"a": {"b": [1, 3]}}', True),
    ({"json_path": "a.c", "json_min": 1}, 0, '{"a": {"c": 0.5}}', False),
    ({"json_path": "a.x"}, 0, '{"a": {}}', False), ({"json_path": "a"}, 0, "not json", False),
])
def test_predicates(expect, rc, text, ok):
    A.validate_expect(expect)
    assert A.evaluate(expect, rc, text)[0] is ok


def test_bounded_output_keeps_hash_of_full_text():
    import hashlib

    data = ("line\n" * 10000).encode()
    b = A.bounded(data)
    assert b["sha256"] == hashlib.sha256(data).hexdigest() and b["bytes"] == len(data)
    assert b["truncated"] and len(b["text"]) < 7000 and "characters omitted" in b["text"]
    assert A.bounded(b"short") == {"sha256": hashlib.sha256(b"short").hexdigest(), "bytes": 5, "text": "short"}
