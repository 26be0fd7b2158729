"""The metric catalogue: every exported metric, once, with type, unit, help and labels.

Names are written only here. Tests hold the emitted output, the golden files and the README
metrics table against this list (every emitted family is catalogued with the same type and
help; every catalogued metric is exercised by some test scenario).

Types: ``gauge``, ``counter`` (name ends in ``_total``), ``info`` (name ends in ``_info``, value
1, identity in labels). State sets are gauges with a ``state`` label and 0/1 values.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str
    type: str  # gauge | counter | info
    unit: str  # celsius, volts, amperes, watts, joules, rpm, seconds, bytes, ratio, "" (count/state)
    help: str
    labels: tuple[str, ...]
    section: str = "core"  # README grouping / owning capability


def M(name: str, type_: str, unit: str, help_: str, *labels: str, section: str = "core") -> MetricSpec:
    return MetricSpec(name, type_, unit, help_, tuple(labels), section)


METRICS: tuple[MetricSpec, ...] = (
    # --- agent self-observation -------------------------------------------------------------
    M("hwagent_build_info", "info", "", "hwagent build: version and Python version.", "version", "python"),
    M("hwagent_collector_success", "gauge", "", "1 if the collector's last run succeeded (or found its subsystem absent), 0 if it failed.", "collector"),
    M("hwagent_collector_present", "gauge", "", "1 if the collector found its subsystem on this host, 0 if absent (no hwmon chips, no BMC...).", "collector"),
    M("hwagent_collector_duration_seconds", "gauge", "seconds", "Duration of the collector's last run.", "collector"),
    M("hwagent_collector_last_success_timestamp_seconds", "gauge", "seconds", "Unix time of the collector's last successful run.", "collector"),
    M("hwagent_collector_skipped_entries", "gauge", "", "Entries (sensors, devices, lines) the collector's last run skipped as unreadable or implausible.", "collector"),
    M("hwagent_rule_errors", "gauge", "", "Rules that raised an error in the last evaluation (see the agent log).", ),
    # --- findings and health ------------------------------------------------------------------
    M("hwagent_finding_active", "gauge", "", "1 for each active, unacknowledged finding; route alerts on rule, component and severity.", "rule", "component", "device", "severity"),
    M("hwagent_finding_acknowledged", "gauge", "", "1 for each finding silenced by `agent ack` (until its evidence changes).", "rule", "component", "device", "severity"),
    M("hwagent_component_health", "gauge", "", "State set per component and device: 1 for the current state (ok, warning, critical), 0 for the others.", "component", "device", "state"),
    # --- hwmon --------------------------------------------------------------------------------------
    M("hwagent_hwmon_chip_info", "info", "", "hwmon chip identity: stable chip id (from the parent device) and driver name.", "chip", "chip_name", section="hwmon"),
    M("hwagent_hwmon_sensor_info", "info", "", "hwmon sensor label as given by the chip driver.", "chip", "sensor", "label", section="hwmon"),
    M("hwagent_hwmon_temperature_celsius", "gauge", "celsius", "hwmon temperature reading.", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_temperature_limit_celsius", "gauge", "celsius", "hwmon temperature limits set by the chip (limit: min, max, lcrit, crit, emergency).", "chip", "sensor", "limit", section="hwmon"),
    M("hwagent_hwmon_voltage_volts", "gauge", "volts", "hwmon voltage reading.", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_voltage_limit_volts", "gauge", "volts", "hwmon voltage limits set by the chip (limit: min, max, lcrit, crit).", "chip", "sensor", "limit", section="hwmon"),
    M("hwagent_hwmon_fan_rpm", "gauge", "rpm", "hwmon fan speed in revolutions per minute.", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_fan_limit_rpm", "gauge", "rpm", "hwmon fan speed limits in revolutions per minute (limit: min, max, target).", "chip", "sensor", "limit", section="hwmon"),
    M("hwagent_hwmon_current_amperes", "gauge", "amperes", "hwmon current reading.", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_power_watts", "gauge", "watts", "hwmon power reading (input, or average where the chip has no input).", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_energy_joules_total", "counter", "joules", "hwmon energy counter.", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_humidity_ratio", "gauge", "ratio", "hwmon relative humidity (0-1).", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_pwm_ratio", "gauge", "ratio", "Fan PWM duty cycle (pwmN / 255).", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_alarm", "gauge", "", "1 if any alarm file of the sensor is set (<type>N_alarm or a per-limit alarm), else 0.", "chip", "sensor", section="hwmon"),
    M("hwagent_hwmon_fault", "gauge", "", "1 if the sensor reports a fault (reading untrustworthy), else 0.", "chip", "sensor", section="hwmon"),
    # --- thermal ------------------------------------------------------------------------------------
    M("hwagent_thermal_zone_temperature_celsius", "gauge", "celsius", "Thermal zone temperature.", "zone", "zone_type", section="thermal"),
    M("hwagent_cpu_throttles_total", "counter", "", "CPU thermal throttle events since boot (kernel counter; resets on reboot).", "cpu", "scope", section="thermal"),
    M("hwagent_cpu_throttle_seconds_total", "counter", "seconds", "Time CPUs spent thermally throttled since boot (kernel counter; resets on reboot).", "cpu", "scope", section="thermal"),
    # --- system -------------------------------------------------------------------------------------
    M("hwagent_boot_time_seconds", "gauge", "seconds", "Unix time the host booted.", section="system"),
    M("hwagent_memory_total_bytes", "gauge", "bytes", "Total usable memory (MemTotal).", section="system"),
    M("hwagent_memory_available_bytes", "gauge", "bytes", "Memory available for new work (MemAvailable).", section="system"),
    M("hwagent_memory_hardware_corrupted_bytes", "gauge", "bytes", "Memory the kernel took offline after hardware errors (meminfo HardwareCorrupted).", section="system"),
)

METRICS_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}

# metrics whose sample values change every cycle; goldens keep their HELP/TYPE but drop samples
VOLATILE = ("_duration_seconds", "_timestamp_seconds")
