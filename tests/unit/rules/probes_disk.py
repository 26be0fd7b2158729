"""Boundary probes of the disk rules: the counter table's rows are generated from the table itself."""

from __future__ import annotations

from agent.model.disk import AtaAttribute, NvmeHealth, ScsiHealth, SmartDevice
from agent.rules.disk_counters import COUNTERS, Counter

from .boundary_support import NOW, Probe

DAY = 86400.0
OLD_HOURS = 50_000.0
OFF = {"info": 0, "warning": 0, "critical": 0, "growth_warning": 0, "growth_critical": 0, "young_hours": 0}


def device(counter: str, value: float, *, hours: float = OLD_HOURS, history=None) -> SmartDevice:
    kw: dict = {}
    if counter.startswith("ata_"):
        aid = int(counter[4:])
        kw["ata_attributes"] = (AtaAttribute(id=aid, name=f"Attr_{aid}", value=100, worst=100, threshold=10,
                                             raw=int(value), raw_string=str(int(value)), count=int(value)),)
        proto = "ATA"
    else:
        kw["scsi"] = ScsiHealth(grown_defects=int(value), read_uncorrected=0, write_uncorrected=0,
                                verify_uncorrected=0, read_corrected=0, write_corrected=0, verify_corrected=0)
        proto = "SCSI"
    return SmartDevice(device="sda", path="/dev/sda", dev_type="sat", protocol=proto, read_status="ok",
                       model="WDC WD40EFRX", serial="WD-1", wwn="0x50014ee2b1c2d3e4", smart_passed=True,
                       read_time=NOW, last_success=NOW, power_on_seconds=hours * 3600.0,
                       history=history or {}, **kw)


def _grown(counter: str, g: float) -> list:
    """Count 10 + g, grown by g an hour ago (the history starts 200 days back at 10)."""
    hist = {counter: ((NOW - 200 * DAY, 10.0), (NOW - 3600.0, 10.0 + g))}
    return [device(counter, 10 + g, history=hist)]


def _aged_step(counter: str, age: float) -> list:
    """Count 11, grown by one ``age`` seconds ago."""
    hist = {counter: ((NOW - 200 * DAY, 10.0), (NOW - age, 11.0))}
    return [device(counter, 11, history=hist)]


def counter_probes(row: Counter) -> list[Probe]:
    c, rid, rb = row.counter, row.rule_id, row.runbook
    crit = ("critical", rb)
    return [
        Probe(rid, "info", lambda x: [device(c, x)], at=("info", None), below=(None, None),
              params={**OFF}, when_off=3),
        Probe(rid, "warning", lambda x: [device(c, x)], at=("warning", None), below=(None, None),
              params={**OFF}, when_off=5),
        Probe(rid, "critical", lambda x: [device(c, x)], at=crit, below=(None, None), params={**OFF}, when_off=5),
        Probe(rid, "growth_warning", lambda g: _grown(c, g), at=("warning", None), below=(None, None),
              params={**OFF}, when_off=3),
        Probe(rid, "growth_critical", lambda g: _grown(c, g), at=crit, below=(None, None),
              params={**OFF}, when_off=3),
        # a step exactly one window old is outside it (the window's start value already has it)
        Probe(rid, "critical_window_seconds", lambda age: _aged_step(c, age), at=(None, None), below=crit,
              params={**OFF, "growth_critical": 1}),
        Probe(rid, "warning_window_seconds", lambda age: _aged_step(c, age), at=(None, None), below=("warning", None),
              params={**OFF, "growth_warning": 1}),
        # younger than young_hours: a count at the info level warns
        Probe(rid, "young_hours", lambda h: [device(c, 1, hours=h)], at=("info", None), below=("warning", None),
              step=0.5, params={**OFF, "info": 1}, when_off=100),
    ]


def _nvme(**h) -> list:
    health = dict(critical_warning=0, available_spare_ratio=1.0, available_spare_threshold_ratio=0.1,
                  percentage_used_ratio=0.03, media_errors=0, num_err_log_entries=0, unsafe_shutdowns=0,
                  data_units_read_bytes=0, data_units_written_bytes=0, power_cycles=5, warning_temp_time_seconds=0,
                  critical_comp_time_seconds=0)
    health.update(h)
    return [SmartDevice(device="nvme0", path="/dev/nvme0", dev_type="nvme", protocol="NVMe", read_status="ok",
                        model="SAMSUNG MZQL21T9", serial="S64G", smart_passed=True, read_time=NOW, last_success=NOW,
                        nvme=NvmeHealth(**health))]


def _hot(t: float) -> list:
    return [SmartDevice(device="sda", path="/dev/sda", dev_type="sat", protocol="ATA", read_status="ok",
                        model="M", serial="S", smart_passed=True, read_time=NOW, last_success=NOW,
                        temperature_celsius=t)]


def _unreadable(age: float) -> list:
    return [SmartDevice(device="sdc", path="/dev/sdc", dev_type="sat", protocol="ATA", read_status="timeout",
                        message="sdc: timeout", model="M", serial="X", last_success=NOW - age)]


def _swapped(age: float) -> list:
    d = device("ata_5", 0)
    from dataclasses import replace  # noqa: PLC0415

    return [replace(d, slot="pci-0000:00:1f.2-ata-1", replaced_serial="OLD1", replaced_id="0x5000", replaced_time=NOW - age)]


SWAP = "disk-swap-mdadm"
PROBES = [p for row in COUNTERS for p in counter_probes(row)] + [
    # spare 0.1 + margin: at threshold + margin no longer warns; just below it does
    Probe("disk.nvme_spare_low", "margin_ratio", lambda m: _nvme(available_spare_ratio=0.1 + m),
          at=(None, None), below=("warning", None), step=0.01),
    Probe("disk.nvme_wear", "warning_ratio", lambda u: _nvme(percentage_used_ratio=u), at=("warning", None),
          below=(None, None), step=0.01),
    Probe("disk.nvme_wear", "critical_ratio", lambda u: _nvme(percentage_used_ratio=u), at=("critical", SWAP),
          below=("warning", None), step=0.01),
    Probe("disk.temperature", "warning_celsius", _hot, at=("warning", None), below=(None, None), when_off=55.0,
          step=0.5),
    Probe("disk.temperature", "critical_celsius", _hot, at=("critical", None), below=(None, None), when_off=65.0,
          step=0.5),
    # last good read exactly grace_seconds ago: reported; just younger: still in grace
    # a swap exactly window_seconds old is no longer shown; one second younger still is
    Probe("disk.replaced", "window_seconds", _swapped, at=(None, None), below=("info", None)),
    Probe("disk.unreadable", "grace_seconds", _unreadable, at=("warning", None), below=(None, None),
          when_off=3600.0, off=("warning", None)),
]
