"""Recovery readiness: what decides whether this host comes back by itself on a new board.

One :class:`RecoveryReadiness` reading per collection, built by the baseline collector from
files (ESPs, network/boot config, crypttab, mdadm.conf, debconf) and the stored baselines. The
rules of family ``recovery`` turn it into findings before the failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from agent.model import Reading

__all__ = ["RecoveryReadiness", "CapturedBaseline"]


@dataclass(frozen=True, slots=True)
class RecoveryReadiness(Reading):
    uefi: bool
    esps_without_fallback: tuple[str, ...]  # mounted ESPs lacking \EFI\BOOT\BOOTX64.EFI
    esps: tuple[str, ...]  # mounted ESPs seen
    mac_refs: tuple[str, ...]  # "file:line mac" of config naming a physical NIC's MAC
    board_name_refs: tuple[str, ...]  # "file:line name" naming eno*/ens* (firmware/slot index)
    known_good_age_seconds: float | None  # None: no known-good baseline stored (or no state store)
    exported_age_seconds: float | None  # since the last off-host export; None: never
    export_current: bool | None  # the last export holds the current known-good version
    tpm_luks_without_recovery: tuple[str, ...]  # crypttab targets bound to a TPM without a recorded recovery path
    mdadm_conf_mismatch: tuple[str, ...]  # "conf UUID X not assembled" / "array UUID Y not in mdadm.conf"
    grub_missing_devices: tuple[str, ...]  # grub-pc/install_devices entries that do not exist
    has_store: bool = True
    backup_age_seconds: float | None = None  # newest restic/borg snapshot (None: not configured or unknown)
    backup_rpo_seconds: float | None = None
    backup_error: str | None = None


@dataclass(frozen=True, slots=True)
class CapturedBaseline(Reading):
    """A full baseline capture (``agent.baseline.capture``), for the enrichment step to store as a
    new version when its fingerprint changed; it never reaches the snapshot."""

    data: Mapping[str, Any]
    cheap: str  # the cheap identity hash the capture was made for
    time: float
