"""Platform readings: EDAC memory-controller counters, PCIe AER counters, IPMI sensors and SEL
entries, md RAID arrays.

Kernel counters (EDAC, AER) count from driver load: they reset on reboot and on a driver reload,
so rules judge their growth through the store's boot-aware history, never the raw totals.
Optional kernel files are ``None`` when absent, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from agent.model import Reading

__all__ = [
    "EdacController", "EdacDimm", "AerCounters", "IpmiSensor", "IpmiSelEntry", "IpmiSelInfo",
    "MdArray", "MdMember", "IPMI_STATES",
]


@dataclass(frozen=True, slots=True)
class EdacController(Reading):
    """One memory controller, ``/sys/devices/system/edac/mc/mcN``."""

    controller: str  # "mc0"
    mc_name: str | None  # driver's name for it: "Skylake Socket#0 IMC#0", "F17h"
    size_bytes: int | None  # size_mb * 2**20
    ce_count: int | None  # corrected errors since the counters were reset (driver load / boot)
    ue_count: int | None  # uncorrected errors since reset
    ce_noinfo_count: int | None  # corrected errors the driver could not attribute to a DIMM
    ue_noinfo_count: int | None  # uncorrected errors without DIMM attribution
    seconds_since_reset: int | None  # seconds since the counters were last reset


@dataclass(frozen=True, slots=True)
class EdacDimm(Reading):
    """One DIMM (``dimmX``/``rankX``) or one legacy csrow channel (``csrowX/chY_*``)."""

    controller: str  # "mc0"
    dimm: str  # "dimm3", "rank1", or "csrow2_ch0" for the legacy layout
    layout: str  # "dimm" | "rank" | "csrow"
    label: str | None  # dimm_label / chY_dimm_label: "CPU_SrcID#0_MC#0_Chan#1_DIMM#0", "DIMM_A1"
    location: str | None  # dimm_location: "channel 1 slot 0"; legacy: "csrow 2 channel 0"
    channel: str | None  # channel within the controller, from the location or the label
    ce_count: int | None  # corrected errors since reset
    ue_count: int | None  # uncorrected errors since reset (often absent in the legacy layout)

    @property
    def subject(self) -> str:
        """Stable identity: the label when the board sets one, else controller/dimm."""
        return self.label if self.label and self.label.lower() not in ("", "unknown memory") else f"{self.controller}/{self.dimm}"

    @property
    def slot(self) -> str:
        return f"{self.controller}/{self.dimm}"


@dataclass(frozen=True, slots=True)
class AerCounters(Reading):
    """AER statistics of one PCIe device, ``/sys/bus/pci/devices/<BDF>/aer_dev_*``.

    The per-bit tables count errors by bit name ("RxErr", "CmpltTO"; unnamed bits as
    "bit<N>"); the totals are the kernel's TOTAL_ERR_* lines (one per reported message, which
    can carry several bits). Root ports additionally count the messages they received from
    everything below them (``aer_rootport_total_err_*``). All reset on reboot.
    """

    device: str  # PCI address "0000:3b:00.0"
    root_port: str | None  # upstream root port address resolved from the device path (self for a root port)
    is_root_port: bool
    correctable: Mapping[str, int]  # bit name -> count
    nonfatal: Mapping[str, int]
    fatal: Mapping[str, int]
    total_correctable: int | None
    total_nonfatal: int | None
    total_fatal: int | None
    rootport_total_correctable: int | None = None  # root ports only
    rootport_total_nonfatal: int | None = None
    rootport_total_fatal: int | None = None
    vendor_device: str | None = None  # "8086:2030" from the vendor/device files
    driver: str | None = None  # bound driver name: "nvme", "pcieport", "ixgbe"


# ipmitool sensor states: "ok", "nc"/"cr"/"nr" (non-critical, critical, non-recoverable, from
# `ipmitool sensor`), the directional ones from `sdr elist` ("lnc", "ucr", ...), "ns" (no
# reading) and "na" (not available).
IPMI_STATES = ("ok", "nc", "cr", "nr", "lnc", "lcr", "lnr", "unc", "ucr", "unr", "ns", "na")


@dataclass(frozen=True, slots=True)
class IpmiSensor(Reading):
    name: str  # "CPU1 Temp", "FAN1", "P12V", "PS1 Status"
    kind: str  # temperature | fan | voltage | current | power | percent | discrete | other
    value: float | None  # base unit: celsius, rpm, volts, amperes, watts; ratio 0-1 for percent
    unit: str  # the BMC's unit text: "degrees C", "RPM", "Volts", "discrete"
    state: str  # one of IPMI_STATES
    lnr: float | None = None  # lower non-recoverable threshold (same unit as value)
    lcr: float | None = None  # lower critical
    lnc: float | None = None  # lower non-critical
    unc: float | None = None  # upper non-critical
    ucr: float | None = None  # upper critical
    unr: float | None = None  # upper non-recoverable
    sensor_id: str | None = None  # sdr record id "0x21" / "21h" when known
    entity: str | None = None  # sdr entity id "3.1"
    detail: str | None = None  # discrete sensors: the sdr elist text ("Presence detected, Failure detected")
    raw_state: str | None = None  # discrete sensors: `ipmitool sensor` state bits "0x0180"

    @property
    def severity_level(self) -> int:
        """0 ok/unknown, 1 non-critical, 2 critical, 3 non-recoverable."""
        s = self.state
        if s.endswith("nr"):
            return 3
        if s.endswith("cr"):
            return 2
        if s.endswith("nc"):
            return 1
        return 0


@dataclass(frozen=True, slots=True)
class IpmiSelEntry(Reading):
    """A decoded System Event Log record (kept by the collector for its retention window)."""

    record_id: int  # the SEL record id (hex in ipmitool's output)
    key: str  # de-duplication key: id, BMC date/time and text (ids repeat after a clear)
    bmc_time: str  # date and time as the BMC printed them ("11/02/2014 21:53:48", "Pre-Init 0000006508")
    time: float  # unix time used for windows: the BMC time when plausible, else when the agent first read it
    time_source: str  # "bmc" | "agent"
    sensor_type: str  # "Temperature", "Power Supply", "Processor", "Memory", ... ("" when unknown)
    sensor: str  # "CPU1 Temp", "PS1 Status", "#0xc9"
    event: str  # "Upper Critical going high", "Failure detected", "IERR"
    asserted: bool  # False for "Deasserted" (the condition cleared)
    detail: str  # trailing columns: "Reading 97 > Threshold 95 degrees C"
    kind: str  # decoded class (decode_sel and SEL_KINDS in agent.collectors.ipmi_sel): temperature, fan, psu_failure, caterr, memory_ue, watchdog, ..., other
    severity: str  # info | warning | critical

    @property
    def text(self) -> str:
        return f"{self.sensor_type} {self.sensor}: {self.event}".strip()


@dataclass(frozen=True, slots=True)
class IpmiSelInfo(Reading):
    entries: int  # records in the SEL as read by the last `sel elist`
    new_entries: int  # records not seen before in the last run
    kept_entries: int  # decoded entries kept for the rules' windows
    parse_errors: int  # SEL lines that could not be parsed
    free_bytes: int | None = None  # `sel info` Free Space; None when unknown
    overflow: bool | None = None  # `sel info` Overflow: the BMC dropped (or overwrote) records


@dataclass(frozen=True, slots=True)
class MdMember(Reading):
    array: str  # "md0"
    device: str  # "sdb1"
    slot: str | None  # role number in the array ("0", "1"), "none" for spares, None when unknown
    states: tuple[str, ...]  # md dev-*/state: ("in_sync",), ("faulty",), ("spare",), ("in_sync", "write_error")
    errors: int | None  # md dev-*/errors: read errors corrected on this member

    @property
    def faulty(self) -> bool:
        return "faulty" in self.states

    @property
    def spare(self) -> bool:
        return "spare" in self.states


@dataclass(frozen=True, slots=True)
class MdArray(Reading):
    device: str  # "md0"
    level: str | None  # "raid1", "raid5", "raid0", "linear"
    array_state: str | None  # md/array_state: clean, active, active-idle, read-auto, inactive, broken...
    raid_disks: int | None  # members the array should have
    active_disks: int | None  # members in sync (from mdstat [n/m])
    degraded: int | None  # md/degraded: missing members
    failed_disks: int  # members marked faulty
    spare_disks: int
    sync_action: str | None  # md/sync_action: idle, resync, recover, check, repair, reshape, frozen
    sync_completed: float | None  # ratio 0-1 of the running sync action, None when idle
    sync_pending: str | None  # mdstat "resync=PENDING"/"DELAYED" when a sync waits
    mismatch_count: int | None  # md/mismatch_cnt after a check
    size_bytes: int | None
    members: tuple[MdMember, ...] = ()
    status: str | None = None  # mdstat member map "[U_]"

    @property
    def redundant(self) -> bool:
        return bool(self.level) and self.level not in ("raid0", "linear", "container")
