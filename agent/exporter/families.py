"""Readings and findings -> samples, one function per reading type. No I/O.

Each sampler receives the snapshot and an ``emit(name, labels, value)`` callable; the names must
be in the catalogue (the collector refuses unknown names, and a test checks every name here).
"""

from __future__ import annotations

import platform
from typing import Callable

from agent import __version__
from agent.model import (HostInventory, HwmonChip, HwmonSensor, Severity, Snapshot, SystemReading, ThermalZone,
                         ThrottleCounter)

Emit = Callable[[str, dict, float], None]

_HWMON_VALUE = {
    "temp": ("hwagent_hwmon_temperature_celsius", "hwagent_hwmon_temperature_limit_celsius"),
    "in": ("hwagent_hwmon_voltage_volts", "hwagent_hwmon_voltage_limit_volts"),
    "fan": ("hwagent_hwmon_fan_rpm", "hwagent_hwmon_fan_limit_rpm"),
    "curr": ("hwagent_hwmon_current_amperes", None),
    "power": ("hwagent_hwmon_power_watts", None),
    "energy": ("hwagent_hwmon_energy_joules_total", None),
    "humidity": ("hwagent_hwmon_humidity_ratio", None),
}


def core(snap: Snapshot, emit: Emit) -> None:
    emit("hwagent_build_info", {"version": __version__, "python": platform.python_version()}, 1)
    for name, st in snap.statuses.items():
        lab = {"collector": name}
        emit("hwagent_collector_success", lab, 1 if st.ok else 0)
        emit("hwagent_collector_present", lab, 0 if st.no_data else 1)
        emit("hwagent_collector_duration_seconds", lab, st.duration_seconds)
        if st.last_success is not None:
            emit("hwagent_collector_last_success_timestamp_seconds", lab, st.last_success)
        emit("hwagent_collector_skipped_entries", lab, st.skipped_entries)
    emit("hwagent_rule_errors", {}, len(snap.extras.get("rule_errors", ())))
    if "state_persistent" in snap.extras:
        emit("hwagent_state_store_persistent", {}, snap.extras["state_persistent"])


def component_label(component: str) -> str:
    return component.split(":", 1)[0]


def findings(snap: Snapshot, emit: Emit) -> None:
    worst: dict[tuple[str, str], Severity] = {}
    for c in snap.extras.get("components", ()):
        worst.setdefault(c, Severity.OK)
    for f in snap.findings:
        lab = {"rule": f.rule, "component": component_label(f.component), "device": f.device, "severity": f.severity.label}
        if f.key in snap.acked:
            emit("hwagent_finding_acknowledged", lab, 1)
            continue
        emit("hwagent_finding_active", lab, 1)
        key = (component_label(f.component), f.device if f.component.startswith(("disk", "pcie", "raid", "fs")) else "")
        worst[key] = max(worst.get(key, Severity.OK), f.severity)
    for (comp, dev), sev in sorted(worst.items()):
        state = "critical" if sev >= Severity.CRITICAL else "warning" if sev >= Severity.WARNING else "ok"
        for s in ("ok", "warning", "critical"):
            emit("hwagent_component_health", {"component": comp, "device": dev, "state": s}, 1 if s == state else 0)


def hwmon(snap: Snapshot, emit: Emit) -> None:
    for c in snap.of_type(HwmonChip):
        emit("hwagent_hwmon_chip_info", {"chip": c.chip, "chip_name": c.chip_name}, 1)
    for s in snap.of_type(HwmonSensor):
        lab = {"chip": s.chip, "sensor": s.sensor}
        if s.label:
            emit("hwagent_hwmon_sensor_info", {"chip": s.chip, "sensor": s.sensor, "label": s.label}, 1)
        names = _HWMON_VALUE.get(s.kind)
        if names:
            value_name, limit_name = names
            if s.value is not None:
                emit(value_name, lab, s.value)
            if limit_name:
                for limit in ("min", "max", "lcrit", "crit", "emergency", "target"):
                    v = getattr(s, limit)
                    if v is not None and not (s.kind == "fan" and limit in ("lcrit", "crit", "emergency")) \
                            and not (s.kind != "fan" and limit == "target"):
                        emit(limit_name, {**lab, "limit": limit}, v)
        if s.kind == "fan" and s.pwm is not None:
            emit("hwagent_hwmon_pwm_ratio", lab, max(0, min(255, s.pwm)) / 255.0)
        if s.alarm is not None:
            emit("hwagent_hwmon_alarm", lab, 1 if s.alarm else 0)
        if s.fault is not None:
            emit("hwagent_hwmon_fault", lab, 1 if s.fault else 0)


def thermal(snap: Snapshot, emit: Emit) -> None:
    for z in snap.of_type(ThermalZone):
        if z.temp_celsius is not None:
            emit("hwagent_thermal_zone_temperature_celsius", {"zone": z.zone, "zone_type": z.type}, z.temp_celsius)
    for t in snap.of_type(ThrottleCounter):
        lab = {"cpu": str(t.cpu), "scope": t.scope}
        emit("hwagent_cpu_throttles_total", lab, t.count)
        if t.total_time_seconds is not None:
            emit("hwagent_cpu_throttle_seconds_total", lab, t.total_time_seconds)


def system(snap: Snapshot, emit: Emit) -> None:
    for r in snap.of_type(SystemReading):
        emit("hwagent_boot_time_seconds", {}, r.boot_time_seconds)
        if r.memory_total_bytes is not None:
            emit("hwagent_memory_total_bytes", {}, r.memory_total_bytes)
        if r.memory_available_bytes is not None:
            emit("hwagent_memory_available_bytes", {}, r.memory_available_bytes)
        if r.hardware_corrupted_bytes is not None:
            emit("hwagent_memory_hardware_corrupted_bytes", {}, r.hardware_corrupted_bytes)
    for inv in snap.of_type(HostInventory):
        emit("hwagent_host_info", dict(inv.identity), 1)
        emit("hwagent_host_serial_info", dict(inv.serials), 1)


# Explicit sampler registry (order does not matter: output follows the catalogue).
from agent.exporter.families_disk import disk  # noqa: E402 - disk samplers live in their own module
from agent.exporter.families_platform import SAMPLERS as PLATFORM_SAMPLERS  # noqa: E402
from agent.exporter.families_kernel import SAMPLERS as KERNEL_SAMPLERS  # noqa: E402
from agent.exporter.families_storage import SAMPLERS as STORAGE_SAMPLERS  # noqa: E402

SAMPLERS: tuple[Callable[[Snapshot, Emit], None], ...] = (core, findings, hwmon, thermal, system, disk, *PLATFORM_SAMPLERS,
                                                         *STORAGE_SAMPLERS, *KERNEL_SAMPLERS)
