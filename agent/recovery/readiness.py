"""Facts for the readiness findings (component ``recovery``), read from files and the store.

Read-only, through :class:`~agent.host.Host` only; commands are not run (the baseline capture
already recorded ``mdadm --detail --scan``; the newest stored baseline is passed in).
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping

from agent import baseline_net
from agent.model.recovery import RecoveryReadiness

FALLBACK = ("EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/bootx64.efi", "EFI/Boot/bootx64.efi", "efi/boot/bootx64.efi")
BOARD_NAME_RE = re.compile(r"^(?:en|wl|ww)(?:o\d+|s\d+)")  # onboard index / hotplug slot (systemd.net-naming-scheme)


def esps(host) -> list[str]:
    """Mount points of vfat filesystems holding an EFI directory (/proc/mounts)."""
    out = []
    text = host.read_text(host.path("proc", "mounts"), 1 << 20) or ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "vfat":
            mnt = parts[1].replace("\\040", " ")
            if host.exists(host.path(mnt, "EFI")):
                out.append(mnt)
    if not out and host.exists(host.path("boot", "efi", "EFI")):
        out.append("/boot/efi")
    return out


def _has_fallback(host, mnt: str) -> bool:
    return any(host.exists(host.path(mnt, f)) for f in FALLBACK)


def _debconf_value(text: str, name: str) -> str | None:
    for block in text.split("\n\n"):
        if re.search(rf"^Name: {re.escape(name)}$", block, re.M):
            m = re.search(r"^Value: (.*)$", block, re.M)
            return m.group(1) if m else None
    return None


def build(host, *, latest: Mapping[str, Any] | None, known_good_age: float | None, exported: Mapping[str, Any] | None,
          known_good_id: str | None, now: float, has_store: bool, tpm_recovery_recorded: tuple[str, ...] = ()) -> RecoveryReadiness:
    uefi = host.exists(host.path("sys", "firmware", "efi"))
    mounted = esps(host) if uefi else []
    net = host.path("sys", "class", "net")
    phys = {n: (host.read_text(net / n / "address") or "").lower() for n in host.listdir(net) if host.exists(net / n / "device")}
    refs = baseline_net.scan(host, list(phys))
    macs = set(phys.values())
    mac_refs = tuple(f"{r['file']}:{r['line']} {r['mac']}" for r in refs["macs"] if r["mac"] in macs
                     and r["file"] != "/proc/cmdline" and "/10-hwagent-" not in r["file"])
    name_refs = tuple(f"{r['file']}:{r['line']} {r['name']}" for r in refs["names"]
                      if BOARD_NAME_RE.match(r["name"]) and "/10-hwagent-" not in r["file"])
    tpm = []
    crypttab = host.read_text(host.path("etc", "crypttab"), 1 << 20) or ""
    for line in crypttab.splitlines():
        parts = line.split()
        if len(parts) >= 4 and not line.lstrip().startswith("#"):
            opts = parts[3]
            if ("tpm2-device" in opts or "clevis" in opts) and parts[0] not in tpm_recovery_recorded:
                tpm.append(parts[0])
    md = []
    if latest:
        st = (latest.get("storage") or {}).get("md") or {}
        conf = {u for u in st.get("conf_uuids") or [] if u}
        live = {a.get("uuid") for a in st.get("arrays") or [] if a.get("uuid")}
        if live or conf:
            md += [f"mdadm.conf ARRAY UUID={u} is not assembled" for u in sorted(conf - live)]
            md += [f"assembled array UUID={u} is not in mdadm.conf" for u in sorted(live - conf)]
    grub = []
    if not uefi:
        dc = host.read_text(host.path("var", "cache", "debconf", "config.dat"), 4 << 20) or ""
        val = _debconf_value(dc, "grub-pc/install_devices")
        for dev in [d.strip() for d in (val or "").split(",") if d.strip()]:
            if not host.exists(host.path(dev)):
                grub.append(dev)
    exp_age = (now - float(exported["time"])) if exported and exported.get("time") else None
    current = (exported.get("baseline_id") == known_good_id) if exported and known_good_id else None
    return RecoveryReadiness(uefi=uefi, esps_without_fallback=tuple(m for m in mounted if not _has_fallback(host, m)),
                             esps=tuple(mounted), mac_refs=mac_refs, board_name_refs=name_refs,
                             known_good_age_seconds=known_good_age, exported_age_seconds=exp_age, export_current=current,
                             tpm_luks_without_recovery=tuple(tpm), mdadm_conf_mismatch=tuple(md),
                             grub_missing_devices=tuple(grub), has_store=has_store)


def parse_restic_latest(text: str) -> float | None:
    """``restic snapshots --latest 1 --json`` -> epoch of the newest snapshot (RFC 3339 times)."""
    import json  # noqa: PLC0415
    from datetime import datetime  # noqa: PLC0415

    try:
        snaps = json.loads(text or "[]")
    except ValueError:
        return None
    times = []
    for s in snaps if isinstance(snaps, list) else []:
        t = str((s or {}).get("time") or "")
        m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$", t)
        if m:
            tz = m.group(2) or "+00:00"
            times.append(datetime.fromisoformat(m.group(1) + ("+00:00" if tz == "Z" else tz)).timestamp())
    return max(times) if times else None


def parse_borg_latest(text: str) -> float | None:
    """``borg list --last 1 --json REPO`` -> epoch of the newest archive (``start``, local time
    without offset in borg 1.x: read as the host's local time)."""
    import json  # noqa: PLC0415
    from datetime import datetime  # noqa: PLC0415

    try:
        data = json.loads(text or "{}")
    except ValueError:
        return None
    times = []
    for a in (data.get("archives") or []) if isinstance(data, dict) else []:
        t = str((a or {}).get("start") or (a or {}).get("time") or "")
        try:
            times.append(datetime.fromisoformat(t).timestamp())
        except ValueError:
            continue
    return max(times) if times else None


def backup_newest(host, tool: str, repository: str, password_file: str = "") -> tuple[float | None, str | None]:
    """(epoch of the newest backup, error) for the configured tool; read-only listing commands.
    ``password_file``: the repository password's file (restic ``--password-file``, borg
    ``BORG_PASSCOMMAND``); empty: the tool's own environment (RESTIC_PASSWORD_FILE, ...)."""
    import os  # noqa: PLC0415

    env = None
    if tool == "restic":
        argv = ["restic", "snapshots", "--latest", "1", "--json", "--no-lock", "--no-cache"] + (["-r", repository] if repository else [])
        argv += ["--password-file", password_file] if password_file else []
        parse = parse_restic_latest
    elif tool == "borg":
        if not repository:
            return None, "backup_repository is empty (borg needs the repository)"
        argv = ["borg", "list", "--last", "1", "--json", "--bypass-lock", repository]
        env = {**os.environ, "BORG_PASSCOMMAND": f"cat {shlex.quote(password_file)}"} if password_file else None
        parse = parse_borg_latest
    else:
        return None, f"unknown backup_tool {tool!r} (restic or borg)"
    if password_file and not host.exists(host.path(password_file.lstrip("/"))):
        return None, f"backup password file {password_file} does not exist"
    res = host.run(argv, 120, env) if env is not None else host.run(argv, 120)
    if not res.ok:
        return None, f"{' '.join(argv[:2])} failed: {res.failure()}"
    t = parse(res.stdout.decode("utf-8", "replace"))
    return (t, None) if t is not None else (None, f"{' '.join(argv[:2])}: no snapshot found")
