"""baseline: capture the host baseline daily and on change, store it when it changed.

The capture itself lives in :mod:`agent.baseline`. Every run (default every 15 minutes) this
collector hashes a few cheap identity files (board serial, NIC MACs, disk serials from sysfs and
udev, /proc/mdstat's array lines); only when that hash changed, or the last full capture is older
than ``full_interval_seconds`` (default one day), does it run the full capture (which calls
dmidecode, sfdisk, mdadm, dpkg-query, systemctl ...). A new version is stored only when the full
fingerprint differs from the newest stored one (``agent baseline show --list``); the collector only
reads - the capture goes out as a :class:`~agent.model.recovery.CapturedBaseline` reading, which
the enrichment step stores (and marks known-good when it qualifies). Every run it
yields one :class:`~agent.model.recovery.RecoveryReadiness` reading (file reads only) for the
readiness rules (family ``recovery``).
"""

from __future__ import annotations

import hashlib
import logging
import re

from agent.collectors.base import BaseCollector, NoData
from agent.state.baselines import COLLECTOR_KEY, EXPORT_KEY, BaselineReads

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
               "backup_password_file": (str, "", "File holding the repository password (restic --password-file, borg "
                                                 "BORG_PASSCOMMAND); `agent recover` (MB-03) uses it too, so the check "
                                                 "does not depend on the operator's shell. Empty: the environment."),
               "backup_rpo_hours": (float, 24.0, "The promised RPO: a newest backup older than this is a readiness warning."),
               "backup_check_interval_seconds": (float, 3600.0, "Seconds between backup listings (they read the repository).")}

    def __init__(self, host, cfg=None, store=None):
        super().__init__(host, cfg, store)
        self.reads = BaselineReads(store) if store is not None else None  # reads only; the enrichment step stores
        self.last_full: float | None = None
        self.captures = 0
        self._cheap: str | None = None

    def collect(self):
        from agent import baseline  # noqa: PLC0415
        from agent.model.recovery import CapturedBaseline  # noqa: PLC0415

        cheap = cheap_fingerprint(self.host)
        if cheap is None:
            raise NoData(f"nothing to fingerprint under {self.host.host_path(self.host.path('sys'))} "
                         "(no DMI, network or block devices)")
        if self.reads is None:  # nothing to keep it in (e.g. `agent check` without a state dir)
            return (self._readiness(None),)
        if self._cheap is None:  # daemon restarts and `agent check` do not recapture needlessly
            saved = self.reads.get(COLLECTOR_KEY) or {}
            self._cheap, self.last_full = saved.get("cheap"), saved.get("last_full")
        now = self.host.now()
        due = self.last_full is None or now - self.last_full >= self.option("full_interval_seconds")
        if cheap == self._cheap and not due:
            return (self._readiness(self.reads.latest()),)
        if self._cheap is not None and cheap != self._cheap:
            log.info("baseline: hardware identity changed, capturing")
        data = baseline.capture(self.host)
        self.captures += 1
        self._cheap, self.last_full = cheap, now
        # stored as a new version by the enrichment step when its fingerprint changed
        return (CapturedBaseline(data=data, cheap=cheap, time=now), self._readiness(data))

    def _readiness(self, latest):
        """Readiness from files and the newest baseline (the capture just made, if any: its storage
        section is what the newest stored version holds)."""
        from agent.recovery import readiness  # noqa: PLC0415

        now = self.host.now()
        kg_age = kg_id = exported = None
        if self.reads is not None:
            kg = self.reads.known_good()
            if kg is not None:
                kg_id, kg_age = kg[0], now - kg[1]
            exported = self.reads.get(EXPORT_KEY)
        r = readiness.build(self.host, latest=latest, known_good_age=kg_age, exported=exported,
                            known_good_id=kg_id, now=now, has_store=self.reads is not None)
        tool = self.option("backup_tool")
        if not tool:
            return r
        import dataclasses  # noqa: PLC0415

        last = getattr(self, "_backup", None)
        if last is None or now - last[0] >= self.option("backup_check_interval_seconds"):
            newest, err = readiness.backup_newest(self.host, tool, self.option("backup_repository"),
                                                  self.option("backup_password_file"))
            last = self._backup = (now, newest, err)
        return dataclasses.replace(r, backup_age_seconds=None if last[1] is None else now - last[1],
                                   backup_rpo_seconds=self.option("backup_rpo_hours") * 3600, backup_error=last[2])
