"""PCI Express: AER blocks, DPC containment, hotplug link state."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS, PCI_SCAN
from agent.collectors.patterns.record import BDF, FamilyParser, Group, Meta, remember
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = "pci"
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads
SCAN = PCI_SCAN  # the scanner's anchor for this family (agent.collectors.patterns.heads)

_AER_HDR = re.compile(r"AER: (Multiple )?(Corrected|Correctable|Uncorrected|Uncorrectable)(?: \((Fatal|Non-Fatal)\))? "
                      r"error(?: message)? received(?: from|:) (?:id=([0-9a-fA-F]{4})|(" + BDF + r"))")
_AER_SEV = re.compile(r"PCIe Bus Error: severity=(Corrected|Correctable|Uncorrected|Uncorrectable)(?: \((Fatal|Non-Fatal)\))?, "
                      r"type=([^,(]+)(?:, (?:id=[0-9a-fA-F]+)?\((\w+) ID\))?")
_AER_DEV = re.compile(r"device \[([0-9a-f]{4}:[0-9a-f]{4})\] error status/mask=([0-9a-f]+)/([0-9a-f]+)")
_AER_BIT = re.compile(r"\[ ?(\d+)\] (\S+)[^(]*(\(First\))?")
_AER_FF = re.compile(r"aer_status: 0x([0-9a-fA-F]+), aer_mask: 0x([0-9a-fA-F]+)")
_AER_FF_LAYER = re.compile(r"aer_layer=([^,]+), aer_agent=(.+)$")
_AER_FF_SEV = re.compile(r"aer_uncor_severity: 0x([0-9a-fA-F]+)")
_PCI_LINE = re.compile(r"([\w.-]+) (" + BDF + r")(?::pcie\d+| [\w.-]+)?: (.*)$")
_NVRM = re.compile(r"NVRM: GPU (" + BDF + r"): (.*)$")
_DPC_SRC = re.compile(r"source:0x([0-9a-fA-F]{4})")
# recovery that failed: the device is lost until a reset or a replacement (err.c: "AER: Device recovery
# failed" 3.x-5.x, "AER: device recovery failed" 6.x; "AER: Can't recover (no error_detected callback)";
# aer.c "Root Port link has been reset (%d)" with an error code; pci.c "not ready %dms after %s; giving up")
_FAILED = re.compile(r"(?:AER: )?(?:[Dd]evice recovery failed|[Cc]an't recover|Root Port link has been reset \(-\d+\)|"
                     r"not ready \d+ms after \S+; giving up)")


def _rid_to_bdf(domain: str, rid: int) -> str:
    """A PCIe requester/source id (bus << 8 | devfn) as a BDF in ``domain``."""
    return f"{domain}:{rid >> 8:02x}:{(rid >> 3) & 0x1f:02x}.{rid & 7}"


class Parser(FamilyParser):
    # PCI: AER, DPC, hotplug link down, devices gone from the bus
    def _f_pci(self, msg: str, meta: Meta) -> None:
        m = _PCI_LINE.match(msg)
        if not m:
            n = _NVRM.match(msg)
            if n and "fallen off the bus" in n.group(2):
                self._emit("pcie.link_down", C, "pcie", n.group(1), {"driver": "nvidia", "message": n.group(2),
                                                                     "off_bus": True}, (msg,), meta)
            return
        drv, bdf, rest = m.groups()
        if _FAILED.match(rest):
            self._pci_lost(drv, bdf, rest, msg, meta)
            return
        if rest.startswith("AER: "):
            h = _AER_HDR.match(rest)
            if h:
                multiple, kind, fatal, rid, src = h.groups()
                if rid:  # old kernels: requester id = bus << 8 | devfn
                    src = _rid_to_bdf(bdf[:4], int(rid, 16))
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
            body = rest[5:].strip()
            if body.startswith(("PCIe Bus Error", "aer_status: ")):  # 5.x+: every AER line carries "AER: "
                self._aer_start(bdf, body, msg, meta)
            return
        if rest.startswith(("PCIe Bus Error", "aer_status: ")):
            self._aer_start(bdf, rest, msg, meta)
            return
        if rest.startswith("DPC: "):
            if "containment event" in rest:
                d = {"driver": drv, "message": rest[5:]}
                src = _DPC_SRC.search(rest)
                if src and int(src.group(1), 16):
                    d["source_device"] = _rid_to_bdf(bdf[:4], int(src.group(1), 16))
                self._emit("pcie.dpc", C, "pcie", bdf, d, (msg,), meta)
            return
        if "lot(" in rest:
            if "Link Down" in rest:
                self._emit("pcie.link_down", C, "pcie", bdf, {"driver": drv, "message": rest}, (msg,), meta)
            elif "Card not present" in rest:
                self._emit("pcie.link_down", W, "pcie", bdf, {"driver": drv, "message": rest, "card_present": False},
                           (msg,), meta)
            return
        if rest.startswith(("PCIe link lost", "xHCI host controller not responding", "AHCI controller unavailable")) \
                or "fallen off the bus" in rest:
            self._emit("pcie.link_down", C, "pcie", bdf, {"driver": drv, "message": rest, "off_bus": True}, (msg,), meta)
        elif rest.startswith("Data Link Layer Link Active not set"):
            self._emit("pcie.link_down", C, "pcie", bdf, {"driver": drv, "message": rest}, (msg,), meta)

    def _aer_start(self, bdf: str, body: str, msg: str, meta: Meta) -> None:
        g = self._start("aer", bdf, meta, msg)
        g.component, g.device = "pcie", bdf
        g.detail["source"] = bdf
        if body.startswith("aer_status: "):  # firmware first (GHES): decoded by the kernel from the CPER record
            g.cls, g.sev = "aer.corrected", I
            g.detail["firmware_first"] = True
        self._aer_line(g, body)

    def _pci_lost(self, drv: str, bdf: str, rest: str, msg: str, meta: Meta) -> None:
        """Recovery failed: escalate, whatever other device's lines came in between."""
        g = self.group
        d = {"driver": drv, "message": rest, "recovery": "failed"}
        if g is not None and g.kind == "aer" and bdf in g.key.split(","):
            g.lines.append(msg)
            g.detail["recovery"] = "failed"
            d["aer_class"] = g.cls
        self._emit("pcie.recovery_failed", C, "pcie", bdf, d, (msg,), meta)

    @staticmethod
    def _aer_classify(g: Group, kind: str, fatal: str | None) -> None:
        if kind.startswith("Correct"):
            g.cls, g.sev = "aer.corrected", I
        elif fatal == "Fatal":
            g.cls, g.sev = "aer.fatal", C
        else:
            g.cls, g.sev = "aer.nonfatal", W

    def _aer_line(self, g: Group, rest: str) -> None:
        try:
            kind, a = _AER_OPS[rest]
        except KeyError:
            kind, a = _aer_put(rest)
        d = g.detail
        if kind == _SEV:
            self._aer_classify(g, a[0], a[1])
            d["layer"] = a[2]
            if a[3]:
                d["agent"] = a[3]
        elif kind == _DEV:
            d.update(vendor_device=a[0], status=a[1], mask=a[2])
        elif kind == _BIT:
            bits = list(d.get("bits", ()))
            bits.append(a[0])
            d["bits"] = tuple(bits)
            if a[1]:
                d["first"] = a[0]
        elif kind == _FF:
            d.update(status=a[0], mask=a[1])
        elif kind == _FF_LAYER:
            d.update(layer=a[0], agent=a[1])
        elif kind == _FF_SEV:  # only uncorrectable errors print it; a status bit set in it is fatal
            sev = a
            st = int(str(d.get("status", "0x0")), 16)
            g.cls, g.sev = ("aer.fatal", C) if st & sev else ("aer.nonfatal", W)
            d["uncor_severity"] = f"0x{sev:08x}"
        elif kind == _RECOVERY:
            d["recovery"] = a
        elif kind == _TLP:
            d["tlp_header"] = a

    def _cont_aer(self, g: Group, msg: str, meta: Meta) -> bool:
        try:
            split = _LINES[msg]
        except KeyError:
            split = _line_put(msg)
        if split is None or split[1] not in g.key.split(","):
            return False
        drv, bdf, rest, new_header, bus_error, failed = split
        if new_header:
            return False  # a new AER message
        if bus_error and "layer" in g.detail:
            return False  # the next error of the same device
        if failed:
            self._pci_lost(drv, bdf, rest, msg, meta)
            return True
        g.lines.append(msg)
        self._aer_line(g, rest)
        return True


