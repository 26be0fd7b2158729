"""Platform families: every catalogued platform metric is emitted from a full snapshot, with the
kernel's counter semantics and bounded label sets."""

from __future__ import annotations

from dataclasses import replace

from agent.exporter.catalog import METRICS
from agent.exporter.collector import build_families, collect_samples
from agent.model.platform import (AerCounters, EdacController, EdacDimm, IpmiSelEntry, IpmiSelInfo, IpmiSensor,
                                  MdArray, MdMember)
from tests.unit.platform.common import NOW, run_rule, snap


def full_snapshot():
    mc = EdacController("mc0", "Skylake Socket#0 IMC#0", 2**36, 12, 1, 2, 0, 7200)
    dimms = [EdacDimm("mc0", f"dimm{i}", "dimm", f"CPU_SrcID#0_MC#0_Chan#{i}_DIMM#0", f"channel {i} slot 0", str(i), 5, i % 2)
             for i in range(2)]
    rp = AerCounters("0000:00:01.0", "0000:00:01.0", True, {"RxErr": 0}, {"CmpltTO": 0}, {"SDES": 0}, 0, 0, 0, 3, 0, 0,
                     "1b36:000c", "pcieport")
    ep = AerCounters("0000:01:00.0", "0000:00:01.0", False, {"RxErr": 2, "BadTLP": 1, "Timeout": 0}, {"CmpltTO": 1},
                     {"SDES": 0}, 3, 1, 0, driver="nvme")
    sensors = [IpmiSensor("CPU1 Temp", "temperature", 97.0, "degrees C", "ucr", unc=85.0, ucr=95.0, unr=100.0),
               IpmiSensor("FAN1", "fan", 100.0, "RPM", "lnr", lnr=200.0, lcr=500.0),
               IpmiSensor("P12V", "voltage", 12.1, "Volts", "ok", lcr=10.8, ucr=13.2),
               IpmiSensor("PS1 Curr", "current", 1.2, "Amps", "ok"),
               IpmiSensor("PS1 Power", "power", 180.0, "Watts", "ok"),
               IpmiSensor("PS1 Status", "discrete", None, "discrete", "ok", detail="Presence detected")]
    sel = [IpmiSelInfo(5, 1, 1, 0, free_bytes=15000, overflow=False),
           IpmiSelEntry(5, "5", "", NOW - 60, "agent", "Power Supply", "PS1 Status", "Failure detected", True, "",
                        "psu_failure", "critical")]
    member = MdMember("md0", "sdb1", "1", ("faulty",), 3)
    md = MdArray("md0", "raid1", "clean", 2, 1, 1, 1, 0, "recover", 0.25, None, 0, 10**12,
                 (MdMember("md0", "sda1", "0", ("in_sync",), 0), member), "[U_]")
    return snap(mc, *dimms, rp, ep, *sensors, *sel, md)


def test_every_platform_metric_is_emitted():
    s = full_snapshot()
    findings = [f for rid in ("board.failing", "board.health") for f in run_rule(rid, s)]
    samples = collect_samples(replace(s, findings=tuple(findings)))
    platform = {m.name for m in METRICS if m.section == "platform"}
    assert platform - set(samples) == set()
    build_families(replace(s, findings=tuple(findings)))  # label sets match the catalogue


def test_counter_semantics_and_values():
    samples = collect_samples(full_snapshot())
    ce = {(lab["controller"], lab["dimm"]): v for lab, v in samples["hwagent_memory_corrected_errors_total"]}
    assert ce == {("mc0", "dimm0"): 5, ("mc0", "dimm1"): 5, ("mc0", "unattributed"): 2}
    assert sum(ce.values()) == 12  # the controller's ce_count
    aer = {(lab["device"], lab["severity"]): v for lab, v in samples["hwagent_pcie_aer_errors_total"]}
    assert aer[("0000:01:00.0", "correctable")] == 3 and aer[("0000:01:00.0", "nonfatal")] == 1
    bits = {(lab["device"], lab["error"]) for lab, _ in samples["hwagent_pcie_aer_errors_by_bit_total"]}
    assert bits == {("0000:01:00.0", "RxErr"), ("0000:01:00.0", "BadTLP"), ("0000:01:00.0", "CmpltTO")}  # only nonzero
    rp = {lab["severity"]: v for lab, v in samples["hwagent_pcie_aer_rootport_errors_total"]}
    assert rp == {"correctable": 3, "nonfatal": 0, "fatal": 0}
    md = {lab["state"]: v for lab, v in samples["hwagent_md_disks"]}
    assert md == {"active": 1, "failed": 1, "spare": 0, "missing": 1}
    assert ({"device": "md0", "state": "recover"}, 1.0) in samples["hwagent_md_sync_action"]
    assert samples["hwagent_md_sync_completed_ratio"] == [({"device": "md0"}, 0.25)]
    st = {(lab["sensor"], lab["state"]) for lab, v in samples["hwagent_ipmi_sensor_state"] if v}
    assert st == {("CPU1 Temp", "cr"), ("FAN1", "nr"), ("P12V", "ok"), ("PS1 Curr", "ok"), ("PS1 Power", "ok"),
                  ("PS1 Status", "ok")}
    text = "\n".join(f"{m.name}" for m in build_families(full_snapshot()))
    assert "hwagent_memory_corrected_errors" in text  # CounterMetricFamily: exposed as ..._total
