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
    M("hwagent_state_store_persistent", "gauge", "", "1 when acks, history and event cursors are stored on disk, 0 when the agent runs on an in-memory store (read-only or unusable state directory; see the agent.state_unavailable finding).", ),
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
    M("hwagent_host_info", "info", "", "Host inventory: board, BIOS, system and chassis from DMI and the CPU model; no serial numbers (join fleet views on it by instance).", "board_vendor", "board_name", "board_version", "bios_vendor", "bios_version", "bios_date", "system_vendor", "product_name", "product_version", "chassis_vendor", "chassis_type", "cpu_model", section="system"),
    M("hwagent_host_serial_info", "info", "", "Host serial numbers and product UUID from DMI (empty without root); a separate series so the operator can drop it at scrape time.", "board_serial", "product_serial", "chassis_serial", "product_uuid", section="system"),
    M("hwagent_boot_time_seconds", "gauge", "seconds", "Unix time the host booted.", section="system"),
    M("hwagent_memory_total_bytes", "gauge", "bytes", "Total usable memory (MemTotal).", section="system"),
    M("hwagent_memory_available_bytes", "gauge", "bytes", "Memory available for new work (MemAvailable).", section="system"),
    M("hwagent_memory_hardware_corrupted_bytes", "gauge", "bytes", "Memory the kernel took offline after hardware errors (meminfo HardwareCorrupted).", section="system"),
    # --- disk -----------------------------------------------------------------------------------------
    M("hwagent_disk_info", "info", "", "Disk identity (smartctl; refreshed every smart collector interval, 30 min by default); the only disk series with serial and WWN.", "device", "model", "serial", "wwn", "firmware", "interface", "by_id", section="disk"),
    M("hwagent_disk_identity_shared", "gauge", "", "1 for a disk that reports the same identity (WWN, or model and serial) as another disk of this host without being a second path to it (cloned VM disks, USB bridges, redacted serials): it is kept apart by device path, and its history follows the path.", "device", "identity", section="disk"),
    M("hwagent_disk_read_status", "gauge", "", "State set per disk of the last smartctl read: 1 for the current state (ok, standby, timeout, open_failed, permission_denied, parse_error, no_smartctl, error).", "device", "state", section="disk"),
    M("hwagent_disk_power_state", "gauge", "", "State set per disk: 1 for the power state seen at the last read (active, idle, standby, sleep, unknown); a sleeping disk is not woken.", "device", "state", section="disk"),
    M("hwagent_disk_last_success_timestamp_seconds", "gauge", "seconds", "Unix time of the last successful SMART read of the disk (kept across restarts).", "device", section="disk"),
    M("hwagent_disk_smartctl_exit_status", "gauge", "", "smartctl exit status bitmask of the last read (bit 3 failing, 4/5 attribute at threshold now/past, 6 error log, 7 self-test errors).", "device", section="disk"),
    M("hwagent_disk_smart_passed", "gauge", "", "1 if the drive's SMART overall-health self-assessment passed, 0 if it failed; absent when unknown (standby, unreadable).", "device", section="disk"),
    M("hwagent_disk_temperature_celsius", "gauge", "celsius", "Drive temperature (smartctl temperature.current; refreshed every smart interval).", "device", section="disk"),
    M("hwagent_disk_temperature_limit_celsius", "gauge", "celsius", "The drive's own temperature limits (limit: warning = NVMe WCTEMP, critical = NVMe CCTEMP / SCSI drive trip).", "device", "limit", section="disk"),
    M("hwagent_disk_power_on_seconds_total", "counter", "seconds", "Lifetime power-on time reported by the drive.", "device", section="disk"),
    M("hwagent_disk_power_cycles_total", "counter", "", "Lifetime power cycles reported by the drive.", "device", section="disk"),
    M("hwagent_disk_capacity_bytes", "gauge", "bytes", "User capacity of the drive (NVMe: sum of namespaces when no total is reported).", "device", section="disk"),
    M("hwagent_disk_reallocated_sectors", "gauge", "", "ATA attribute 5 Reallocated_Sector_Ct, decoded raw count.", "device", section="disk"),
    M("hwagent_disk_pending_sectors", "gauge", "", "ATA attribute 197 Current_Pending_Sector, decoded raw count (may fall after a rewrite).", "device", section="disk"),
    M("hwagent_disk_offline_uncorrectable_sectors", "gauge", "", "ATA attribute 198 Offline_Uncorrectable, decoded raw count.", "device", section="disk"),
    M("hwagent_disk_reported_uncorrectable_errors", "gauge", "", "ATA attribute 187 Reported_Uncorrect, decoded raw count.", "device", section="disk"),
    M("hwagent_disk_command_timeouts", "gauge", "", "ATA attribute 188 Command_Timeout, decoded raw count (Seagate: low 16 bits of the packed value).", "device", section="disk"),
    M("hwagent_disk_crc_errors", "gauge", "", "ATA attribute 199 UDMA_CRC_Error_Count: interface CRC errors (cable, backplane, controller).", "device", section="disk"),
    M("hwagent_disk_error_log_entries", "gauge", "", "Entries in the device error log (ATA error count; NVMe Error Information Log entries).", "device", section="disk"),
    M("hwagent_disk_baseline_growth", "gauge", "", "Growth of a lifetime disk counter since the baseline stored on first sight (counter: ata_5, ata_197, nvme_media_errors, scsi_grown_defects ...).", "device", "counter", section="disk"),
    M("hwagent_disk_selftest_running", "gauge", "", "1 while a self-test runs on the disk.", "device", section="disk"),
    M("hwagent_disk_selftest_last_passed", "gauge", "", "1 if the newest self-test in the drive's log passed, 0 if it failed (kind: short, extended ...).", "device", "kind", section="disk"),
    M("hwagent_disk_nvme_critical_warning", "gauge", "", "NVMe critical warning bits as a state set: 1 for each bit set now (spare_below_threshold, temperature_above_or_below_threshold, reliability_degraded, media_read_only, volatile_memory_backup_failed, persistent_memory_region_unreliable).", "device", "state", section="disk"),
    M("hwagent_disk_nvme_available_spare_ratio", "gauge", "ratio", "NVMe available spare (0-1).", "device", section="disk"),
    M("hwagent_disk_nvme_available_spare_threshold_ratio", "gauge", "ratio", "NVMe available spare threshold set by the drive (0-1).", "device", section="disk"),
    M("hwagent_disk_nvme_percentage_used_ratio", "gauge", "ratio", "NVMe endurance used (1 = rated endurance spent; may exceed 1).", "device", section="disk"),
    M("hwagent_disk_nvme_media_errors", "gauge", "", "NVMe media and data integrity errors (lifetime).", "device", section="disk"),
    M("hwagent_disk_nvme_unsafe_shutdowns_total", "counter", "", "NVMe unsafe shutdowns (lifetime).", "device", section="disk"),
    M("hwagent_disk_read_bytes_total", "counter", "bytes", "Bytes read over the drive's life (NVMe data units x 512,000).", "device", section="disk"),
    M("hwagent_disk_written_bytes_total", "counter", "bytes", "Bytes written over the drive's life (NVMe data units x 512,000).", "device", section="disk"),
    M("hwagent_disk_scsi_grown_defects", "gauge", "", "SCSI grown defect list entries.", "device", section="disk"),
    M("hwagent_disk_scsi_uncorrected_errors", "gauge", "", "SCSI total uncorrected errors per operation (read, write, verify).", "device", "operation", section="disk"),
    M("hwagent_smart_attribute_value", "gauge", "", "ATA SMART attribute normalized value (higher is better).", "device", "attribute_id", "attribute", section="disk"),
    M("hwagent_smart_attribute_worst", "gauge", "", "ATA SMART attribute worst normalized value seen.", "device", "attribute_id", "attribute", section="disk"),
    M("hwagent_smart_attribute_threshold", "gauge", "", "ATA SMART attribute failure threshold (0 = never fails).", "device", "attribute_id", "attribute", section="disk"),
    M("hwagent_smart_attribute_raw", "gauge", "", "ATA SMART attribute raw value as smartctl reports it (may be vendor-packed; the hwagent_disk_* families carry decoded counts).", "device", "attribute_id", "attribute", section="disk"),
    # --- platform counters: EDAC, AER, IPMI, md RAID, board verdict ------------------------------
    M("hwagent_memory_controller_info", "info", "", "EDAC memory controller identity: controller and the driver's name for it.", "controller", "mc_name", section="platform"),
    M("hwagent_memory_dimm_info", "info", "", "EDAC DIMM identity: slot (dimmN, rankN or csrowN_chM), board label and location.", "controller", "dimm", "label", "location", section="platform"),
    M("hwagent_memory_corrected_errors_total", "counter", "", "Corrected memory errors per DIMM (EDAC); dimm=\"unattributed\" holds ce_noinfo_count, so the sum over dimm is the controller's ce_count. Kernel counter: resets on reboot and EDAC driver reload.", "controller", "dimm", section="platform"),
    M("hwagent_memory_uncorrected_errors_total", "counter", "", "Uncorrected memory errors per DIMM (EDAC); dimm=\"unattributed\" holds ue_noinfo_count. Kernel counter: resets on reboot and EDAC driver reload.", "controller", "dimm", section="platform"),
    M("hwagent_memory_counters_age_seconds", "gauge", "seconds", "Seconds since the controller's EDAC counters were last reset (seconds_since_reset).", "controller", section="platform"),
    M("hwagent_pcie_device_info", "info", "", "AER-capable PCIe device: its upstream root port, vendor:device id and bound driver.", "device", "root_port", "vendor_device", "driver", section="platform"),
    M("hwagent_pcie_aer_errors_total", "counter", "", "PCIe AER error messages reported by the device (TOTAL_ERR_COR/NONFATAL/FATAL; severity correctable, nonfatal, fatal). Kernel counter: resets on reboot.", "device", "severity", section="platform"),
    M("hwagent_pcie_aer_errors_by_bit_total", "counter", "", "PCIe AER errors per error bit (RxErr, BadTLP, CmpltTO...; unnamed bits as bitN); a series appears once its bit counted. Kernel counter: resets on reboot.", "device", "severity", "error", section="platform"),
    M("hwagent_pcie_aer_rootport_errors_total", "counter", "", "PCIe AER error messages a root port received from the devices below it (aer_rootport_total_err_*). Kernel counter: resets on reboot.", "device", "severity", section="platform"),
    M("hwagent_ipmi_sensor_info", "info", "", "BMC sensor identity: kind (temperature, fan, voltage, current, power, percent, discrete, other), the BMC's unit text and entity.", "sensor", "kind", "unit", "entity", section="platform"),
    M("hwagent_ipmi_sensor_state", "gauge", "", "State set per BMC sensor: 1 for the current state (ok, nc non-critical, cr critical, nr non-recoverable, na no reading), 0 for the others; directions (lower/upper) are in the findings.", "sensor", "state", section="platform"),
    M("hwagent_ipmi_temperature_celsius", "gauge", "celsius", "BMC temperature sensor reading.", "sensor", section="platform"),
    M("hwagent_ipmi_temperature_threshold_celsius", "gauge", "celsius", "BMC temperature sensor thresholds (threshold: lnr, lcr, lnc, unc, ucr, unr).", "sensor", "threshold", section="platform"),
    M("hwagent_ipmi_fan_rpm", "gauge", "rpm", "BMC fan speed in revolutions per minute.", "sensor", section="platform"),
    M("hwagent_ipmi_fan_threshold_rpm", "gauge", "rpm", "BMC fan speed thresholds in revolutions per minute (threshold: lnr, lcr, lnc, unc, ucr, unr).", "sensor", "threshold", section="platform"),
    M("hwagent_ipmi_voltage_volts", "gauge", "volts", "BMC voltage sensor reading.", "sensor", section="platform"),
    M("hwagent_ipmi_voltage_threshold_volts", "gauge", "volts", "BMC voltage sensor thresholds (threshold: lnr, lcr, lnc, unc, ucr, unr).", "sensor", "threshold", section="platform"),
    M("hwagent_ipmi_current_amperes", "gauge", "amperes", "BMC current sensor reading.", "sensor", section="platform"),
    M("hwagent_ipmi_power_watts", "gauge", "watts", "BMC power sensor reading.", "sensor", section="platform"),
    M("hwagent_ipmi_sel_entries", "gauge", "", "Records in the BMC System Event Log at the last read (refreshed every ipmi collector interval, 60 s by default).", section="platform"),
    M("hwagent_ipmi_sel_free_bytes", "gauge", "bytes", "Free space in the BMC System Event Log (`ipmitool sel info`); a full SEL drops or overwrites new records.", section="platform"),
    M("hwagent_ipmi_sel_kept_records", "gauge", "", "Decoded SEL records the agent keeps for its rule windows, by decoded kind and severity.", "kind", "severity", section="platform"),
    M("hwagent_md_info", "info", "", "md RAID array identity: RAID level.", "device", "level", section="platform"),
    M("hwagent_md_state", "gauge", "", "State set per md array: 1 for the current array_state (clean, active, read_auto, readonly, inactive, broken, other), 0 for the others.", "device", "state", section="platform"),
    M("hwagent_md_disks", "gauge", "", "md array members by state (active in sync, failed, spare, missing).", "device", "state", section="platform"),
    M("hwagent_md_raid_disks", "gauge", "", "Members the md array is configured with (raid_disks).", "device", section="platform"),
    M("hwagent_md_degraded", "gauge", "", "Members missing from the md array (md/degraded); 0 when fully redundant.", "device", section="platform"),
    M("hwagent_md_sync_action", "gauge", "", "State set per md array: 1 for the running sync action (idle, resync, recover, check, repair, reshape, frozen).", "device", "state", section="platform"),
    M("hwagent_md_sync_completed_ratio", "gauge", "ratio", "Progress of the running md sync action (0-1); absent when idle.", "device", section="platform"),
    M("hwagent_board_health", "gauge", "", "Mainboard health score from correlated evidence, 0 (failing) to 1 (no evidence): 1 - points/100; see board.failing and the README.", section="platform"),
    M("hwagent_board_evidence_points", "gauge", "", "Evidence points per signal class behind hwagent_board_health (memory_spread, pcie_spread, multi_disk_io, power, vrm_temperature, resets, platform_errors, cmos_battery).", "signal", section="platform"),
    M("hwagent_restore_drill_last_run_timestamp_seconds", "gauge", "seconds", "When the last restore drill (agent recover restore-drill) finished, per restored path.", "path", section="backup"),
    M("hwagent_restore_drill_success", "gauge", "", "1 when the last restore drill restored the newest snapshot and it matched the snapshot listing (counts, sizes, sampled checksums), else 0.", "path", section="backup"),
    M("hwagent_restore_drill_snapshot_timestamp_seconds", "gauge", "seconds", "When the snapshot restored by the last drill was taken.", "path", section="backup"),
    M("hwagent_restore_drill_files", "gauge", "", "Regular files in the snapshot path the last drill restored and compared.", "path", section="backup"),
    M("hwagent_restore_drill_bytes", "gauge", "bytes", "Bytes in the regular files the last drill restored and compared.", "path", section="backup"),
    # --- storage pools: ZFS (zpool status -p / zpool get -Hp) -------------------------------------------
    M("hwagent_zfs_pool_state", "gauge", "", "State set per ZFS pool: 1 for its current state (online, degraded, faulted, offline, unavail, removed, suspended), 0 for the others.", "pool", "state", section="storage"),
    M("hwagent_zfs_pool_size_bytes", "gauge", "bytes", "ZFS pool size (zpool get size).", "pool", section="storage"),
    M("hwagent_zfs_pool_allocated_bytes", "gauge", "bytes", "ZFS pool space allocated.", "pool", section="storage"),
    M("hwagent_zfs_pool_free_bytes", "gauge", "bytes", "ZFS pool space free.", "pool", section="storage"),
    M("hwagent_zfs_pool_fragmentation_ratio", "gauge", "ratio", "ZFS pool free-space fragmentation (0-1).", "pool", section="storage"),
    M("hwagent_zfs_pool_last_scrub_timestamp_seconds", "gauge", "seconds", "Unix time the last scrub of the pool finished (local time as zpool prints it).", "pool", section="storage"),
    M("hwagent_zfs_pool_scan_errors", "gauge", "", "Errors the pool's last finished scrub or resilver found.", "pool", section="storage"),
    M("hwagent_zfs_pool_scan_progress_ratio", "gauge", "ratio", "Progress of the running scrub or resilver (0-1); absent when none runs.", "pool", section="storage"),
    M("hwagent_zfs_pool_data_errors", "gauge", "", "Permanent errors in files the pool lists (zpool status \"errors:\"); 0 = no known data errors.", "pool", section="storage"),
    M("hwagent_zfs_vdev_info", "info", "", "ZFS vdev identity: kind (disk, file, mirror, raidz1-3, draid, replacing, spare), section (data, logs, cache, spares, special, dedup) and parent vdev.", "pool", "vdev", "kind", "section", "parent", section="storage"),
    M("hwagent_zfs_vdev_state", "gauge", "", "State set per ZFS vdev: 1 for its current state (online, degraded, faulted, offline, unavail, removed, avail, inuse), 0 for the others.", "pool", "vdev", "state", section="storage"),
    M("hwagent_zfs_vdev_errors_total", "counter", "", "Read, write and checksum errors per ZFS vdev as zpool counts them (reset by zpool clear, export/import and reboot).", "pool", "vdev", "error", section="storage"),
    # --- kernel log: events from /dev/kmsg, journal, pstore ------------------------------------------
    M("hwagent_kernel_events_total", "counter", "", "Hardware events classified from the kernel log since the agent started (not since boot; records replayed from the ring buffer after a restart are not counted twice), by event class and severity. In a storm, repeats folded into one aggregate per class, device and minute are counted when that minute ends.", "class", "severity", section="kernel"),
    M("hwagent_kernel_log_records_total", "counter", "", "Kernel log records read since the agent started (/dev/kmsg records or journal entries).", section="kernel"),
    M("hwagent_kernel_log_records_lost_total", "counter", "", "Kernel log records the agent never saw since it started: /dev/kmsg sequence gaps (ring buffer overrun, EPIPE) and records overwritten while it was not running.", section="kernel"),
    M("hwagent_kernel_log_malformed_records_total", "counter", "", "Kernel log records skipped as unparseable since the agent started (garbage, truncated or over-long records).", section="kernel"),
    M("hwagent_kernel_log_backlog_events", "gauge", "", "Hardware events classified but not yet stored because the state database refused them (disk full, read-only); kept in memory up to a bound, the kernel-log cursor waits for them.", section="kernel"),
    M("hwagent_kernel_log_backlog_dropped_total", "counter", "", "Hardware events dropped since the agent started because the in-memory backlog was full (least severe and oldest first); still in the kernel ring buffer, they are re-read after a restart.", section="kernel"),
    M("hwagent_kernel_events_coalesced_total", "counter", "", "Kernel-log events folded into storm aggregates (beyond the first 8 per class, device and minute: one stored row with a count, first and last raw line) since the agent started.", section="kernel"),
    M("hwagent_kernel_event_last_timestamp_seconds", "gauge", "seconds", "Unix time of the newest hardware event of each class seen since the agent started.", "class", section="kernel"),
)

METRICS_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}

# metrics whose sample values change every cycle; goldens keep their HELP/TYPE but drop samples
VOLATILE = ("_duration_seconds", "_timestamp_seconds")


class UnknownMetric(KeyError):
    """A sampler emitted a metric name that is not in the catalogue."""
