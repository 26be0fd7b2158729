"""Captured lab host trees (tests/fixtures/hosts/lab-*/commands/smartctl/), when present.

The capture tool records `smartctl --json -x [-n standby] PATH` without `-d` and with a plain
`-n standby`; the adapter below maps the collector's argv (`-d TYPE`, `-n standby,253`) onto
those recordings and nothing else."""

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


@pytest.mark.skipif(not TREES, reason="no captured lab trees with smartctl recordings")
@pytest.mark.parametrize("tree", TREES, ids=lambda p: p.name)
def test_lab_tree(tree):
    root = tree / "tree" if (tree / "tree").is_dir() else tree
    host = Host(paths=HostPaths(rootfs=str(root)), runner=CaptureArgv(ReplayRunner(tree / "commands", strict=False)),
                clock=lambda: NOW)
    out = SmartCollector(host, CollectorConfig()).collect()
    assert out, "the scan found no disks"
    for d in out:
        assert d.read_status in ("ok", "standby"), d.message
    crit = [f for f in evaluate(*out) if f.severity is Severity.CRITICAL and f.rule.startswith("disk.")]
    if "nvme-critical-warning" in tree.name and "before" not in tree.name:
        assert [f.rule for f in crit] == ["disk.nvme_critical_warning"]
    else:
        assert crit == []
