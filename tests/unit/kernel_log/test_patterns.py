"""The classifier on the lab captures and on one real line per documented wording variant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.collectors.patterns import Classifier, classify_lines, disk_of, unescape_kmsg
from agent.model import Severity
from tests.unit.kernel_log.forms import FORMS, classify_as
from tests.unit.kernel_log.kmsg import dmesg_to_kmsg

LAB = Path(__file__).resolve().parents[2] / "fixtures" / "kernel_log" / "lab"

# every <scenario>.fault-dmesg.txt has a <scenario>.expected.json: the (class, component) pairs
# its lines must yield, nothing more (adding a capture means adding the two files)
LAB_EXPECTED = {p.name.split(".")[0]: {tuple(x) for x in json.loads(p.read_text())}
                for p in sorted(LAB.glob("*.expected.json"))}
assert len(LAB_EXPECTED) >= 7


@pytest.mark.parametrize("scenario", sorted(LAB_EXPECTED))
def test_lab_fault_capture(scenario):
    evs = classify_lines((LAB / f"{scenario}.fault-dmesg.txt").read_text().splitlines())
    assert {(e.cls, e.component) for e in evs} == LAB_EXPECTED[scenario]


@pytest.mark.parametrize("scenario", sorted(LAB_EXPECTED) + ["mce-fatal"])
def test_lab_healthy_capture_yields_no_event(scenario):
    evs = classify_lines((LAB / f"{scenario}.before-dmesg.txt").read_text().splitlines())
    assert evs == []


@pytest.mark.parametrize("scenario", sorted(LAB_EXPECTED))
def test_lab_capture_same_through_kmsg_records(scenario):
    lines = (LAB / f"{scenario}.before-dmesg.txt").read_text().splitlines() + \
        (LAB / f"{scenario}.fault-dmesg.txt").read_text().splitlines()
    c = Classifier()
    c.scan_kmsg(dmesg_to_kmsg(lines))
    c.flush()
    assert {(e.cls, e.component) for e in c.take()} == LAB_EXPECTED[scenario]


def test_lab_details():
    aer = classify_lines((LAB / "aer-uncorrected.fault-dmesg.txt").read_text().splitlines())[0]
    assert aer.device == "0000:00:01.0" and aer.severity == Severity.WARNING
    assert aer.detail["bits"] == ("CmpltTO",) and aer.detail["layer"] == "Transaction Layer"
    assert aer.detail["recovery"] == "successful" and len(aer.raw) == 5
    mce = classify_lines((LAB / "mce-corrected.fault-dmesg.txt").read_text().splitlines())[0]
    assert mce.detail["bank"] == 1 and mce.detail["address"] == "0x1234000" and mce.device == "socket0"
    assert mce.detail["error_kind"] == "memory controller"
    disk = classify_lines((LAB / "disk-io-error.fault-dmesg.txt").read_text().splitlines())
    io = [e for e in disk if e.cls == "block.io_error"]
    assert [(e.device, e.detail["sector"], e.detail["status"]) for e in io] == \
        [("sda", 20480, "I/O"), ("nvme0c0n1", 20480, "critical medium")]
    ata = [e for e in disk if e.cls == "ata.error"]
    assert len(ata) == 6 and ata[-1].detail["error_bits"] == ("ABRT",) and ata[0].detail["emask_class"] == ("device error",)


def test_fatal_mce_and_panic_from_console():
    evs = classify_lines((LAB / "mce-fatal.console-tail.txt").read_text().splitlines(), source="pstore")
    assert [(e.cls, e.severity) for e in evs] == [("mce.fatal", Severity.CRITICAL), ("panic.mce", Severity.CRITICAL)]
    assert evs[0].detail["bits"] == "UC,EN,MISCV,ADDRV,PCC" and evs[0].detail["function"].startswith("native_safe_halt")


# one real line (or block) per documented wording variant -> (class, component, device)
REFERENCE = [
    # MCE, core decoder
    (["mce: [Hardware Error]: Machine check events logged",
      "mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 3: cc5eb2c000100135",
      "mce: [Hardware Error]: TSC 0 ADDR 4658130c0 MISC 102285",
      "mce: [Hardware Error]: PROCESSOR 0:506e3 TIME 1506182841 SOCKET 0 APIC 0 microcode 84",
      "mce: [Hardware Error]: Run the above through 'mcelog --ascii'"], "mce.corrected", "cpu", "socket0"),
    (["[Hardware Error]: CPU 1: Machine Check Exception: 5 Bank 4: b200000000070f0f",  # <=3.x: no "mce:"
      "[Hardware Error]: RIP !INEXACT! 10:<ffffffff8104b4c6> {native_safe_halt+0x6/0x10}",
      "[Hardware Error]: TSC 2e3f7a0ba4 ",
      "[Hardware Error]: PROCESSOR 0:206d7 TIME 1424090004 SOCKET 1 APIC 20 microcode 710"], "mce.fatal", "cpu", "socket1"),
    (["mce: [Hardware Error]: CPU 5: Machine Check: 0 Bank 17: dc2040000000011b",
      "mce: [Hardware Error]: TSC 0 ADDR 65aa27c0 MISC d012000101000000 SYND 4d000000 IPID 9600050f00",
      "mce: [Hardware Error]: PROCESSOR 2:800f11 TIME 1598000000 SOCKET 0 APIC 5 microcode 8001137"],
     "mce.corrected", "cpu", "socket0"),  # SMCA bank types need the IPID: not guessed from the MCA code
    # AMD decoder
    (["[Hardware Error]: Corrected error, no action required.",
      "[Hardware Error]: CPU:0 (17:1:1) MC15_STATUS[Over|CE|MiscV|AddrV|-|-|SyndV|CECC|-|-|-]: 0xdc2040000000011b",
      "[Hardware Error]: Error Addr: 0x0000000065aa27c0",
      "[Hardware Error]: Unified Memory Controller Ext. Error Code: 0, DRAM ECC error."], "mce.corrected", "memory", "cpu0"),
    (["[Hardware Error]: Deferred error, no action required.",
      "[Hardware Error]: CPU:3 (17:31:0) MC17_STATUS[-|-|MiscV|AddrV|-|-|SyndV|UECC|Deferred|-|-]: 0x9c2041000000011b"],
     "mce.deferred", "cpu", "cpu3"),
    (["CMCI storm detected: switching to poll mode"], "mce.storm", "cpu", "cpu"),
    (["Kernel panic - not syncing: Fatal machine check"], "panic.mce", "cpu", "cpu"),
    (["Kernel panic - not syncing: Fatal exception"], "panic", "system", "kernel"),
    # EDAC
    (["EDAC MC1: 128 CE memory read error on CPU_SrcID#1_Ha#0_Chan#1_DIMM#1 (channel:1 slot:1 page:0x2b67afa offset:0xb40 "
      "grain:32 syndrome:0x0 -  area:DRAM err_code:0001:0092 socket:1 ha:0 channel_mask:2 rank:5)"],
     "edac.ce", "memory", "CPU_SrcID#1_Ha#0_Chan#1_DIMM#1"),
    (["EDAC MC0: 2 CE read ECC error on CPU#0Channel#1_DIMM#1 (channel:1 slot:1 page:0x1d1b99 offset:0x500 grain:8 "
      "syndrome:0x391a5d80 - read error)"], "edac.ce", "memory", "CPU#0Channel#1_DIMM#1"),
    (["EDAC MC0: 1 UE memory read error on CPU_SrcID#0_MC#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x1234 offset:0x0 grain:32 "
      "syndrome:0x0 -  OVERFLOW area:DRAM err_code:0101:0090 socket:0 imc:0 rank:0 bg:0 ba:0 row:0 col:0)"],
     "edac.ue", "memory", "CPU_SrcID#0_MC#0_Chan#1_DIMM#0"),
    (["EDAC MC0: 1 CE single-symbol chipkill ECC on unknown memory (node: 0 card: 0 module: 0 rank: 0 page:0x0 "
      "offset:0x0 grain:1 syndrome:0x0 - APEI location: node: 0 card: 0 module: 0 rank: 0)"], "edac.ce", "memory", "mc0"),
    (['EDAC MC1: CE page 0xf075b2, offset 0x410, grain 0, syndrome 0xa082, row 6, channel 0, label "": amd64_edac'],
     "edac.ce", "memory", "mc1/csrow6/ch0"),
    # GHES
    (["{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
      "{1}[Hardware Error]: It has been corrected by h/w and requires no further action",
      "{1}[Hardware Error]: event severity: corrected",
      "{1}[Hardware Error]:  Error 0, type: corrected",
      "{1}[Hardware Error]:  fru_text: D2",
      "{1}[Hardware Error]:   section_type: memory error",
      "{1}[Hardware Error]:   error_status: Storage error in DRAM memory (0x0000000000000400)",
      "{1}[Hardware Error]:   physical_address: 0x0000006a47d1f540",
      "{1}[Hardware Error]:   node:6 card:1 module:0 rank:1 bank:2 device:11 row:40948 column:560",
      "{1}[Hardware Error]:   error_type: 2, single-bit ECC"], "ghes.corrected", "memory", "D2"),
    (["{2}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 1",
      "{2}[Hardware Error]: event severity: fatal",
      "{2}[Hardware Error]:  Error 0, type: fatal",
      "{2}[Hardware Error]:   section_type: PCIe error",
      "{2}[Hardware Error]:   device_id: 0000:af:00.0"], "ghes.fatal", "pcie", "0000:af:00.0"),
    (["{3}[Hardware Error]: event severity: recoverable",
      "{3}[Hardware Error]:   section_type: memory error",
      "{3}[Hardware Error]:   node:0 card:2 module:1 rank:0 bank:3 row:1 column:8"], "ghes.recoverable", "memory",
     "node0/card2/module1"),
    (["Memory failure: 0x40fa6: Killing mca-recover:1296 due to hardware memory corruption"], "memory.failure", "memory", "memory"),
    (["Memory failure: 0x7740c0: recovery action for dirty page: Recovered"], "memory.failure", "memory", "memory"),
    # AER, every kernel generation
    (["pcieport 0000:00:1b.4: AER: Corrected error received: id=00dc",
      "pcieport 0000:00:1b.4: PCIe Bus Error: severity=Corrected, type=Physical Layer, id=00dc(Receiver ID)"],
     "aer.corrected", "pcie", "0000:00:1b.4"),
    (["pcieport 0000:00:1c.0: AER: Corrected error received: 0000:00:1c.0",
      "pcieport 0000:00:1c.0: PCIe Bus Error: severity=Corrected, type=Data Link Layer, (Transmitter ID)",
      "pcieport 0000:00:1c.0:   device [8086:a110] error status/mask=00001000/00002000",
      "pcieport 0000:00:1c.0:    [12] Timeout               "], "aer.corrected", "pcie", "0000:00:1c.0"),
    (["pcieport 0000:00:1d.0: AER: Corrected error message received from 0000:00:1d.0",
      "pcieport 0000:00:1d.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)",
      "pcieport 0000:00:1d.0:   device [8086:9d18] error status/mask=00000001/00002000",
      "pcieport 0000:00:1d.0:    [ 0] RxErr                  (First)"], "aer.corrected", "pcie", "0000:00:1d.0"),
    (["pcieport 0000:00:00.0: AER: Multiple Corrected error message received from 0000:00:00.0"], "aer.corrected", "pcie",
     "0000:00:00.0"),
    (["pcieport 0000:00:01.1: AER: Uncorrected (Fatal) error message received from 0000:00:01.1",
      "pcieport 0000:00:01.1: PCIe Bus Error: severity=Uncorrected (Fatal), type=Transaction Layer, (Receiver ID)",
      "pcieport 0000:00:01.1:   device [1022:1453] error status/mask=00040000/00000000",
      "pcieport 0000:00:01.1:    [18] MalfTLP                (First)"], "aer.fatal", "pcie", "0000:00:01.1"),
    (["pcieport 0000:00:1c.4: AER: Uncorrectable (Non-Fatal) error message received from 0000:02:00.0",
      "nvme 0000:02:00.0: PCIe Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Requester ID)",
      "nvme 0000:02:00.0:   device [144d:a808] error status/mask=00100000/00400000",
      "nvme 0000:02:00.0:    [20] UnsupReq               (First)"], "aer.nonfatal", "pcie", "0000:02:00.0"),
    (["nvme 0000:01:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)"],
     "aer.nonfatal", "pcie", "0000:01:00.0"),
    (["pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down"], "pcie.link_down", "pcie", "0000:00:1c.0"),
    (["pciehp 0000:00:1c.0:pcie004: Slot(2): Link Down"], "pcie.link_down", "pcie", "0000:00:1c.0"),
    (["pcieport 0000:00:1c.0: DPC: containment event, status:0x1f01 source:0x0000"], "pcie.dpc", "pcie", "0000:00:1c.0"),
    # ATA
    (["ata5.00: exception Emask 0x0 SAct 0x1 SErr 0x0 action 0x0",
      "ata5.00: failed command: READ FPDMA QUEUED",
      "ata5.00: cmd 60/80:00:00:6a:3e/00:00:01:00:00/40 tag 0 ncq 65536 in",
      "         res 41/40:00:14:6a:3e/00:00:01:00:00/40 Emask 0x409 (media error) <F>",
      "ata5.00: error: { UNC }",
      "ata5.00: configured for UDMA/133",
      "ata5: EH complete"], "ata.error", "disk:ata5", "ata5.00"),
    (["ata8.00: exception Emask 0x0 SAct 0x20000 SErr 0x0 action 0x6 frozen",
      "ata8.00: failed command: WRITE FPDMA QUEUED",
      "ata8: hard resetting link",
      "ata8: SATA link up 6.0 Gbps (SStatus 133 SControl 300)"], "ata.error", "disk:ata8", "ata8.00"),
    (["ata2: SError: { 10B8B }"], "ata.link_error", "disk:ata2", "ata2"),
    (["ata3: hard resetting link", "ata3: SATA link down (SStatus 0 SControl 300)"], "ata.link_reset", "disk:ata3", "ata3"),
    (["ata6: limiting SATA link speed to 1.5 Gbps"], "ata.link_slow", "disk:ata6", "ata6"),
    # SCSI / block, every generation
    (["end_request: I/O error, dev sda, sector 63"], "block.io_error", "disk:sda", "sda"),
    (["blk_update_request: I/O error, dev sda, sector 2176"], "block.io_error", "disk:sda", "sda"),
    (["print_req_error: I/O error, dev sda, sector 0"], "block.io_error", "disk:sda", "sda"),
    (["blk_update_request: I/O error, dev sda, sector 409866664 op 0x1:(WRITE) flags 0x0 phys_seg 94 prio class 0"],
     "block.io_error", "disk:sda", "sda"),
    (["I/O error, dev sda, sector 13765461792 op 0x0:(READ) flags 0x0 phys_seg 4 prio class 0"], "block.io_error", "disk:sda", "sda"),
    (["critical medium error, dev nvme0n1, sector 9876 op 0x1:(WRITE) flags 0x0 phys_seg 1 prio class 0"],
     "block.io_error", "disk:nvme0", "nvme0n1"),
    (["critical target error, dev sdb, sector 100 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"], "block.io_error", "disk:sdb", "sdb"),
    (["Buffer I/O error on device sda1, logical block 196613"], "block.buffer_io_error", "disk:sda", "sda1"),
    (["sd 0:0:0:0: [sda] tag#0 Sense Key : Medium Error [current]",
      "sd 0:0:0:0: [sda] tag#0 Add. Sense: Unrecovered read error - auto reallocate failed"], "scsi.error", "disk:sda", "sda"),
    # NVMe
    (["nvme nvme0: I/O 123 QID 4 timeout, aborting"], "nvme.timeout", "disk:nvme0", "nvme0"),
    (["nvme nvme0: I/O tag 489 (d1e9) opcode 0x1 (I/O Cmd) QID 3 timeout, aborting req_op:WRITE(1) size:524288"],
     "nvme.timeout", "disk:nvme0", "nvme0"),
    (["nvme nvme1: I/O tag 192 (80c0) opcode 0x1 (I/O Cmd) QID 1 timeout, reset controller"], "nvme.timeout", "disk:nvme1", "nvme1"),
    (["nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0x10"], "nvme.reset", "disk:nvme0", "nvme0"),
    (["nvme nvme5: Disabling device after reset failure: -19"], "nvme.controller_failed", "disk:nvme5", "nvme5"),
    # md and filesystems
    (["md/raid1:md0: Disk failure on sdb1, disabling device.\nmd/raid1:md0: Operation continuing on 1 devices."],
     "raid.disk_failed", "raid", "md0"),
    (["md/raid:md1: Disk failure on sdc1, disabling device."], "raid.disk_failed", "raid", "md1"),
    (["md/raid10:md2: Operation continuing on 3 devices."], "raid.degraded", "raid", "md2"),
    (["md/raid:md0: raid level 5 active with 3 out of 4 devices, algorithm 2"], "raid.degraded", "raid", "md0"),
    (["md: recovery of RAID array md0"], "raid.resync", "raid", "md0"),
    (["EXT4-fs error (device sda1): ext4_find_entry:1663: inode #2: comm ls: reading directory lblock 0"], "fs.error", "fs", "sda1"),
    (["EXT4-fs (sda1): Remounting filesystem read-only"], "fs.readonly", "fs", "sda1"),
    (["XFS (sda1): Corruption detected. Unmount and run xfs_repair"], "fs.corruption", "fs", "sda1"),
    (["XFS (sdb1): Filesystem has been shut down due to log error (0x2)."], "fs.shutdown", "fs", "sdb1"),
    (["XFS (sdb1): Log I/O Error Detected. Shutting down filesystem"], "fs.shutdown", "fs", "sdb1"),
    (["BTRFS error (device sda1): bdev /dev/sda1 errs: wr 0, rd 0, flush 0, corrupt 1, gen 0"], "fs.error", "fs", "sda1"),
    (["BTRFS warning (device sda1): csum failed root 5 ino 257 off 0 csum 0x8941f998 expected csum 0x1234 mirror 1"],
     "fs.csum_error", "fs", "sda1"),
    # thermal
    (["CPU0: Core temperature above threshold, cpu clock throttled (total events = 1)"], "thermal.throttle", "cpu", "cpu0"),
    (["CPU2: Package temperature above threshold, cpu clock throttled (total events = 1)"], "thermal.throttle", "cpu", "cpu2"),
    (["CPU3: Core temperature is above threshold, cpu clock is throttled (total events = 1420)"], "thermal.throttle", "cpu", "cpu3"),
    (["mce: CPU3: Core temperature is above threshold, cpu clock is throttled (total events = 7)"], "thermal.throttle", "cpu", "cpu3"),
    (["CPU3: Core temperature/speed normal (total events = 1420)"], "thermal.normal", "cpu", "cpu3"),
    (["CPU1: Package power limit notification (total events = 12)"], "power.limit", "cpu", "cpu1"),
    (["thermal thermal_zone0: critical temperature reached, shutting down"], "thermal.critical", "board", "thermal_zone0"),
    (["Critical temperature reached (100 C), shutting down."], "thermal.critical", "board", "acpi"),
    # lockups, NMIs
    (["INFO: task kworker/u16:9:7088 blocked for more than 120 seconds."], "cpu.hung_task", "cpu", "cpu"),
    (["watchdog: BUG: soft lockup - CPU#7 stuck for 63s! [kworker/7:1:123]"], "cpu.soft_lockup", "cpu", "cpu7"),
    (["NMI watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [java:4242]"], "cpu.soft_lockup", "cpu", "cpu2"),
    (["watchdog: Watchdog detected hard LOCKUP on cpu 3"], "cpu.hard_lockup", "cpu", "cpu3"),
    (["NMI watchdog: Watchdog detected hard LOCKUP on cpu 5"], "cpu.hard_lockup", "cpu", "cpu5"),
    (["rcu: INFO: rcu_sched detected stalls on CPUs/tasks:"], "cpu.rcu_stall", "cpu", "cpu"),
    (["INFO: rcu_preempt self-detected stall on CPU"], "cpu.rcu_stall", "cpu", "cpu"),
    (["Uhhuh. NMI received for unknown reason 3d on CPU 0.", "Dazed and confused, but trying to continue"],
     "nmi.unknown", "board", "cpu0"),
    (["NMI: PCI system error (SERR) for reason a1 on CPU 0."], "nmi.serr", "board", "cpu0"),
    (["NMI: IOCK error (debug interrupt?) for reason 71 on CPU 0."], "nmi.iock", "board", "cpu0"),
    (["systemd-journald[312]: File /var/log/journal/0123/system.journal corrupted or uncleanly shut down, renaming and replacing."],
     "system.journal_unclean", "board", "journal"),
]


@pytest.mark.parametrize("lines,cls,component,device", REFERENCE, ids=[r[1] + ":" + r[0][0][:40] for r in REFERENCE])
def test_reference_variant(lines, cls, component, device):
    for form in ("text", "kmsg", "syslog"):
        c = Classifier()
        if form == "text":
            c.scan_text(lines)
        elif form == "syslog":
            c.scan_text([f"Sep 19 10:29:11 host kernel: [  590.{i:06d}] {ln}" if not ln.startswith(" ") else ln
                         for i, ln in enumerate(lines)])
        else:
            recs = []
            for i, ln in enumerate(lines):
                if ln.startswith(" ") and recs:
                    recs[-1] += "\\x0a" + ln
                else:
                    recs.append(f"3,{100 + i},{5_000_000 + i},-;" + ln.replace("\n", "\\x0a"))
            c.scan_kmsg("\n".join(recs) + "\n")
        c.flush()
        evs = c.take()
        assert evs, f"{form}: no event"
        first = evs[0]
        assert (first.cls, first.component, first.device) == (cls, component, device), form
        assert len(first.raw) >= 1


def test_md_record_with_two_lines_gives_both_events():
    c = Classifier()
    c.scan_kmsg("2,7,100,-;md/raid1:md0: Disk failure on sdb1, disabling device.\\x0amd/raid1:md0: Operation continuing on 1 devices.\n")
    c.flush()
    assert [(e.cls, e.detail.get("member"), e.detail.get("remaining")) for e in c.take()] == \
        [("raid.disk_failed", "sdb1", None), ("raid.degraded", None, 1)]


def test_ata_link_down_only_after_a_reset():
    evs = classify_lines(["[    4.9] ata2: SATA link down (SStatus 0 SControl 300)"])
    assert evs == []  # empty port at boot


@pytest.mark.parametrize("line", [
    "EDAC MC: Ver: 3.0.0", "pcieport 0000:00:01.0: AER: enabled with IRQ 24", "NMI watchdog: enabled on all CPUs",
    "mce: Using 9 MCE banks", "RAS: Correctable Errors collector initialized.", "EDAC skx: ECC is disabled on imc 0",
    "GHES: APEI firmware first mode is enabled by APEI bit and WHEA _OSC.", "ata1: SATA link up 6.0 Gbps (SStatus 133 SControl 300)",
    "EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.", "XFS (sda1): Mounting V5 Filesystem",
    "md/raid1:md0: active with 2 out of 2 mirrors", "nvme nvme0: 8/0/0 default/read/poll queues",
    "UBSAN: array-index-out-of-bounds in drivers/edac/i5000_edac.c:956:20",
    "Hardware name: Dell Inc. PowerEdge 1950/0TT740, BIOS 2.2.6 02/05/2008",
    "INFO: lockdep is turned off.", "BTRFS info (device sda1): disk space caching is enabled",
    # benign neighbours of the families' wider patterns (boot, probe, recovery that worked, capacity growth)
    "CMCI storm subsided: switching to interrupt mode", "mce: CPU supports 9 MCE banks", "mce_notify_irq: 14 callbacks suppressed",
    "mce: CPU0: Thermal monitoring enabled (TM1)", "MCE: In-kernel MCE decoding enabled.",
    "pcieport 0000:00:03.0: AER: Root Port link has been reset (0)", "pcieport 0000:00:1c.0: AER: Device recovery successful",
    "pcieport 0000:00:1c.0: AER: device recovery successful",
    "pcieport 0000:00:1c.0: DPC: error containment capabilities: Int Msg #0, RPExt+ PoisonedTLP+ SwTrigger+ RP PIO Log 4, DL_ActiveErr+",
    "pcieport 0000:00:1c.0: DPC: enabled with IRQ 122", "pcieport 0000:00:1c.1: pciehp: Slot(3): Card present",
    "pcieport 0000:00:1c.1: pciehp: Slot(3): Link Up",
    "pcieport 0000:00:1c.0: pciehp: Slot #8 AttnBtn- PwrCtrl- MRL- AttnInd- PwrInd- HotPlug+ Surprise+ Interlock- NoCompl+ LLActRep+",
    "pcieport 0000:00:1c.0: Data Link Layer Link Active not cleared in 1000 msec",
    "sdb: detected capacity change from 0 to 8001563222016", "sda: detected capacity change from 1000 to 2000",
    "ata1: SATA link down (SStatus 0 SControl 300)", "ata3: SATA link down (SStatus 4 SControl 300)",
    "md/raid:md0: device sdb1 operational as raid disk 1", "md: md0 stopped.", "md/raid1:md0: active with 2 out of 2 mirrors",
    "BTRFS info (device sda1): using crc32c (crc32c-intel) checksum algorithm", "XFS (sda1): Ending clean mount",
    "XFS (sdb1): Unmounting Filesystem", "EXT4-fs (sda1): re-mounted. Opts: errors=remount-ro. Quota mode: none.",
    "EDAC sbridge: Seeking for: PCI ID 8086:6f60", "EDAC DEBUG: sbridge_get_onedevice: Detected 8086:6f60",
    "EDAC amd64: Node 0: DRAM ECC disabled.", "EDAC amd64: F17h detected (node 0).",
    "EDAC MC0: Giving out device to module skx_edac controller Skylake Socket#0 IMC#0: DEV 0000:3a:0a.0 (INTERRUPT)",
    "EDAC MC1: Giving out device to module amd64_edac controller F17h: DEV 0000:00:18.3 (INTERRUPT)",
    "EDAC PCI0: Giving out device to module amd64_edac controller EDAC PCI controller: DEV 0000:00:18.2 (POLLED)",
    "nvme nvme0: pci function 0000:01:00.0", "nvme nvme0: Shutdown timeout set to 8 seconds",
    "nvme nvme0: failed to set APST feature (-19)",
    "ahci 0000:00:17.0: AHCI 0001.0301 32 slots 6 ports 6 Gbps 0x3f impl SATA mode",
    "igb 0000:07:00.0 eno1: igb: eno1 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX/TX",
    "NVRM: loading NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023",
    "CPU0: Thermal monitoring enabled (TM2)", "sd 2:0:0:0: [sdb] Attached SCSI disk", "scsi 2:0:0:0: Direct-Access ATA ST8000",
    "INFO: task hung detection enabled", "GHES: APEI firmware first mode is enabled by WHEA _OSC.",
    "[Firmware Bug]: the BIOS has corrupted hw-PMU resources (MSR 38d is 330)",
])
def test_benign_lines_are_not_events(line):
    assert classify_lines([line]) == []
    for form in FORMS:
        assert classify_as(form, [line]) == [], form


def test_garbage_never_raises():
    import random

    rng = random.Random(7)
    c = Classifier()
    for _ in range(300):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))).decode("utf-8", "replace")
        c.scan_kmsg(blob + "\n")
        c.scan_text([blob])
        c.feed(blob)
    # truncated records and headers, over-long lines
    c.scan_kmsg("6,1,2\n6,,,;\n;;;;\n3,5,6,-;mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 3: \n")
    c.scan_kmsg("3,9,10,-;EDAC MC0: " + "9" * 100000 + " CE x on y (z)\n")
    c.scan_kmsg("3,11,12,-;" + "pcieport 0000:00:1d.0: AER: " * 20000 + "\n")
    c.flush()
    c.take()


def test_device_names_and_unescaping():
    assert disk_of("sda1") == "sda" and disk_of("nvme0c0n1") == "nvme0" and disk_of("nvme1n1p2") == "nvme1"
    assert disk_of("md0p1") == "md0" and disk_of("dm-0") == "dm-0"
    assert unescape_kmsg("a\\x0ab\\x5c") == "a\nb\\"


def test_nvme_timeout_and_its_abort_status_are_one_event():
    evs = classify_lines(["nvme nvme0: I/O 123 QID 4 timeout, aborting", "nvme nvme0: Abort status: 0x0"])
    assert [e.cls for e in evs] == ["nvme.timeout"] and evs[0].detail["qid"] == 4 and evs[0].detail["action"] == "abort"


@pytest.mark.parametrize("scenario", sorted(LAB_EXPECTED))
def test_lab_capture_details_same_through_kmsg_records(scenario):
    # libata prints "cmd .../res ... Emask" as one record with an embedded newline (\x0a on kmsg):
    # it must neither close the ATA group nor lose the error bits and error class after it
    lines = (LAB / f"{scenario}.fault-dmesg.txt").read_text().splitlines()
    text = classify_lines(lines)
    c = Classifier()
    c.scan_kmsg(dmesg_to_kmsg(lines))
    c.flush()
    kmsg = c.take()
    assert [(e.cls, e.device, dict(e.detail), len(e.raw)) for e in kmsg] == \
        [(e.cls, e.device, dict(e.detail), len(e.raw)) for e in text]


def test_md_two_line_record_printed_by_dmesg_gives_both_events():
    # dmesg prints the second line of a multi-line record indented under the first
    evs = classify_lines(["[  590.1] md/raid1:md0: Disk failure on sdb1, disabling device.",
                          "                md/raid1:md0: Operation continuing on 1 devices."])
    assert [e.cls for e in evs] == ["raid.disk_failed", "raid.degraded"]


def test_kmsg_continuation_fragments_join_their_record():
    # kernels before 4.x wrote pr_cont() pieces as records of their own, flagged '+'
    c = Classifier()
    c.scan_kmsg("3,10,100,c;ata5.00: exception Emask 0x0 SAct 0x1 SErr 0x0 action 0x0\n"
                "3,11,101,-;ata5.00: cmd 60/80:00:00:6a:3e/00:00:01:00:00/40 tag 0 ncq 65536 in\n"
                "3,12,102,+;res 41/40:00:14:6a:3e/00:00:01:00:00/40 Emask 0x409 (media error) <F>\n"
                "3,13,103,-;ata5.00: error: { UNC }\n3,14,104,-;ata5: EH complete\n")
    c.flush()
    evs = c.take()
    assert len(evs) == 1 and evs[0].detail["emask_class"] == ("media error",) and evs[0].detail["error_bits"] == ("UNC",)
