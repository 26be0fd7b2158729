"""Boundary probes of the event rules (kernel log, machine checks, filesystems, reboots, BMC SEL).

Windowed counts come from the per-minute buckets of an :class:`EventWindow`: a bucket starting at
``t`` counts while ``t + 60 > now - window``, so a count's boundary is an event ``window + 59`` s
old (counted) vs ``window + 60`` s (not). Rules that read the events themselves (``e.time >=
since``) have theirs at ``window`` vs ``window + 1``.
"""

from __future__ import annotations

from agent.model import Severity
from agent.model.events import EventWindow, StoredEvent
from agent.model.platform import IpmiSelEntry, IpmiSelInfo

from .boundary_support import BOOT, NOW, Probe

SEV = {"critical": Severity.CRITICAL, "warning": Severity.WARNING, "info": Severity.INFO}


def window(*events: tuple, window_seconds: float = 30 * 86400.0) -> list:
    """events: (cls, component, device, age_seconds, count[, severity[, detail[, previous_boot]]])."""
    buckets, recent = [], []
    for ev in events:
        cls, comp, dev, age, count = ev[:5]
        sev = SEV[ev[5]] if len(ev) > 5 else Severity.WARNING
        detail = ev[6] if len(ev) > 6 else {}
        prev = ev[7] if len(ev) > 7 else False
        t = NOW - age
        buckets.append((cls, comp, dev, BOOT, t, count, count))
        recent.append(StoredEvent(time=t, boot_id=BOOT, cls=cls, component=comp, device=dev, severity=sev,
                                  source="kmsg", count=count, detail=detail, summary=f"{cls} on {dev}",
                                  previous_boot=prev))
    return [EventWindow(as_of=NOW, window_seconds=window_seconds, buckets=tuple(buckets), recent=tuple(recent),
                        current_boot=BOOT)]


def burst(cls: str, comp: str, dev: str, n: float, sev: str = "warning") -> list:
    """``n`` events in one bucket ten minutes ago."""
    return window((cls, comp, dev, 600.0, int(n), sev))


def spread(cls: str, comp: str, dev: str, n: float) -> list:
    """``n`` events, one per minute, ending ten minutes ago (the shape a leaky bucket sees)."""
    return window(*[(cls, comp, dev, 600.0 + 60 * i, 1) for i in range(int(n))])


def aged(cls: str, comp: str, dev: str, sev: str = "critical", **kw):
    return lambda age: window((cls, comp, dev, age, 1, sev, kw.get("detail", {}), kw.get("previous_boot", False)))


def sel(age: float, kind: str = "psu_failure", severity: str = "critical") -> list:
    return [IpmiSelEntry(record_id=1, key=f"1:{age}", bmc_time="", time=NOW - age, time_source="bmc",
                         sensor_type="Power Supply", sensor="PS1 Status", event="Failure detected", asserted=True,
                         detail="", kind=kind, severity=severity)]


BUCKET = dict(value_of=lambda w: w + 59.0, step=-1.0)  # counted up to window + 59 s (minute buckets)
EVENT = dict(step=-1.0)  # read from the events: counted up to exactly window

MB, MEM, SWAP = "mainboard-swap", "memory-ecc-errors", "disk-swap-mdadm"

