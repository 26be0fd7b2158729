"""Every message family, row by row: each family module's EXAMPLES, and the wider tables here
(format strings of the kernel source, the file cited next to the rows, and real published lines,
the source cited), through every transport (dmesg text, /dev/kmsg records, syslog)."""

from __future__ import annotations

import pytest

from agent.collectors.patterns import FAMILIES
from tests.unit.kernel_log.forms import FORMS, classify_as

MODULE_EXAMPLES = [(f.NAME, *row) for f in FAMILIES for row in f.EXAMPLES]


def test_every_family_has_examples():
    assert {f.NAME for f in FAMILIES} == {name for name, *_ in MODULE_EXAMPLES}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("family,lines,cls,component,device", MODULE_EXAMPLES,
                         ids=[f"{r[0]}:{r[1][0][:40]}" for r in MODULE_EXAMPLES])
def test_module_example(form, family, lines, cls, component, device):
    evs = classify_as(form, lines)
    assert evs, "no event"
    assert (evs[0].cls, evs[0].component, evs[0].device) == (cls, component, device)


def check(lines, cls, component, device, detail=None):
    for form in FORMS:
        evs = classify_as(form, lines)
        assert evs, f"{form}: no event"
        got = next((e for e in evs if e.cls == cls), evs[0])
        assert (got.cls, got.component, got.device) == (cls, component, device), form
        for k, v in (detail or {}).items():
            assert got.detail.get(k) == v, (form, k, got.detail)


