"""Golden end-to-end: each host scenario through one daemon cycle, the code path `agent run` uses.

Per scenario in tests/fixtures/hosts/<name>/ (tree/, optional commands/, config.toml and state/):
one Daemon.run_once() with a frozen clock, a replay runner and a fresh store; the rendered
/metrics (normalised: volatile samples dropped, python version masked), findings.json and
status.txt are compared with expected/. The files of an optional state/ folder are copied into the
fresh state directory before the run: what the CLI leaves there between cycles (restore-drill.json
of `agent recover restore-drill`, in the format agent.cli.recover.write_drill_result writes).
`pytest --update-golden` rewrites them; review the diff.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from agent import schema as config_mod
from agent.cli.output import render_status
from agent.daemon import Daemon, host_from_config, snapshot_to_status
from agent.exporter.catalog import METRICS, METRICS_BY_NAME
from agent.exporter.collector import SnapshotCollector
from agent.state.store import Store
from tests.support.golden import check_golden
from tests.support.promtext import families, normalise
from tests.support.replay import ReplayRunner

HOSTS = Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
SCENARIOS = sorted(p.name for p in HOSTS.iterdir() if (p / "tree").is_dir())
FROZEN = 1_764_003_600.0


def run_scenario(name: str, tmp_path: Path):
    case = HOSTS / name
    cfg = config_mod.load(case / "config.toml") if (case / "config.toml").exists() else config_mod.defaults()
    cfg = cfg.replace(host={"root": str(case / "tree")}, state={"dir": str(tmp_path / "state")})
    if (case / "state").is_dir():  # files the CLI writes into the state directory (restore-drill.json)
        shutil.copytree(case / "state", cfg.state.dir, dirs_exist_ok=True)
    commands = case / "commands"
    runner = _Switch(ReplayRunner(commands, strict=commands.is_dir()))
    now = [FROZEN]
    store = Store.in_dir(cfg.state.dir, clock=lambda: now[0])
    daemon = Daemon(cfg, host_from_config(cfg, runner=runner, clock=lambda: now[0]), store, clock=lambda: now[0])
    snap = daemon.run_once()
    # commands.2/, commands.3/ ...: further cycles a day apart with those recordings (growth over time)
    for n in range(2, 10):
        more = case / f"commands.{n}"
        if not more.is_dir():
            break
        now[0] = FROZEN + (n - 1) * 86400.0
        runner.inner = ReplayRunner(more, strict=True)
        snap = daemon.run_once()
    acks = case / "acks.json"
    if acks.exists():  # acknowledged findings, as `agent ack` stores them, then one more cycle
        want = {tuple(a) for a in json.loads(acks.read_text())}
        for f in snap.findings:
            if f.key in want:
                store.ack(f.rule, f.subject, f.ack_token, "golden")
        snap = daemon.run_once()
    for c in daemon.collectors.values():
        c.close()
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snap))
    text = generate_latest(reg).decode()
    store.close()
    return snap, text


class _Switch:
    """A runner whose recordings can be swapped between cycles."""

    def __init__(self, inner):
        self.inner = inner

    def __call__(self, argv, timeout, env=None):
        return self.inner(argv, timeout, env)


def _mask(text: str) -> str:
    import re

    return re.sub(r'python="[^"]*"', 'python="X"', text)


def _status_text(snap) -> str:
    status = snapshot_to_status(snap)
    for c in status["collectors"].values():
        c["duration_seconds"] = 0.0
    return render_status(status) + "\n"


@pytest.mark.parametrize("name", SCENARIOS)
def test_golden(name, tmp_path, update_golden):
    snap, text = run_scenario(name, tmp_path)
    expected = HOSTS / name / "expected"
    check_golden(expected / "metrics.prom", _mask(normalise(text)), update_golden)
    findings = sorted((f.to_dict() for f in snap.findings), key=lambda f: (f["rule"], f["subject"]))
    check_golden(expected / "findings.json", json.dumps(findings, indent=2, sort_keys=True) + "\n", update_golden)
    check_golden(expected / "status.txt", _status_text(snap), update_golden)
    # every emitted family is catalogued with the same type
    for fam, typ in families(text).items():
        spec = METRICS_BY_NAME.get(fam)
        assert spec is not None, f"{fam} emitted but not in the catalogue"
        assert typ == {"info": "gauge", "counter": "counter", "gauge": "gauge"}[spec.type] or \
            (spec.type == "info" and typ == "info"), f"{fam}: type {typ} != {spec.type}"
    assert not snap.extras.get("rule_errors"), snap.extras.get("rule_errors")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian package prometheus)")
@pytest.mark.parametrize("name", SCENARIOS)
def test_promtool_lint(name, tmp_path):
    _snap, text = run_scenario(name, tmp_path)
    res = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and not res.stdout.strip() and not res.stderr.strip(), res.stdout + res.stderr


def test_expected_findings_of_the_named_scenarios(tmp_path):
    """The issue's 'done when': the right findings on the synthetic and captured trees."""
    want = {
        "synthetic-healthy": set(),
        "synthetic-fan-stopped": {("board.fan_stopped", "critical")},
        "synthetic-voltage": {("board.voltage_out_of_range", "warning"), ("board.cmos_battery_low", "critical")},
    }
    if (HOSTS / "lab-nvme-critical-warning" / "tree").is_dir():
        want["lab-nvme-critical-warning"] = {("board.sensor_alarm", "warning")}
        want["lab-healthy"] = set()
    for name, expected in want.items():
        snap, _ = run_scenario(name, tmp_path / name)
        if name.startswith("lab-"):  # the guest had a BMC: the ipmi collector reads it
            assert snap.statuses["ipmi"].ok and not snap.statuses["ipmi"].no_data, name
        got = {(f.rule, f.severity.label) for f in snap.findings if f.rule.startswith(("board.", "memory."))}
        assert expected <= got, (name, got)
        if not expected:
            assert not [f for f in snap.findings if f.rule.startswith("board.")], name