PROBES = [
    # ---- windows of "any event keeps the finding" rules (bucket counts) ----
    Probe("memory.ue_logged", "window_seconds", aged("edac.ue", "memory", "mc0"), at=("critical", MEM),
          below=(None, None), **BUCKET),
    Probe("pcie.aer_uncorrected_logged", "window_seconds", aged("aer.fatal", "pcie", "0000:00:1c.0"),
          at=("warning", None), below=(None, None), **BUCKET),  # the event itself is older than the window
    Probe("disk.md_failure_logged", "window_seconds", aged("raid.disk_failed", "raid", "md0"),
          at=("critical", SWAP), below=(None, None), **BUCKET),
    Probe("board.nmi_platform_error", "window_seconds", aged("nmi.serr", "board", "host"),
          at=("critical", MB), below=(None, None), **BUCKET),
    Probe("board.thermal_trip", "window_seconds", aged("thermal.critical", "board", "thermal_zone0"),
          at=("critical", None), below=(None, None), **BUCKET),
    Probe("cpu.machine_check_uncorrected", "window_seconds", aged("mce.uncorrected", "cpu", "socket0"),
          at=("critical", MB), below=(None, None), **BUCKET),
    Probe("cpu.machine_check_corrected", "window_seconds", aged("mce.corrected", "cpu", "socket0"),
          at=("warning", None), below=(None, None), **BUCKET),
    Probe("cpu.lockup", "window_seconds", aged("cpu.soft_lockup", "cpu", "cpu3"),
          at=("warning", None), below=(None, None), **BUCKET),
    Probe("cpu.hung_task", "window_seconds", aged("cpu.hung_task", "system", "kworker"),
          at=("warning", None), below=(None, None), **BUCKET),
    Probe("cpu.rcu_stall", "window_seconds", aged("cpu.rcu_stall", "cpu", "cpu2"),
          at=("warning", None), below=(None, None), **BUCKET),
    # the bucket still counts the error in the 59 s past the window, the event list no longer has it:
    # the severity then falls back to warning (minute-bucket granularity, pinned here)
    Probe("fs.errors", "window_seconds", aged("fs.ext4_error", "fs", "sda1"),
          at=("warning", None), below=(None, None), **BUCKET),
    Probe("disk.io_errors", "window_seconds", aged("block.io_error", "disk:sda", "sda"),
          at=("warning", SWAP), below=(None, None), **BUCKET),
    Probe("disk.link_errors", "window_seconds",
          lambda age: window(*[("ata.link_reset", "disk:ata3", "ata3", age, 1)] * 3),
          at=("warning", None), below=(None, None), **BUCKET),
    Probe("disk.nvme_controller_errors", "window_seconds", aged("nvme.timeout", "disk:nvme0", "nvme0"),
          at=("warning", SWAP), below=(None, None), **BUCKET),
    Probe("board.unexpected_reboot", "window_seconds", aged("reboot.unexpected", "board", "host"),
          at=("warning", None), below=(None, None), **BUCKET),
    Probe("board.repeated_unexpected_reboots", "window_seconds",
          lambda age: window(("reboot.unexpected", "board", "host", 600.0, 1),
                             ("reboot.unexpected", "board", "host", age, 1)),
          at=("critical", MB), below=(None, None), **BUCKET),
    Probe("board.fatal_hardware_error", "window_seconds", aged("ghes.fatal", "board", "host"),
          at=("critical", MB), below=(None, None), **BUCKET),
    # ---- windows of rules that read the events themselves ----
    # disk.device_gone counts the buckets but takes the severity from the events (e.time >= since)
    Probe("disk.device_gone", "window_seconds", aged("block.device_gone", "disk:sda", "sda"),
          at=("critical", SWAP), below=(None, None), **EVENT),
    Probe("pcie.link_down", "window_seconds", aged("pcie.link_down", "pcie", "0000:3b:00.0"),
          at=("critical", MB), below=(None, None), **EVENT),
    Probe("board.previous_boot_mce_panic", "window_seconds",
          aged("mce.fatal", "cpu", "socket0", previous_boot=True), at=("critical", MB), below=(None, None), **EVENT),
    # ---- counts per window ----
    Probe("disk.io_errors", "warning", lambda n: burst("block.io_error", "disk:sda", "sda", n), when_off=None,
          at=("warning", SWAP), below=(None, None)),
    Probe("disk.io_errors", "critical", lambda n: burst("block.io_error", "disk:sda", "sda", n),
          at=("critical", SWAP), below=("warning", SWAP)),
    Probe("disk.link_errors", "warning", lambda n: burst("ata.link_reset", "disk:ata3", "ata3", n),
          at=("warning", None), below=(None, None)),
    Probe("disk.nvme_controller_errors", "warning", lambda n: burst("nvme.timeout", "disk:nvme0", "nvme0", n),
          at=("warning", SWAP), below=(None, None)),
    Probe("cpu.machine_check_corrected", "warning", lambda n: burst("mce.corrected", "cpu", "socket0", n),
          at=("warning", None), below=(None, None)),
    Probe("cpu.hung_task", "warning", lambda n: burst("cpu.hung_task", "system", "kworker", n),
          at=("warning", None), below=(None, None)),
    Probe("board.repeated_unexpected_reboots", "critical",
          lambda n: window(*[("reboot.unexpected", "board", "host", 600.0 + 60 * i, 1) for i in range(int(n))]),
          at=("critical", MB), below=(None, None)),
    # ---- leaky buckets: capacity errors per period (one per minute: leak is negligible at 24 h) ----
    Probe("memory.ce_log_storm", "capacity", lambda n: burst("edac.ce", "memory", "DIMM_A1", n),
          at=("warning", MEM), below=(None, None)),
    Probe("memory.ce_log_storm", "critical_factor", lambda f: burst("edac.ce", "memory", "DIMM_A1", 10 * f),
          step=0.1, at=("critical", MEM), below=("warning", MEM)),
    Probe("memory.ce_log_storm", "period_seconds", lambda a: window(("edac.ce", "memory", "DIMM_A1", a, 10)),
          at=("warning", MEM), below=(None, None), **BUCKET),
    Probe("cpu.machine_check_storm", "period_seconds", lambda a: window(("mce.corrected", "cpu", "socket0", a, 100)),
          at=("warning", None), below=(None, None), **BUCKET),
    Probe("pcie.aer_corrected_log_storm", "period_seconds",
          lambda a: window(("aer.corrected", "pcie", "0000:00:1c.0", a, 100)), at=("warning", None),
          below=(None, None), **BUCKET),
    Probe("cpu.machine_check_storm", "capacity", lambda n: burst("mce.corrected", "cpu", "socket0", n),
          at=("warning", None), below=(None, None)),
    Probe("cpu.machine_check_storm", "critical_factor", lambda f: burst("mce.corrected", "cpu", "socket0", 100 * f),
          step=0.1, at=("critical", None), below=("warning", None)),
    Probe("pcie.aer_corrected_log_storm", "capacity", lambda n: burst("aer.corrected", "pcie", "0000:00:1c.0", n),
          at=("warning", None), below=(None, None)),
    Probe("pcie.aer_corrected_log_storm", "critical_factor",
          lambda f: burst("aer.corrected", "pcie", "0000:00:1c.0", 100 * f), when_off=2.0, step=0.1,
          at=("critical", None), below=("warning", None)),
    # ---- BMC SEL ----
    Probe("board.sel_power_supply", "window_seconds", sel, at=("critical", None), below=(None, None), **EVENT),
    Probe("board.sel_cpu_error", "window_seconds", lambda a: sel(a, "caterr"), at=("critical", MB),
          below=(None, None), **EVENT),
    Probe("memory.sel_ecc", "window_seconds", lambda a: sel(a, "memory_ue"), at=("critical", MEM),
          below=(None, None), **EVENT),
    Probe("board.sel_event", "window_seconds", lambda a: sel(a, "fan", "warning"), at=("warning", None),
          below=(None, None), **EVENT),
    Probe("board.sel_full", "warning_free_bytes",
          lambda b: [IpmiSelInfo(entries=500, new_entries=0, kept_entries=0, parse_errors=0, free_bytes=int(b),
                                 overflow=False)], step=-1.0, at=("warning", None), below=(None, None)),
]
