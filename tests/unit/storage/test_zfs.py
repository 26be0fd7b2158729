"""ZFS pools: zpool status/get parsing, the collector through recorded zpool output, rules, metrics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.collectors.base import NoData
from agent.collectors.zfs import ZfsCollector, parse_scan, parse_size, parse_status
from agent.exporter.collector import collect_samples
from agent.host import Host, HostPaths
from agent.model import CollectorStatus, Snapshot
from agent.model.storage import ZfsPool, ZfsVdev
from agent.rules import RULES_BY_ID
from agent.rules.base import Params, RuleContext
from tests.support.replay import ReplayRunner

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "zfs"
NOW = time.mktime(time.strptime("Mon Dec  1 12:00:00 2026", "%a %b %d %H:%M:%S %Y"))


def collect(case: str, tmp_path: Path, dev: bool = True) -> list:
    root = tmp_path / "root"
    (root / "dev").mkdir(parents=True)
    if dev:
        (root / "dev" / "zfs").write_text("")
    host = Host(paths=HostPaths(rootfs=str(root)), runner=ReplayRunner(FIX / case / "commands"), clock=lambda: NOW)
    return ZfsCollector(host).collect()


def rule(rule_id: str, readings, now: float = NOW, **params):
    meta = RULES_BY_ID[rule_id]
    snap = Snapshot(time=now, boot_id="b", readings={"zfs": tuple(readings)}, statuses={})
    return list(meta.fn(RuleContext(snapshot=snap, history=None, params=Params(meta.defaults, params, {}), now=now,
                                    rule=meta)))


def test_degraded_raidz2_parsed_from_status_and_get(tmp_path):
    out = collect("degraded", tmp_path)
    pools = {p.pool: p for p in out if isinstance(p, ZfsPool)}
    assert set(pools) == {"rpool", "tank"}
    tank = pools["tank"]
    assert tank.state == "DEGRADED" and tank.data_errors == 0
    assert (tank.scan_kind, tank.scan_state, tank.scan_progress_ratio) == ("scrub", "in_progress", 0.2183)
    assert tank.size_bytes == 23991808278528 and tank.fragmentation_ratio == 0.17
    assert tank.status_text.startswith("One or more devices could not be used") and "degraded state." in tank.status_text
    vdevs = {v.name: v for v in out if isinstance(v, ZfsVdev) and v.pool == "tank"}
    assert vdevs["raidz2-0"].kind == "raidz2" and vdevs["raidz2-0"].parent is None
    gone = vdevs["11442204584937617285"]
    assert (gone.state, gone.parent, gone.kind) == ("UNAVAIL", "raidz2-0", "disk")
    assert gone.note == "was /dev/disk/by-id/ata-ST4000NM0035-1V4107_ZC1A0004-part1"
    assert vdevs["ata-ST4000NM0035-1V4107_ZC1A0002"].checksum_errors == 14
    assert vdevs["ata-ST4000NM0035-1V4107_ZC1A0003"].read_errors == 3
    assert vdevs["nvme-INTEL_SSDPE2KX010T8_PHLJ0001-part1"].section == "logs"
    assert vdevs["nvme-INTEL_SSDPE2KX010T8_PHLJ0001-part2"].section == "cache"
    spare = vdevs["ata-ST4000NM0035-1V4107_ZC1A0007"]
    assert (spare.section, spare.state, spare.read_errors) == ("spares", "AVAIL", None)
    rpool = pools["rpool"]
    assert rpool.last_scrub_time == time.mktime((2026, 11, 9, 0, 27, 13, 0, 0, -1))
    assert (rpool.scan_errors, rpool.scan_repaired_bytes) == (0, 0)


def test_absent_module_and_no_pools_are_no_data(tmp_path):
    with pytest.raises(NoData, match="/dev/zfs"):
        collect("healthy", tmp_path / "a", dev=False)
    empty = tmp_path / "none" / "commands" / "zpool"
    empty.mkdir(parents=True)
    (empty / "status_-p").write_text("no pools available\n")
    root = tmp_path / "r"
    (root / "dev").mkdir(parents=True)
    (root / "dev" / "zfs").write_text("")
    host = Host(paths=HostPaths(rootfs=str(root)), runner=ReplayRunner(tmp_path / "none" / "commands"), clock=lambda: NOW)
    with pytest.raises(NoData, match="no ZFS pools"):
        ZfsCollector(host).collect()


def test_garbage_line_is_skipped_and_named():
    problems = []
    text = "  pool: p\n state: ONLINE\nconfig:\n\n\tNAME STATE READ WRITE CKSUM\n\tp ONLINE 0 0 0\n\t  sda WEIRD 0 0 0\n" \
           "\t  sdb ONLINE 0 0 0\n\nerrors: 2 data errors, use '-v' for a list\n"
    (pool, vdevs), = parse_status(text, problems.append)
    assert [v["name"] for v in vdevs] == ["sdb"] and "unparsable config line 'sda WEIRD 0 0 0'" in problems[0]


@pytest.mark.parametrize("line,want", [
    ("scrub repaired 0B in 00:00:01 with 0 errors on Sun Nov 30 00:24:02 2026", ("scrub", "finished", 0, 0)),
    ("resilvered 1.50G in 00:10:23 with 2 errors on Tue Dec  2 03:00:00 2025", ("resilver", "finished", 2, 1610612736)),
    ("scrub repaired 4096 in 1 days 02:00:00 with 1 errors on Sun Nov 30 00:24:02 2026", ("scrub", "finished", 1, 4096)),
    ("scrub canceled on Sun Nov 30 00:24:02 2026", ("scrub", "canceled", None, None)),
    ("none requested", (None, None, None, None)),
])
def test_scan_lines(line, want):
    s = parse_scan([line])
    assert (s["scan_kind"], s["scan_state"], s["scan_errors"], s["scan_repaired_bytes"]) == want
    assert parse_size("12345") == 12345 and parse_size("1K") == 1024 and parse_size("x") is None


def test_rules_on_the_degraded_pool(tmp_path):
    out = collect("degraded", tmp_path)
    got = {}
    for rid in ("storage.zfs_pool_state", "storage.zfs_device_faulted", "storage.zfs_device_errors",
                "storage.zfs_scrub_overdue", "storage.zfs_data_errors"):
        for f in rule(rid, out):
            got[(f.rule, f.device)] = (f.severity.label, f.runbook)
    assert got == {
        ("storage.zfs_pool_state", "tank"): ("critical", "disk-swap-zfs"),
        ("storage.zfs_device_faulted", "11442204584937617285"): ("critical", "disk-swap-zfs"),
        ("storage.zfs_device_errors", "ata-ST4000NM0035-1V4107_ZC1A0002"): ("critical", "disk-swap-zfs"),  # 14 >= 10
        ("storage.zfs_device_errors", "ata-ST4000NM0035-1V4107_ZC1A0003"): ("warning", None),
    }  # rpool scrubbed 22 days ago; tank's scrub is running: no overdue finding
    late = rule("storage.zfs_scrub_overdue", out, now=NOW + 20 * 86400)
    assert [(f.device, f.severity.label) for f in late] == [("rpool", "warning")]


def test_data_errors_and_never_scrubbed():
    bad = ZfsPool(pool="p", state="ONLINE", data_errors=2, scan_kind="scrub", scan_state="finished", scan_errors=5,
                  last_scrub_time=NOW)
    assert [(f.severity.label) for f in rule("storage.zfs_data_errors", [bad])] == ["critical"]
    found = ZfsPool(pool="p", state="ONLINE", data_errors=0, scan_kind="scrub", scan_state="finished", scan_errors=5)
    assert [(f.severity.label) for f in rule("storage.zfs_data_errors", [found])] == ["warning"]
    never = ZfsPool(pool="p", state="ONLINE")
    assert [(f.severity.label, f.fingerprint) for f in rule("storage.zfs_scrub_overdue", [never])] == [("info", "never")]
    faulted = ZfsPool(pool="p", state="SUSPENDED")
    assert [(f.severity.label, f.runbook) for f in rule("storage.zfs_pool_state", [faulted])] == [("critical", None)]


def test_metrics(tmp_path):
    out = collect("degraded", tmp_path)
    snap = Snapshot(time=NOW, boot_id="b", readings={"zfs": tuple(out)},
                    statuses={"zfs": CollectorStatus("zfs", ok=True)})
    s = collect_samples(snap)
    assert ({"pool": "tank", "state": "degraded"}, 1.0) in s["hwagent_zfs_pool_state"]
    assert ({"pool": "tank", "state": "online"}, 0.0) in s["hwagent_zfs_pool_state"]
    assert ({"pool": "tank", "vdev": "ata-ST4000NM0035-1V4107_ZC1A0002", "error": "checksum"}, 14) in \
        s["hwagent_zfs_vdev_errors_total"]
    assert ({"pool": "tank"}, 0.2183) in s["hwagent_zfs_pool_scan_progress_ratio"]
    assert ({"pool": "rpool"}, 1009317314560) in s["hwagent_zfs_pool_size_bytes"]


def test_pool_state_evidence_names_the_device_and_action(tmp_path):
    out = collect("degraded", tmp_path)
    (f,) = rule("storage.zfs_pool_state", out)
    assert f.evidence["devices"] == "11442204584937617285"  # the UNAVAIL leaf only, not the ONLINE ones
    assert f.evidence["action"] == "Replace the device using 'zpool replace'."
    status = ("One or more devices could not be used because the label is missing or invalid.  Sufficient replicas "
              "exist for the pool to continue functioning in a degraded state.")
    assert f.summary == f"ZFS pool tank is DEGRADED: 11442204584937617285 ({status[:160]})"  # bounded: 160 chars
    long = ZfsPool(pool="p", state="FAULTED", status_text="x" * 300, action_text="y" * 300)
    (g,) = rule("storage.zfs_pool_state", [long])
    assert g.summary == f"ZFS pool p is FAULTED ({'x' * 160})" and g.evidence["action"] == "y" * 200
