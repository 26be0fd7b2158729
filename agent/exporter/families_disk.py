"""Disk samplers: SmartDevice readings -> samples of the ``hwagent_disk_*`` and
``hwagent_smart_attribute_*`` families. No I/O. Only ``hwagent_disk_info`` carries serial and WWN.

A device that could not be read this cycle keeps its info, read status, power state and last
success time, and emits no health values: nothing stale is exported as current.
"""

from __future__ import annotations

from typing import Callable

from agent.model import Snapshot
from agent.model.disk import NVME_WARNING_BITS, POWER_STATES, READ_STATES, SmartDevice

Emit = Callable[[str, dict, float], None]

_ATTR_FAMILIES = {5: "hwagent_disk_reallocated_sectors", 197: "hwagent_disk_pending_sectors",
                  198: "hwagent_disk_offline_uncorrectable_sectors", 187: "hwagent_disk_reported_uncorrectable_errors",
                  188: "hwagent_disk_command_timeouts", 199: "hwagent_disk_crc_errors"}


def _interface(d: SmartDevice) -> str:
    if d.protocol:
        return {"ATA": "ata", "NVMe": "nvme", "SCSI": "scsi"}.get(d.protocol, d.protocol.lower())
    return d.dev_type or "unknown"


def disk(snap: Snapshot, emit: Emit) -> None:
    for d in snap.of_type(SmartDevice):
        dev = {"device": d.device}
        emit("hwagent_disk_info", {"device": d.device, "model": d.model or "", "serial": d.serial or "",
                                   "wwn": d.wwn or "", "firmware": d.firmware or "", "interface": _interface(d),
                                   "by_id": d.by_id or ""}, 1)
        if d.shared_identity_path:
            emit("hwagent_disk_identity_shared", {"device": d.device, "identity": d.reported_id}, 1)
        for s in READ_STATES:
            emit("hwagent_disk_read_status", {**dev, "state": s}, 1 if s == d.read_status else 0)
        for s in POWER_STATES:
            emit("hwagent_disk_power_state", {**dev, "state": s}, 1 if s == d.power_state else 0)
        if d.last_success is not None:
            emit("hwagent_disk_last_success_timestamp_seconds", dev, d.last_success)
        if d.capacity_bytes is not None:
            emit("hwagent_disk_capacity_bytes", dev, d.capacity_bytes)
        if not d.fresh:
            continue
        if d.exit_status is not None:
            emit("hwagent_disk_smartctl_exit_status", dev, d.exit_status)
        if d.smart_passed is not None:
            emit("hwagent_disk_smart_passed", dev, 1 if d.smart_passed else 0)
        if d.temperature_celsius is not None:
            emit("hwagent_disk_temperature_celsius", dev, d.temperature_celsius)
        for limit, v in (("warning", d.temperature_warning_celsius), ("critical", d.temperature_critical_celsius)):
            if v is not None:
                emit("hwagent_disk_temperature_limit_celsius", {**dev, "limit": limit}, v)
        if d.power_on_seconds is not None:
            emit("hwagent_disk_power_on_seconds_total", dev, d.power_on_seconds)
        if d.power_cycles is not None:
            emit("hwagent_disk_power_cycles_total", dev, d.power_cycles)
        for aid, name in _ATTR_FAMILIES.items():
            a = d.attribute(aid)
            if a is not None and a.count is not None:
                emit(name, dev, a.count)
        errs = d.ata_error_count if d.ata_error_count is not None else (d.nvme.num_err_log_entries if d.nvme else None)
        if errs is not None:
            emit("hwagent_disk_error_log_entries", dev, errs)
        for counter in sorted(d.baseline):
            g = d.growth(counter)
            if g is not None:
                emit("hwagent_disk_baseline_growth", {**dev, "counter": counter}, g)
        emit("hwagent_disk_selftest_running", dev, 1 if d.selftest_running else 0)
        newest: dict[str, bool] = {}
        for t in d.self_tests:
            if t.passed is not None and t.kind not in newest:
                newest[t.kind] = t.passed
        for kind, passed in sorted(newest.items()):
            emit("hwagent_disk_selftest_last_passed", {**dev, "kind": kind}, 1 if passed else 0)
        for a in d.ata_attributes:
            lab = {**dev, "attribute_id": str(a.id), "attribute": a.name}
            if a.value is not None:
                emit("hwagent_smart_attribute_value", lab, a.value)
            if a.worst is not None:
                emit("hwagent_smart_attribute_worst", lab, a.worst)
            if a.threshold is not None:
                emit("hwagent_smart_attribute_threshold", lab, a.threshold)
            if a.raw is not None:
                emit("hwagent_smart_attribute_raw", lab, a.raw)
        n = d.nvme
        if n is not None:
            if n.critical_warning is not None:
                for bit, name in NVME_WARNING_BITS.items():
                    if bit < 6:
                        emit("hwagent_disk_nvme_critical_warning", {**dev, "state": name},
                             1 if n.critical_warning & (1 << bit) else 0)
            for name, v in (("hwagent_disk_nvme_available_spare_ratio", n.available_spare_ratio),
                            ("hwagent_disk_nvme_available_spare_threshold_ratio", n.available_spare_threshold_ratio),
                            ("hwagent_disk_nvme_percentage_used_ratio", n.percentage_used_ratio),
                            ("hwagent_disk_nvme_media_errors", n.media_errors),
                            ("hwagent_disk_nvme_unsafe_shutdowns_total", n.unsafe_shutdowns),
                            ("hwagent_disk_read_bytes_total", n.data_units_read_bytes),
                            ("hwagent_disk_written_bytes_total", n.data_units_written_bytes)):
                if v is not None:
                    emit(name, dev, v)
        sc = d.scsi
        if sc is not None:
            if sc.grown_defects is not None:
                emit("hwagent_disk_scsi_grown_defects", dev, sc.grown_defects)
            for op, v in (("read", sc.read_uncorrected), ("write", sc.write_uncorrected), ("verify", sc.verify_uncorrected)):
                if v is not None:
                    emit("hwagent_disk_scsi_uncorrected_errors", {**dev, "operation": op}, v)


SAMPLERS = (disk,)
