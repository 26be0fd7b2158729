"""Captured lab host trees (tests/fixtures/hosts/lab-*/commands/smartctl/): real smartctl 7.3 JSON
from the lab guest's emulated NVMe and SATA disks, replayed through the collector.

Recordings made with the collector's own argv are used as they are; for older captures that
recorded `smartctl --json -x [-n standby] PATH` (no `-d`, plain `-n standby`), the adapter maps
the collector's argv onto those and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.collectors.smart import SmartCollector
from agent.config import CollectorConfig
from agent.host import Host, HostPaths
from agent.model import Severity
from tests.support.replay import ReplayRunner

from .helpers import NOW, evaluate

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
TREES = sorted(p for p in HOSTS.glob("lab-*") if (p / "commands" / "smartctl").is_dir())


class CaptureArgv:
    def __init__(self, inner: ReplayRunner):
        self.inner = inner

    def __call__(self, argv, timeout, env=None):
        if self.inner.path_for(argv).exists():  # recorded with the collector's own argv
            return self.inner(argv, timeout, env)
        a = list(argv)
        if "-d" in a:
            i = a.index("-d")
            del a[i:i + 2]
        a = ["standby" if x == "standby,253" else x for x in a]
        p = self.inner.path_for(a)
        if not p.exists() and "-n" in a:  # only the plain read was recorded
            i = a.index("-n")
            del a[i:i + 2]
        return self.inner(a, timeout, env)


def test_lab_trees_with_recordings_are_present():
    assert {p.name for p in TREES} >= {"lab-healthy", "lab-nvme-critical-warning"}


@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_lab_tree(tree):
    root = tree / "tree" if (tree / "tree").is_dir() else tree
    runner = ReplayRunner(tree / "commands", strict=True)
    host = Host(paths=HostPaths(rootfs=str(root)), runner=CaptureArgv(runner), clock=lambda: NOW)
    out = SmartCollector(host, CollectorConfig()).collect()
    assert out, "the scan found no disks"
    for d in out:
        assert d.read_status == "ok" and d.read_time == NOW, d.message
        assert d.serial and d.model and not d.rejected
    findings = evaluate(*out)
    if "nvme-critical-warning" in tree.name:
        assert [(f.rule, f.severity, f.device) for f in findings] == [
            ("disk.nvme_critical_warning", Severity.CRITICAL, "nvme0")]
        nv = next(d for d in out if d.device == "nvme0")
        assert nv.exit_status == 8 and nv.smart_passed is False and nv.nvme.critical_warning == 0x07
        assert findings[0].runbook == "disk-swap-mdadm" and findings[0].subject == nv.stable_id
    elif "healthy" in tree.name:
        assert findings == []
    else:
        assert not [f for f in findings if f.severity is Severity.CRITICAL]
