"""The board verdict: scenarios of one failing part (no verdict) versus correlated evidence."""

from __future__ import annotations

import pytest

from agent.exporter.collector import collect_samples
from agent.model import HwmonSensor, Severity
from agent.model.platform import AerCounters, EdacController, EdacDimm, IpmiSelEntry, IpmiSensor
from agent.state.store import Store
from tests.unit.platform.common import NOW, run_rule, snap

H = 3600.0


def mc(ce=0, noinfo=0, name="mc0"):
    return EdacController(controller=name, mc_name=None, size_bytes=None, ce_count=ce, ue_count=0,
                          ce_noinfo_count=noinfo, ue_noinfo_count=0, seconds_since_reset=int(2 * H))


def dimm(i, ce, chan):
    return EdacDimm(controller="mc0", dimm=f"dimm{i}", layout="dimm", label=f"CPU_SrcID#0_MC#0_Chan#{chan}_DIMM#{i % 2}",
                    location=f"channel {chan} slot {i % 2}", channel=str(chan), ce_count=ce, ue_count=0)


def aer(dev, root, cor=0):
    return AerCounters(device=dev, root_port=root, is_root_port=dev == root, correctable={"RxErr": cor}, nonfatal={},
                       fatal={}, total_correctable=cor, total_nonfatal=0, total_fatal=0)


def ipmi_volt(name, value, state):
    return IpmiSensor(name=name, kind="voltage", value=value, unit="Volts", state=state, lcr=11.1, ucr=12.9)


def sel(rid, kind, sev, sensor="#0x01", stype="Processor", event="IERR"):
    return IpmiSelEntry(record_id=rid, key=str(rid), bmc_time="", time=NOW - H, time_source="agent", sensor_type=stype,
                        sensor=sensor, event=event, asserted=True, detail="", kind=kind, severity=sev)


def vbat(v):
    return HwmonSensor(chip="platform_nct6775_2592", chip_name="nct6775", sensor="in8", kind="in", label="VBAT", value=v)


@pytest.fixture
def store():
    s = Store.memory()
    yield s
    s.close()


def verdict(store, *readings, **params):
    s = snap(*readings, uptime=2 * H)
    fail = run_rule("board.failing", s, store, **params)
    info = run_rule("board.health", s, store, **params)
    return fail, info


def test_one_dimm_storm_is_not_the_board(store):
    fail, info = verdict(store, mc(ce=500), dimm(0, 500, 0), dimm(1, 0, 1))
    assert fail == [] and info == []


def test_one_device_aer_is_not_the_board(store):
    fail, info = verdict(store, aer("0000:00:01.0", "0000:00:01.0"), aer("0000:01:00.0", "0000:00:01.0", cor=900))
    assert fail == [] and info == []


def test_ce_spread_over_channels_warns(store):
    fail, _ = verdict(store, mc(ce=30), dimm(0, 10, 0), dimm(1, 10, 1), dimm(2, 10, 2))
    (f,) = fail
    assert f.severity == Severity.WARNING and f.runbook == "mainboard-swap"
    assert f.evidence["points_memory_spread"] == 30 and f.evidence["health"] == 0.7
    assert "across channels 0,1,2" in f.evidence["memory_spread"]


def test_weak_evidence(store):
    # CEs on two DIMMs of one channel (15) alone: left to memory.* rules
    assert verdict(store, mc(ce=20), dimm(0, 10, 0), dimm(1, 10, 0)) == ([], [])
    # ... together with a low CMOS battery (10): two classes, below 30 points -> info
    fail, info = verdict(store, mc(ce=20), dimm(0, 10, 0), dimm(1, 10, 0), vbat(2.5))
    assert fail == [] and [(i.severity, i.evidence["health"], i.evidence["signals"]) for i in info] == [
        (Severity.INFO, 0.75, "cmos_battery,memory_spread")]


