"""Each signal class of the board verdict counts at most its cap (agent/rules/board_verdict.py
SIGNALS): a storm in one class cannot make a mainboard verdict on its own, however loud it is.

Every case below gives one class more raw points than its cap (plus nothing else), so the
finding's points equal the cap exactly; one point more or less in the table changes the result.
"""

from __future__ import annotations

import pytest

from agent.model import HwmonSensor
from agent.model.platform import AerCounters, IpmiSelEntry, IpmiSensor
from agent.store import Store
from tests.unit.platform.common import NOW, run_rule, snap

H = 3600.0


def aer(dev, root, cor=0):
    return AerCounters(device=dev, root_port=root, is_root_port=dev == root, correctable={"RxErr": cor}, nonfatal={},
                       fatal={}, total_correctable=cor, total_nonfatal=0, total_fatal=0)


def sel(rid, kind, sensor, stype, event, sev="critical"):
    return IpmiSelEntry(record_id=rid, key=str(rid), bmc_time="", time=NOW - H, time_source="agent", sensor_type=stype,
                        sensor=sensor, event=event, asserted=True, detail="", kind=kind, severity=sev)


CASES = {
    # two devices behind 00:01.0 (30) and errors under a second root port (20) = 50
    "pcie_spread": [aer("0000:00:01.0", "0000:00:01.0"), aer("0000:01:00.0", "0000:00:01.0", cor=4),
                    aer("0000:01:00.1", "0000:00:01.0", cor=2), aer("0000:00:1c.0", "0000:00:1c.0"),
                    aer("0000:02:00.0", "0000:00:1c.0", cor=1)],
    # a 12 V rail below its critical limit at the BMC (25) and an SEL voltage event (25) = 50
    "power": [IpmiSensor(name="P12V", kind="voltage", value=10.7, unit="Volts", state="lcr", lcr=11.1, ucr=12.9),
              sel(1, "voltage", "P12V", "Voltage", "Lower Critical going low")],
    # a VRM temperature at the BMC over its critical limit (15) and its SEL record (15) = 30
    "vrm_temperature": [IpmiSensor(name="CPU1 VRM Temp", kind="temperature", value=112.0, unit="degrees C", state="ucr"),
                        sel(2, "temperature", "CPU1 VRM Temp", "Temperature", "Upper Critical going high")],
    # a low VBAT at the BMC (10) and an SEL battery-low record (10) = 20
    "cmos_battery": [IpmiSensor(name="VBAT", kind="voltage", value=2.4, unit="Volts", state="lcr"),
                     sel(3, "battery", "VBAT", "Battery", "Low")],
    # CATERR (30) and a critical PCI SERR (30) = 60
    "platform_errors": [sel(4, "caterr", "CPU0", "Processor", "IERR"),
                        sel(5, "bus_error", "PCI", "Critical Interrupt", "PCI SERR")],
}


# the caps docs/design/platform.md states; written out here, not read from the module
CAPS = {"pcie_spread": 40, "power": 30, "vrm_temperature": 15, "cmos_battery": 10, "platform_errors": 40}


@pytest.mark.parametrize("signal", sorted(CASES))
def test_one_class_counts_at_most_its_cap(signal):
    store = Store.memory()
    try:
        s = snap(*CASES[signal], uptime=2 * H)
        cap = CAPS[signal]
        failing = run_rule("board.failing", s, store)
        if cap >= 30:  # a cap at or above warning_points: a warning, never critical from one class
            (f,) = failing
            assert f.severity.label == "warning"
        else:  # below warning_points, and one class alone is not board.health either
            assert failing == [] and run_rule("board.health", s, store) == []
            (f,) = run_rule("board.failing", s, store, warning_points=cap)
        assert f.evidence["signals"] == signal
        assert f.evidence["points"] == cap and f.evidence[f"points_{signal}"] == cap
        assert f.evidence["health"] == round(1 - cap / 100, 3)
    finally:
        store.close()

