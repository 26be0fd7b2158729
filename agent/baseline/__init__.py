"""Host baseline: what this machine looked like, so recovery can compare "before" with "now".

After a board failure the host cannot say what it used to look like, yet nearly every recovery
step is "compare with before". :func:`capture` reads, through :class:`~agent.host.Host` only,
the hardware identity (DMI, CPUs, memory and DIMM layout, NICs, disks), the storage layout
(md/LVM/ZFS and their UUIDs, partition tables), what configuration references (MACs in udev,
netplan, ifupdown and systemd-networkd files; UUIDs in fstab and crypttab), the boot setup (EFI
entries, bootloader), kernel, packages, enabled services and the clock.

A baseline is a plain JSON-able dict with ``format_version``; each command-backed section keeps
its source (argv, exit code, error), so a missing tool reads as "absent", never as "empty".
:func:`fingerprint` hashes everything except volatile values (time, link state), so the daemon
stores a new version only when something changed. :func:`diff` compares two baselines with
list items keyed by identity (NIC by name, disk by serial, array by UUID, EFI entry by number),
which answers "what changed since before the failure".

The package: :mod:`~agent.baseline.capture` (reading the host), :mod:`~agent.baseline.parse` (the
text parsers), :mod:`~agent.baseline.diff` (fingerprint, flatten, diff, lookup) and
:mod:`~agent.baseline.store` (versions in the state store, read-only reads, export files); this
module is the one import callers use.
"""

from __future__ import annotations

from agent.baseline.capture import (CMD_TIMEOUT, DISK_PREFIXES, DMI_FIELDS, capture, capture_boot, capture_cpu,
                                    capture_disks, capture_dmi, capture_identity, capture_memory, capture_mount_refs,
                                    capture_net_name_refs, capture_net_refs, capture_nics, capture_software,
                                    capture_storage, capture_time)
from agent.baseline.diff import LIST_KEYS, VOLATILE_KEYS, diff, fingerprint, flatten, lookup, render_diff
from agent.baseline.format import FORMAT_VERSION, BaselineError
from agent.baseline.parse import (parse_dmidecode_memory, parse_efibootmgr, parse_hwclock, parse_mdadm_scan,
                                  parse_mdstat)
from agent.baseline.store import (KEEP_VERSIONS, MIGRATIONS, BaselineStore, export, load_file, read_all_stored,
                                  read_stored)

__all__ = ["CMD_TIMEOUT", "DISK_PREFIXES", "DMI_FIELDS", "FORMAT_VERSION", "KEEP_VERSIONS", "LIST_KEYS", "MIGRATIONS",
           "VOLATILE_KEYS", "BaselineError", "BaselineStore", "capture", "capture_boot", "capture_cpu", "capture_disks",
           "capture_dmi", "capture_identity", "capture_memory", "capture_mount_refs", "capture_net_name_refs",
           "capture_net_refs", "capture_nics", "capture_software", "capture_storage", "capture_time", "diff", "export",
           "fingerprint", "flatten", "load_file", "lookup", "parse_dmidecode_memory", "parse_efibootmgr",
           "parse_hwclock", "parse_mdadm_scan", "parse_mdstat", "read_all_stored", "read_stored", "render_diff"]