def test_correlated_signals_are_critical(store):
    # CEs over channels (30) + AER on two devices behind one root port (30) + a 12 V rail critical (25)
    readings = [mc(ce=30, noinfo=2), dimm(0, 10, 0), dimm(1, 10, 1),
                aer("0000:00:01.0", "0000:00:01.0"), aer("0000:01:00.0", "0000:00:01.0", cor=5),
                aer("0000:02:00.0", "0000:00:01.0", cor=3), ipmi_volt("P12V", 10.7, "lcr")]
    (f,) = verdict(store, *readings)[0]
    assert f.severity == Severity.CRITICAL
    assert f.evidence["signals"] == "memory_spread,pcie_spread,power"
    assert f.evidence["points"] == 40 + 30 + 25 and f.evidence["health"] == pytest.approx(0.05)
    assert "0000:01:00.0" in f.evidence["pcie_spread"] and "P12V" in f.evidence["power"]


def test_points_need_several_classes_for_critical(store):
    # CATERR + PCI SERR (capped at 40 in one class): warning, not critical
    (f,) = verdict(store, sel(1, "caterr", "critical"), sel(2, "bus_error", "critical", stype="Critical Interrupt",
                                                             event="PCI SERR"))[0]
    assert f.severity == Severity.WARNING and f.evidence["points"] == 40
    assert run_rule("board.failing", snap(sel(1, "caterr", "critical"), sel(2, "bus_error", "critical")), store,
                    critical_points=40, min_signals=1)[0].severity == Severity.CRITICAL


def test_resets_with_power_anomaly_correlate(store):
    assert verdict(store, sel(5, "watchdog", "warning", stype="Watchdog2", event="Hard reset")) == ([], [])
    (f,) = verdict(store, sel(5, "watchdog", "warning", stype="Watchdog2", event="Hard reset"),
                   ipmi_volt("P12V", 12.5, "unc"), vbat(2.4))[0]
    assert f.evidence["points_resets"] == 30 and f.evidence["points_power"] == 10
    assert f.evidence["points_cmos_battery"] == 10 and f.severity == Severity.WARNING


def test_old_and_deasserted_sel_do_not_count(store):
    old = IpmiSelEntry(record_id=1, key="1", bmc_time="", time=NOW - 30 * 86400, time_source="bmc",
                       sensor_type="Processor", sensor="#0x01", event="IERR", asserted=True, detail="", kind="caterr",
                       severity="critical")
    assert verdict(store, old) == ([], [])


def test_kernel_event_window_multi_disk(store):
    from agent.model.events import BootRecord, EventWindow
    w = EventWindow(as_of=NOW, window_seconds=86400.0, current_boot="b2",
                    buckets=(("ata.error", "disk:sda", "sda", "b2", NOW - 600, 3, 3),
                             ("block.io_error", "disk:sdb", "sdb", "b2", NOW - 300, 2, 2),
                             ("nvme.timeout", "disk:nvme0", "nvme0", "b2", NOW - 200, 1, 1),
                             ("mce.corrected", "cpu", "cpu0", "b2", NOW - 100, 1, 1)),
                    boots=(BootRecord("b1", NOW - 5 * 86400, NOW - 3 * H, None), BootRecord("b2", NOW - 2 * H, NOW, None)))
    s = snap(w, ipmi_volt("P12V", 10.7, "lcr"), boot="b2", uptime=2 * H)
    (f,) = run_rule("board.failing", s, store)
    assert f.evidence["points_multi_disk_io"] == 35 and "nvme0, sda, sdb" in f.evidence["multi_disk_io"]
    assert f.evidence["points_resets"] == 30  # an unclean previous boot together with a rail out of range
    assert f.severity == Severity.CRITICAL


def test_board_health_metric(store):
    s = snap(mc(ce=30), dimm(0, 10, 0), dimm(1, 10, 1), dimm(2, 10, 2), uptime=2 * H)
    findings = run_rule("board.failing", s, store)
    from dataclasses import replace
    samples = collect_samples(replace(s, findings=tuple(findings)))
    assert samples["hwagent_board_health"] == [({}, 0.7)]
    pts = {lab["signal"]: v for lab, v in samples["hwagent_board_evidence_points"]}
    assert pts["memory_spread"] == 30 and pts["power"] == 0
    healthy = collect_samples(snap(uptime=H))
    assert healthy["hwagent_board_health"] == [({}, 1.0)]
