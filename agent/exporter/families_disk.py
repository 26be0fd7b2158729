"""Disk samplers: SmartDevice readings -> samples of the ``hwagent_disk_*`` and
``hwagent_smart_attribute_*`` families. No I/O. Only ``hwagent_disk_info`` carries serial and WWN.

A device that could not be read this cycle keeps its info, read status, power state and last
success time, and emits no health values: nothing stale is exported as current.

:func:`disk` runs named phases per device: identity and state (always), then for a fresh reading
the health values, self-tests, the ATA attribute table and the NVMe or SCSI health page. Plain
"emit when known" values are tables of (family, reading field).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from agent.model import Snapshot
from agent.model.disk import NVME_WARNING_BITS, POWER_STATES, READ_STATES, NvmeHealth, ScsiHealth, SmartDevice

Emit = Callable[[str, dict, float], None]

_ATTR_FAMILIES = {5: "hwagent_disk_reallocated_sectors", 197: "hwagent_disk_pending_sectors",
                  198: "hwagent_disk_offline_uncorrectable_sectors", 187: "hwagent_disk_reported_uncorrectable_errors",
                  188: "hwagent_disk_command_timeouts", 199: "hwagent_disk_crc_errors"}

# state sets, emitted for every device (also one that could not be read): family, states, field
_STATE_SETS = (("hwagent_disk_read_status", READ_STATES, "read_status"),
               ("hwagent_disk_power_state", POWER_STATES, "power_state"))
# emitted when known, also for a device that could not be read this cycle
_KEPT_VALUES = (("hwagent_disk_last_success_timestamp_seconds", "last_success"),
                ("hwagent_disk_capacity_bytes", "capacity_bytes"))
# health values of a fresh reading, emitted when known
_HEALTH_VALUES = (("hwagent_disk_smartctl_exit_status", "exit_status"),
                  ("hwagent_disk_temperature_celsius", "temperature_celsius"),
                  ("hwagent_disk_power_on_seconds_total", "power_on_seconds"),
                  ("hwagent_disk_power_cycles_total", "power_cycles"))
_NVME_VALUES = (("hwagent_disk_nvme_available_spare_ratio", "available_spare_ratio"),
                ("hwagent_disk_nvme_available_spare_threshold_ratio", "available_spare_threshold_ratio"),
                ("hwagent_disk_nvme_percentage_used_ratio", "percentage_used_ratio"),
                ("hwagent_disk_nvme_media_errors", "media_errors"),
                ("hwagent_disk_nvme_unsafe_shutdowns_total", "unsafe_shutdowns"),
                ("hwagent_disk_read_bytes_total", "data_units_read_bytes"),
                ("hwagent_disk_written_bytes_total", "data_units_written_bytes"))
# the critical-warning bits above 5 are reserved (NVMe base spec, SMART / Health Information log, byte 0)
_NVME_WARNING_STATES = {bit: name for bit, name in NVME_WARNING_BITS.items() if bit < 6}
# ATA attribute table columns: family, AtaAttribute field
_ATTRIBUTE_COLUMNS = (("hwagent_smart_attribute_value", "value"), ("hwagent_smart_attribute_worst", "worst"),
                      ("hwagent_smart_attribute_threshold", "threshold"), ("hwagent_smart_attribute_raw", "raw"))


def _interface(d: SmartDevice) -> str:
    if d.protocol:
        return {"ATA": "ata", "NVMe": "nvme", "SCSI": "scsi"}.get(d.protocol, d.protocol.lower())
    return d.dev_type or "unknown"


def _known(emit: Emit, obj: Any, table: Iterable[tuple[str, str]], labels: dict) -> None:
    """Emit ``family`` = ``obj.field`` for each row of ``table`` whose value is known."""
    for name, attr in table:
        v = getattr(obj, attr)
        if v is not None:
            emit(name, labels, v)


def _labelled(emit: Emit, name: str, labels: dict, key: str, values: Iterable[tuple[str, float | None]]) -> None:
    """One series per known value, told apart by label ``key``."""
    for label, v in values:
        if v is not None:
            emit(name, {**labels, key: label}, v)


def _identity(d: SmartDevice, dev: dict, emit: Emit) -> None:
    emit("hwagent_disk_info", {"device": d.device, "model": d.model or "", "serial": d.serial or "",
                               "wwn": d.wwn or "", "firmware": d.firmware or "", "interface": _interface(d),
                               "by_id": d.by_id or ""}, 1)
    if d.shared_identity_path:
        emit("hwagent_disk_identity_shared", {"device": d.device, "identity": d.reported_id}, 1)
    for name, states, attr in _STATE_SETS:
        current = getattr(d, attr)
        for s in states:
            emit(name, {**dev, "state": s}, 1 if s == current else 0)
    _known(emit, d, _KEPT_VALUES, dev)


def _error_log_entries(d: SmartDevice) -> int | None:
    if d.ata_error_count is not None:
        return d.ata_error_count
    return d.nvme.num_err_log_entries if d.nvme else None


def _health(d: SmartDevice, dev: dict, emit: Emit) -> None:
    _known(emit, d, _HEALTH_VALUES, dev)
    if d.smart_passed is not None:
        emit("hwagent_disk_smart_passed", dev, 1 if d.smart_passed else 0)
    _labelled(emit, "hwagent_disk_temperature_limit_celsius", dev, "limit",
              (("warning", d.temperature_warning_celsius), ("critical", d.temperature_critical_celsius)))
    for aid, name in _ATTR_FAMILIES.items():
        a = d.attribute(aid)
        if a is not None and a.count is not None:
            emit(name, dev, a.count)
    errs = _error_log_entries(d)
    if errs is not None:
        emit("hwagent_disk_error_log_entries", dev, errs)
    _labelled(emit, "hwagent_disk_baseline_growth", dev, "counter",
              ((counter, d.growth(counter)) for counter in sorted(d.baseline)))


def _self_tests(d: SmartDevice, dev: dict, emit: Emit) -> None:
    emit("hwagent_disk_selftest_running", dev, 1 if d.selftest_running else 0)
    newest: dict[str, bool] = {}  # the log is newest first: the first result of a kind counts
    for t in d.self_tests:
        if t.passed is not None and t.kind not in newest:
            newest[t.kind] = t.passed
    for kind, passed in sorted(newest.items()):
        emit("hwagent_disk_selftest_last_passed", {**dev, "kind": kind}, 1 if passed else 0)


def _ata_attributes(d: SmartDevice, dev: dict, emit: Emit) -> None:
    for a in d.ata_attributes:
        _known(emit, a, _ATTRIBUTE_COLUMNS, {**dev, "attribute_id": str(a.id), "attribute": a.name})


def _nvme(n: NvmeHealth, dev: dict, emit: Emit) -> None:
    if n.critical_warning is not None:
        for bit, name in _NVME_WARNING_STATES.items():
            emit("hwagent_disk_nvme_critical_warning", {**dev, "state": name}, 1 if n.critical_warning & (1 << bit) else 0)
    _known(emit, n, _NVME_VALUES, dev)


def _scsi(s: ScsiHealth, dev: dict, emit: Emit) -> None:
    if s.grown_defects is not None:
        emit("hwagent_disk_scsi_grown_defects", dev, s.grown_defects)
    _labelled(emit, "hwagent_disk_scsi_uncorrected_errors", dev, "operation",
              (("read", s.read_uncorrected), ("write", s.write_uncorrected), ("verify", s.verify_uncorrected)))


def disk(snap: Snapshot, emit: Emit) -> None:
    for d in snap.of_type(SmartDevice):
        dev = {"device": d.device}
        _identity(d, dev, emit)
        if not d.fresh:
            continue  # nothing stale is exported as current
        _health(d, dev, emit)
        _self_tests(d, dev, emit)
        _ata_attributes(d, dev, emit)
        if d.nvme is not None:
            _nvme(d.nvme, dev, emit)
        if d.scsi is not None:
            _scsi(d.scsi, dev, emit)


SAMPLERS = (disk,)
