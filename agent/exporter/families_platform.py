"""Platform readings -> samples: EDAC, AER, IPMI sensors and SEL, md RAID, the board score.

Kernel counters (EDAC, AER) are exported as counters with the kernel's semantics: they restart
from 0 on reboot and on a driver reload, which Prometheus' rate()/increase() treat as a counter
reset. No I/O here.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from agent.model import Snapshot
from agent.model.platform import (AerCounters, EdacController, EdacDimm, IpmiSelEntry, IpmiSelInfo, IpmiSensor,
                                  MdArray)

Emit = Callable[[str, dict, float], None]

IPMI_STATE_SET = ("ok", "nc", "cr", "nr", "na")
MD_STATES = ("clean", "active", "read_auto", "readonly", "inactive", "broken", "other")
MD_ACTIONS = ("idle", "resync", "recover", "check", "repair", "reshape", "frozen")
BOARD_SIGNALS = ("memory_spread", "pcie_spread", "multi_disk_io", "power", "vrm_temperature", "resets",
                 "platform_errors", "cmos_battery")
_IPMI_VALUE = {
    "temperature": ("hwagent_ipmi_temperature_celsius", "hwagent_ipmi_temperature_threshold_celsius"),
    "fan": ("hwagent_ipmi_fan_rpm", "hwagent_ipmi_fan_threshold_rpm"),
    "voltage": ("hwagent_ipmi_voltage_volts", "hwagent_ipmi_voltage_threshold_volts"),
    "current": ("hwagent_ipmi_current_amperes", None),
    "power": ("hwagent_ipmi_power_watts", None),
}


def edac(snap: Snapshot, emit: Emit) -> None:
    for c in snap.of_type(EdacController):
        emit("hwagent_memory_controller_info", {"controller": c.controller, "mc_name": c.mc_name or ""}, 1)
        if c.ce_noinfo_count is not None:
            emit("hwagent_memory_corrected_errors_total", {"controller": c.controller, "dimm": "unattributed"}, c.ce_noinfo_count)
        if c.ue_noinfo_count is not None:
            emit("hwagent_memory_uncorrected_errors_total", {"controller": c.controller, "dimm": "unattributed"}, c.ue_noinfo_count)
        if c.seconds_since_reset is not None:
            emit("hwagent_memory_counters_age_seconds", {"controller": c.controller}, c.seconds_since_reset)
    for d in snap.of_type(EdacDimm):
        lab = {"controller": d.controller, "dimm": d.dimm}
        emit("hwagent_memory_dimm_info", {**lab, "label": d.label or "", "location": d.location or ""}, 1)
        if d.ce_count is not None:
            emit("hwagent_memory_corrected_errors_total", lab, d.ce_count)
        if d.ue_count is not None:
            emit("hwagent_memory_uncorrected_errors_total", lab, d.ue_count)


def aer(snap: Snapshot, emit: Emit) -> None:
    for a in snap.of_type(AerCounters):
        emit("hwagent_pcie_device_info", {"device": a.device, "root_port": a.root_port or "",
                                          "vendor_device": a.vendor_device or "", "driver": a.driver or ""}, 1)
        for sev, total, bits in (("correctable", a.total_correctable, a.correctable),
                                 ("nonfatal", a.total_nonfatal, a.nonfatal), ("fatal", a.total_fatal, a.fatal)):
            if total is not None:
                emit("hwagent_pcie_aer_errors_total", {"device": a.device, "severity": sev}, total)
            for name, n in sorted(bits.items()):
                if n:
                    emit("hwagent_pcie_aer_errors_by_bit_total", {"device": a.device, "severity": sev, "error": name}, n)
        for sev, v in (("correctable", a.rootport_total_correctable), ("nonfatal", a.rootport_total_nonfatal),
                       ("fatal", a.rootport_total_fatal)):
            if v is not None:
                emit("hwagent_pcie_aer_rootport_errors_total", {"device": a.device, "severity": sev}, v)


def _collapsed(state: str) -> str:
    if state in ("ns", "na"):
        return "na"
    for s in ("nr", "cr", "nc"):
        if state.endswith(s):
            return s
    return "ok"


def ipmi(snap: Snapshot, emit: Emit) -> None:
    for s in snap.of_type(IpmiSensor):
        emit("hwagent_ipmi_sensor_info", {"sensor": s.name, "kind": s.kind, "unit": s.unit, "entity": s.entity or ""}, 1)
        cur = _collapsed(s.state)
        for st in IPMI_STATE_SET:
            emit("hwagent_ipmi_sensor_state", {"sensor": s.name, "state": st}, 1 if st == cur else 0)
        names = _IPMI_VALUE.get(s.kind)
        if not names:
            continue
        value_name, th_name = names
        if s.value is not None:
            emit(value_name, {"sensor": s.name}, s.value)
        if th_name:
            for th in ("lnr", "lcr", "lnc", "unc", "ucr", "unr"):
                v = getattr(s, th)
                if v is not None:
                    emit(th_name, {"sensor": s.name, "threshold": th}, v)
    for info in snap.of_type(IpmiSelInfo):
        emit("hwagent_ipmi_sel_entries", {}, info.entries)
        if info.free_bytes is not None:
            emit("hwagent_ipmi_sel_free_bytes", {}, info.free_bytes)
        kept = Counter((e.kind, e.severity) for e in snap.of_type(IpmiSelEntry))
        for (kind, sev), n in sorted(kept.items()):
            emit("hwagent_ipmi_sel_kept_records", {"kind": kind, "severity": sev}, n)


def _md_state(state: str | None) -> str:
    s = (state or "").replace("-", "_")
    if s in ("active_idle", "write_pending"):
        return "active"
    if s == "suspended":
        return "inactive"
    return s if s in MD_STATES else "other"


def md(snap: Snapshot, emit: Emit) -> None:
    for a in snap.of_type(MdArray):
        dev = {"device": a.device}
        emit("hwagent_md_info", {**dev, "level": a.level or ""}, 1)
        cur = _md_state(a.array_state)
        for st in MD_STATES:
            emit("hwagent_md_state", {**dev, "state": st}, 1 if st == cur else 0)
        active = sum(1 for m in a.members if "in_sync" in m.states)
        counts = {"active": active, "failed": a.failed_disks, "spare": a.spare_disks, "missing": a.degraded or 0}
        for st, n in counts.items():
            emit("hwagent_md_disks", {**dev, "state": st}, n)
        if a.raid_disks is not None:
            emit("hwagent_md_raid_disks", dev, a.raid_disks)
        if a.degraded is not None:
            emit("hwagent_md_degraded", dev, a.degraded)
        if a.sync_action in MD_ACTIONS:
            for act in MD_ACTIONS:
                emit("hwagent_md_sync_action", {**dev, "state": act}, 1 if act == a.sync_action else 0)
        if a.sync_completed is not None:
            emit("hwagent_md_sync_completed_ratio", dev, a.sync_completed)


def board(snap: Snapshot, emit: Emit) -> None:
    """The board score from the board.failing / board.health finding; 1 when neither is active
    (but only once rules have run, i.e. some collector has reported)."""
    if not snap.statuses:
        return
    ev = None
    for f in snap.findings:
        if f.rule in ("board.failing", "board.health") and "health" in f.evidence:
            ev = f.evidence
            break
    emit("hwagent_board_health", {}, float(ev["health"]) if ev else 1.0)
    for sig in BOARD_SIGNALS:
        emit("hwagent_board_evidence_points", {"signal": sig}, float(ev.get(f"points_{sig}", 0)) if ev else 0.0)


SAMPLERS: tuple[Callable[[Snapshot, Emit], None], ...] = (edac, aer, ipmi, md, board)


def restore_drill(snap: Snapshot, emit: Emit) -> None:
    from agent.model.backup import RestoreDrill  # noqa: PLC0415

    for d in snap.of_type(RestoreDrill):
        lab = {"path": d.path}
        emit("hwagent_restore_drill_last_run_timestamp_seconds", lab, d.time)
        emit("hwagent_restore_drill_success", lab, 1 if d.success else 0)
        if d.snapshot_time is not None:
            emit("hwagent_restore_drill_snapshot_timestamp_seconds", lab, d.snapshot_time)
        if d.files is not None:
            emit("hwagent_restore_drill_files", lab, d.files)
        if d.bytes is not None:
            emit("hwagent_restore_drill_bytes", lab, d.bytes)


SAMPLERS = (*SAMPLERS, restore_drill)
