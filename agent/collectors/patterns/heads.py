"""The message starts of every kernel-log family (stage 1 of the classifier: the prefilter).

They live here, apart from the family modules' parsers, so that the prefilter can be built
without importing the parsers: :mod:`agent.collectors.patterns.classifier` imports a family's
module (and compiles its regular expressions) only when a message of that family arrives. On a
healthy host most families never see one. Each family module still exposes its own ``HEAD``.
The order of :data:`NAMES` is the classifier's (it matters only for speed: PCI last, its branch
starts with a character class).
"""

from __future__ import annotations

from agent.collectors.patterns.record import BDF

NAMES = ("mce", "ghes", "edac", "memfail", "ata", "scsi", "block", "nvme", "md", "fs", "thermal", "lockup", "journal", "pci")
HEADS: dict[str, str] = {}

# ---- mce -----------------------------------------------------------------------------------------
# arch/x86/kernel/cpu/mce/core.c (print_mce, mce_notify_irq, mce_panic), drivers/edac/mce_amd.c,
# arch/x86/kernel/cpu/mce/therm_throt.c, arch/x86/kernel/nmi.c, kernel/panic.c; 2.6/3.x kernels
# printed the block without the "[Hardware Error]: " prefix and panicked with "Kernel panic: "
HEADS["mce"] = (
    r"mce: |MCE: (?!Killing )|\[Hardware Error\]|Machine check events|CMCI storm detected|CPU\d+: (?:Core |Package |Temperature[ /])|"
    r"CPU \d+: Machine Check|HARDWARE ERROR(?!.)|Kernel panic(?: - not syncing)?: |Uhhuh\. NMI|NMI: |Dazed and confused"
)  # message starts (stage 1 prefilter)

# ---- ghes ----------------------------------------------------------------------------------------
HEADS["ghes"] = r"\{\d+\}\[Hardware Error\]"  # message starts (stage 1 prefilter)

# ---- edac ----------------------------------------------------------------------------------------
# drivers/edac/edac_mc.h: edac_mc_printk() "EDAC MC%d: ", edac_mc_chipset_printk() "EDAC <driver> MC%d: "
# (sbridge, i7core, amd64, i5000 ...), edac_printk() "EDAC <driver>: " (skx, i10nm, amd64 ...);
# drivers/edac/edac_pci_sysfs.c: "EDAC PCI: Signaled System Error on %s" and the parity errors
HEADS["edac"] = (r"EDAC (?:[\w-]+ )?MC\d+: |EDAC [\w-]+: (?:\d+ )?[CU]E |"
        r"EDAC PCI: (?:Signaled System Error|Master Data Parity Error|Detected Parity Error) on ")

# ---- memfail -------------------------------------------------------------------------------------
# mm/memory-failure.c: pr_fmt "Memory failure: " (4.x+); 2.6.32-3.x printed "MCE %#lx: %s page recovery: %s",
# "MCE %#lx: Killing %s:%d ..." and "MCE: Killing %s:%d due to hardware memory corruption fault at %lx"
HEADS["memfail"] = r"Memory failure: |MCE: Killing |MCE \w+: Killing |MCE 0x[0-9a-f]+: "  # message starts (stage 1 prefilter)

# ---- ata -----------------------------------------------------------------------------------------
HEADS["ata"] = (
    r"ata\d+(?:\.\d+)?: (?:exception |SError: |hard resetting link|limiting SATA link speed|SATA link down|"
    r"COMRESET failed|softreset failed|link is slow|failed to IDENTIFY|revalidation failed|error: \{)"
)  # message starts (stage 1 prefilter)

# ---- scsi ----------------------------------------------------------------------------------------
# drivers/scsi/scsi_logging.c/constants.c (sense), drivers/scsi/scsi_lib.c scsi_device_state_check():
# "rejecting I/O to offline device" / "rejecting I/O to dead device" (the device is gone)
HEADS["scsi"] = (r"sd \d+:\d+:\d+:\d+: \[\w+\] (?:tag#\d+ )?(?:Sense Key|FAILED Result|Add\. Sense|Unhandled (?:sense|error))|"
        r"(?:sd|scsi) \d+:\d+:\d+:\d+: (?:\[\w+\] )?(?:rejecting I/O to (?:offline|dead) device|Device offlined - )")  # message starts (stage 1 prefilter)

# ---- block ---------------------------------------------------------------------------------------
HEADS["block"] = (
    r"(?:blk_update_request|end_request|print_req_error): |(?:I/O|critical [a-z ]{1,24}|recoverable transport|"
    r"timeout|operation not supported|kernel resource|device resource|nonblocking retry|device offline|zone [a-z ]{1,20}) "
    r"error, dev |Buffer I/O error on |(?:quiet_error|buffer_io_error|blk_print_req_error): \d+ callbacks suppressed|"
    # block/genhd.c set_capacity_and_notify() (5.11+), fs/block_dev.c check_disk_size_change() before:
    # "%s: detected capacity change from %lld to %lld" -- to 0: the disk (or its medium) is gone
    r"[\w.-]+: detected capacity change from \d+ to 0(?!\d)"
)  # message starts (stage 1 prefilter)

