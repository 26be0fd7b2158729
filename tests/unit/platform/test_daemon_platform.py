"""The platform collectors through the real daemon cycle: history samples, windowed rules, the
board verdict and the exported families, over two cycles with a growing counter."""

from __future__ import annotations

from pathlib import Path

from agent.collectors.aer import AerCollector
from agent.collectors.edac import EdacCollector
from agent.collectors.ipmi import IpmiCollector
from agent.collectors.mdraid import MdraidCollector
from agent.collectors.system import SystemCollector
from agent.schema import from_mapping
from agent.daemon import Daemon
from agent.exporter.collector import collect_samples
from agent.host import Host, HostPaths
from agent.state.store import Store
from tests.unit.platform.common import LabReplay
from tests.unit.platform.test_edac_aer import edac_skx, pci_dev

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "platform"
T0 = 1_764_003_600.0


def test_two_cycles(fakesys, tmp_path):
    fakesys.proc_basics()
    edac_skx(fakesys, 0, [(0, 0, 4, 0), (1, 0, 3, 0), (2, 0, 0, 0)], ce=7)
    pci_dev(fakesys, "pci0000:00/0000:00:01.0", rootport=(7, 0, 0))
    pci_dev(fakesys, "pci0000:00/0000:00:01.0/0000:01:00.0", cor={0: 4})
    pci_dev(fakesys, "pci0000:00/0000:00:01.0/0000:01:00.1", cor={6: 3})
    fakesys.write("proc/mdstat", (FIX / "mdstat" / "raid1-degraded").read_text())
    fakesys.write("dev/ipmi0", "")
    now = [T0]
    host = Host(paths=HostPaths(rootfs=str(fakesys.root)), runner=LabReplay(FIX / "ipmi" / "qemu-fan-failure" / "commands"),
                clock=lambda: now[0])
    store = Store(tmp_path / "state.db", clock=lambda: now[0])
    d = Daemon(from_mapping({}), host, store, clock=lambda: now[0],
               collector_classes=(SystemCollector, EdacCollector, AerCollector, MdraidCollector, IpmiCollector))
    snap1 = d.run_once()
    assert all(st.ok and not st.no_data for st in snap1.statuses.values()), snap1.statuses
    rules1 = {(f.rule, f.device, f.severity.label) for f in snap1.findings}
    assert ("raid.degraded", "md2", "critical") in rules1 and ("raid.member_failed", "sdb3", "critical") in rules1
    assert ("board.ipmi_sensor", "Fan1", "critical") in rules1
    assert ("memory.ce_storm", "mc0/dimm0", "warning") not in rules1  # 4 < 10 per 24 h
    board = next(f for f in snap1.findings if f.rule == "board.failing")
    assert board.severity.label == "critical"  # CEs over 2 channels + AER on 2 devices behind one port
    assert board.evidence["signals"] == "memory_spread,pcie_spread"
    s1 = collect_samples(snap1)
    assert s1["hwagent_board_health"] == [({}, 0.4)]
    ce = {lab["dimm"]: v for lab, v in s1["hwagent_memory_corrected_errors_total"]}
    assert ce == {"dimm0": 4, "dimm1": 3, "dimm2": 0, "unattributed": 0}
    assert ({"device": "md2"}, 1.0) in s1["hwagent_md_degraded"]
    assert ({"sensor": "Fan1", "state": "nr"}, 1.0) in s1["hwagent_ipmi_sensor_state"]

    # ten minutes later dimm0 has 12 more errors: a storm by the history's delta
    now[0] = T0 + 600
    fakesys.write("sys/devices/system/edac/mc/mc0/dimm0/dimm_ce_count", "16\n")
    fakesys.write("sys/devices/system/edac/mc/mc0/ce_count", "19\n")
    fakesys.write("sys/devices/system/edac/mc/mc0/seconds_since_reset", str(7200 + 600) + "\n")
    snap2 = d.run_once()
    storm = [f for f in snap2.findings if f.rule == "memory.ce_storm"]
    assert [(f.device, f.evidence["errors_in_window"]) for f in storm] == [("mc0/dimm0", 16)]
    assert store.samples("edac.ce:mc0/dimm0")[-1][2] == 16.0
    # the SEL records were read once: the second cycle found nothing new
    info = [r for r in snap2.readings["ipmi"] if type(r).__name__ == "IpmiSelInfo"][0]
    assert (info.entries, info.new_entries) == (3, 0)
