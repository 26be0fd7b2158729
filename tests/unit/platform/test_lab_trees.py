"""Platform collectors and rules over the captured lab host trees (tests/fixtures/hosts/lab-*).

The captures come from QEMU guests (see each scenario's SOURCE): a pcie-root-port with AER, an
ipmi_sim BMC where the scenario has one, no EDAC (QEMU emulates no memory controller) and no md
arrays. Scenarios that are not captured yet are skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.collectors.aer import AerCollector
from agent.collectors.base import run_collector
from agent.collectors.edac import EdacCollector
from agent.collectors.ipmi import IpmiCollector
from agent.collectors.mdraid import MdraidCollector
from agent.config import CollectorConfig
from agent.model.platform import AerCounters, IpmiSensor
from agent.rules import board_verdict, ipmi, pcie, platform, raid
from tests.support.replay import ReplayRunner
from tests.unit.platform.common import run_rule, snap

HOSTS = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
MY_RULES = [fn.meta.id for fam in (platform, pcie, raid, ipmi, board_verdict) for fn in fam.RULES]

# scenario -> {(rule, device, severity)} expected from the platform rules (others: none)
EXPECTED = {
    "lab-ipmi-overtemp": {("board.ipmi_sensor", "CPU1 Temp", "critical"), ("board.sel_event", "CPU1 Temp", "critical")},
    "lab-ipmi-fan-failure": {("board.ipmi_sensor", "Fan1", "critical"), ("board.sel_event", "Fan1", "critical")},
    "lab-aer-uncorrected": {("pcie.aer_uncorrectable", "0000:00:01.0", "warning")},
}


def scenarios():
    return sorted(p.name for p in HOSTS.glob("lab-*") if (p / "tree").is_dir())


def run_platform(make_host, case: Path):
    runner = ReplayRunner(case / "commands", strict=False)
    host = make_host(case / "tree", runner=runner)
    has_bmc = (case / "commands" / "ipmitool" / "sensor").exists()
    readings, statuses = [], {}
    for cls, opts in ((EdacCollector, {}), (AerCollector, {}), (MdraidCollector, {}),
                      (IpmiCollector, {"require_device": False} if has_bmc else {})):
        out, st = run_collector(cls(host, CollectorConfig(options=opts)), None)
        readings.extend(out)
        statuses[cls.name] = st
    return readings, statuses


def test_lab_trees_are_present():
    assert {"lab-healthy", "lab-nvme-critical-warning"} <= set(scenarios())


@pytest.mark.parametrize("name", scenarios())
def test_lab_tree(make_host, name):
    case = HOSTS / name
    readings, st = run_platform(make_host, case)
    assert all(s.ok for s in st.values()), {n: s.error for n, s in st.items() if not s.ok}
    assert st["edac"].no_data and st["mdraid"].no_data  # QEMU: no memory controller, no arrays
    aer = [r for r in readings if isinstance(r, AerCounters)]
    assert aer and all(a.root_port == "0000:00:01.0" for a in aer)  # the guest's pcie-root-port
    rp = next(a for a in aer if a.device == "0000:00:01.0")
    assert rp.is_root_port and set(rp.correctable) >= {"RxErr", "BadTLP", "Timeout", "HeaderOF"}
    if (case / "commands" / "ipmitool" / "sensor").exists():
        assert {s.name for s in readings if isinstance(s, IpmiSensor)} >= {"CPU1 Temp", "Fan1"}
    s = snap(*readings, uptime=600.0)
    got = set()
    for rid in MY_RULES:
        for f in run_rule(rid, s):
            got.add((f.rule, f.device, f.severity.label))
    assert got == EXPECTED.get(name, set())
