"""Real smartctl 7.3 captures from the lab guest (QEMU NVMe + SATA disks), see fixtures SOURCE."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.collectors.smart_parse import parse_json, text_to_doc
from agent.model import Severity

from .conftest import LAB
from .helpers import NOW, evaluate

SCENARIOS = sorted(p.name for p in LAB.iterdir() if p.is_dir())


def load(scenario: str, when: str, dev: str):
    lines = (LAB / scenario / f"{when}-smartctl-{dev}.txt").read_text().splitlines()
    rc = int(lines[1].split("=", 1)[1])
    doc = text_to_doc("\n".join(lines[2:]), rc=rc, path=f"/dev/{dev}")
    return parse_json(doc, device=dev, path=f"/dev/{dev}", now=NOW, rc=rc, backend="text")


def test_lab_has_the_scenarios():
    assert {"nvme-critical-warning", "disk-io-error"} <= set(SCENARIOS)


def test_nvme_critical_warning_gives_a_critical_disk_finding():
    d = load("nvme-critical-warning", "after", "nvme0")
    fs = evaluate(d)
    crit = [f for f in fs if f.severity is Severity.CRITICAL]
    assert [f.rule for f in crit] == ["disk.nvme_critical_warning"]
    f = crit[0]
    assert f.component == "disk:QEMU_NVMe_Ctrl_LABNVME0001" and f.device == "nvme0"
    assert f.subject == "QEMU_NVMe_Ctrl_LABNVME0001" and f.runbook == "disk-swap-mdadm"
    assert f.evidence["bits"] == "spare_below_threshold,temperature_above_or_below_threshold,reliability_degraded"
    # the SATA disk of the same run is untouched
    assert evaluate(load("nvme-critical-warning", "after", "sda")) == []


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("dev", ["nvme0", "sda"])
def test_healthy_before_captures_have_no_findings(scenario, dev):
    d = load(scenario, "before", dev)
    assert d.fresh and evaluate(d) == []


def test_disk_io_error_leaves_smart_unchanged():
    for dev in ("nvme0", "sda"):
        before, after = load("disk-io-error", "before", dev), load("disk-io-error", "after", dev)
        assert replace(before, read_time=None, last_success=None) == replace(after, read_time=None, last_success=None)
        assert evaluate(after) == []