# ---- PCIe AER / DPC / hotplug / devices gone ----------------------------------------------------
PCI_ROWS = [
    # drivers/pci/pcie/aer.c (5.x+: dev_fmt "AER: " prefixes every line of aer_print_error(), so the
    # block may start at "AER: PCIe Bus Error" when the header line was rate-limited or printed for
    # the root port earlier): status/mask and the bit names survive the prefix
    (["nvme 0000:02:00.0: AER: PCIe Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Requester ID)",
      "nvme 0000:02:00.0: AER:   device [144d:a808] error status/mask=00100000/00400000",
      "nvme 0000:02:00.0: AER:    [20] UnsupReq               (First)"],
     "aer.nonfatal", "pcie", "0000:02:00.0", {"status": "0x00100000", "mask": "0x00400000", "bits": ("UnsupReq",),
                                              "first": "UnsupReq"}),
    (["pcieport 0000:00:1c.5: AER: Correctable error message received from 0000:00:1c.5",
      "pcieport 0000:00:1c.5: AER: PCIe Bus Error: severity=Correctable, type=Physical Layer, (Receiver ID)",
      "pcieport 0000:00:1c.5: AER:   device [8086:a33d] error status/mask=00000001/00002000",
      "pcieport 0000:00:1c.5: AER:    [ 0] RxErr                  (First)"],
     "aer.corrected", "pcie", "0000:00:1c.5", {"status": "0x00000001", "bits": ("RxErr",), "layer": "Physical Layer"}),
    # firmware first: drivers/pci/pcie/aer.c cper_print_aer() ("aer_status: 0x%08x, aer_mask: 0x%08x",
    # "aer_layer=%s, aer_agent=%s", "aer_uncor_severity: 0x%08x"), 4.x without, 5.x+ with "AER: "
    (["pcieport 0000:00:03.0: aer_status: 0x00004000, aer_mask: 0x00000000",
      "pcieport 0000:00:03.0:    [14] CmpltTO                (First)",
      "pcieport 0000:00:03.0: aer_layer=Transaction Layer, aer_agent=Requester ID",
      "pcieport 0000:00:03.0: aer_uncor_severity: 0x00062010"],
     "aer.nonfatal", "pcie", "0000:00:03.0", {"status": "0x00004000", "bits": ("CmpltTO",), "firmware_first": True}),
    (["pcieport 0000:00:03.0: AER: aer_status: 0x00040000, aer_mask: 0x00000000",
      "pcieport 0000:00:03.0: AER:    [18] MalfTLP                (First)",
      "pcieport 0000:00:03.0: AER: aer_layer=Transaction Layer, aer_agent=Receiver ID",
      "pcieport 0000:00:03.0: AER: aer_uncor_severity: 0x00062030"],
     "aer.fatal", "pcie", "0000:00:03.0", {"bits": ("MalfTLP",)}),
    (["pcieport 0000:00:1c.0: AER: aer_status: 0x00000001, aer_mask: 0x00002000",
      "pcieport 0000:00:1c.0: AER:    [ 0] RxErr                  (First)",
      "pcieport 0000:00:1c.0: AER: aer_layer=Physical Layer, aer_agent=Receiver ID"], "aer.corrected", "pcie", "0000:00:1c.0", {}),
    # escalation: drivers/pci/pcie/err.c ("AER: Device recovery failed" <=5.x, dev_fmt "AER: " + "device
    # recovery failed" 6.x, "AER: Can't recover (no error_detected callback)"); real lines:
    # github.com/geerlingguy/raspberry-pi-pcie-devices/issues/116 (ASM1064 on a Pi CM4)
    (["pcieport 0000:00:00.0: AER: Uncorrected (Non-Fatal) error received: 0000:00:00.0",
      "pcieport 0000:00:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)",
      "pcieport 0000:00:00.0:   device [14e4:2712] error status/mask=00044000/00400000",
      "pcieport 0000:00:00.0:    [14] CmpltTO",
      "pcieport 0000:00:00.0:    [18] MalfTLP                (First)",
      "pcieport 0000:00:00.0: AER:   TLP Header: 60000001 0100000f 000000ff ffffe000",
      "ahci 0000:01:00.0: AER: can't recover (no error_detected callback)",
      "pcieport 0000:00:00.0: AER: device recovery failed"],
     "pcie.recovery_failed", "pcie", "0000:01:00.0", {"recovery": "failed"}),
    (["pcieport 0000:00:03.0: AER: Device recovery failed"], "pcie.recovery_failed", "pcie", "0000:00:03.0", {}),
    # drivers/pci/pcie/aer.c aer_root_reset(): "Root Port link has been reset (%d)" (a negative code: failed)
    (["pcieport 0000:00:03.0: AER: Root Port link has been reset (-25)"], "pcie.recovery_failed", "pcie", "0000:00:03.0", {}),
    # drivers/pci/pci.c pci_dev_wait(): "not ready %dms after %s; giving up"
    (["nvme 0000:01:00.0: not ready 65535ms after DPC; giving up"], "pcie.recovery_failed", "pcie", "0000:01:00.0", {}),
    # drivers/pci/pcie/dpc.c dpc_process_error(): "containment event, status:%#06x source:%#06x"
    (["pcieport 0000:00:1c.0: DPC: containment event, status:0x1f01 source:0x0300",
      "pcieport 0000:00:1c.0: DPC: unmasked uncorrectable error detected"],
     "pcie.dpc", "pcie", "0000:00:1c.0", {"source_device": "0000:03:00.0"}),
    # drivers/pci/pci.c pcie_wait_for_link_delay(): "Data Link Layer Link Active not %s in 1000 msec"
    (["pcieport 0000:00:1c.0: Data Link Layer Link Active not set in 1000 msec"], "pcie.link_down", "pcie", "0000:00:1c.0", {}),
    # old pciehp_hpc.c: ctrl_info(ctrl, "slot(%s): Link Down event"); real line:
    # lore/linux-pci thread quoted in public code ("pciehp 0000:13:01.0:pcie24: slot(1-5): Link Down event")
    (["pciehp 0000:13:01.0:pcie24: slot(1-5): Link Down event"], "pcie.link_down", "pcie", "0000:13:01.0", {}),
    (["pcieport 0000:00:1c.1: pciehp: Slot(3): Link Down event queued; currently getting powered on"],
     "pcie.link_down", "pcie", "0000:00:1c.1", {}),
    # drivers/ata/libahci.c ahci_reset_controller(): HOST_CTL reads all ones
    (["ahci 0000:00:17.0: AHCI controller unavailable!"], "pcie.link_down", "pcie", "0000:00:17.0", {"off_bus": True}),
    # drivers/net/ethernet/intel/igb/igb_main.c igb_rd32(): netdev_err(netdev, "PCIe link lost\n")
    (["igb 0000:07:00.0 eno1: PCIe link lost"], "pcie.link_down", "pcie", "0000:07:00.0", {"off_bus": True}),
    (["igb 0000:07:00.0: PCIe link lost, device now detached"], "pcie.link_down", "pcie", "0000:07:00.0", {"off_bus": True}),
    # NVIDIA driver: "NVRM: GPU %04x:%02x:%02x.%x: GPU has fallen off the bus."
    (["NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus."], "pcie.link_down", "pcie", "0000:3b:00.0", {"off_bus": True}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", PCI_ROWS, ids=[r[0][0][:50] for r in PCI_ROWS])
def test_pci(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)


def test_recovery_failure_escalates_across_other_devices_lines():
    # github.com/minisforum-docs/MS-02-Ultra/issues/10: other devices' lines between the AER block and
    # the port's "device recovery failed"
    lines = ["pcieport 0000:80:1b.4: AER: Uncorrectable (Non-Fatal) error message received from 0000:80:1b.4",
             "pcieport 0000:80:1b.4: PCIe Bus Error: severity=Uncorrectable (Non-Fatal), type=Transaction Layer, (Receiver ID)",
             "pcieport 0000:80:1b.4:   device [8086:7f44] error status/mask=00200000/00000000",
             "pcieport 0000:80:1b.4:    [21] ACSViol                (First)",
             "pcieport 0000:80:1b.4: AER:   TLP Header: 0x34000000 0x00000052 0x00000000 0x00000000",
             "thunderbolt 0000:84:00.0: AER: can't recover (no error_detected callback)",
             "xhci_hcd 0000:97:00.0: AER: can't recover (no error_detected callback)",
             "pcieport 0000:80:1b.4: AER: device recovery failed"]
    for form in FORMS:
        evs = classify_as(form, lines)
        assert [(e.cls, e.device) for e in evs if e.severity.label == "critical"] == [
            ("pcie.recovery_failed", "0000:84:00.0"), ("pcie.recovery_failed", "0000:97:00.0"),
            ("pcie.recovery_failed", "0000:80:1b.4")], form
        aer = [e for e in evs if e.cls == "aer.nonfatal"]
        assert len(aer) == 1 and aer[0].detail["bits"] == ("ACSViol",) and aer[0].detail["tlp_header"].startswith("0x34")


# ---- machine checks --------------------------------------------------------------------------
MCE_ROWS = [
    # arch/x86/kernel/cpu/mce/core.c mce_notify_irq(): pr_info(HW_ERR "Machine check events logged\n"); with
    # mcelog or rasdaemon consuming the records no block follows and the notice is the only trace
    (["mce: [Hardware Error]: Machine check events logged"], "mce.logged", "cpu", "cpu", {}),
    (["[Hardware Error]: Machine check events logged"], "mce.logged", "cpu", "cpu", {}),
    # core.c (5.x+) kill_me_maybe()/do_machine_check(): "Uncorrected hardware memory error in user-access at %llx"
    (["mce: Uncorrected hardware memory error in user-access at 36ac3e5400"], "mce.uncorrected", "memory", "memory",
     {"address": "0x36ac3e5400"}),
    # 2.6 print_mce(): "CPU %d: Machine Check Exception: %16Lx Bank %d: %016Lx" without the HW_ERR prefix,
    # the block's TSC/RIP/PROCESSOR lines likewise, then mce_panic()
    (["HARDWARE ERROR",
      "CPU 1: Machine Check Exception:                4 Bank 4: b200000000070f0f",
      "RIP !INEXACT! 10:<ffffffff8100b3c6> {default_idle+0x36/0x60}",
      "TSC 2e3f7a0ba4 ",
      "PROCESSOR 0:206d7 TIME 1424090004 SOCKET 1 APIC 20",
      "This is not a software problem!",
      "Run through mcelog --ascii to decode and contact your hardware vendor"], "mce.fatal", "cpu", "socket1",
     {"bank": 4, "bits": "UC,EN,PCC"}),
    # very old kernels' panic(): "Kernel panic: %s" (mce_panic's "CPU context corrupt")
    (["Kernel panic: CPU context corrupt"], "panic.mce", "cpu", "cpu", {}),
    (["Kernel panic - not syncing: Timeout: Not all CPUs entered broadcast exception handler"], "panic.mce", "cpu", "cpu", {}),
    (["Kernel panic - not syncing: Fatal local machine check"], "panic.mce", "cpu", "cpu", {}),
    # drivers/acpi/apei/ghes.c __ghes_panic(): panic(GHES_PFX "Fatal hardware error!")
    (["Kernel panic - not syncing: GHES: Fatal hardware error!"], "panic.hardware", "board", "ghes", {}),
    # drivers/edac/mce_amd.c (3.x-4.x): "MC%d_STATUS[...]" without "CPU:n (f:m:s)", then the bank decoder
    # "Northbridge Error (node %d): " / "MC4 Error (node %d): "; real lines: newbetuts.com/502269
    # ("Hardware error messages from syslogd", a 64-core AMD server on CentOS)
    (["[Hardware Error]: MC4_STATUS[Over|CE|MiscV|-|AddrV|-|-|CECC]: 0xdc10410040080a13",
      "[Hardware Error]: Northbridge Error (node 4): DRAM ECC error detected on the NB.",
      "[Hardware Error]: cache level: L3/GEN, mem/io: MEM, mem-tx: RD, part-proc: RES (no timeout)"],
     "mce.corrected", "memory", "node4", {"bank": 4, "node": 4}),
    # an AMD block that starts with the bank decoder line (3.x order)
    (["[Hardware Error]: MC4 Error (node 0): DRAM ECC error detected on the NB.",
      "[Hardware Error]: CPU:0\tMC4_STATUS[-|UE|MiscV|PCC|AddrV|-|-|UECC]: 0xb6000000000c0813",
      "[Hardware Error]: MC4_ADDR: 0x0000000120b60000"], "mce.fatal", "memory", "node0",
     {"address": "0x0000000120b60000", "cpu": 0}),
    # arch/x86/kernel/cpu/mce/therm_throt.c of 2.6.2x: "CPU%d: Temperature above threshold, cpu clock throttled"
    (["CPU0: Temperature above threshold, cpu clock throttled (total events = 1)"], "thermal.throttle", "cpu", "cpu0", {}),
    (["CPU0: Temperature/speed normal"], "thermal.normal", "cpu", "cpu0", {}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", MCE_ROWS, ids=[r[0][-1][:50] for r in MCE_ROWS])
def test_mce(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)


def test_decoded_block_replaces_the_logged_notice():
    lines = ["mce: [Hardware Error]: Machine check events logged",
             "mce: [Hardware Error]: CPU 0: Machine Check: 0 Bank 1: 9c0000000000009f",
             "mce: [Hardware Error]: TSC 0 ADDR 1234000 MISC 86 ",
             "mce: [Hardware Error]: PROCESSOR 0:50654 TIME 1795552951 SOCKET 0 APIC 0 microcode 1"]
    for form in FORMS:
        assert [e.cls for e in classify_as(form, lines)] == ["mce.corrected"], form
    # a notice whose block never comes (rasdaemon consumed it) is kept, the next one replaced
    for form in FORMS:
        assert [e.cls for e in classify_as(form, lines[:1] + ["Memory failure: 0x30000: recovery action for free buddy page: Recovered"]
                                           + lines)] == ["mce.logged", "memory.failure", "mce.corrected"], form


# ---- EDAC ------------------------------------------------------------------------------------
EDAC_ROWS = [
    # drivers/edac/edac_mc.h edac_mc_chipset_printk(): "EDAC <driver> MC%d: " before the common formats
    (["EDAC sbridge MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#0_DIMM#0 (channel:0 slot:0 page:0x4a0d75 "
      "offset:0x900 grain:32 syndrome:0x0 -  area:DRAM err_code:0001:0090 socket:0 ha:0 channel_mask:1 rank:0)"],
     "edac.ce", "memory", "CPU_SrcID#0_Ha#0_Chan#0_DIMM#0", {"driver": "sbridge", "mc": 0}),
    (["EDAC skx MC2: 1 UE memory read error on CPU_SrcID#1_MC#0_Chan#2_DIMM#0 (channel:2 slot:0 page:0x123 offset:0x0 "
      "grain:32 -  err_code:0101:0090 socket:1 imc:0 rank:0 bg:0 ba:0 row:0 col:0)"], "edac.ue", "memory",
     "CPU_SrcID#1_MC#0_Chan#2_DIMM#0", {"driver": "skx", "mc": 2}),
    (["EDAC i10nm MC1: 3 CE memory read error on CPU_SrcID#0_MC#1_Chan#0_DIMM#0 (channel:0 slot:0 page:0x2b67afa "
      "offset:0xb40 grain:32 syndrome:0x0 - err_code:0x0000:0x009f SystemAddress:0x2b67afab40)"], "edac.ce", "memory",
     "CPU_SrcID#0_MC#1_Chan#0_DIMM#0", {"count": 3}),
    (["EDAC amd64 MC0: 1 CE on mc#0csrow#2channel#0 (csrow:2 channel:0 page:0x1f4a3 offset:0x640 grain:64 syndrome:0x4f)"],
     "edac.ce", "memory", "mc#0csrow#2channel#0", {"driver": "amd64"}),
    # edac_mc.c of 3.x-4.x: "%d CE %s on %s (...)" with an empty message ("CE on")
    (["EDAC MC0: 1 CE on mc#0csrow#2channel#0 (csrow:2 channel:0 page:0x1f4a3 offset:0x640 grain:64 syndrome:0x4f)"],
     "edac.ce", "memory", "mc#0csrow#2channel#0", {}),
    # edac_printk(level, "<driver>", ...) forms that carry the error themselves
    (["EDAC amd64: 1 CE on unknown memory (page:0x0 offset:0x0 grain:0 syndrome:0x0)"], "edac.ce", "memory", "mc0",
     {"driver": "amd64"}),
    # 2.6 edac_mc_handle_fbd_ce(): "CE row %d, channel %d, label \"%s\": %s"; real lines (sb_edac of 3.x, with
    # the driver's copy of the MCE before it): tikiold.cldn.cz/tiki-index.php?page=MemoryECCError
    (["EDAC MC1: CE row 1, channel 0, label \"CPU_SrcID#1_Channel#0_DIMM#1\": 1 Unknown error(s): memory scrubbing on "
      "FATAL area : cpu=6 Err=0008:00c1 (ch=1), addr = 0x1fb6d78000 => socket=1, Channel=0(mask=1), rank=5"],
     "edac.ce", "memory", "CPU_SrcID#1_Channel#0_DIMM#1", {"csrow": 1, "channel": 0}),
    (["EDAC MC0: UE row 2, channel-a= 0 channel-b= 1 labels \"DIMM_A2:DIMM_B2\": i5000 UE"], "edac.ue", "memory",
     "DIMM_A2:DIMM_B2", {}),
    (["EDAC MC0: UE page 0x1b3f4, offset 0x0, grain 4096, row 2, labels \":\": i3200 UE"], "edac.ue", "memory", ":", {}),
    (["EDAC MC0: CE - no information available: i5000 CE"], "edac.ce", "memory", "mc0", {}),
    (["EDAC MC0: UE - no information available: INTERNAL ERROR"], "edac.ue", "memory", "mc0", {}),
    # drivers/edac/edac_pci_sysfs.c edac_pci_dev_parity_test()
    (["EDAC PCI: Signaled System Error on 0000:00:1f.2"], "pcie.parity_error", "pcie", "0000:00:1f.2", {}),
    (["EDAC PCI: Detected Parity Error on 0000:03:00.0"], "pcie.parity_error", "pcie", "0000:03:00.0", {}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", EDAC_ROWS, ids=[r[0][0][:50] for r in EDAC_ROWS])
def test_edac(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)


def test_sb_edac_debug_lines_are_context_not_events():
    # the driver's KERN_DEBUG copy of the MCE (3.x printed it without a prefix): one MCE, one EDAC event
    lines = ["sbridge: HANDLING MCE MEMORY ERROR",
             "CPU 6: Machine Check Exception: 0 Bank 5: 8c00004000010091",
             "TSC 0 ADDR 1db6d78e40 MISC 4402a2a86 PROCESSOR 0:206d7 TIME 1402196265 SOCKET 1 APIC 20",
             "EDAC MC1: CE row 1, channel 0, label \"CPU_SrcID#1_Channel#0_DIMM#1\": 1 Unknown error(s): memory read on "
             "FATAL area : cpu=6 Err=0001:0091 (ch=1), addr = 0x1db6d78e40 => socket=1, Channel=0(mask=1), rank=5",
             "EDAC sbridge MC0: HANDLING MCE MEMORY ERROR",
             "EDAC sbridge MC0: CPU 0: Machine Check Event: 0 Bank 7: 8c00004000010090",
             "EDAC sbridge MC0: TSC 0 "]
    for form in FORMS:
        assert [(e.cls, e.device) for e in classify_as(form, lines)] == [
            ("mce.corrected", "cpu6"), ("edac.ce", "CPU_SrcID#1_Channel#0_DIMM#1")], form


# ---- ATA, SCSI, block: errors and devices gone ---------------------------------------------------
DISK_ROWS = [
    # drivers/ata/libata-eh.c ata_eh_link_report(): "cmd %02x/%02x:...\n         res %02x/...Emask 0x%x (%s)%s" is
    # ONE record with an embedded newline; the error bits and class after it must stay in the group.
    # Real lines: github.com/FastVPSEestiOu/storage-system-monitoring/issues/4
    (["ata1.00: exception Emask 0x0 SAct 0x1 SErr 0x0 action 0x6 frozen",
      "ata1.00: failed command: READ FPDMA QUEUED",
      "ata1.00: cmd 60/08:00:00:e1:59/00:00:a2:00:00/40 tag 0 ncq 4096 in\n"
      "         res 40/00:10:d0:5d:a8/00:00:b2:00:00/40 Emask 0x4 (timeout)",
      "ata1.00: status: { DRDY }",
      "ata1: hard resetting link",
      "ata1: SATA link up 6.0 Gbps (SStatus 133 SControl 300)",
      "ata1.00: configured for UDMA/133",
      "ata1: EH complete"], "ata.error", "disk:ata1", "ata1.00",
     {"emask_class": ("timeout",), "status_bits": ("DRDY",), "frozen": True, "resets": 1}),
    # interface errors with ICRC (link suspect): github.com/linux-sunxi/linux-sunxi/issues/24 (SError decode)
    (["ata1.00: exception Emask 0x12 SAct 0x2 SErr 0x1280500 action 0x6 frozen",
      "ata1.00: irq_stat 0x08000000, interface fatal error",
      "ata1: SError: { UnrecovData Proto 10B8B BadCRC TrStaTrns }",
      "ata1.00: failed command: WRITE FPDMA QUEUED",
      "ata1.00: cmd 61/08:08:10:3e:e4/00:00:06:00:00/40 tag 1 ncq 4096 out\n"
      "         res 40/00:0c:10:3e:e4/00:00:06:00:00/40 Emask 0x12 (ATA bus error)",
      "ata1.00: error: { ICRC ABRT }"], "ata.error", "disk:ata1", "ata1.00",
     {"emask_class": ("ATA bus error",), "error_bits": ("ABRT", "ICRC"), "link_suspect": True,
      "serror_bits": ("10B8B", "BadCRC", "Proto", "TrStaTrns", "UnrecovData")}),
    # drivers/ata/libata-core.c sata_print_link_status(): "SATA link down (SStatus %X SControl %X)"; all ones
    # = the controller itself is gone (not an empty port), even without a reset before it
    (["ata3: SATA link down (SStatus FFFFFFFF SControl FFFFFFFF)"], "ata.link_down", "disk:ata3", "ata3", {"off_bus": True}),
    (["ata3: hard resetting link", "ata3: SATA link down (SStatus FFFFFFFF SControl FFFFFFFF)"],
     "ata.link_down", "disk:ata3", "ata3", {"off_bus": True}),
    # drivers/scsi/scsi_lib.c: "rejecting I/O to offline device"; scsi_error.c: "Device offlined - %s";
    # real lines: github.com/RMerl/asuswrt-merlin.ng/issues/379
    (["sd 0:0:0:0: Device offlined - not ready after error recovery"], "block.device_gone", "disk:0:0:0:0", "0:0:0:0",
     {"state": "offline"}),
    (["sd 0:0:0:0: rejecting I/O to offline device"], "block.device_gone", "disk:0:0:0:0", "0:0:0:0", {"hctl": "0:0:0:0"}),
    (["scsi 2:0:0:0: rejecting I/O to dead device"], "block.device_gone", "disk:2:0:0:0", "2:0:0:0", {"state": "dead"}),
    # block/genhd.c set_capacity_and_notify() (5.11+) and fs/block_dev.c before: capacity dropped to 0
    (["sdb: detected capacity change from 8001563222016 to 0"], "block.device_gone", "disk:sdb", "sdb",
     {"capacity_before": 8001563222016}),
    (["nvme0n1: detected capacity change from 1000215216 to 0"], "block.device_gone", "disk:nvme0", "nvme0n1", {}),
    # real lines: github.com/trapexit/bbf/issues/29 (mpt2sas; 5.x sense printing)
    (["sd 9:0:1:0: [sde] tag#2799 Sense Key : 0x3 [current]", "sd 9:0:1:0: [sde] tag#2799 ASC=0x11 ASCQ=0x0"],
     "scsi.error", "disk:sde", "sde", {"sense_key": "0x3"}),
    (["blk_update_request: critical medium error, dev sde, sector 3150499624 op 0x0:(READ) flags 0x80700 phys_seg 17 prio class 0"],
     "block.io_error", "disk:sde", "sde", {"status": "critical medium", "op": "READ"}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", DISK_ROWS, ids=[r[0][0][:50] for r in DISK_ROWS])
def test_disk(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)


def test_syslog_with_subsecond_stamps_and_indented_res_lines():
    # github.com/AlmaLinux/almalinux-deploy/issues/194: rsyslog high-precision stamps, res line indented
    from agent.collectors.patterns import classify_lines

    evs = classify_lines([
        "Dec 17 07:41:02.243 test01 kernel: ata9.02: exception Emask 0x100 SAct 0x800 SErr 0x0 action 0x6 frozen",
        "Dec 17 07:41:02.243 test01 kernel: ata9.02: failed command: WRITE FPDMA QUEUED",
        "Dec 17 07:41:02.243 test01 kernel: ata9.02: cmd 61/1d:58:a8:1f:ab/00:00:3c:00:00/40 tag 11 ncq dma 14848 out",
        "         res 40/00:00:00:00:00/00:00:00:00:00/00 Emask 0x4 (timeout)",
        "Dec 17 07:41:02.243 test01 kernel: ata9.02: status: { DRDY }"])
    assert [(e.cls, e.device, e.detail.get("emask_class")) for e in evs] == [("ata.error", "ata9.02", ("timeout",))]


# ---- md RAID -----------------------------------------------------------------------------------
MD_ROWS = [
    # drivers/md/raid5.c raid5_error() (5.x+): pr_crit("md/raid:%s: Cannot continue operation (%d/%d failed).\n")
    (["md/raid:md0: Disk failure on sdc1, disabling device.", "md/raid:md0: Cannot continue operation (2/4 failed)."],
     "raid.array_failed", "raid", "md0", {"failed": 2, "devices": 4}),
    # drivers/md/raid1.c / raid10.c raid*_error() (6.x): one record, two lines
    (["md/raid1:md1: Disk failure on sdb2, this is the last device.\nmd/raid1:md1: Cannot continue operation (2/2 failed)."],
     "raid.array_failed", "raid", "md1", {"reason": "Cannot continue operation"}),
    (["md/raid10:md2: Disk failure on nvme1n1p1, this is the last device.\nmd/raid10:md2: Cannot continue operation (3/4 failed)."],
     "raid.disk_failed", "raid", "md2", {"last_device": True}),
    # raid5.c setup_conf()/raid5_run(): the array does not start
    (["md/raid:md127: not enough operational devices (2/4 failed)", "md/raid:md127: failed to run raid set."],
     "raid.array_failed", "raid", "md127", {"failed": 2, "devices": 4}),
    (["md/raid:md0: cannot start dirty degraded array."], "raid.array_failed", "raid", "md0", {}),
    (["md/raid1:md3: no operational mirrors"], "raid.array_failed", "raid", "md3", {}),
    # drivers/md/md.c md_run(): pr_warn("md: pers->run() failed ...\n"); super_written(): "md: super_written gets error=%d"
    (["md: pers->run() failed ..."], "raid.array_failed", "raid", "md", {}),
    (["md: super_written gets error=-5"], "raid.superblock_error", "raid", "md", {"error": -5}),
    (["md: super_written gets error=-5, uptodate=0"], "raid.superblock_error", "raid", "md", {"error": -5}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", MD_ROWS, ids=[r[0][-1][:50] for r in MD_ROWS])
def test_md(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)


# ---- filesystems -------------------------------------------------------------------------------
FS_ROWS = [
    # fs/btrfs/messages.c (6.x): "BTRFS %s (device %s: state %s): " once the fs has had an error; real lines:
    # github.com/coreos/rpm-ostree/issues/4457
    (["BTRFS info (device sda3: state E): forced readonly"], "fs.readonly", "fs", "sda3", {"state": "E"}),
    (["BTRFS error (device sda3: state EA): bdev /dev/sda3 errs: wr 12, rd 0, flush 0, corrupt 0, gen 0"],
     "fs.error", "fs", "sda3", {"state": "EA", "write_errors": 12}),
    (["BTRFS: error (device sda3) in btrfs_commit_transaction:2487: errno=-5 IO failure (Error while writing out transaction)"],
     "fs.error", "fs", "sda3", {}),
    (["BTRFS error (device sda3): block=5763170304 write time tree block corruption detected"], "fs.error", "fs", "sda3", {}),
    # 4.x-5.x without the state: github.com/btrfs/linux/issues/761
    (["BTRFS: error (device nvme2n1) in __btrfs_update_delayed_inode:1075: errno=-5 IO failure",
      "BTRFS info (device nvme2n1): forced readonly"], "fs.readonly", "fs", "nvme2n1", {}),
    (["BTRFS warning (device sda3: state E): csum failed root 257 ino 34956 off 0 csum 0xf5f4f143 expected csum 0x00000000 mirror 1"],
     "fs.csum_error", "fs", "sda3", {"state": "E"}),
    # 3.x fs/btrfs/inode.c / volumes.c
    (["btrfs csum failed ino 257 off 0 csum 2566472073 private 3214312342"], "fs.csum_error", "fs", "btrfs", {"inode": 257}),
    (["btrfs: bdev /dev/sdb errs: wr 0, rd 3, flush 0, corrupt 0, gen 0"], "fs.error", "fs", "sdb", {"read_errors": 3}),
    # fs/ext4/super.c: "EXT4-fs error (device %s) in %s:%d: %s" (the journal-abort form has no colon after the device)
    (["EXT4-fs error (device sda1) in ext4_reserve_inode_write:5821: Journal has aborted"], "fs.error", "fs", "sda1", {}),
    # lib/ratelimit.c ___ratelimit(&sbi->s_err_ratelimit_state, "EXT4-fs error"): suppressed errors count
    (["EXT4-fs error (device sdb1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0",
      "EXT4-fs error: 7 callbacks suppressed"], "fs.error", "fs", "sdb1", {}),
    # fs/jbd2/journal.c jbd2_journal_abort(): "Aborting journal on device %s."; commit.c
    (["Aborting journal on device sda1-8."], "fs.error", "fs", "sda1", {"fs": "jbd2"}),
    (["JBD2: Detected IO errors while flushing file data on sda1-8"], "fs.error", "fs", "sda1", {"fs": "jbd2"}),
    # fs/xfs/xfs_fsops.c xfs_do_force_shutdown(): 3.x-5.x "xfs_do_force_shutdown(0x%x) called from line %d of file
    # %s. Return address = %pS"; 6.x "%s (0x%x) detected at %pS (%s:%d).  Shutting down filesystem."
    (["XFS (dm-0): xfs_do_force_shutdown(0x8) called from line 446 of file fs/xfs/libxfs/xfs_defer.c. Return address = 0xffffffffc0466b0c"],
     "fs.shutdown", "fs", "dm-0", {"flags": "0x8"}),
    (["XFS (sdb1): Corruption of in-memory data (0x8) detected at xfs_defer_finish_noroll+0x2a8/0x6e0 [xfs] "
      "(fs/xfs/libxfs/xfs_defer.c:573).  Shutting down filesystem."], "fs.shutdown", "fs", "sdb1", {"flags": "0x8"}),
    (["XFS (sdb1): Log I/O Error (0x2) detected at xlog_ioend_work+0x6d/0x70 [xfs] (fs/xfs/xfs_log.c:1378).  "
      "Shutting down filesystem."], "fs.shutdown", "fs", "sdb1", {"flags": "0x2"}),
    (["XFS (sda1): metadata I/O error in \"xfs_imap_to_bp+0x5c/0xa0 [xfs]\" at daddr 0x3e8 len 32 error 5"],
     "fs.error", "fs", "sda1", {}),
    # real lines: github.com/containerd/containerd/issues/5665 (ext4 on dm-thin out of space)
    (["JBD2: Error -5 detected when updating journal superblock for dm-70-8."], "fs.error", "fs", "dm-70", {"fs": "jbd2"}),
    (["EXT4-fs (dm-70): previous I/O error to superblock detected"], "fs.error", "fs", "dm-70", {}),
    (["Buffer I/O error on dev dm-25, logical block 0, lost sync page write"], "block.buffer_io_error", "disk:dm-25", "dm-25", {}),
    # github.com/dm-vdo/kvdo/issues/25: the log could not be recovered, the filesystem is not mounted
    (["XFS (dm-7): metadata I/O error: block 0x280000010 (\"xlog_bread_noalign\") error 5 numblks 8",
      "XFS (dm-7): log mount/recovery failed: error -5", "XFS (dm-7): log mount failed"], "fs.error", "fs", "dm-7", {}),
    # fs/xfs/xfs_error.c xfs_error_report(); 2.6.32 without the device: github.com/mattshma/docs/issues/10
    (["XFS: Internal error XFS_WANT_CORRUPTED_RETURN at line 342 of file fs/xfs/xfs_alloc.c.  Caller 0xffffffffa01e76c2"],
     "fs.corruption", "fs", "xfs", {}),
    (["XFS (sdb1): Internal error XFS_WANT_CORRUPTED_GOTO at line 1634 of file fs/xfs/libxfs/xfs_alloc.c.  Caller "
      "xfs_free_ag_extent+0x2fe/0x790 [xfs]"], "fs.corruption", "fs", "sdb1", {}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", FS_ROWS, ids=[r[0][-1][:50] for r in FS_ROWS])
def test_fs(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)


def test_ext4_suppressed_errors_count():
    evs = classify_as("kmsg", ["EXT4-fs error (device sdb1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0",
                               "EXT4-fs error: 7 callbacks suppressed"])
    assert [(e.cls, e.device, e.count) for e in evs] == [("fs.error", "sdb1", 1), ("fs.error", "sdb1", 7)]


def test_user_initiated_xfs_shutdown_is_not_a_fault():
    assert classify_as("text", ["XFS (sdb1): xfs_do_force_shutdown(0x4) called from line 2221 of file fs/xfs/xfs_fsops.c. "
                                "Return address = 0xffffffffc0466b0c"]) == []


# ---- GHES / APEI -------------------------------------------------------------------------------
GHES_ROWS = [
    # drivers/acpi/apei/ghes.c + drivers/firmware/efi/cper.c: a fatal record with no memory/PCIe section, then
    # __ghes_panic()'s "Fatal hardware error!" (read back from pstore / the previous boot's journal)
    (["{1}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 1",
      "{1}[Hardware Error]: event severity: fatal",
      "{1}[Hardware Error]:  Error 0, type: fatal",
      "{1}[Hardware Error]:   section type: unknown, 330f1140-72a5-11df-9690-0002a5d5c51b",
      "{1}[Hardware Error]:   section length: 0x30",
      "Kernel panic - not syncing: Fatal hardware error!"], "ghes.fatal", "board", "ghes", {"event_severity": "fatal"}),
    (["Kernel panic - not syncing: Fatal hardware error!"], "panic.hardware", "board", "ghes", {}),
    # 3.x before record numbers: "[Hardware Error]: " lines
    (["[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0",
      "[Hardware Error]: event severity: recoverable",
      "[Hardware Error]:  Error 0, type: recoverable",
      "[Hardware Error]:   section_type: memory error",
      "[Hardware Error]:   physical_address: 0x0000001045a3c000"], "ghes.recoverable", "memory", "memory",
     {"address": "0x0000001045a3c000"}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", GHES_ROWS, ids=[r[0][-1][:50] for r in GHES_ROWS])
def test_ghes(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)


# ---- smaller families ----------------------------------------------------------------------------
SMALL_ROWS = [
    # mm/memory-failure.c of 2.6.32-3.x: "MCE %#lx: %s page recovery: %s" (no "Memory failure:" prefix yet)
    (["MCE 0x7740c0: dirty LRU page recovery: Recovered"], "memory.failure", "memory", "memory",
     {"page_type": "dirty LRU", "result": "Recovered"}),
    (["MCE 0x7740c0: free huge page recovery: Failed"], "memory.failure", "memory", "memory", {"result": "Failed"}),
    (["MCE: Killing qemu-kvm:4242 due to hardware memory corruption fault at 7f3a2c000000"], "memory.failure", "memory",
     "memory", {}),
    # kernel/hung_task.c + sched_show_task(): the context lines belong to the event; real lines (3.19):
    # github.com/ISRICWorldSoil/SoilGrids250m/issues/9
    (["INFO: task btrfs-transacti:186 blocked for more than 120 seconds.",
      "      Tainted: G           OE  3.19.0-25-generic #26~14.04.1-Ubuntu",
      "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.",
      "btrfs-transacti D ffff880036a27c18     0   186      2 0x00000000",
      " ffff880036a27c18 ffff88003640bae0 0000000000013e80 ffff880036a27fd8",
      "Call Trace:",
      " [<ffffffff817b22e9>] schedule+0x29/0x70",
      " [<ffffffff81373430>] ? generic_make_request+0xc0/0x110"], "cpu.hung_task", "cpu", "cpu",
     {"task": "btrfs-transacti", "kernel": "Tainted: G           OE  3.19.0-25-generic #26~14.04.1-Ubuntu"}),
    (["INFO: task kworker/u16:9:7088 blocked for more than 120 seconds.",
      "      Not tainted 6.1.0-13-amd64 #1 Debian 6.1.55-1",
      "\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\" disables this message.",
      "task:kworker/u16:9   state:D stack:0     pid:7088  ppid:2      flags:0x00004000",
      "Call Trace:", " <TASK>", " __schedule+0x351/0xa20", " schedule+0x5d/0xe0", " </TASK>"],
     "cpu.hung_task", "cpu", "cpu", {"pid": 7088}),
    # drivers/nvme/host/pci.c nvme_warn_reset(): the power-saving advice is context of the reset
    (["nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff",
      "nvme nvme0: Does your device have a faulty power saving mode enabled?",
      "nvme nvme0: Try \"nvme_core.default_ps_max_latency_us=0 pcie_aspm=off\" and report a bug"],
     "nvme.reset", "disk:nvme0", "nvme0", {"off_bus": True, "power_saving_hint": True}),
]


@pytest.mark.parametrize("lines,cls,component,device,detail", SMALL_ROWS, ids=[r[0][0][:50] for r in SMALL_ROWS])
def test_small_families(lines, cls, component, device, detail):
    check(lines, cls, component, device, detail)
    for form in FORMS:  # context lines are part of the one event
        assert len(classify_as(form, lines)) == 1, form


def test_hung_task_keeps_its_context():
    evs = classify_as("kmsg", SMALL_ROWS[3][0])
    assert len(evs[0].raw) == len(SMALL_ROWS[3][0])


# ---- rate-limited messages: "callbacks suppressed" -------------------------------------------------
# lib/ratelimit.c ___ratelimit(): "%s: %d callbacks suppressed" is printed right before the next message a
# ratelimit state lets through; the N dropped messages happened and are counted (as N, never as one line) for
# the family and device of the rate-limited message.
SUPPRESSED_ROWS = [
    # fs/xfs/xfs_buf.c (5.10+) xfs_buf_ioerror_alert() -> xfs_buf_alert_ratelimited(bp, "XFS: metadata IO error", ...)
    (["XFS (sdc): metadata I/O error in \"xfs_btree_read_buf_block+0x90/0x130 [xfs]\" at daddr 0x1b0 len 8 error 5",
      "XFS: metadata IO error: 25 callbacks suppressed",
      "XFS (sdc): metadata I/O error in \"xfs_imap_to_bp+0x5c/0xa0 [xfs]\" at daddr 0x3e8 len 32 error 5"],
     "fs.error", "sdc", 1 + 25 + 1),
    # fs/xfs/xfs_buf.c (5.10+) xfs_buf_ioend_handle_error(): "XFS: Failing async write"
    (["XFS (dm-3): Failing async write on buffer block 0x1bc6b8. Retrying async write.",
      "XFS: Failing async write: 40 callbacks suppressed",
      "XFS (dm-3): Failing async write on buffer block 0x1bc6c0. Retrying async write."], "fs.error", "dm-3", 42),
    # 4.x-5.9: xfs_buf_ioerror_alert() used xfs_alert_ratelimited() (fs/xfs/xfs_message.h), named by __func__
    (["XFS (sdb1): metadata I/O error: block 0x1d1c08 (\"xfs_trans_read_buf_map\") error 5 numblks 8",
      "xfs_buf_ioerror_alert: 7 callbacks suppressed"], "fs.error", "sdb1", 8),
    # the agent started mid-storm: nothing printed before the suppressed line; the next message names the device
    (["XFS: metadata IO error: 12 callbacks suppressed",
      "XFS (nvme0n1p2): metadata I/O error in \"xfs_da_read_buf+0xf4/0x150 [xfs]\" at daddr 0x1816a90 len 8 error 5"],
     "fs.error", "nvme0n1p2", 13),
    # block/blk-core.c blk_print_req_error() (5.18+); real lines: a USB disk on a Raspberry Pi (6.x), forum post
    (["I/O error, dev sda, sector 10673487240 op 0x1:(WRITE) flags 0x4104000 phys_seg 32 prio class 2",
      "blk_print_req_error: 6 callbacks suppressed",
      "I/O error, dev sda, sector 10673487240 op 0x1:(WRITE) flags 0x4104000 phys_seg 32 prio class 2"],
     "block.io_error", "sda", 8),
    (["blk_print_req_error: 22 callbacks suppressed",
      "I/O error, dev sdi, sector 190811280 op 0x0:(READ) flags 0x80700 phys_seg 28 prio class 2"], "block.io_error", "sdi", 23),
    # 4.x blk_update_request() printk_ratelimited("%s: %s error, dev %s, sector %llu", __func__, ...)
    (["blk_update_request: I/O error, dev sdb, sector 2048", "blk_update_request: 14 callbacks suppressed",
      "blk_update_request: I/O error, dev sdb, sector 2056"], "block.io_error", "sdb", 16),
    # fs/buffer.c buffer_io_error(); real lines: a USB disk dropping off, kernel 3.13 (Linux Mint forum, 2015)
    (["end_request: I/O error, dev sdf, sector 977312000",
      "buffer_io_error: 78454 callbacks suppressed",
      "Buffer I/O error on device sdf1, logical block 260079624",
      "Buffer I/O error on device sdf1, logical block 260079625"], "block.buffer_io_error", "sdf1", 78456),
    # 2.6-3.x fs/buffer.c quiet_error() -> printk_ratelimit(); real lines: an optical drive, syslog (forum post)
    (["Buffer I/O error on device sr0, logical block 0", "quiet_error: 598 callbacks suppressed",
      "Buffer I/O error on device sr0, logical block 1"], "block.buffer_io_error", "sr0", 600),
]


@pytest.mark.parametrize("lines,cls,device,total", SUPPRESSED_ROWS, ids=[r[0][1][:50] for r in SUPPRESSED_ROWS])
def test_suppressed_messages_are_counted_for_their_family(lines, cls, device, total):
    for form in FORMS:
        evs = [e for e in classify_as(form, lines) if e.cls == cls]
        assert {e.device for e in evs} == {device}, form
        assert sum(e.count for e in evs) == total, form  # the suppressed N count as N, not as one line
        sup = [e for e in evs if "suppressed" in e.detail]
        assert len(sup) == 1 and sup[0].count == sup[0].detail["suppressed"], form


def test_unrelated_ratelimit_lines_are_not_hardware_events():
    # lib/ratelimit.c lines of non-hardware callers (mm, net, mce notify) stay out
    lines = ["warn_alloc: 3 callbacks suppressed", "net_ratelimit: 23807 callbacks suppressed",
             "mce_notify_irq: 14 callbacks suppressed", "show_signal_msg: 4 callbacks suppressed",
             "scsi_io_completion_action: 22 callbacks suppressed"]
    for form in FORMS:
        assert classify_as(form, lines) == []
