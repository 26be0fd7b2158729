"""baseline: capture the host baseline daily and on change, store it when it changed.

The capture itself lives in :mod:`agent.baseline`. Every run (default every 15 minutes) this
collector hashes a few cheap identity files (board serial, NIC MACs, disk serials from sysfs and
udev, /proc/mdstat's array lines); only when that hash changed, or the last full capture is older
than ``full_interval_seconds`` (default one day), does it run the full capture (which calls
dmidecode, sfdisk, mdadm, dpkg-query, systemctl ...). A new version is stored only when the full
fingerprint differs from the newest stored one (``agent baseline show --list``). Every run it
yields one :class:`~agent.model.recovery.RecoveryReadiness` reading (file reads only) for the
readiness rules (family ``recovery``).
"""

from __future__ import annotations

import hashlib
import logging
import re

from agent.collectors.base import BaseCollector, NoData

log = logging.getLogger(__name__)


def cheap_fingerprint(host) -> str | None:
    """A hash of identity files that change when hardware or arrays change (sysfs reads only);
    None when there is nothing to identify (no DMI, no NICs, no block devices)."""
    h = hashlib.sha256()
    board = host.read_text(host.path("sys", "class", "dmi", "id", "board_serial")) or ""
    h.update(board.encode())
    net = host.path("sys", "class", "net")
    nets = host.listdir(net)
    for name in nets:
        h.update(f"{name}={host.read_text(net / name / 'address')}".encode())
    block = host.path("sys", "block")
    blocks = host.listdir(block)
    for name in blocks:
        devnum = host.read_text(block / name / "dev") or ""
        h.update(f"{name}:{devnum}:{host.read_text(block / name / 'device' / 'serial')}".encode())
        udev = host.read_text(host.path("run", "udev", "data", f"b{devnum}"), 16384) or ""
        h.update(" ".join(re.findall(r"^E:ID_(?:SERIAL_SHORT|WWN)=.*$", udev, re.M)).encode())
    try:
        mdstat = host.read_file(host.path("proc", "mdstat"), limit=65536)
    except Exception:  # noqa: BLE001 - no md
        mdstat = ""
    h.update("\n".join(line for line in mdstat.splitlines() if line.startswith("md")).encode())
    if not board and not nets and not blocks:
        return None
    return h.hexdigest()


class BaselineCollector(BaseCollector):
    name = "baseline"
    default_interval = 900.0
    default_timeout = 120.0
    description = "host baseline (DMI, NICs, disks, arrays, EFI, packages), daily and on change"
    options = {"full_interval_seconds": (float, 86400.0, "Seconds between full captures when nothing changed."),
               "known_good_after_days": (float, 3.0, "Mark the newest baseline known-good when it stayed unchanged this "
                                                      "many days with no active warning/critical finding and the same "
                                                      "board, UUID and NIC MACs as the last known-good one (0 = never)."),
               "backup_tool": (str, "", "restic or borg: check the newest backup against backup_rpo_hours (repository "
                                        "and password from the daemon's environment, e.g. RESTIC_REPOSITORY, "
                                        "RESTIC_PASSWORD_FILE, BORG_PASSCOMMAND); empty: not checked."),
               "backup_repository": (str, "", "Repository for backup_tool (borg: required; restic: else RESTIC_REPOSITORY)."),
               "backup_rpo_hours": (float, 24.0, "The promised RPO: a newest backup older than this is a readiness warning."),
               "backup_check_interval_seconds": (float, 3600.0, "Seconds between backup listings (they read the repository).")}

    def __init__(self, host, cfg=None, store=None):
        super().__init__(host, cfg, store)
        self.last_id: str | None = None
        self.last_stored = False
        self.last_full: float | None = None
        self.captures = 0
        self._cheap: str | None = None

    def collect(self):
        from agent import baseline  # noqa: PLC0415

        cheap = cheap_fingerprint(self.host)
        if cheap is None:
            raise NoData(f"nothing to fingerprint under {self.host.host_path(self.host.path('sys'))} "
                         "(no DMI, network or block devices)")
        if self.store is None:  # nothing to keep it in (e.g. `agent check` without a state dir)
            return (self._readiness(None),)
        if self._cheap is None:  # daemon restarts and `agent check` do not recapture needlessly
            saved = self.store.get("baseline.collector") or {}
            self._cheap, self.last_full = saved.get("cheap"), saved.get("last_full")
        now = self.host.now()
        due = self.last_full is None or now - self.last_full >= self.option("full_interval_seconds")
        if cheap == self._cheap and not due:
            bstore = baseline.BaselineStore(self.store)
            self._auto_known_good(bstore, now)
            return (self._readiness(bstore),)
        if self._cheap is not None and cheap != self._cheap:
            log.info("baseline: hardware identity changed, capturing")
        data = baseline.capture(self.host)
        self.captures += 1
        self._cheap, self.last_full = cheap, now
        bstore = baseline.BaselineStore(self.store)
        self.last_id, self.last_stored = bstore.save(data)
        self.store.put("baseline.collector", {"cheap": cheap, "last_full": now, "last_id": self.last_id})
        if self.last_stored:
            log.info("baseline %s stored (fingerprint changed)", self.last_id)
        self._auto_known_good(bstore, now)
        return (self._readiness(bstore),)

    def _readiness(self, bstore):
        from agent.recovery import readiness  # noqa: PLC0415

        now = self.host.now()
        latest = kg_age = kg_id = exported = None
        if bstore is not None:
            latest = bstore.latest()
            kg = next((r for r in bstore.list() if r["known_good"]), None)
            if kg is not None:
                kg_age, kg_id = now - kg["captured"], kg["id"]
            exported = self.store.get("baseline.export")
        r = readiness.build(self.host, latest=latest, known_good_age=kg_age, exported=exported,
                            known_good_id=kg_id, now=now, has_store=bstore is not None)
        tool = self.option("backup_tool")
        if not tool:
            return r
        import dataclasses  # noqa: PLC0415

        last = getattr(self, "_backup", None)
        if last is None or now - last[0] >= self.option("backup_check_interval_seconds"):
            newest, err = readiness.backup_newest(self.host, tool, self.option("backup_repository"))
            last = self._backup = (now, newest, err)
        return dataclasses.replace(r, backup_age_seconds=None if last[1] is None else now - last[1],
                                   backup_rpo_seconds=self.option("backup_rpo_hours") * 3600, backup_error=last[2])

    def _auto_known_good(self, bstore, now: float) -> None:
        ident = bstore.auto_known_good(now, self.option("known_good_after_days"))
        if ident is not None:
            log.info("baseline %s marked known-good (unchanged for %g days, no active findings)",
                     ident, self.option("known_good_after_days"))
