"""PCI Express: AER blocks, DPC containment, hotplug link state."""

from __future__ import annotations

import re

from agent.collectors.patterns.record import BDF, Group, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'pci'
HEAD = (
    r"[\w.-]+ " + BDF + r"(?::pcie\d+)?: (?:AER: |PCIe Bus Error|DPC: |(?:pciehp: )?Slot\(|PCIe link lost|"
    r"xHCI host controller not responding|\s+device \[|\s+\[ ?\d+\] )"
)  # message starts (stage 1 prefilter)
# the scanner anchors this family on the ": " before its message (a leading class is slow to search)
SCAN = r": (?:AER: |PCIe Bus Error|DPC: |(?:pciehp: )?Slot\(|PCIe link lost|xHCI host controller not responding)"

_AER_HDR = re.compile(r"AER: (Multiple )?(Corrected|Correctable|Uncorrected|Uncorrectable)(?: \((Fatal|Non-Fatal)\))? "
                      r"error(?: message)? received(?: from|:) (?:id=([0-9a-fA-F]{4})|(" + BDF + r"))")
_AER_SEV = re.compile(r"PCIe Bus Error: severity=(Corrected|Correctable|Uncorrected|Uncorrectable)(?: \((Fatal|Non-Fatal)\))?, "
                      r"type=([^,(]+)(?:, (?:id=[0-9a-fA-F]+)?\((\w+) ID\))?")
_AER_DEV = re.compile(r"device \[([0-9a-f]{4}:[0-9a-f]{4})\] error status/mask=([0-9a-f]+)/([0-9a-f]+)")
_AER_BIT = re.compile(r"\[ ?(\d+)\] (\S+)[^(]*(\(First\))?")
_PCI_LINE = re.compile(r"([\w.-]+) (" + BDF + r")(?::pcie\d+)?: (.*)$")


class Parser:
    # PCI: AER, DPC, hotplug link down
    def _f_pci(self, msg: str, meta: Meta) -> None:
        m = _PCI_LINE.match(msg)
        if not m:
            return
        drv, bdf, rest = m.groups()
        if rest.startswith("AER: "):
            h = _AER_HDR.match(rest)
            if h:
                multiple, kind, fatal, rid, src = h.groups()
                if rid:  # old kernels: requester id = bus << 8 | devfn
                    v = int(rid, 16)
                    src = f"{bdf[:4]}:{v >> 8:02x}:{(v >> 3) & 0x1f:02x}.{v & 7}"
                g = self._start("aer", f"{src},{bdf}", meta, msg)
                self._aer_classify(g, kind, fatal)
                g.component, g.device = "pcie", src
                g.detail.update(root_port=bdf, source=src)
                if multiple:
                    g.detail["multiple"] = True
                return
            if self.group is not None and self.group.kind == "aer" and bdf in self.group.key.split(","):
                self.group.lines.append(msg)
                self._aer_line(self.group, rest)
            return
        if rest.startswith("PCIe Bus Error"):
            g = self._start("aer", bdf, meta, msg)
            g.component, g.device = "pcie", bdf
            g.detail["source"] = bdf
            self._aer_line(g, rest)
            return
        if rest.startswith("DPC: "):
            if "containment event" in rest:
                self._emit("pcie.dpc", C, "pcie", bdf, {"driver": drv, "message": rest[5:]}, (msg,), meta)
            return
        if "Slot(" in rest:
            if "Link Down" in rest:
                self._emit("pcie.link_down", C, "pcie", bdf, {"driver": drv, "message": rest}, (msg,), meta)
            elif "Card not present" in rest:
                self._emit("pcie.link_down", W, "pcie", bdf, {"driver": drv, "message": rest, "card_present": False},
                           (msg,), meta)
            return
        if rest.startswith("PCIe link lost") or rest.startswith("xHCI host controller not responding"):
            self._emit("pcie.link_down", C, "pcie", bdf, {"driver": drv, "message": rest, "off_bus": True}, (msg,), meta)

    @staticmethod
    def _aer_classify(g: Group, kind: str, fatal: str | None) -> None:
        if kind.startswith("Correct"):
            g.cls, g.sev = "aer.corrected", I
        elif fatal == "Fatal":
            g.cls, g.sev = "aer.fatal", C
        else:
            g.cls, g.sev = "aer.nonfatal", W

    def _aer_line(self, g: Group, rest: str) -> None:
        d = g.detail
        s = rest.strip()
        m = _AER_SEV.match(s)
        if m:
            self._aer_classify(g, m.group(1), m.group(2))
            d["layer"] = m.group(3).strip()
            if m.group(4):
                d["agent"] = m.group(4)
            return
        m = _AER_DEV.match(s)
        if m:
            d.update(vendor_device=m.group(1), status=f"0x{m.group(2)}", mask=f"0x{m.group(3)}")
            return
        m = _AER_BIT.match(s)
        if m:
            bits = list(d.get("bits", ()))
            bits.append(m.group(2).strip())
            d["bits"] = tuple(bits)
            if m.group(3):
                d["first"] = m.group(2).strip()
            return
        if s.startswith("AER: device recovery"):
            d["recovery"] = s.rsplit(" ", 1)[-1]
        elif s.startswith("AER:   TLP Header") or s.startswith("TLP Header"):
            d["tlp_header"] = s.split(":", 2)[-1].strip()

    def _cont_aer(self, g: Group, msg: str, meta: Meta) -> bool:
        m = _PCI_LINE.match(msg)
        if not m or m.group(2) not in g.key.split(","):
            return False
        rest = m.group(3)
        if rest.startswith("AER: ") and _AER_HDR.match(rest):
            return False  # a new AER message
        g.lines.append(msg)
        self._aer_line(g, rest)
        return True

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('pcieport 0000:00:1d.0: AER: Corrected error message received from 0000:00:1d.0',), 'aer.corrected', 'pcie', '0000:00:1d.0'),
    (('nvme 0000:01:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)',), 'aer.nonfatal', 'pcie', '0000:01:00.0'),
    (('pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down',), 'pcie.link_down', 'pcie', '0000:00:1c.0'),
)
