"""Boundary probes of the readiness rules (recovery baseline age, backup restore drill age).

Both fire when an age is *over* the limit (``age > max_age_days``): an age of exactly the limit is
the quiet side, one second older gives the finding (``step=-1`` s past the limit, in seconds).
"""

from __future__ import annotations

from agent.model.backup import RestoreDrill
from agent.model.recovery import RecoveryReadiness

from .boundary_support import NOW, Probe

DAY = 86400.0


def readiness(known_good_age: float) -> list:
    """A host ready in every other respect: UEFI with the fallback loader, nothing bound to the board,
    the known-good baseline ``known_good_age`` seconds old and exported off-host."""
    return [RecoveryReadiness(uefi=True, esps_without_fallback=(), esps=("/boot/efi",), mac_refs=(),
                              board_name_refs=(), known_good_age_seconds=known_good_age, exported_age_seconds=3600.0,
                              export_current=True, tpm_luks_without_recovery=(), mdadm_conf_mismatch=(),
                              grub_missing_devices=())]


def drill(age: float, success: bool = True) -> list:
    """A restore drill of /srv that finished ``age`` seconds ago."""
    return [RestoreDrill(time=NOW - age, success=success, path="/srv", tool="restic", snapshot_time=NOW - age - 3600.0,
                         files=1204, bytes=52_428_800, run_id="drill-1", detail="restored 1204 files, all matched")]


SECONDS = dict(value_of=lambda days: days * DAY, step=-1.0)  # the limit in seconds; "below" = 1 s older

PROBES = [
    Probe("recovery.baseline_stale", "max_age_days", readiness, at=(None, None),
          below=("warning", "mainboard-swap"), **SECONDS),
    Probe("backup.restore_drill", "max_age_days", drill, at=(None, None), below=("warning", "restore-drill"),
          **SECONDS),
]
