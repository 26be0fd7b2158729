"""The action registry and its pieces after the split of actions.py: every baseline_compare check has
exactly one implementation, the checklist lines and spec errors read as before, and the pure baseline
predicates are pinned at their thresholds (RTC 2 s, MemTotal 1 %)."""

from __future__ import annotations


import pytest

from agent.recovery import actions as A
from agent.recovery import baseline_checks as checks


def test_every_check_has_exactly_one_implementation():
    assert set(checks.EXTERNAL) | set(checks.INTERNAL) == set(checks.CHECKS)
    # a name in both tables: the predicate was never reached (mount_refs and services were, before)
    assert not set(checks.EXTERNAL) & set(checks.INTERNAL)
    for name, target in checks.EXTERNAL.items():
        assert callable(target) and target.__module__.startswith("agent.recovery."), name
    assert A.BaselineCompare.CHECKS is checks.CHECKS


@pytest.mark.parametrize(("action", "args", "line"), [
    ("wait", {"seconds": 2.5}, "wait 2.5 s"),
    ("wait", {"seconds": 30}, "wait 30 s"),
    ("notify", {"state": "identified"}, "status page: identified (text from the status service's templates)"),
    ("notified", {}, "the status service accepted the update (or notify is not configured)"),
    ("child_run", {"runbook": "os-updates"}, "child run: agent recover os-updates (under this run's lock)"),
    ("child_done", {"runbook": "os-updates"}, "a completed os-updates child run of this run on this host"),
    ("baseline_save", {}, "store the live baseline as known-good in the run's state directory"),
    ("baseline_saved", {}, "a known-good baseline of the live board is stored"),
    ("probe", {"argv": ["mdadm", "--detail", "/dev/md0"], "expect": {"contains": "clean"}},
     "$ mdadm --detail /dev/md0   [pass: contains 'clean']"),
    ("run", {"argv": ["update-initramfs", "-u"], "env": {"LANG": "C"}}, "$ LANG=C update-initramfs -u   [pass: exit 0]"),
])
def test_checklist_lines(action, args, line):
    A.ACTIONS[action].validate(args)
    assert A.ACTIONS[action].describe(args) == line


@pytest.mark.parametrize(("action", "args", "message"), [
    ("answer", {"equals": ""}, "equals: empty: compare the answer with a value, not with nothing"),
    ("manual", {"prompt": "serial", "equals": ""},
     "equals: empty: the typed answer must equal an identity (a serial, a device), not nothing"),
    ("manual", {"prompt": "serial"}, "pattern: missing: a manual step needs pattern or equals for the typed answer"),
    ("answer", {"pattern": "("}, "pattern: invalid regular expression: missing ), unterminated subpattern at position 0"),
    ("manual", {"prompt": "serial", "pattern": "("},
     "pattern: invalid regular expression: missing ), unterminated subpattern at position 0"),
])
def test_typed_answer_spec_errors(action, args, message):
    with pytest.raises(A.SpecError) as err:
        A.ACTIONS[action].validate(args)
    assert str(err.value) == message


def _compare(check: str, old: dict, new: dict) -> A.Outcome:
    ctx = A.ActionContext(None, timeout=5, dry_run=True, operator="t", baseline=old, live_baseline=lambda: new)
    return A.BaselineCompare().run({"check": check}, ctx)


@pytest.mark.parametrize(("offset", "passed"), [(2.0, True), (-2.0, True), (2.01, False), (-2.01, False)])
def test_rtc_within_two_seconds(offset, passed):
    out = _compare("rtc", {}, {"time": {"rtc_offset_seconds": offset}})
    assert out.passed is passed
    if not passed:
        assert out.detail == f"hardware clock is {offset:+.1f} s off system time"


def test_rtc_unreadable_fails():
    assert _compare("rtc", {}, {"time": {}}).detail == "hardware clock could not be read (hwclock --show)"
    # the capture's source record says why: a missing tool (Debian 12 minimal) or the tool's failure
    gone = {"time": {"source": {"argv": ["hwclock", "--show"], "rc": None, "error": "not found: hwclock"}}}
    assert _compare("rtc", {}, gone).detail == ("hwclock is not installed (Debian 12: package util-linux-extra), so the "
                                                "hardware clock can be neither read nor set")
    broken = {"time": {"source": {"argv": ["hwclock", "--show"], "rc": 1, "error": None}}}
    assert _compare("rtc", {}, broken).detail == "hardware clock could not be read (hwclock --show: exit 1)"


@pytest.mark.parametrize(("total", "passed"), [(1_010_000, True), (990_000, True), (1_010_001, False), (989_999, False)])
def test_memory_within_one_percent(total, passed):
    old = {"memory": {"dimm_count": 4, "total_bytes": 1_000_000}}
    out = _compare("memory", old, {"memory": {"dimm_count": 4, "total_bytes": total}})
    assert out.passed is passed
    assert out.passed or out.detail == f"MemTotal {total} bytes, baseline 1000000"


def test_several_checks_in_one_step_report_each_failure():
    old = {"memory": {"dimm_count": 4}, "identity": {"machine_id": "a"}}
    new = {"memory": {"dimm_count": 3}, "identity": {"machine_id": "b"}, "time": {"rtc_offset_seconds": 0.1}}
    ctx = A.ActionContext(None, timeout=5, dry_run=True, operator="t", baseline=old, live_baseline=lambda: new)
    out = A.BaselineCompare().run({"check": "memory, machine_id, rtc"}, ctx)
    assert not out.passed
    assert out.detail == "memory: 3 DIMMs, baseline had 4; machine_id: machine-id b, baseline a"
    assert out.value == {"memory": ["3 DIMMs, baseline had 4"], "machine_id": ["machine-id b, baseline a"], "rtc": []}