# ---- nvme ----------------------------------------------------------------------------------------
HEADS["nvme"] = (
    r"nvme nvme\d+: (?:I/O |controller is down|Disabling device|Removing after|Device not ready|"
    r"resetting controller|failed to|frozen state error|Does your device have a faulty power saving mode|Try .nvme_core)|nvme\d+(?:c\d+)?n\d+: .{1,40} @ LBA "
)  # message starts (stage 1 prefilter)

# ---- md ------------------------------------------------------------------------------------------
# drivers/md/raid1.c, raid10.c, raid5.c (raid*_error(), setup_conf(), raid5_run()), md.c (md_run(),
# super_written(), md_update_sb())
HEADS["md"] = (r"md/raid\d*:\w+: |md: (?:md\d+: |[a-z]+ of RAID array|kicking |pers->run\(\) failed|"
        r"super_written gets error|\w+: (?:Cannot|cannot|Superblock)|cannot start array)")  # message starts (stage 1 prefilter)

# ---- fs ------------------------------------------------------------------------------------------
# fs/ext4/super.c (__ext4_error*, ext4_handle_error, ___ratelimit(..., "EXT4-fs error")), fs/jbd2/journal.c
# ("Aborting journal on device %s."), fs/jbd2/commit.c ("JBD2: Detected IO errors while flushing file data on %s"),
# fs/xfs/xfs_fsops.c xfs_do_force_shutdown(), fs/xfs/xfs_buf.c, fs/btrfs/messages.c (6.x: "BTRFS %s (device
# %s: state %s): "; before: "BTRFS %s (device %s): "), 3.x "btrfs csum failed ino ..." / "btrfs: bdev ... errs:"
HEADS["fs"] = (
    r"EXT[234]-fs (?:error \(|error: \d+ callbacks|\([\w.-]+\): (?:Remounting|I/O error|aborting|error |previous I/O))|"
    r"Aborting journal on device |JBD2?: (?:Detected IO errors|I/O error|Error -?\d+ detected)|"
    r"XFS \([\w.-]+\): [^\n]{0,60}?(?:[Cc]orruption|[Ss]hut(?:ting)? down|I/O [Ee]rror|log error|force_shutdown|"
    r"Internal error|mount failed|recovery failed|Failing async write)|XFS: Internal error|"
    r"(?:XFS: metadata IO error|XFS: Failing async write|xfs_buf_ioerror_alert): \d+ callbacks suppressed|"
    r"BTRFS(?: (?:error|critical|warning|emerg|alert|crit) \(|: error| info \(device [^)\n]*\): forced readonly)|"
    r"btrfs(?::? csum failed |: bdev )"
)  # message starts (stage 1 prefilter)

# ---- thermal -------------------------------------------------------------------------------------
HEADS["thermal"] = r"thermal thermal_zone\d+: |Critical temperature reached"  # message starts (stage 1 prefilter)

# ---- lockup --------------------------------------------------------------------------------------
HEADS["lockup"] = r"(?:NMI )?watchdog: (?:BUG|Watchdog detected)|BUG: soft lockup|Watchdog detected hard|INFO: (?:task |rcu_)|rcu: INFO: "  # message starts (stage 1 prefilter)

# ---- journal -------------------------------------------------------------------------------------
HEADS["journal"] = r"systemd-journald\[\d+\]: File "  # message starts (stage 1 prefilter)

# ---- pci -----------------------------------------------------------------------------------------
# "<driver> <BDF>[:pcieNN| <netdev>]: " and then the message (drivers/pci/pcie/aer.c, err.c, dpc.c,
# drivers/pci/hotplug/pciehp_hpc.c and pciehp_ctrl.c, drivers/pci/pci.c, drivers/ata/libahci.c,
# drivers/net/ethernet/intel/igb/igb_main.c)
_PCI_MSG = (r"AER: |PCIe Bus Error|DPC: |(?:pciehp: )?[Ss]lot\(|PCIe link lost|xHCI host controller not responding|"
        r"aer_status: |Data Link Layer Link Active not set|AHCI controller unavailable|not ready \d+ms after|"
        r"[^\n]{0,60}fallen off the bus")
HEADS["pci"] = (
    r"[\w.-]+ " + BDF + r"(?::pcie\d+| [\w.-]+)?: (?:" + _PCI_MSG + r"|\s+device \[|\s+\[ ?\d+\] )|NVRM: GPU " + BDF
)  # message starts (stage 1 prefilter)
# the scanner anchors this family on the ": " before its message (a leading class is slow to search)
PCI_SCAN = (r": (?:AER: |PCIe Bus Error|DPC: |(?:pciehp: )?[Ss]lot\(|PCIe link lost|xHCI host controller not responding|"
        r"aer_status: |Data Link Layer Link Active not set|AHCI controller unavailable|not ready \d+ms after|GPU [0-9a-f]{4}:)"
        r"|fallen off the bus")
