"""Disk readings: SMART/NVMe/SCSI health of one device, as read through smartctl.

Every value is in base units (celsius, seconds, bytes, ratio 0-1); optional fields are ``None``
when the drive or the smartctl version does not report them, never 0. A :class:`SmartDevice` is
produced for every device the collector knows on every run, also when it could not be read: then
``read_status`` says why (``standby``, ``timeout``, ``open_failed`` ...) and every health field is
``None``, so a stale value is never served as the current one. ``last_success`` is the time of the
last good read (kept in the state store across restarts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping

from agent.model import Reading

# read_status values (exported as a 0/1 state set, so this list is part of the metrics API)
READ_STATES = (
    "ok",  # data read this cycle
    "standby",  # skipped: the disk sleeps and was not woken (`-n standby`)
    "timeout",  # smartctl did not answer within the per-call timeout and was killed
    "open_failed",  # smartctl could not open the device (vanished, wrong -d type) (exit bit 1)
    "permission_denied",  # not root / no CAP_SYS_RAWIO (CAP_SYS_ADMIN for NVMe)
    "parse_error",  # garbage or truncated output
    "no_smartctl",  # the smartctl executable is missing
    "error",  # any other failure (message says which)
)

POWER_STATES = ("active", "idle", "standby", "sleep", "unknown")

# smartctl exit status bits (smartctl(8) RETURN VALUES)
EXIT_BITS = {
    0: "command_line",  # command line did not parse
    1: "open_failed",  # device open failed, IDENTIFY failed, or skipped in low-power mode (-n)
    2: "smart_command_failed",  # a SMART or other ATA command failed, or a checksum error
    3: "disk_failing",  # SMART status check returned "DISK FAILING" / NVMe critical warning
    4: "prefail_below_threshold",  # a prefail attribute is at or below its threshold now
    5: "attribute_below_threshold_past",  # some attribute was at or below its threshold in the past
    6: "error_log_has_records",  # the device error log contains records of errors
    7: "selftest_log_has_errors",  # the self-test log contains records of errors
}

# NVMe health log 02h byte 0: bit -> key (as smartctl names it in smart_status.nvme)
NVME_WARNING_BITS = {
    0: "spare_below_threshold",
    1: "temperature_above_or_below_threshold",
    2: "reliability_degraded",
    3: "media_read_only",
    4: "volatile_memory_backup_failed",
    5: "persistent_memory_region_unreliable",
    6: "reserved_bit6",
    7: "reserved_bit7",
}


def is_seagate(model: str | None, family: str | None = None, vendor: str | None = None) -> bool:
    """Seagate drives pack several counters into some raw values (1, 7, 188, 195)."""
    for s in (model, family, vendor):
        if s and "seagate" in s.lower():
            return True
    return bool(model and re.match(r"^ST\d", model))


def decode_exit_status(status: int | None) -> tuple[str, ...]:
    """Names of the bits set in a smartctl exit status (``216`` -> disk_failing, ...)."""
    if status is None or status < 0:
        return ()
    return tuple(name for bit, name in EXIT_BITS.items() if status & (1 << bit))


def decode_nvme_warning(value: int | None) -> tuple[str, ...]:
    if not value or value < 0:
        return ()
    return tuple(name for bit, name in NVME_WARNING_BITS.items() if value & (1 << bit))


@dataclass(frozen=True, slots=True)
class AtaAttribute:
    id: int  # attribute id (judge by id, never by name: names vary by drive database)
    name: str  # smartctl's drive-database name, e.g. "Reallocated_Sector_Ct"
    value: int | None  # normalized value (1-253, higher is better)
    worst: int | None
    threshold: int | None  # 0 = never fails
    raw: int | None  # smartctl's raw.value as reported (may be a vendor-packed 48-bit value)
    raw_string: str  # smartctl's raw.string, e.g. "34 (Min/Max 20/45)", "12345h+34m+56.789s"
    count: int | None  # decoded count the rules judge (packed values unpacked); None if not a count
    prefailure: bool = False  # "Pre-fail" flag: at/below threshold means imminent failure
    when_failed: str = ""  # "" | "now" | "past"


@dataclass(frozen=True, slots=True)
class SelfTest:
    kind: str  # "short", "extended", "conveyance", "offline", "selective", "vendor"... as smartctl reports
    status: str  # smartctl's text, e.g. "Completed without error", "Completed: read failure"
    passed: bool | None  # None while running / unknown
    result: int | None  # result code (ATA high nibble, NVMe/SCSI result value); 15 = running
    lifetime_hours: int | None  # power-on hours when the test ran
    lba: int | None = None  # first failing LBA if any


@dataclass(frozen=True, slots=True)
class NvmeHealth:
    critical_warning: int | None  # byte 0 of log 02h; see NVME_WARNING_BITS. Current state, not sticky
    available_spare_ratio: float | None  # 0-1
    available_spare_threshold_ratio: float | None  # 0-1 (None when reserved: 101-255 %)
    percentage_used_ratio: float | None  # endurance used, may exceed 1 (cap 2.55)
    media_errors: int | None  # unrecovered data integrity errors (lifetime)
    num_err_log_entries: int | None  # Error Information Log entries (lifetime; large on healthy drives)
    unsafe_shutdowns: int | None
    data_units_read_bytes: int | None  # data units x 512,000 bytes
    data_units_written_bytes: int | None
    power_cycles: int | None
    warning_temp_time_seconds: float | None  # time above WCTEMP
    critical_comp_time_seconds: float | None  # time above CCTEMP
    temperature_sensors_celsius: tuple[float, ...] = ()

    @property
    def warning_bits(self) -> tuple[str, ...]:
        return decode_nvme_warning(self.critical_warning)


@dataclass(frozen=True, slots=True)
class ScsiHealth:
    grown_defects: int | None  # scsi_grown_defect_list (growth = media decay)
    read_uncorrected: int | None  # scsi_error_counter_log.read.total_uncorrected_errors
    write_uncorrected: int | None
    verify_uncorrected: int | None
    read_corrected: int | None  # total_errors_corrected
    write_corrected: int | None
    verify_corrected: int | None
    health_text: str | None = None  # "OK" or the ASC/ASCQ text smartctl printed

    @property
    def uncorrected_total(self) -> int | None:
        vals = [v for v in (self.read_uncorrected, self.write_uncorrected, self.verify_uncorrected) if v is not None]
        return sum(vals) if vals else None


@dataclass(frozen=True, slots=True)
class SmartDevice(Reading):
    """One disk as smartctl sees it this cycle (fresh data, or an empty reading with the reason)."""

    device: str  # current operator-facing name: "sda", "nvme0", "bus_0_megaraid_1"
    path: str  # what smartctl opens: "/dev/sda", "/dev/bus/0"
    dev_type: str  # smartctl -d type: "sat", "nvme", "scsi", "megaraid,1", "" = autodetect
    protocol: str  # "ATA" | "NVMe" | "SCSI" | "" (unknown)
    read_status: str  # one of READ_STATES
    message: str | None = None  # why a read failed / what was rejected, naming the device
    power_state: str = "unknown"  # one of POWER_STATES
    read_time: float | None = None  # unix time of this reading's data (None: no data this cycle)
    last_success: float | None = None  # unix time of the last successful read (survives restarts)
    backend: str = "json"  # json | pysmart | text
    exit_status: int | None = None  # smartctl exit status (bitmask)
    # identity
    model: str | None = None
    serial: str | None = None
    wwn: str | None = None  # "0x5000c500a1b2c3d4" (NAA+OUI+ID) or NVMe EUI-64 "eui.0025388b91b3a5c1"
    firmware: str | None = None
    model_family: str | None = None
    vendor: str | None = None  # SCSI vendor
    by_id: str | None = None  # preferred /dev/disk/by-id name
    capacity_bytes: int | None = None
    rotation_rate_rpm: int | None = None  # 0 = SSD
    # verdict
    smart_available: bool | None = None
    smart_enabled: bool | None = None
    smart_passed: bool | None = None  # None = unknown (never "failed" by default)
    # common values
    temperature_celsius: float | None = None
    temperature_warning_celsius: float | None = None  # the drive's own limits (NVMe WCTEMP, ...)
    temperature_critical_celsius: float | None = None  # (NVMe CCTEMP, SCSI drive trip)
    power_on_seconds: float | None = None
    power_cycles: int | None = None
    # per protocol
    ata_attributes: tuple[AtaAttribute, ...] = ()
    ata_error_count: int | None = None  # ATA error log entries (summary or extended count)
    self_tests: tuple[SelfTest, ...] = ()  # newest first
    selftest_running: bool = False
    selftest_remaining_ratio: float | None = None
    selftest_minutes: Mapping[str, int] = field(default_factory=dict)  # "short"/"extended" -> polling minutes
    nvme: NvmeHealth | None = None
    scsi: ScsiHealth | None = None
    # stored baseline of lifetime counters ("growing since the baseline"), counter -> value
    baseline: Mapping[str, float] = field(default_factory=dict)
    baseline_since: float | None = None  # when the first baseline value was stored
    # recent change points of those counters, counter -> ((unix time, value), ...) oldest first; the
    # first point is the value at the start of the longest window (see state/disks.py)
    history: Mapping[str, tuple[tuple[float, float], ...]] = field(default_factory=dict)
    rejected: tuple[str, ...] = ()  # implausible values dropped, each naming field and value
    # set when another disk of this host reports the same identity and it is not a second path to the same
    # disk (cloned VM disks, USB bridges, redacted serials): the identity is qualified by this device path
    shared_identity_path: str = ""
    # the slot the disk sits in (/dev/disk/by-path name or controller target) and the disk it replaced there
    slot: str | None = None
    replaced_serial: str | None = None
    replaced_model: str | None = None
    replaced_id: str | None = None
    replaced_time: float | None = None  # unix time the swap was first seen (None: no swap recorded)
    # derived once per reading (the rules ask for them many times per cycle): not part of equality
    _counters: Mapping[str, float] | None = field(default=None, init=False, repr=False, compare=False)
    _stable_id: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = self._identity()
        object.__setattr__(self, "_stable_id", f"{base}@{self.shared_identity_path}" if self.shared_identity_path else base)
        object.__setattr__(self, "_counters", self._count())

    @property
    def stable_id(self) -> str:
        """Identity that survives renames: WWN, else model+serial, else the device path; an identity
        that several disks share is qualified by the device path (``...@/dev/sdb``)."""
        return self._stable_id  # type: ignore[return-value]

    @property
    def reported_id(self) -> str:
        """The identity as the disk reports it (WWN, else model+serial, else the device path)."""
        return self._identity()

    def _identity(self) -> str:
        if self.wwn:
            return self.wwn
        if self.serial:
            return f"{self.model or 'unknown'}_{self.serial}".replace(" ", "_")
        return f"path:{self.path}{'#' + self.dev_type if self.dev_type else ''}"

    @property
    def component(self) -> str:
        return f"disk:{self.stable_id}"

    @property
    def fresh(self) -> bool:
        return self.read_status == "ok"

    @property
    def exit_bits(self) -> tuple[str, ...]:
        return decode_exit_status(self.exit_status)

    def attribute(self, attr_id: int) -> AtaAttribute | None:
        for a in self.ata_attributes:
            if a.id == attr_id:
                return a
        return None

    def counters(self) -> dict[str, float]:
        """Lifetime counters the rules track for growth (name -> value); only fresh, known values."""
        return dict(self._counters)  # type: ignore[arg-type]

    def counter(self, name: str) -> float | None:
        """One of :meth:`counters` without copying them."""
        return self._counters.get(name)  # type: ignore[union-attr]

    def _count(self) -> dict[str, float]:
        if self.read_status != "ok":
            return {}
        out: dict[str, float] = {}
        for aid in TRACKED_ATTRIBUTES:
            a = self.attribute(aid)
            if a is not None and a.count is not None:
                out[f"ata_{aid}"] = float(a.count)
        if self.nvme is not None:
            for key in ("media_errors", "num_err_log_entries", "unsafe_shutdowns"):
                v = getattr(self.nvme, key)
                if v is not None:
                    out[f"nvme_{key}"] = float(v)
        if self.scsi is not None:
            if self.scsi.grown_defects is not None:
                out["scsi_grown_defects"] = float(self.scsi.grown_defects)
            if self.scsi.uncorrected_total is not None:
                out["scsi_uncorrected"] = float(self.scsi.uncorrected_total)
        if self.ata_error_count is not None:
            out["ata_error_count"] = float(self.ata_error_count)
        return out

    def growth(self, counter: str) -> float | None:
        """Growth of a lifetime counter since the stored baseline (None: no baseline or no value)."""
        cur = self.counter(counter)
        base = self.baseline.get(counter)
        if cur is None or base is None:
            return None
        return cur - base

    def value_at(self, counter: str, t: float) -> float | None:
        """The counter's stored value at time ``t`` (the first stored value if history starts later)."""
        pts = self.history.get(counter)
        if not pts:
            return self.baseline.get(counter)
        val = pts[0][1]
        for ts, v in pts:
            if ts > t:
                break
            val = v
        return val

    def growth_within(self, counter: str, window: float, now: float) -> float | None:
        """Growth of a lifetime counter within the last ``window`` seconds (never negative);
        None without a value or history. Since the first reading when the history is shorter."""
        cur = self.counter(counter)
        start = self.value_at(counter, now - window)
        if cur is None or start is None:
            return None
        return max(0.0, cur - start)

    def max_within(self, counter: str, window: float, now: float) -> float | None:
        """Highest value of the counter within the last ``window`` seconds (current included)."""
        cur = self.counter(counter)
        if cur is None:
            return None
        vals = [v for ts, v in self.history.get(counter, ()) if ts >= now - window]
        start = self.value_at(counter, now - window)
        return max([cur, *vals, *([start] if start is not None else [])])


# ATA attributes whose raw count is tracked against the baseline
TRACKED_ATTRIBUTES = (5, 10, 184, 187, 188, 196, 197, 198, 199)


@dataclass(frozen=True, slots=True)
class SelfTestPlan(Reading):
    """A self-test the collector started (or refused to start) this cycle."""

    device: str
    stable_id: str
    kind: str  # "short" | "long"
    started: bool
    reason: str  # "scheduled", "standby: skipped", "already running", "smartctl rc=4 ..."
    time: float


__all__ = [
    "READ_STATES", "POWER_STATES", "EXIT_BITS", "NVME_WARNING_BITS", "TRACKED_ATTRIBUTES",
    "decode_exit_status", "decode_nvme_warning", "is_seagate",
    "AtaAttribute", "SelfTest", "NvmeHealth", "ScsiHealth", "SmartDevice", "SelfTestPlan",
]
