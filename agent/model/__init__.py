"""Typed readings, collector status, snapshots and findings.

Readings are frozen, slotted dataclasses; every numeric field is in base units (celsius, volts,
amperes, watts, seconds, bytes) and optional kernel fields are ``None`` when absent, never 0.
Families of readings that belong to one subsystem live in submodules (``agent.model.disk``,
``agent.model.platform``); the core types live here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping, TypeVar

__all__ = [
    "Severity", "Reading", "CollectorStatus", "Snapshot", "Finding",
    "HwmonSensor", "HwmonChip", "ThermalZone", "ThrottleCounter", "SystemReading", "HostInventory", "BoardEpoch",
]


class Severity(enum.IntEnum):
    OK = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (info, warning, critical)") from None


class Reading:
    """Marker base class for all typed readings."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class HwmonChip(Reading):
    chip: str  # stable id from the parent device path, e.g. "platform_coretemp_0", "pci0000:00_0000:00:18_3"
    chip_name: str  # the driver's "name" file, e.g. "coretemp", "nct6775", "nvme"
    path: str  # machine path of the hwmonN directory (changes across boots; for humans only)


@dataclass(frozen=True, slots=True)
class HwmonSensor(Reading):
    chip: str
    chip_name: str
    sensor: str  # "temp1", "fan2", "in0", "curr1", "power1", "intrusion0"
    kind: str  # temp | fan | in | curr | power | energy | humidity | intrusion
    label: str | None  # the chip's label file, e.g. "Package id 0", "Vcore"
    value: float | None  # base unit: celsius, rpm, volts, amperes, watts, joules, ratio
    min: float | None = None
    max: float | None = None
    lcrit: float | None = None
    crit: float | None = None
    emergency: float | None = None
    alarm: bool | None = None  # any alarm file set (<type>N_alarm or a per-limit *_alarm)
    alarms: tuple[str, ...] = ()  # names of the alarm files that are set: "alarm", "crit_alarm" ...
    fault: bool | None = None
    pwm: int | None = None  # for fans: pwmN (0-255) of the same index when present
    target: float | None = None

    @property
    def subject(self) -> str:
        return f"{self.chip}/{self.sensor}"

    @property
    def display(self) -> str:
        return f"{self.chip_name} {self.label or self.sensor}"


@dataclass(frozen=True, slots=True)
class ThermalZone(Reading):
    zone: str  # "thermal_zone0"
    type: str  # "x86_pkg_temp", "acpitz"
    temp_celsius: float | None
    trip_points: tuple[tuple[str, float], ...] = ()  # (trip type, celsius): ("critical", 105.0)


@dataclass(frozen=True, slots=True)
class ThrottleCounter(Reading):
    cpu: int
    scope: str  # "core" | "package"
    count: int  # events since boot (kernel counter, resets on reboot)
    total_time_seconds: float | None
    max_time_seconds: float | None


@dataclass(frozen=True, slots=True)
class SystemReading(Reading):
    boot_time_seconds: float  # unix time
    uptime_seconds: float
    load1: float | None
    load5: float | None
    load15: float | None
    memory_total_bytes: int | None
    memory_available_bytes: int | None
    hardware_corrupted_bytes: int | None  # /proc/meminfo HardwareCorrupted (poisoned pages)
    cpu_count: int | None
    kernel_release: str | None


@dataclass(frozen=True, slots=True)
class HostInventory(Reading):
    """Host identity from DMI (/sys/class/dmi/id) and /proc/cpuinfo; values are "" when unknown.

    ``identity`` holds the model fields (safe as labels across a fleet); ``serials`` the per-unit
    fields (serial numbers, product UUID), exported in their own ``_info`` series only.
    """

    identity: tuple[tuple[str, str], ...]
    serials: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BoardEpoch(Reading):
    """Since when the running board (DMI board serial and product UUID) carries this host, attached
    by the state layer to the system collector's readings. Board-scoped rules (cpu, memory, pcie,
    board: :data:`agent.rules.base.BOARD_SCOPED_FAMILIES`) count no evidence from before: the
    errors of a replaced board are that board's, not the new one's. ``since`` is 0.0 until a
    board change is seen (every window counts in full)."""

    since: float  # unix time: the boot of the first run on this board; 0.0 = no change seen
    board: str  # the identity the epoch belongs to ("serial/uuid")
    previous: str = ""  # the identity before the change, "" when none was seen


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    name: str
    ok: bool
    no_data: bool = False  # the subsystem is absent on this host: not an error
    duration_seconds: float = 0.0
    last_success: float | None = None  # unix time of the last successful run
    last_run: float | None = None
    error: str | None = None  # "timeout", "ReadError: /sys/...: permission denied"
    skipped_entries: int = 0  # entries skipped as unreadable / garbage in the last run
    messages: tuple[str, ...] = ()  # per-entry problems, each naming the path or device


R = TypeVar("R", bound=Reading)


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # "board.fan_stopped"
    component: str  # board | cpu | memory | disk:<serial or wwn> | pcie | raid | fs
    subject: str  # stable identity: chip/sensor, WWN/serial, DIMM label, PCI address
    device: str  # current operator-facing name: "nct6775 fan2", "sda", "mc0"
    severity: Severity
    summary: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    runbook: str | None = None
    # what "the evidence changed" means for acks: a stable token chosen by the rule (a counter
    # value, the limit crossed). Empty means the severity alone.
    fingerprint: str = ""

    @property
    def ack_token(self) -> str:
        return f"{self.severity.label}:{self.fingerprint}"

    @property
    def family(self) -> str:
        return self.rule.split(".", 1)[0]

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "component": self.component,
            "subject": self.subject,
            "device": self.device,
            "severity": self.severity.label,
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "runbook": self.runbook,
            "fingerprint": self.fingerprint,
        }


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Immutable view of the latest readings of every collector, swapped as a whole."""

    time: float
    boot_id: str
    readings: Mapping[str, tuple[Reading, ...]]  # collector name -> its latest readings
    statuses: Mapping[str, CollectorStatus]
    findings: tuple[Finding, ...] = ()
    acked: frozenset[tuple[str, str]] = frozenset()  # (rule, subject) silenced by an ack
    generation: int = 0
    hostname: str = ""
    extras: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def of_type(self, cls: type[R]) -> Iterator[R]:
        for items in self.readings.values():
            for r in items:
                if isinstance(r, cls):
                    yield r

    def active_findings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.key not in self.acked)

    def worst_severity(self) -> Severity:
        active = self.active_findings()
        return max((f.severity for f in active), default=Severity.OK)

    @classmethod
    def empty(cls, boot_id: str = "unknown", time: float = 0.0) -> "Snapshot":
        return cls(time=time, boot_id=boot_id, readings=MappingProxyType({}), statuses=MappingProxyType({}))
