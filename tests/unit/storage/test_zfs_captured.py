"""ZFS on `zpool status` output captured on real machines (tests/fixtures/zfs/captured/SOURCE names
each source): the collector's readings and the storage.* findings an operator would expect."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.collectors.zfs import ZfsCollector
from agent.host import Host, HostPaths
from agent.model.storage import ZfsPool, ZfsVdev
from agent.runner import CommandResult
from tests.unit.storage.test_zfs import rule

CAPTURED = Path(__file__).resolve().parents[2] / "fixtures" / "zfs" / "captured"
RULES = ("storage.zfs_pool_state", "storage.zfs_device_faulted", "storage.zfs_device_errors",
         "storage.zfs_scrub_overdue", "storage.zfs_data_errors")


def collect(name: str, tmp_path: Path):
    """The collector with `zpool status -p` answered by the capture; the captures have no
    `zpool get` output, so that call fails (capacity unknown, said as a problem)."""
    text = (CAPTURED / name).read_bytes()
    calls = []

    def runner(argv, timeout, env=None):
        calls.append(tuple(argv))
        if tuple(argv[1:]) == ("status", "-p"):
            return CommandResult(tuple(argv), 0, text, b"", 0.01)
        return CommandResult(tuple(argv), 1, b"", b"not part of the capture\n", 0.01)
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    (root / "dev" / "zfs").write_text("")
    col = ZfsCollector(Host(paths=HostPaths(rootfs=str(root)), runner=runner, clock=time.time))
    out = col.collect()
    assert calls[0] == ("zpool", "status", "-p")
    return out, col.take_problems()


def findings(readings, now: float) -> dict:
    return {(f.rule, f.device): (f.severity.label, f.runbook) for rid in RULES for f in rule(rid, readings, now=now)}


def test_resilvering_mirror_with_log_and_cache_devices(tmp_path):
    out, (skipped, problems) = collect("resilvering-mirror-logs-cache.txt", tmp_path)
    (pool,) = [r for r in out if isinstance(r, ZfsPool)]
    assert (pool.pool, pool.state, pool.data_errors) == ("tank", "ONLINE", 0)
    assert (pool.scan_kind, pool.scan_state) == ("resilver", "in_progress")
    assert pool.scan_progress_ratio == pytest.approx(0.0039)
    assert pool.size_bytes is None and problems == ("zpool get: exit 1: capacity unknown",)
    vdevs = {v.name: v for v in out if isinstance(v, ZfsVdev)}
    assert [(n, v.kind, v.section, v.parent) for n, v in vdevs.items()] == [
        ("mirror-0", "mirror", "data", None), ("sdc", "disk", "data", "mirror-0"), ("sdd", "disk", "data", "mirror-0"),
        ("mirror-1", "mirror", "logs", None), ("sda3", "disk", "logs", "mirror-1"), ("sdb3", "disk", "logs", "mirror-1"),
        ("sda4", "disk", "cache", None), ("sdb4", "disk", "cache", None)]
    assert all((v.state, v.read_errors, v.write_errors, v.checksum_errors) == ("ONLINE", 0, 0, 0) for v in vdevs.values())
    # nothing is wrong; "scan:" shows only the latest scan, so a running resilver hides whether the
    # pool was ever scrubbed: no scrub finding either way (not "never scrubbed")
    now = time.mktime((2015, 4, 9, 0, 0, 0, 0, 0, -1))
    assert findings(out, now) == {}


def test_raidz2_with_devices_degraded_and_faulted_by_zfs(tmp_path):
    out, (_skipped, problems) = collect("raidz2-degraded-faulted.txt", tmp_path)
    (pool,) = [r for r in out if isinstance(r, ZfsPool)]
    assert (pool.state, pool.scan_kind, pool.data_errors) == ("DEGRADED", None, None)  # no errors line published
    assert pool.status_text == ("One or more devices are faulted in response to persistent errors. Sufficient "
                                "replicas exist for the pool to continue functioning in a degraded state.")
    assert pool.action_text == "Replace the faulted device, or use 'zpool clear' to mark the device repaired."
    vdevs = {v.name: v for v in out if isinstance(v, ZfsVdev)}
    assert len(vdevs) == 13 and vdevs["raidz2-0"].kind == "raidz2" and vdevs["raidz2-0"].read_errors == 53
    bad = {n: (v.state, v.read_errors, v.checksum_errors, v.note) for n, v in vdevs.items()
           if v.state != "ONLINE" and v.leaf}
    assert bad == {
        "wwn-0x5000cca2b66c3790": ("DEGRADED", 31, 0, "too many errors"),
        "wwn-0x5000cca2b4cbe800": ("FAULTED", 16, 0, "too many errors"),
        "wwn-0x5000cca2b4cedcb4": ("DEGRADED", 292, 0, "too many errors"),
        "wwn-0x5000cca2b663f03c": ("DEGRADED", 576, 1, "too many errors"),
        "wwn-0x5000cca2b4ce3e34": ("FAULTED", 25, 0, "too many errors"),
        "wwn-0x5000cca2b65d03fc": ("DEGRADED", 664, 0, "too many errors"),
        "wwn-0x5000cca2b6669950": ("DEGRADED", 889, 0, "too many errors"),
        "wwn-0x5000cca2b4cbe9bc": ("DEGRADED", 32, 0, "too many errors"),
    }
    got = findings(out, time.time())
    # every device ZFS took out of service is critical with the swap runbook, and so is the pool;
    # the raidz2 vdev's own counter (53) is not a device
    assert got.pop(("storage.zfs_pool_state", "lwastor04a")) == ("critical", "disk-swap-zfs")
    assert got.pop(("storage.zfs_scrub_overdue", "lwastor04a")) == ("info", None)
    faulted = {d for (r, d), v in got.items() if r == "storage.zfs_device_faulted" and v == ("critical", "disk-swap-zfs")}
    errors = {d for (r, d), v in got.items() if r == "storage.zfs_device_errors" and v == ("critical", "disk-swap-zfs")}
    assert faulted == errors == set(bad) and len(got) == 2 * len(bad)
    (state,) = rule("storage.zfs_pool_state", out)
    assert state.evidence["devices"].split(",") == list(bad)  # the leaves in pool order
    assert state.summary.startswith("ZFS pool lwastor04a is DEGRADED: wwn-0x5000cca2b66c3790, wwn-0x5000cca2b4cbe800")


def test_checksum_errors_on_an_online_mirror(tmp_path):
    out, _ = collect("mirror-checksum-errors.txt", tmp_path)
    (pool,) = [r for r in out if isinstance(r, ZfsPool)]
    assert (pool.state, pool.scan_kind, pool.last_scrub_time) == ("ONLINE", None, None)
    assert pool.status_text.startswith("One or more devices has experienced an unrecoverable error.")
    sdd = next(v for v in out if isinstance(v, ZfsVdev) and v.name == "sdd")
    assert (sdd.parent, sdd.checksum_errors, sdd.note) == ("mirror-1", 33, None)
    # the pool is ONLINE (ZFS corrected the data), but 33 checksum errors on one disk is past the
    # level at which ZFS itself faults a device (10 in 600 s): critical, with the swap runbook
    assert findings(out, time.time()) == {
        ("storage.zfs_device_errors", "sdd"): ("critical", "disk-swap-zfs"),
        ("storage.zfs_scrub_overdue", "rpool"): ("info", None),
    }
    (f,) = rule("storage.zfs_device_errors", out)
    assert f.summary == "ZFS pool rpool: sdd: 0 read, 0 write, 33 checksum errors"
    # boundary: with the critical level one above the count it only warns
    assert [g.severity.label for g in rule("storage.zfs_device_errors", out, critical=34)] == ["warning"]