# A storm repeats the same texts: what a line of an AER block says is parsed once per text (pure) and
# applied to the group by Parser._aer_line / _cont_aer. Bounded.
OPS_CACHE = 512
_SEV, _DEV, _BIT, _FF, _FF_LAYER, _FF_SEV, _RECOVERY, _TLP, _OTHER = range(9)
_AER_OPS: dict[str, tuple[int, Any]] = {}
_LINES: dict[str, tuple[str, str, str, bool, bool, bool] | None] = {}


def _aer_parse(rest: str) -> tuple[int, Any]:
    s = rest.strip()
    if s.startswith("AER:"):  # 5.x+ prefix every line of the block
        s = s[4:].strip()
    m = _AER_SEV.match(s)
    if m:
        return _SEV, (m.group(1), m.group(2), m.group(3).strip(), m.group(4))
    m = _AER_DEV.match(s)
    if m:
        return _DEV, (m.group(1), f"0x{m.group(2)}", f"0x{m.group(3)}")
    m = _AER_BIT.match(s)
    if m:
        return _BIT, (m.group(2).strip(), bool(m.group(3)))
    m = _AER_FF.match(s)
    if m:
        return _FF, (f"0x{m.group(1).lower()}", f"0x{m.group(2).lower()}")
    m = _AER_FF_LAYER.match(s)
    if m:
        return _FF_LAYER, (m.group(1).strip(), m.group(2).strip().replace(" ID", ""))
    m = _AER_FF_SEV.match(s)
    if m:
        return _FF_SEV, int(m.group(1), 16)
    if s.lower().startswith("device recovery"):
        return _RECOVERY, s.rsplit(" ", 1)[-1]
    if s.startswith("TLP Header"):
        return _TLP, s.split(":", 1)[-1].strip()
    return _OTHER, None


def _aer_put(rest: str) -> tuple[int, Any]:
    return remember(_AER_OPS, rest, _aer_parse(rest), OPS_CACHE)


def _line_put(msg: str) -> tuple[str, str, str, bool, bool, bool] | None:
    """(driver, BDF, message, starts an AER message, a bus error line, recovery failed) or None."""
    m = _PCI_LINE.match(msg)
    split = None
    if m:
        drv, bdf, rest = m.groups()
        split = (drv, bdf, rest, bool(rest.startswith("AER: ") and _AER_HDR.match(rest)),
                 rest.startswith(("PCIe Bus Error", "AER: PCIe Bus Error")), bool(_FAILED.match(rest)))
    return remember(_LINES, msg, split, OPS_CACHE)


# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('pcieport 0000:00:1d.0: AER: Corrected error message received from 0000:00:1d.0',), 'aer.corrected', 'pcie', '0000:00:1d.0'),
    (('nvme 0000:01:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)',), 'aer.nonfatal', 'pcie', '0000:01:00.0'),
    (('pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down',), 'pcie.link_down', 'pcie', '0000:00:1c.0'),
)
