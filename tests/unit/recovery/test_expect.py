"""The expectation language of runbook steps, on recorded tool output: each predicate passes and fails
with the reason an operator reads, the first failure in a fixed order is reported, and a table is
checked when the runbook loads (type, regex, the predicates another one needs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.recovery.errors import SpecError
from agent.recovery.expect import EXPECT_KEYS, describe_expect, evaluate, validate_expect

COMMANDS = Path(__file__).resolve().parents[2] / "fixtures" / "baseline" / "commands"
SFDISK = (COMMANDS / "sfdisk" / "--json__dev_sda").read_text()  # sfdisk --json /dev/sda
MDADM_SCAN = (COMMANDS / "mdadm" / "--detail_--scan").read_text()  # mdadm --detail --scan
UNITS = "LoadState=loaded\nActiveState=active\n"  # systemctl show -p LoadState -p ActiveState nginx


@pytest.mark.parametrize(("expect", "rc", "text", "result"), [
    ({}, 0, "", (True, "ok")),
    ({}, 1, "", (False, "exit code 1, expected 0")),
    ({"exit_code": [0, 1]}, 1, "", (True, "ok")),
    ({"exit_code": [0, 1]}, 2, "", (False, "exit code 2, expected 0/1")),
    ({"contains": "UUID=3e1c2a7b"}, 0, MDADM_SCAN, (True, "ok")),
    ({"contains": "UUID=ffff"}, 0, MDADM_SCAN, (False, "output does not contain 'UUID=ffff'")),
    ({"not_contains": "metadata=0.90"}, 0, MDADM_SCAN, (True, "ok")),
    ({"not_contains": "metadata=1.2"}, 0, MDADM_SCAN, (False, "output contains 'metadata=1.2'")),
    ({"regex": "^LoadState=loaded$"}, 0, UNITS, (True, "ok")),
    ({"regex": "^LoadState=masked$"}, 0, UNITS, (False, "output does not match /^LoadState=masked$/")),
    ({"not_regex": "^ActiveState=(active|activating)$"}, 0, UNITS,
     (False, "output matches /^ActiveState=(active|activating)$/: 'ActiveState=active'")),
    ({"empty": True}, 0, " \n", (True, "ok")),
    ({"empty": True}, 0, "nginx.service loaded failed failed\n", (False, "output is not empty")),
    ({"empty": False}, 0, "", (False, "output is empty")),
    ({"equals": "LoadState=loaded"}, 0, "LoadState=loaded\n", (True, "ok")),
    ({"equals": "x"}, 0, UNITS, (False, "output 'LoadState=loaded\\nActiveState=active' != 'x'")),
    ({"count_regex": '"node":', "count_equals": 2}, 0, SFDISK, (True, "ok")),
    ({"count_regex": '"node":', "count_equals": 3}, 0, SFDISK, (False, '2 matches of /"node":/, expected 3')),
    ({"count_regex": '"node":', "count_min": 2}, 0, SFDISK, (True, "ok")),
    ({"count_regex": '"node":', "count_min": 3}, 0, SFDISK, (False, '2 matches of /"node":/, expected at least 3')),
    ({"json_path": "partitiontable.label", "json_equals": "gpt"}, 0, SFDISK, (True, "ok")),
    ({"json_path": "partitiontable.partitions[0].name", "json_equals": "BIOS"}, 0, SFDISK,
     (False, "json partitiontable.partitions[0].name = 'EFI System', expected 'BIOS'")),
    ({"json_path": "partitiontable.sectorsize", "json_equals": "512"}, 0, SFDISK, (True, "ok")),  # str() equal
    ({"json_path": "partitiontable.partitions[0].size", "json_min": 1048576}, 0, SFDISK, (True, "ok")),
    ({"json_path": "partitiontable.partitions[0].size", "json_min": 1048577}, 0, SFDISK,
     (False, "json partitiontable.partitions[0].size = 1048576 < 1.04858e+06")),
    ({"json_path": "partitiontable.partitions[0].size", "json_max": 1048575}, 0, SFDISK,
     (False, "json partitiontable.partitions[0].size = 1048576 > 1.04858e+06")),
    ({"json_path": "partitiontable.label", "json_min": 1}, 0, SFDISK,
     (False, "json partitiontable.label = 'gpt' is not a number")),
    ({"json_path": "partitiontable.partitions[9].node"}, 0, SFDISK,
     (False, "json partitiontable.partitions[9].node: not found (IndexError)")),
    ({"json_path": "partitiontable.label"}, 0, MDADM_SCAN, (False, "json partitiontable.label: not found (JSONDecodeError)")),
    # the first failure in the fixed order is reported, whatever the order of the table
    ({"regex": "nomatch", "contains": "nothere", "exit_code": 0}, 3, UNITS, (False, "exit code 3, expected 0")),
    ({"regex": "nomatch", "contains": "nothere"}, 0, UNITS, (False, "output does not contain 'nothere'")),
    ({"json_path": "x", "empty": True}, 0, UNITS, (False, "output is not empty")),
])
def test_predicates_on_recorded_output(expect, rc, text, result):
    validate_expect(expect)
    assert evaluate(expect, rc, text) == result


def test_a_file_has_no_exit_code_unless_asked():
    """read_file tests content only: no exit_code predicate by default."""
    assert evaluate({}, None, "x", default_exit=False) == (True, "ok")
    assert evaluate({"exit_code": 0}, None, "x", default_exit=False) == (False, "exit code None, expected 0")


@pytest.mark.parametrize(("expect", "message"), [
    ("exit_code = 0", "expect: expected a table"),
    ({"exitcode": 0}, "expect.exitcode: unknown predicate (known: " + ", ".join(sorted(EXPECT_KEYS)) + ")"),
    ({"exit_code": "0"}, "expect.exit_code: expected an integer or a list of integers"),
    ({"exit_code": [0, "1"]}, "expect.exit_code: expected an integer or a list of integers"),
    ({"exit_code": True}, "expect.exit_code: expected an integer or a list of integers"),
    ({"regex": 5}, "expect.regex: expected a string"),
    ({"not_regex": "(", "regex": "a"}, "expect.not_regex: invalid regular expression: missing ), unterminated "
                                        "subpattern at position 0"),
    ({"contains": ["a"]}, "expect.contains: expected a string"),
    ({"empty": "yes"}, "expect.empty: expected a boolean"),
    ({"count_regex": "a", "count_min": True}, "expect.count_min: expected a number"),
    ({"json_min": 1}, "expect.json_path: missing (json_equals/json_min/json_max need it)"),
    ({"json_equals": None}, "expect.json_path: missing (json_equals/json_min/json_max need it)"),
    ({"count_equals": 1}, "expect.count_regex: missing (count_equals/count_min need it)"),
])
def test_tables_are_checked_at_load_time(expect, message):
    with pytest.raises(SpecError) as err:
        validate_expect(expect)
    assert str(err.value) == message


def test_every_predicate_is_typed_and_documented_in_one_line():
    assert EXPECT_KEYS == {"exit_code", "contains", "not_contains", "regex", "not_regex", "empty", "equals", "json_path",
                           "json_equals", "json_min", "json_max", "count_regex", "count_equals", "count_min"}
    assert describe_expect(None) == "exit 0"
    assert describe_expect({"exit_code": [0, 1], "empty": True, "regex": "^a$"}) == "exit_code [0, 1], empty=true, regex '^a$'"
