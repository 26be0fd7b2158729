"""Boundary probes of the board verdict (board.failing, board.health): evidence with exact point totals.

Point sources used (agent/rules/board_verdict.py): a SEL CATERR 30 (platform_errors, cap 40), a SEL
bus error of warning severity 10 (platform_errors), a BMC voltage sensor at non-critical 10 (power),
a BMC VRM temperature at non-critical 8 (vrm_temperature), a low hwmon VBAT 10 (cmos_battery).
"""

from __future__ import annotations

from agent.model import HwmonSensor
from agent.model.platform import IpmiSelEntry, IpmiSensor

from .boundary_support import NOW, Probe

MB = "mainboard-swap"


def sel(kind: str, severity: str = "critical", age: float = 600.0, i: int = 1) -> IpmiSelEntry:
    return IpmiSelEntry(record_id=i, key=f"{kind}{i}", bmc_time="", time=NOW - age, time_source="bmc",
                        sensor_type="Processor", sensor=f"CPU{i}", event="IERR", asserted=True, detail="",
                        kind=kind, severity=severity)


def bmc_volts() -> IpmiSensor:
    return IpmiSensor(name="P12V", kind="voltage", value=11.2, unit="Volts", state="nc")


def bmc_vrm() -> IpmiSensor:
    return IpmiSensor(name="VRM1 Temp", kind="temperature", value=96.0, unit="degrees C", state="nc")


def vbat(v: float) -> HwmonSensor:
    return HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="in8", kind="in", label="VBAT", value=v)


# exact totals from the sources above (each list: 3 signal classes unless noted)
TOTALS = {
    28: lambda: [vbat(2.5), bmc_volts(), bmc_vrm()],                                  # 10 + 10 + 8
    30: lambda: [vbat(2.5), bmc_volts(), sel("bus_error", "warning")],                # 10 + 10 + 10
    58: lambda: [sel("caterr", i=1), sel("caterr", i=2), vbat(2.5), bmc_vrm()],        # 40 + 10 + 8
    60: lambda: [sel("caterr", i=1), sel("caterr", i=2), vbat(2.5), bmc_volts()],      # 40 + 10 + 10
}


def points(p: float) -> list:
    return TOTALS[int(p)]()


def classes(n: float) -> list:
    """65 points from 2 classes (platform 40 + SEL voltage 25), or 40 from platform errors alone."""
    base = [sel("caterr", i=1), sel("caterr", i=2)]
    return base + ([sel("voltage", i=3)] if n >= 2 else [])


PROBES = [
    Probe("board.failing", "warning_points", points, step=2, at=("warning", MB), below=(None, None)),
    Probe("board.failing", "critical_points", points, step=2, at=("critical", MB), below=("warning", MB)),
    Probe("board.failing", "min_signals", classes, at=("critical", MB), below=("warning", MB)),
    # a CATERR exactly window_seconds old still counts; one second older does not
    Probe("board.failing", "window_seconds", lambda age: [sel("caterr", age=age)], step=-1.0,
          at=("warning", MB), below=(None, None)),
    # VBAT at the level is no evidence; just below it adds the cmos_battery class (10 + 30 = 40 points)
    Probe("board.failing", "battery_warning_volts", lambda v: [vbat(v), sel("caterr"), sel("bus_error", "warning", i=2)],
          step=0.01, at=("warning", MB), below=("warning", MB)),
    Probe("board.health", "warning_points", points, step=2, at=(None, None), below=("info", None)),
    Probe("board.health", "min_signals", lambda n: [bmc_volts(), vbat(2.5)] if n >= 2 else [bmc_volts()],
          at=("info", None), below=(None, None)),
    Probe("board.health", "window_seconds", lambda age: [bmc_volts(), sel("bus_error", "warning", age=age)],
          step=-1.0, at=("info", None), below=(None, None)),
    Probe("board.health", "battery_warning_volts", lambda v: [vbat(v), bmc_volts()], step=0.01,
          at=(None, None), below=("info", None)),
]
