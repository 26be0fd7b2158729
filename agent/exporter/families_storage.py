"""Storage-pool readings -> samples: ZFS pool state, capacity, scans, and per-device state and errors.

The device error counters are zpool's own (reset by `zpool clear`, export/import and reboot), which
Prometheus' rate()/increase() treat as counter resets. No I/O here.
"""

from __future__ import annotations

from typing import Callable

from agent.model import Snapshot
from agent.model.storage import ZfsPool, ZfsVdev

Emit = Callable[[str, dict, float], None]
POOL_STATES = ("ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "SUSPENDED")
VDEV_STATES = ("ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "AVAIL", "INUSE")


def zfs(snap: Snapshot, emit: Emit) -> None:
    for p in snap.of_type(ZfsPool):
        lab = {"pool": p.pool}
        for st in POOL_STATES:
            emit("hwagent_zfs_pool_state", {**lab, "state": st.lower()}, 1.0 if p.state == st else 0.0)
        for name, v in (("hwagent_zfs_pool_size_bytes", p.size_bytes),
                        ("hwagent_zfs_pool_allocated_bytes", p.allocated_bytes),
                        ("hwagent_zfs_pool_free_bytes", p.free_bytes),
                        ("hwagent_zfs_pool_fragmentation_ratio", p.fragmentation_ratio),
                        ("hwagent_zfs_pool_last_scrub_timestamp_seconds", p.last_scrub_time),
                        ("hwagent_zfs_pool_scan_errors", p.scan_errors),
                        ("hwagent_zfs_pool_scan_progress_ratio", p.scan_progress_ratio),
                        ("hwagent_zfs_pool_data_errors", p.data_errors)):
            if v is not None:
                emit(name, lab, v)
    for vd in snap.of_type(ZfsVdev):
        lab = {"pool": vd.pool, "vdev": vd.name}
        emit("hwagent_zfs_vdev_info", {**lab, "kind": vd.kind, "section": vd.section, "parent": vd.parent or ""}, 1)
        for st in VDEV_STATES:
            emit("hwagent_zfs_vdev_state", {**lab, "state": st.lower()}, 1.0 if vd.state == st else 0.0)
        for err, n in (("read", vd.read_errors), ("write", vd.write_errors), ("checksum", vd.checksum_errors)):
            if n is not None:
                emit("hwagent_zfs_vdev_errors_total", {**lab, "error": err}, n)


SAMPLERS = (zfs,)
