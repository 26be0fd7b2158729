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
