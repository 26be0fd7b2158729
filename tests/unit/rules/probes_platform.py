"""Boundary probes of the board (hwmon), memory (EDAC, meminfo) and PCIe (AER) rules."""

from __future__ import annotations

from agent.model import HwmonSensor, SystemReading, ThrottleCounter
from agent.model.platform import AerCounters, EdacController, EdacDimm
from agent.state.store import History, Store

from .boundary_support import BOOT, NOW, Probe

MEM = "memory-ecc-errors"


def temp(v: float, **kw) -> list:
    return [HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="temp1", kind="temp", label="SYSTIN",
                        value=v, **kw)]


def fan(v: float) -> list:
    return [HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="fan1", kind="fan", label=None,
                        value=v, pwm=128)]


def volts(v: float, label: str = "+12V") -> list:
    return [HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="in1", kind="in", label=label,
                        value=v)]


def system(uptime: float = 3600.0, corrupted: int | None = None) -> SystemReading:
    return SystemReading(boot_time_seconds=NOW - uptime, uptime_seconds=uptime, load1=None, load5=None, load15=None,
                         memory_total_bytes=None, memory_available_bytes=None, hardware_corrupted_bytes=corrupted,
                         cpu_count=None, kernel_release=None)


def dimm(ce: int, since_reset: float = 3600.0) -> list:
    return [EdacController(controller="mc0", mc_name="Skylake Socket#0 IMC#0", size_bytes=None, ce_count=ce,
                           ue_count=0, ce_noinfo_count=0, ue_noinfo_count=0, seconds_since_reset=int(since_reset)),
            EdacDimm(controller="mc0", dimm="dimm0", layout="dimm", label="CPU_SrcID#0_MC#0_Chan#0_DIMM#0",
                     location="channel 0 slot 0", channel="0", ce_count=ce, ue_count=0), system(since_reset)]


def controller(ce: int = 0, since_reset: float = 3600.0, noinfo: int = 0) -> list:
    return [EdacController(controller="mc0", mc_name=None, size_bytes=None, ce_count=ce, ue_count=0,
                           ce_noinfo_count=noinfo, ue_noinfo_count=0, seconds_since_reset=int(since_reset)),
            system(since_reset)]


def aer(cor: int, uptime: float = 3600.0, rootport: int | None = None) -> list:
    return [AerCounters(device="0000:00:1c.0", root_port="0000:00:1c.0", is_root_port=rootport is not None,
                        correctable={"RxErr": cor}, nonfatal={}, fatal={}, total_correctable=cor, total_nonfatal=0,
                        total_fatal=0, rootport_total_correctable=rootport), system(uptime)]


def throttled(events: float, age: float = 600.0):
    """Package throttle counter that grew by ``events`` ``age`` seconds ago (history in a store)."""
    store = Store.memory()
    key = "throttle:package:cpu0"
    store.record_samples(BOOT, NOW - age - 60, {key: 0.0})
    store.record_samples(BOOT, NOW - age, {key: float(events)})
    return ([ThrottleCounter(cpu=0, scope="package", count=int(events), total_time_seconds=None,
                             max_time_seconds=None)], History(store, NOW))


def zvdev(n: float) -> list:
    from agent.model.storage import ZfsVdev  # noqa: PLC0415

    return [ZfsVdev(pool="tank", name="ata-X_1", kind="disk", section="data", parent="mirror-0", state="ONLINE",
                    read_errors=0, write_errors=0, checksum_errors=int(n))]


def zpool_scrubbed(days: float) -> list:
    from agent.model.storage import ZfsPool  # noqa: PLC0415

    return [ZfsPool(pool="tank", state="ONLINE", scan_kind="scrub", scan_state="finished", scan_errors=0,
                    last_scrub_time=NOW - days * 86400.0)]


