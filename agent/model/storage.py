"""Storage-pool readings: ZFS pools and their vdevs, as `zpool status -p` and `zpool get -Hp` show them.

Error counters are the pool's own (reset by `zpool clear`, an export/import or a reboot); they are
exported as counters with that meaning. Times are unix seconds; sizes bytes; ratios 0-1.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.model import Reading

# pool and vdev states as zpool prints them (include/sys/fs/zfs.h vdev_state_t, zpool_state_to_name())
ZFS_STATES = ("ONLINE", "DEGRADED", "FAULTED", "OFFLINE", "UNAVAIL", "REMOVED", "SUSPENDED", "AVAIL", "INUSE")


@dataclass(frozen=True, slots=True)
class ZfsPool(Reading):
    pool: str  # "tank"
    state: str  # one of ZFS_STATES ("ONLINE", "DEGRADED", ...)
    size_bytes: int | None = None
    allocated_bytes: int | None = None
    free_bytes: int | None = None
    fragmentation_ratio: float | None = None
    scan_kind: str | None = None  # "scrub" | "resilver" | None (never scanned)
    scan_state: str | None = None  # "finished" | "in_progress" | "canceled" | None
    scan_end_time: float | None = None  # unix time the last scan finished (or was canceled)
    scan_errors: int | None = None  # errors the last finished scan found
    scan_repaired_bytes: int | None = None  # what the last scan repaired
    scan_progress_ratio: float | None = None  # running scan, 0-1
    last_scrub_time: float | None = None  # last finished scrub (None: unknown / never)
    data_errors: int | None = None  # "errors:" line: permanent errors in files (0 = "No known data errors")
    status_text: str | None = None  # zpool's "status:" paragraph, one line
    action_text: str | None = None


@dataclass(frozen=True, slots=True)
class ZfsVdev(Reading):
    pool: str
    name: str  # "mirror-0", "raidz2-1", "ata-WDC_WD40EFRX-68N32N0_WD-WCC7K1234567", "/dev/sdb1"
    kind: str  # "disk" | "file" | "mirror" | "raidz1" | "raidz2" | "raidz3" | "draid" | "replacing" | "spare" | "root"
    section: str  # "data" | "logs" | "cache" | "spares" | "special" | "dedup"
    parent: str | None  # enclosing vdev name (None for the top level)
    state: str  # one of ZFS_STATES
    read_errors: int | None
    write_errors: int | None
    checksum_errors: int | None
    note: str | None = None  # trailing text: "corrupted data", "was /dev/sdb1", "(resilvering)"

    @property
    def leaf(self) -> bool:
        return self.kind in ("disk", "file")

    @property
    def subject(self) -> str:
        return f"{self.pool}/{self.name}"