def test_failing_ata_and_platform_scenarios(tmp_path):
    """SMART FAILED with pending growth over two cycles; a platform host's EDAC storm, BMC and md."""
    snap, _ = run_scenario("synthetic-failing-ata", tmp_path / "ata")
    got = {(f.rule, f.device): (f.severity.label, f.runbook) for f in snap.findings}
    assert got[("disk.smart_failed", "sda")] == ("critical", "disk-swap-mdadm")
    assert got[("disk.pending_sectors", "sda")] == ("critical", "disk-swap-mdadm")  # grew 2 -> 6 in a day
    pend = next(f for f in snap.findings if f.rule == "disk.pending_sectors")
    assert pend.evidence["growth_critical_window"] == 4 and pend.evidence["count"] == 6
    assert got[("disk.scsi_uncorrected_errors", "sdb")][0] == "critical"
    snap, _ = run_scenario("synthetic-platform", tmp_path / "platform")
    got = {(f.rule, f.device): f.severity.label for f in snap.findings}
    assert got[("memory.ce_storm", "mc0/dimm0")] == "critical"
    assert got[("board.ipmi_sensor", "Fan1")] == "critical"
    assert got[("raid.degraded", "md1")] == "critical"
    assert got[("board.failing", "board")] == "critical"
    assert all(st.ok for st in snap.statuses.values() if not st.no_data)


def test_every_catalogued_metric_is_exercised():
    """Each catalogue entry appears in at least one golden metrics file (so its mapping is tested)."""
    seen = set()
    for p in HOSTS.glob("*/expected/metrics.prom"):
        for line in p.read_text().splitlines():
            if line.startswith("# TYPE "):
                seen.add(line.split()[2])
    missing = [m.name for m in METRICS if m.name not in seen]
    assert not missing, f"catalogued but in no golden: {missing}"


def test_cloned_disks_and_restore_drill(tmp_path):
    """Two disks with one model+serial, not multipath, are both read and flagged; a state/ drill result is read."""
    snap, text = run_scenario("synthetic-cloned-disks", tmp_path / "cloned")
    assert 'hwagent_disk_identity_shared{device="sda",identity="LabDisk_SATA_LABSATA0001"} 1.0' in text
    assert 'hwagent_disk_identity_shared{device="sdb",identity="LabDisk_SATA_LABSATA0001"} 1.0' in text
    assert snap.statuses["backup"].no_data  # no state/ folder: no drill
    snap, text = run_scenario("synthetic-platform", tmp_path / "platform")
    assert 'hwagent_restore_drill_success{path="/srv/www"} 1.0' in text
    assert 'hwagent_restore_drill_last_run_timestamp_seconds{path="/srv/www"} 1.7639546404e+09' in text  # 03:24 UTC
    # restic's snapshot time 2025-11-24T02:00:07.318204517+01:00 = 01:00:07.318 UTC
    assert 'hwagent_restore_drill_snapshot_timestamp_seconds{path="/srv/www"} 1.763946007318204e+09' in text
    assert not [f for f in snap.findings if f.rule == "backup.restore_drill"]  # 13.5 h old, passed
