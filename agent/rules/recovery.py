"""Readiness rules (ids ``recovery.*``, component ``recovery``): "this host will not come back by
itself on a new board", found on an ordinary weekday before the failure.

Each finding names the fix and the mainboard-swap step that would otherwise cost time:

* ``recovery.no_fallback_loader``: a new board's NVRAM holds no boot entry for the OS; only the
  removable-media path ``\\EFI\\BOOT\\BOOTX64.EFI`` on an ESP is booted without one (UEFI spec
  2.10, 3.5.1.1). Debian: ``grub-efi-amd64/force_extra_removable`` (debconf) or
  ``grub-install --force-extra-removable``. Step MB-08.
* ``recovery.network_bound_to_hardware``: config names a NIC's MAC, or a name the kernel derives
  from the board's firmware index or slot (``eno*``, ``ens*``; systemd.net-naming-scheme(7)):
  both change with the board. Step MB-15 fixes it with one confirmation; info only.
* ``recovery.baseline_stale`` / ``recovery.baseline_not_offhost``: no known-good baseline yet
  (info: the daemon marks one after ``known_good_after_days``), none younger than ``max_age_days``
  (warning), or the known-good version was never exported off-host
  (``agent baseline push``); without it "before" is lost with the board. Steps MB-03, MB-31b.
* ``recovery.luks_tpm_without_recovery``: a LUKS volume unlocked by the TPM (systemd-cryptenroll
  ``tpm2-device=``, clevis) does not unlock on a new board's TPM; record the recovery key and list
  the volume in the rule's ``recorded`` parameter.
* ``recovery.mdadm_conf_mismatch``: mdadm.conf ARRAY UUIDs and the assembled arrays differ; the
  initramfs assembles from mdadm.conf (mdadm.conf(5)). Step MB-12a.
* ``recovery.grub_install_devices_missing``: BIOS boot; ``grub-pc/install_devices`` names disks
  that do not exist, so the next grub-pc upgrade installs the loader nowhere. Step MB-08.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from agent.model import Finding, Severity
from agent.model.recovery import RecoveryReadiness
from agent.rules.base import RuleContext, rule

DAY = 86400.0


def _each(ctx: RuleContext) -> Iterator[RecoveryReadiness]:
    yield from ctx.snapshot.of_type(RecoveryReadiness)


def _f(ctx: RuleContext, subject: str, sev: Severity, summary: str, evidence: Mapping[str, Any],
       fp: str = "") -> Finding:
    return ctx.finding(component="recovery", subject=subject, device=subject, severity=sev, summary=summary,
                       evidence=evidence, fingerprint=fp or sev.label)


@rule("recovery.no_fallback_loader", runbook="mainboard-swap",
      description="UEFI: an ESP lacks the fallback loader \\EFI\\BOOT\\BOOTX64.EFI, so a new board with empty NVRAM "
                  "does not boot the OS by itself (fix: grub-install --force-extra-removable; step MB-08).")
def no_fallback_loader(ctx: RuleContext) -> Iterator[Finding]:
    for r in _each(ctx):
        if r.uefi and r.esps_without_fallback:
            yield _f(ctx, "esp", Severity.WARNING,
                     f"no fallback loader \\EFI\\BOOT\\BOOTX64.EFI on {', '.join(r.esps_without_fallback)}: a new board "
                     "will not boot this host by itself; run `grub-install --force-extra-removable` (Debian: "
                     "dpkg-reconfigure grub-efi-amd64, 'force extra removable' yes) (mainboard-swap MB-08)",
                     {"esps": ",".join(r.esps_without_fallback)}, ",".join(r.esps_without_fallback))


@rule("recovery.network_bound_to_hardware", runbook="mainboard-swap",
      description="Network config names NIC MACs or eno*/ens* names derived from the board: they change with it "
                  "(MB-15 maps and pins them after a swap).")
def network_bound(ctx: RuleContext) -> Iterator[Finding]:
    for r in _each(ctx):
        refs = r.mac_refs + r.board_name_refs
        if refs:
            yield _f(ctx, "network-config", Severity.INFO,
                     f"{len(r.mac_refs)} MAC and {len(r.board_name_refs)} board-derived interface-name reference(s) in "
                     f"config (e.g. {refs[0]}): a new board changes them; keep a known-good baseline off-host so "
                     "mainboard-swap MB-15 can pin the old names to the new MACs",
                     {"refs": "; ".join(refs[:10]), "count": len(refs)}, str(len(refs)))


@rule("recovery.baseline_stale", runbook="mainboard-swap", defaults={"max_age_days": 7.0},
      param_docs={"max_age_days": "a known-good baseline older than this raises the finding"},
      description="No known-good baseline younger than max_age_days: after a board failure nothing says what the "
                  "host looked like (agent baseline capture --known-good; steps MB-03, MB-31b).")
def baseline_stale(ctx: RuleContext) -> Iterator[Finding]:
    limit = float(ctx.param("max_age_days")) * DAY
    for r in _each(ctx):
        if not r.has_store:
            continue
        if r.known_good_age_seconds is None:  # info: the daemon marks one itself after known_good_after_days
            yield _f(ctx, "baseline", Severity.INFO,
                     "no known-good baseline: `agent baseline capture --known-good` on this healthy host (the daemon "
                     "marks one after it stayed unchanged for known_good_after_days without findings)",
                     {"known_good_age_seconds": -1}, "none")
        elif r.known_good_age_seconds > limit:
            yield _f(ctx, "baseline", Severity.WARNING,
                     f"newest known-good baseline is {r.known_good_age_seconds / DAY:.1f} days old (limit "
                     f"{limit / DAY:g}): capture one with `agent baseline capture --known-good`",
                     {"known_good_age_seconds": round(r.known_good_age_seconds)}, "old")


@rule("recovery.baseline_not_offhost", runbook="mainboard-swap",
      description="The known-good baseline and checklist are not kept off-host (agent baseline push, [recovery] "
                  "export_target): they die with the board.")
def baseline_not_offhost(ctx: RuleContext) -> Iterator[Finding]:
    for r in _each(ctx):
        if not r.has_store or r.known_good_age_seconds is None:
            continue
        if r.exported_age_seconds is None:
            yield _f(ctx, "baseline-export", Severity.WARNING,
                     "the known-good baseline was never exported off-host: set [recovery] export_target and enable "
                     "hwagent-baseline-push.timer (or run `agent baseline push`)", {"exported": "never"}, "never")
        elif r.export_current is False:
            yield _f(ctx, "baseline-export", Severity.WARNING,
                     f"the off-host copy ({r.exported_age_seconds / DAY:.1f} days old) is not the current known-good "
                     "baseline: run `agent baseline push`", {"exported_age_seconds": round(r.exported_age_seconds)},
                     "outdated")


@rule("recovery.luks_tpm_without_recovery", runbook="mainboard-swap", defaults={"recorded": ""},
      param_docs={"recorded": "comma-separated crypttab targets whose recovery key is recorded off-host"},
      description="A LUKS volume unlocks through the TPM (tpm2-device=/clevis) without a recorded recovery path: a "
                  "new board's TPM will not unlock it.")
def luks_tpm(ctx: RuleContext) -> Iterator[Finding]:
    recorded = {x.strip() for x in str(ctx.param("recorded")).split(",") if x.strip()}
    for r in _each(ctx):
        todo = [t for t in r.tpm_luks_without_recovery if t not in recorded]
        if todo:
            yield _f(ctx, "luks-tpm", Severity.WARNING,
                     f"LUKS volume(s) {', '.join(todo)} unlock through the TPM; a new board's TPM will not unlock them: "
                     "record a recovery key off-host (systemd-cryptenroll --recovery-key) and list them in "
                     "[rules.\"recovery.luks_tpm_without_recovery\"] recorded", {"volumes": ",".join(todo)}, ",".join(todo))


@rule("recovery.mdadm_conf_mismatch", runbook="mainboard-swap",
      description="mdadm.conf ARRAY UUIDs do not match the assembled arrays: the initramfs may not assemble root "
                  "(mdadm --detail --scan; update-initramfs -u; step MB-12a).")
def mdadm_conf(ctx: RuleContext) -> Iterator[Finding]:
    for r in _each(ctx):
        if r.mdadm_conf_mismatch:
            yield _f(ctx, "mdadm.conf", Severity.WARNING,
                     "; ".join(r.mdadm_conf_mismatch) + ": fix the ARRAY lines from `mdadm --detail --scan`, then "
                     "`update-initramfs -u`", {"problems": "; ".join(r.mdadm_conf_mismatch)}, ";".join(r.mdadm_conf_mismatch))


@rule("recovery.grub_install_devices_missing", runbook="mainboard-swap",
      description="BIOS boot: grub-pc/install_devices names disks that do not exist (dpkg-reconfigure grub-pc).")
def grub_devices(ctx: RuleContext) -> Iterator[Finding]:
    for r in _each(ctx):
        if r.grub_missing_devices:
            yield _f(ctx, "grub-pc", Severity.WARNING,
                     f"grub-pc install_devices names absent disk(s) {', '.join(r.grub_missing_devices)}: run "
                     "`dpkg-reconfigure grub-pc` and pick the boot disks", {"devices": ",".join(r.grub_missing_devices)},
                     ",".join(r.grub_missing_devices))


@rule("recovery.backup_older_than_rpo", runbook="mainboard-swap",
      description="The newest restic/borg backup (collector option backup_tool) is older than backup_rpo_hours, or "
                  "the repository cannot be listed: a failure now loses more than promised (step MB-03).")
def backup_rpo(ctx: RuleContext) -> Iterator[Finding]:
    for r in _each(ctx):
        if r.backup_rpo_seconds is None:
            continue
        if r.backup_error:
            yield _f(ctx, "backup", Severity.WARNING, f"backup freshness unknown: {r.backup_error}",
                     {"error": r.backup_error}, "error")
        elif r.backup_age_seconds is not None and r.backup_age_seconds > r.backup_rpo_seconds:
            yield _f(ctx, "backup", Severity.WARNING,
                     f"newest backup is {r.backup_age_seconds / 3600:.1f} h old, more than the RPO of "
                     f"{r.backup_rpo_seconds / 3600:g} h: check the backup job before the hardware fails",
                     {"backup_age_seconds": round(r.backup_age_seconds), "rpo_seconds": round(r.backup_rpo_seconds)}, "old")


RULES = (no_fallback_loader, network_bound, baseline_stale, baseline_not_offhost, luks_tpm, mdadm_conf, grub_devices, backup_rpo)