PROBES = [
    Probe("storage.zfs_device_errors", "warning", zvdev, at=("warning", None), below=(None, None)),
    Probe("storage.zfs_device_errors", "critical", zvdev, at=("critical", "disk-swap-zfs"), below=("warning", None)),
    Probe("storage.zfs_scrub_overdue", "warning_days", zpool_scrubbed, step=0.01, at=("warning", None),
          below=(None, None)),
    # chip limits: max 80 / crit 90; margin pulls both down
    Probe("board.temp_critical", "margin_celsius", lambda v: temp(v, max=80.0, crit=90.0), when_off=5.0, step=0.5,
          value_of=lambda m: 80.0 - m, at=("warning", None), below=(None, None)),
    Probe("board.temp_critical", "warning_celsius", temp, when_off=70.0, step=0.5, at=("warning", None),
          below=(None, None)),
    Probe("board.temp_critical", "critical_celsius", temp, when_off=95.0, step=0.5, at=("critical", None),
          below=(None, None)),
    # a driven fan (pwm 128) at or below stopped_rpm is stopped
    Probe("board.fan_stopped", "stopped_rpm", fan, when_off=200.0, step=-1.0, at=("critical", None),
          below=(None, None), off=(None, None)),
    # +12V without chip limits: deviation from nominal (12 V x (1 + ratio)); beyond = "below" by -step
    # (12 V x (1 + r) is not exact in binary floating point: the probe sits 1e-9 above the ratio)
    Probe("board.voltage_out_of_range", "tolerance_ratio", lambda r: volts(12.0 * (1 + r)), step=0.01,
          value_of=lambda r: r + 1e-9,
          at=("warning", "mainboard-swap"), below=(None, None)),
    Probe("board.voltage_out_of_range", "critical_tolerance_ratio", lambda r: volts(12.0 * (1 + r)), step=0.01,
          value_of=lambda r: r + 1e-9,
          at=("critical", "mainboard-swap"), below=("warning", "mainboard-swap")),
    # VBAT: *below* the level fires, so the value at the level is the quiet side
    Probe("board.cmos_battery_low", "warning_volts", lambda v: volts(v, "VBAT"), step=0.01,
          at=(None, None), below=("warning", None)),
    Probe("board.cmos_battery_low", "critical_volts", lambda v: volts(v, "VBAT"), step=0.01,
          at=("warning", None), below=("critical", None)),
    Probe("board.thermal_throttling", "warning_events", throttled, at=("warning", None), below=(None, None)),
    Probe("board.thermal_throttling", "critical_events", throttled, at=("critical", None), below=("warning", None)),
    # one event 600 s before the window's end vs. just outside it (history samples are windowed by time)
    Probe("board.thermal_throttling", "window_seconds", lambda age: throttled(5, age), step=-120.0,
          value_of=lambda w: w - 60.0, at=("warning", None), below=(None, None)),
    Probe("memory.hardware_corrupted", "critical_bytes", lambda b: [system(corrupted=int(b))], step=4096,
          at=("critical", MEM), below=("warning", MEM)),
    Probe("memory.ce_storm", "warning", dimm, at=("warning", MEM), below=(None, None)),
    Probe("memory.ce_storm", "critical", dimm, at=("critical", MEM), below=("warning", MEM)),
    # counters reset window seconds ago: every error counts; one second earlier: prorated below warning
    Probe("memory.ce_storm", "window_seconds", lambda s: dimm(10, s), step=-1.0, at=("warning", MEM),
          below=(None, None)),
    Probe("memory.controller_ce_storm", "warning", controller, at=("warning", MEM), below=(None, None)),
    Probe("memory.controller_ce_storm", "critical", controller, when_off=500, at=("critical", MEM),
          below=("warning", MEM)),
    Probe("memory.controller_ce_storm", "window_seconds", lambda s: controller(100, s), step=-1.0,
          at=("warning", MEM), below=(None, None)),
    Probe("memory.ce_noinfo", "warning", lambda n: controller(noinfo=int(n)), when_off=None,
          at=("warning", MEM), below=(None, None)),
    Probe("memory.ce_noinfo", "window_seconds", lambda s: controller(noinfo=1, since_reset=s), step=-1.0,
          value_of=lambda w: w, at=("warning", MEM), below=(None, None)),
    Probe("pcie.aer_correctable_rate", "warning", aer, at=("warning", None), below=(None, None)),
    Probe("pcie.aer_correctable_rate", "critical", aer, when_off=100, at=("critical", None),
          below=("warning", None)),
    Probe("pcie.aer_correctable_rate", "window_seconds", lambda s: aer(10, s), step=-1.0, at=("warning", None),
          below=(None, None)),
    Probe("pcie.aer_rootport_rate", "warning", lambda n: aer(0, rootport=int(n)), at=("warning", None),
          below=(None, None)),
    Probe("pcie.aer_rootport_rate", "window_seconds", lambda s: aer(0, s, rootport=50), step=-1.0,
          at=("warning", None), below=(None, None)),
]
