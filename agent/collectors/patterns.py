"""Kernel log pattern table and classifier: kernel records -> typed hardware events.

Speed matters (an AER or I/O-error storm is tens of thousands of lines per second), so the
classifier works in two stages:

1. A **prefilter**: one compiled alternation (:data:`HEAD`) of the message starts of every family,
   matched only at the start of a message. Over a chunk of ``/dev/kmsg`` records it runs as one
   C-level search anchored on the ``;`` that ends every record header, so lines that cannot be
   hardware events cost a few nanoseconds and never reach Python code.
2. Per-family parsers (:data:`PATTERNS`) run only on prefilter hits. They are stateful where the
   kernel prints one incident over several records: an MCE block (``CPU n: Machine Check`` ..
   ``PROCESSOR``), an AMD decoder block, a GHES ``{seq}`` record, an AER block with its
   ``[ n] Name`` error-bit lines (which the prefilter does not see: an open group pulls in its
   continuation lines directly), an ATA error-handler sequence up to ``EH complete``, a SCSI
   sense block. Such a group becomes one event.

Every wording variant of the developer reference (signals section 7) is matched; unknown lines
are ignored. The classifier never raises on garbage input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from agent.model import Severity
from agent.model.events import KernelEvent

__all__ = ["Classifier", "HEAD", "PATTERNS", "PatternSpec", "parse_kmsg_header", "unescape_kmsg",
           "disk_of", "classify_lines", "MAX_RECORD"]

MAX_RECORD = 8192  # longer records are truncated (the kernel's own limit is ~1 KiB of text)

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

# ---- stage 1: message starts of every family (matched at the start of a message) -------------
_BDF = r"[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"
HEAD = (
    r"(?:"
    r"(?P<mce>mce: |MCE: |\[Hardware Error\]|Machine check events|CMCI storm|CPU\d+: (?:Core|Package) |"
    r"Kernel panic - not syncing|Uhhuh\. NMI|NMI: |Dazed and confused)"
    r"|(?P<ghes>\{\d+\}\[Hardware Error\])"
    r"|(?P<edac>EDAC MC\d+: )"
    r"|(?P<memfail>Memory failure: |MCE: Killing |MCE \w+: Killing )"
    r"|(?P<ata>ata\d+(?:\.\d+)?: (?:exception |SError: |hard resetting link|limiting SATA link speed|SATA link down|"
    r"COMRESET failed|softreset failed|link is slow|failed to IDENTIFY|revalidation failed|error: \{))"
    r"|(?P<scsi>sd \d+:\d+:\d+:\d+: \[\w+\] (?:tag#\d+ )?(?:Sense Key|FAILED Result|Add\. Sense|Unhandled (?:sense|error)))"
    r"|(?P<block>(?:blk_update_request|end_request|print_req_error): |(?:I/O|critical [a-z ]{1,24}|recoverable transport|"
    r"timeout|operation not supported|kernel resource|device resource|nonblocking retry|device offline|zone [a-z ]{1,20}) "
    r"error, dev |Buffer I/O error on )"
    r"|(?P<nvme>nvme nvme\d+: (?:I/O |controller is down|Disabling device|Removing after|Device not ready|"
    r"resetting controller|failed to|frozen state error)|nvme\d+(?:c\d+)?n\d+: .{1,40} @ LBA )"
    r"|(?P<md>md/raid\d*:\w+: |md: (?:md\d+: |[a-z]+ of RAID array|kicking ))"
    r"|(?P<fs>EXT[234]-fs (?:error \(|\([\w.-]+\): (?:Remounting|I/O error|aborting|error |previous I/O))|"
    r"XFS \([\w.-]+\): [^\n]{0,60}?(?:[Cc]orruption|[Ss]hut(?:ting)? down|I/O [Ee]rror|log error)|"
    r"BTRFS(?: (?:error|critical|warning|emerg|alert|crit) \(|: error| info \([\w.-]+\): forced readonly))"
    r"|(?P<thermal>thermal thermal_zone\d+: |Critical temperature reached)"
    r"|(?P<lockup>(?:NMI )?watchdog: (?:BUG|Watchdog detected)|BUG: soft lockup|Watchdog detected hard|INFO: (?:task |rcu_)|rcu: INFO: )"
    r"|(?P<journal>systemd-journald\[\d+\]: File )"
    r"|(?P<pci>[\w.-]+ " + _BDF + r"(?::pcie\d+)?: (?:AER: |PCIe Bus Error|DPC: |(?:pciehp: )?Slot\(|PCIe link lost|"
    r"xHCI host controller not responding|\s+device \[|\s+\[ ?\d+\] ))"
    r")"
)
_HEAD_RX = re.compile(HEAD)
HEAD_MATCH = _HEAD_RX.match
# Scanning: sre finds a literal prefix fast, but a leading character class ("<driver> <BDF>: ")
# tried at every record is slow. So the scan is two searches merged in order: every family but
# PCI anchored on the ';' ending the kmsg header (named groups removed: they cost per attempt),
# and the PCI family anchored on ": " before its message (AER, DPC, hotplug, link lost).
_PCI_BRANCH = HEAD[HEAD.index("|(?P<pci>") + 1:-1]  # the last branch (tried last: it starts with a class)
_NO_PCI = re.sub(r"\?P<\w+>", "?:", HEAD.replace("|" + _PCI_BRANCH, ""))
_KMSG_SCAN = re.compile(";" + _NO_PCI)
_PCI_SCAN = re.compile(r": (?:AER: |PCIe Bus Error|DPC: |(?:pciehp: )?Slot\(|PCIe link lost|xHCI host controller not responding)")
_FLAT_MATCH = re.compile(_NO_PCI).match

# kmsg record header: prefix,seq,usec,flags[,more];  (unknown extra fields before ';' ignored)
KMSG_INT_MAX = (1 << 63) - 1  # sequence numbers and timestamps beyond this are garbage (and not storable)
_KMSG_HDR = re.compile(r"(\d{1,4}),(\d{1,20}),(\d{1,20}),([^,;]*)(?:,[^;]*)?;")
_TEXT_PREFIX = re.compile(
    r"^(?:\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ kernel: |\S+T\d\d:\d\d:\d\d\S* \S+ kernel: )?"  # syslog
    r"(?:<(\d{1,3})>)?(?:\[\s*(\d{1,12})\.(\d{1,9})\]\s?)?")
_ESC = re.compile(r"\\x([0-9a-fA-F]{2})")


def unescape_kmsg(text: str) -> str:
    """Undo /dev/kmsg escaping (``\\xNN`` for unprintables and backslash)."""
    if "\\x" not in text:
        return text
    return _ESC.sub(lambda m: chr(int(m.group(1), 16)), text)


def parse_kmsg_header(line: str) -> tuple[int, int, int, str, int] | None:
    """(prefix, seq, usec, flags, offset of the message) or None for garbage."""
    m = _KMSG_HDR.match(line)
    if not m:
        return None
    seq, usec = int(m.group(2)), int(m.group(3))
    if seq > KMSG_INT_MAX or usec > KMSG_INT_MAX:  # u64 in the kernel, never this large in practice
        return None
    return int(m.group(1)), seq, usec, m.group(4), m.end()


# ---- device names -----------------------------------------------------------------------------
_PART = re.compile(r"^(?:(nvme\d+)(?:c\d+)?n\d+(?:p\d+)?|(mmcblk\d+)(?:p\d+)?|((?:sd|vd|xvd|hd)[a-z]+)\d*|(md\d+)(?:p\d+)?)$")


def disk_of(dev: str) -> str:
    """The disk a block device or partition belongs to: sda1 -> sda, nvme0c0n1 -> nvme0,
    nvme1n1p2 -> nvme1 (the controller), md0p1 -> md0; other names unchanged."""
    m = _PART.match(dev)
    if not m:
        return dev
    return next(g for g in m.groups() if g)


def _component_for_block(dev: str) -> str:
    d = disk_of(dev)
    return "raid" if d.startswith("md") else f"disk:{d}"


# ---- MCE status decoding (Intel SDM vol. 3B, MCi_STATUS) -------------------------------------
def decode_mci_status(status: int) -> dict[str, Any]:
    bits = {"val": 63, "over": 62, "uc": 61, "en": 60, "miscv": 59, "addrv": 58, "pcc": 57, "s": 56, "ar": 55}
    out = {k: bool(status >> b & 1) for k, b in bits.items()}
    code = status & 0xFFFF
    out["mca_code"] = f"0x{code:04x}"
    if code & 0xEF80 == 0x0080:
        out["error_kind"] = "memory controller"
    elif code & 0xEF00 == 0x0100:
        out["error_kind"] = "cache"
    elif code & 0xE800 == 0x0800:
        out["error_kind"] = "bus/interconnect"
    elif code & 0xEFF0 == 0x0010:
        out["error_kind"] = "tlb"
    elif code & 0xFFFF == 0x0400:
        out["error_kind"] = "internal timer"
    elif code:
        out["error_kind"] = "other"
    return out


def _mce_class(st: dict[str, Any]) -> tuple[str, Severity]:
    if not st.get("uc"):
        return "mce.corrected", I
    if st.get("pcc"):
        return "mce.fatal", C
    return "mce.uncorrected", C


# ---- classifier ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PatternSpec:
    family: str
    regex: str
    cls: str  # produced class (or a pattern of classes for stateful groups)
    example: str  # one real line shape from the reference


Meta = tuple  # (seq, usec, prio, facility)


class _Group:
    __slots__ = ("kind", "key", "meta", "lines", "detail", "cls", "sev", "component", "device", "count", "closed")

    def __init__(self, kind: str, key: str, meta: Meta, line: str):
        self.kind, self.key, self.meta = kind, key, meta
        self.lines = [line]
        self.detail: dict[str, Any] = {}
        self.cls, self.sev, self.component, self.device, self.count = "", I, "", "", 1
        self.closed = False


def _i(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


# family regexes (stage 2)
_MCE_CPU = re.compile(r"CPU (\d+): Machine Check( Exception)?: (\w+) Bank (\d+): ([0-9a-fA-F]+)")
_MCE_TSC = re.compile(r"TSC ([0-9a-fA-F]+)(?: ADDR ([0-9a-fA-F]+))?(?: MISC ([0-9a-fA-F]+))?(?: SYND ([0-9a-fA-F]+))?(?: IPID ([0-9a-fA-F]+))?")
_MCE_PROC = re.compile(r"PROCESSOR (\S+) TIME (\d+) SOCKET (\d+) APIC (\w+)(?: microcode (\w+))?")
_MCE_RIP = re.compile(r"RIP (!INEXACT! )?\w+:<([0-9a-fA-F]+)>(?: \{(\S+)\})?")
_AMD_STATUS = re.compile(r"CPU:?\s*(\d+) \(([^)]*)\) MC(\d+)_STATUS\[([^\]]*)\]: 0x([0-9a-fA-F]+)")
_AMD_ADDR = re.compile(r"Error Addr: 0x([0-9a-fA-F]+)")
_THERMAL = re.compile(r"CPU(\d+): (Core|Package) (?:temperature (?:is )?above threshold, cpu clock (?:is )?throttled|"
                      r"(temperature/speed normal)|(power limit notification))(?: \(total events = (\d+)\))?")
_EDAC = re.compile(r"EDAC MC(\d+): (\d+) ([CU]E) (.*?) on (.+?) \((.*)\)\s*$")
_EDAC_OLD = re.compile(r"EDAC MC(\d+): ([CU]E) page 0x([0-9a-f]+), offset 0x([0-9a-f]+), grain (\d+), "
                       r"(?:syndrome 0x([0-9a-f]+), )?row (\d+), (?:channel (\d+), )?labels? \"([^\"]*)\"(?::\s*(.*))?")
_KV = re.compile(r"([a-z_]+):(0x[0-9a-fA-F]+|\d+)")
_AER_HDR = re.compile(r"AER: (Multiple )?(Corrected|Correctable|Uncorrected|Uncorrectable)(?: \((Fatal|Non-Fatal)\))? "
                      r"error(?: message)? received(?: from|:) (?:id=([0-9a-fA-F]{4})|(" + _BDF + r"))")
_AER_SEV = re.compile(r"PCIe Bus Error: severity=(Corrected|Correctable|Uncorrected|Uncorrectable)(?: \((Fatal|Non-Fatal)\))?, "
                      r"type=([^,(]+)(?:, (?:id=[0-9a-fA-F]+)?\((\w+) ID\))?")
_AER_DEV = re.compile(r"device \[([0-9a-f]{4}:[0-9a-f]{4})\] error status/mask=([0-9a-f]+)/([0-9a-f]+)")
_AER_BIT = re.compile(r"\[ ?(\d+)\] (\S+)[^(]*(\(First\))?")
_PCI_LINE = re.compile(r"([\w.-]+) (" + _BDF + r")(?::pcie\d+)?: (.*)$")
_ATA = re.compile(r"ata(\d+)(?:\.(\d+))?: (.*)$")
_ATA_EXC = re.compile(r"exception Emask (0x[0-9a-f]+) SAct (0x[0-9a-f]+) SErr (0x[0-9a-f]+) action (0x[0-9a-f]+)( frozen)?")
_EMASK_CLASS = re.compile(r"Emask 0x[0-9a-f]+ \(([a-zA-Z ]+)\)")
_BRACES = re.compile(r"\{ ([^}]*) \}")
_SCSI = re.compile(r"sd (\d+:\d+:\d+:\d+): \[(\w+)\] (?:tag#\d+ )?(.*)$")
_BLOCK = re.compile(r"(?:(?:blk_update_request|end_request|print_req_error): )?([\w /]+?) error, dev ([\w.-]+), sector (\d+)"
                    r"(?: op 0x[0-9a-f]+:\((\w+)\))?")
_BUFFER = re.compile(r"Buffer I/O error on (?:device|dev) ([\w.-]+), logical block (\d+)")
_NVME = re.compile(r"nvme (nvme\d+): (.*)$")
_NVME_NS = re.compile(r"(nvme\d+(?:c\d+)?n\d+): (.+?) @ LBA (\d+), (\d+) blocks, (.+?) \(sct (0x[0-9a-f]+) / sc (0x[0-9a-f]+)\)")
_MD = re.compile(r"md/(raid\d*):(\w+): (.*)$")
_MD_CORE = re.compile(r"md: (?:(md\d+): (\w+) (done|interrupted)|(\w+) of RAID array (md\d+)|kicking non-fresh (\S+) from array)")
_FS_EXT = re.compile(r"(EXT[234])-fs (?:(error|warning) \(device ([\w.-]+)\): (.*)|\(([\w.-]+)\): (.*))$")
_FS_XFS = re.compile(r"XFS \(([\w.-]+)\): (.*)$")
_FS_BTRFS = re.compile(r"BTRFS(?:: (error) \(device ([\w.-]+)\)| (\w+) \(device ([\w.-]+)\)): (.*)$")
_LOCK_SOFT = re.compile(r"soft lockup - CPU#(\d+) stuck for (\d+)s! \[(.*)\]")
_LOCK_HARD = re.compile(r"[Hh]ard LOCKUP on cpu (\d+)")
_HUNG = re.compile(r"INFO: task (.+?):(\d+) blocked for more than (\d+) seconds")
_NMI_UNK = re.compile(r"NMI received for unknown reason (\w+) on CPU (\d+)")
_NMI_RSN = re.compile(r"NMI: (PCI system error \(SERR\)|IOCK error(?: \(debug interrupt\?\))?) for reason (\w+) on CPU (\d+)")
_MEMFAIL = re.compile(r"(?:Memory failure|MCE(?: \w+)?): (?:(0x[0-9a-f]+|\d+): )?(.*)$")
_GHES = re.compile(r"\{(\d+)\}\[Hardware Error\]:\s?(.*)$")


class Classifier:
    """Stateful classifier: feed messages in kernel order, take events with :meth:`take`."""

    def __init__(self, source: str = "kmsg", boot_id: str = "", wall: Callable[[int | None], float | None] | None = None):
        self.source = source
        self.boot_id = boot_id
        self.wall = wall  # monotonic usec -> unix time
        self.previous_boot = False
        self.out: list[KernelEvent] = []
        self.group: _Group | None = None
        self._ata_reset: set[str] = set()  # ports in an error-handling sequence (link down there is news)
        self.hits = 0
        self.errors = 0  # lines a family parser choked on (skipped)

    # -- public API ----------------------------------------------------------------------------
    def take(self) -> list[KernelEvent]:
        out, self.out = self.out, []
        return out

    def flush(self) -> None:
        if self.group is not None:
            self._close()

    def feed(self, msg: str, meta: Meta = (None, None, None, None)) -> None:
        """Classify one message (a record's text, kmsg prefix removed)."""
        if self.group is not None and self._continues(msg, meta):
            return
        m = HEAD_MATCH(msg)
        if m is None:
            if self.group is not None:
                self._close()
            return
        self.hits += 1
        fam = m.lastgroup
        if "\n" in msg:  # a record with embedded lines (md, ata cmd/res): classify each
            first, *rest = msg.split("\n")
            self._dispatch(fam, first, meta)
            for extra in rest:
                extra = extra.strip()
                if extra:
                    self.feed(extra, meta)
            return
        self._dispatch(fam, msg, meta)

    def open(self) -> bool:
        return self.group is not None

    # -- chunk scanning (the fast path) ------------------------------------------------------
    def scan_kmsg(self, text: str, on_record: Callable[[int, int, int], None] | None = None) -> None:
        """Classify a chunk of complete /dev/kmsg records (``prefix,seq,usec,flags;msg`` lines
        plus `` KEY=value`` continuation lines). Only prefilter hits reach Python."""
        pos = 0
        n = len(text)
        s1, s2 = _KMSG_SCAN.search, _PCI_SCAN.search
        m1, m2 = s1(text, 0), s2(text, 0)
        while pos < n:
            if self.group is not None:
                pos = self._walk(text, pos)
                if pos >= n:
                    break
            if m1 is not None and m1.start() < pos:
                m1 = s1(text, pos)
            if m2 is not None and m2.start() < pos:
                m2 = s2(text, pos)
            if m1 is None and m2 is None:
                break
            m = m1 if m2 is None or (m1 is not None and m1.start() < m2.start()) else m2
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            if end < 0:
                end = n
            self._feed_kmsg_line(text[start:end])
            pos = end + 1

    def _feed_kmsg_line(self, line: str) -> bool:
        hdr = parse_kmsg_header(line)
        if hdr is None:
            return False
        prefix, seq, usec, _flags, off = hdr
        msg = line[off:off + MAX_RECORD]
        if "\\" in msg:
            msg = unescape_kmsg(msg)
        self.feed(msg, (seq, usec, prefix & 7, prefix >> 3))
        return True

    def _walk(self, text: str, pos: int) -> int:
        """An open group pulls in following records while they continue it."""
        n = len(text)
        while pos < n and self.group is not None:
            end = text.find("\n", pos)
            if end < 0:
                end = n
            line = text[pos:end]
            if line.startswith(" "):  # KEY=value dictionary line of the previous record
                pos = end + 1
                continue
            hdr = parse_kmsg_header(line)
            if hdr is None:
                pos = end + 1
                continue
            prefix, seq, usec, _f, off = hdr
            msg = unescape_kmsg(line[off:off + MAX_RECORD])
            if not self._continues(msg, (seq, usec, prefix & 7, prefix >> 3)):
                self._close()
                return pos  # let the scanner look at this line
            pos = end + 1
        return pos

    def scan_text(self, lines: Iterable[str]) -> None:
        """Classify dmesg/syslog/pstore text lines (``[  7.416] msg``, ``<6>[..] msg``,
        ``Sep 19 10:29:11 host kernel: [..] msg``). Indented lines continue the record above."""
        flat, pci = _FLAT_MATCH, _PCI_SCAN.search
        for line in lines:
            if not line:
                continue
            c0 = line[0]
            if c0 in " \t":
                if not line.strip():
                    continue
                if not line.lstrip().startswith("["):
                    if self.group is not None:
                        self.group.lines.append(line.strip()[:MAX_RECORD])
                        self._continuation_text(line.strip())
                    continue
            if self.group is None and (c0 == "[" or c0 == "<"):
                # fast rejection: look at the message after the "[  7.41] " stamp without parsing it
                j = line.find("] ")
                k = j + 2 if j > 0 else 0
                if not flat(line, k) and not (": " in line and pci(line, k, k + 160)):
                    continue
            m = _TEXT_PREFIX.match(line)
            prio = usec = None
            msg = line
            if m and m.end():
                if m.group(1):
                    prio = int(m.group(1)) & 7
                if m.group(2):
                    frac = (m.group(3) + "000000")[:6]
                    usec = int(m.group(2)) * 1_000_000 + int(frac)
                msg = line[m.end():]
            if self.group is None and not _FLAT_MATCH(msg) and not (": " in msg and _PCI_SCAN.search(msg, 0, 160)):
                continue  # cheap rejection of ordinary lines
            self.feed(msg[:MAX_RECORD], (None, usec, prio, 0 if prio is not None else None))

    # -- groups ----------------------------------------------------------------------------------
    def _start(self, kind: str, key: str, meta: Meta, line: str) -> _Group:
        if self.group is not None:
            self._close()
        self.group = _Group(kind, key, meta, line)
        return self.group

    def _close(self) -> None:
        g, self.group = self.group, None
        if g is None or not g.cls:
            return
        if g.kind == "mce" and "socket" in g.detail:
            g.device = f"socket{g.detail['socket']}"  # storms are judged per socket (mcelog)
        self._emit(g.cls, g.sev, g.component, g.device, g.detail, g.lines, g.meta, g.count)

    def _emit(self, cls: str, sev: Severity, component: str, device: str, detail: dict, lines, meta: Meta,
              count: int = 1) -> None:
        seq, usec, prio, fac = meta
        self.out.append(KernelEvent(
            cls=cls, severity=sev, component=component, device=device, detail=detail,
            raw=tuple(lines), source=self.source, boot_id=self.boot_id, seq=seq, monotonic_usec=usec,
            time=self.wall(usec) if self.wall else None, priority=prio, facility=fac, count=max(1, count),
            previous_boot=self.previous_boot))

    def _continues(self, msg: str, meta: Meta) -> bool:
        """Does ``msg`` belong to the open group? If so it is absorbed."""
        g = self.group
        assert g is not None
        kind = g.kind
        if kind == "mce" or kind == "amd":
            body = msg[5:] if msg.startswith("mce: ") else msg
            if not body.startswith("[Hardware Error]: "):
                return False
            body = body[18:]
            if kind == "mce" and (_MCE_CPU.match(body) or body.startswith("Machine check events")):
                return False
            if kind == "amd" and (body.startswith(("Corrected error", "Uncorrected", "Deferred error"))
                                  or (_AMD_STATUS.match(body) and "status" in g.detail)):
                return False
            g.lines.append(msg)
            self._mce_line(g, body)
            return True
        if kind == "ghes":
            if not msg.startswith("{" + g.key + "}[Hardware Error]"):
                return False
            g.lines.append(msg)
            self._ghes_line(g, _GHES.match(msg).group(2))  # type: ignore[union-attr]
            return True
        if kind == "aer":
            m = _PCI_LINE.match(msg)
            if not m or m.group(2) not in g.key.split(","):
                return False
            rest = m.group(3)
            if rest.startswith("AER: ") and _AER_HDR.match(rest):
                return False  # a new AER message
            g.lines.append(msg)
            self._aer_line(g, rest)
            return True
        if kind == "ata":
            if not msg.startswith(g.key):
                return False
            m = _ATA.match(msg)
            if not m or f"ata{m.group(1)}" != g.key:
                return False
            rest = m.group(3)
            if rest.startswith("exception ") and "exception" in g.detail:
                return False  # the next incident on the same port
            g.lines.append(msg)
            self._ata_line(g, rest)
            if rest.startswith("EH complete"):
                self._close()
            return True
        if kind == "scsi":
            m = _SCSI.match(msg)
            if not m or m.group(2) != g.key or m.group(3).startswith("FAILED Result"):
                return False
            g.lines.append(msg)
            self._scsi_line(g, m.group(3))
            return True
        if kind == "nmi":
            if msg.startswith(("Dazed and confused", "Do you have a strange power saving mode")):
                g.lines.append(msg)
                return True
            return False
        return False

    def _continuation_text(self, line: str) -> None:
        g = self.group
        if g is not None and g.kind == "ata":
            self._ata_line(g, line)

    # -- dispatch --------------------------------------------------------------------------------
    def _dispatch(self, fam: str | None, msg: str, meta: Meta) -> None:
        try:
            getattr(self, "_f_" + (fam or "none"))(msg, meta)
        except Exception:  # noqa: BLE001 - a line the parser did not expect is skipped, never fatal
            self.errors += 1

    def _f_none(self, msg: str, meta: Meta) -> None:
        return

    # MCE family (core decoder, AMD decoder, thermal, CMCI, NMI, panics)
    def _f_mce(self, msg: str, meta: Meta) -> None:
        body = msg[5:] if msg.startswith(("mce: ", "MCE: ")) else msg
        if body.startswith("[Hardware Error]: "):
            body = body[18:]
            m = _MCE_CPU.match(body)
            if m:
                g = self._start("mce", "", meta, msg)
                status = int(m.group(5), 16)
                st = decode_mci_status(status)
                cpu = int(m.group(1))
                g.detail.update(cpu=cpu, bank=int(m.group(4)), status=f"0x{status:016x}", mcgstatus=m.group(3),
                                exception=bool(m.group(2)), **{k: v for k, v in st.items() if k in ("mca_code", "error_kind")},
                                bits=",".join(k.upper() for k in ("over", "uc", "en", "miscv", "addrv", "pcc", "s", "ar") if st[k]))
                g.cls, g.sev = _mce_class(st)
                g.component = "memory" if st.get("error_kind") == "memory controller" else "cpu"
                g.device = f"cpu{cpu}"
                return
            if body.startswith(("Corrected error", "Uncorrected", "Deferred error")) or _AMD_STATUS.match(body):
                g = self._start("amd", "", meta, msg)
                self._mce_line(g, body)
                return
            if body.startswith("Machine check events logged"):
                return
            if self.group is None and body.startswith(("TSC ", "PROCESSOR ", "RIP ")):
                return  # orphan continuation (start of the block lost)
            return
        if body.startswith("Machine check events"):
            return
        if self.group is not None:
            self._close()
        m = _THERMAL.match(body)
        if m:
            cpu, scope = int(m.group(1)), m.group(2).lower()
            total = _i(m.group(5))
            det = {"cpu": cpu, "scope": scope}
            if total is not None:
                det["total_events"] = total
            if m.group(3):
                self._emit("thermal.normal", I, "cpu", f"cpu{cpu}", det, (msg,), meta)
            elif m.group(4):
                self._emit("power.limit", I, "cpu", f"cpu{cpu}", det, (msg,), meta)
            else:
                self._emit("thermal.throttle", W, "cpu", f"cpu{cpu}", det, (msg,), meta)
            return
        if body.startswith("CMCI storm"):
            self._emit("mce.storm", W, "cpu", "cpu", {}, (msg,), meta)
            return
        if msg.startswith("Kernel panic - not syncing"):
            reason = msg.partition(": ")[2].partition("not syncing: ")[2] or msg.split("not syncing", 1)[1].lstrip(": ")
            low = reason.lower()
            if "machine check" in low or "mce" in low:
                self._emit("panic.mce", C, "cpu", "cpu", {"reason": reason}, (msg,), meta)
            elif "nmi" in low or "lockup" in low:
                self._emit("panic.nmi" if "nmi" in low else "panic.lockup", C, "board" if "nmi" in low else "cpu",
                           "cpu", {"reason": reason}, (msg,), meta)
            else:
                self._emit("panic", C, "system", "kernel", {"reason": reason}, (msg,), meta)
            return
        m = _NMI_UNK.search(msg)
        if m:
            g = self._start("nmi", "", meta, msg)
            g.cls, g.sev, g.component, g.device = "nmi.unknown", W, "board", f"cpu{m.group(2)}"
            g.detail.update(reason=m.group(1), cpu=int(m.group(2)))
            return
        m = _NMI_RSN.search(msg)
        if m:
            cls = "nmi.serr" if "SERR" in m.group(1) else "nmi.iock"
            self._emit(cls, C, "board", f"cpu{m.group(3)}", {"reason": m.group(2), "cpu": int(m.group(3)),
                                                             "kind": m.group(1)}, (msg,), meta)

    def _mce_line(self, g: _Group, body: str) -> None:
        d = g.detail
        if g.kind == "mce":
            m = _MCE_TSC.match(body)
            if m:
                if m.group(2):
                    d["address"] = "0x" + m.group(2).lower()
                if m.group(3):
                    d["misc"] = "0x" + m.group(3).lower()
                if m.group(4):
                    d["synd"] = "0x" + m.group(4).lower()
                if m.group(5):
                    d["ipid"] = "0x" + m.group(5).lower()
                return
            m = _MCE_PROC.match(body)
            if m:
                d.update(processor=m.group(1), mce_time=int(m.group(2)), socket=int(m.group(3)), apic=m.group(4))
                if m.group(5):
                    d["microcode"] = m.group(5)
                return
            m = _MCE_RIP.match(body)
            if m:
                d["rip"] = "0x" + m.group(2)
                if m.group(3):
                    d["function"] = m.group(3)
                if m.group(1):
                    d["rip_inexact"] = True
                return
            if body.startswith("Machine check: "):
                d["panic_reason"] = body[15:]
                if "context corrupt" in body or "Fatal" in body:
                    g.cls, g.sev = "mce.fatal", C
            return
        # AMD decoder block
        if body.startswith("Corrected error"):
            g.cls, g.sev = "mce.corrected", I
            g.component = g.component or "cpu"
        elif body.startswith("Deferred error"):
            g.cls, g.sev = "mce.deferred", W
            g.component = g.component or "cpu"
        elif body.startswith("Uncorrected"):
            g.cls, g.sev = "mce.uncorrected", C
            g.component = g.component or "cpu"
            if "context corrupt" in body or "not restartable" in body.lower():
                g.cls = "mce.fatal"
        m = _AMD_STATUS.match(body)
        if m:
            cpu = int(m.group(1))
            flags = [f for f in m.group(4).split("|") if f and f != "-"]
            d.update(cpu=cpu, bank=int(m.group(3)), status="0x" + m.group(5).lower(), bits=",".join(flags),
                     family_model=m.group(2))
            if g.device in ("", "cpu"):
                g.device = f"cpu{cpu}"
            if not g.cls:
                g.cls, g.sev = ("mce.uncorrected", C) if "UC" in flags or "UE" in flags else ("mce.corrected", I)
                g.component = "cpu"
            if "PCC" in flags:
                g.cls, g.sev = "mce.fatal", C
            return
        m = _AMD_ADDR.match(body)
        if m:
            d["address"] = "0x" + m.group(1).lower()
            return
        if "DRAM ECC error" in body or "Memory Controller" in body:
            g.component = "memory"
            d["error_kind"] = "memory controller"
        if not g.device:
            g.device = "cpu"

    # GHES / CPER
    def _f_ghes(self, msg: str, meta: Meta) -> None:
        m = _GHES.match(msg)
        if not m:
            return
        g = self._start("ghes", m.group(1), meta, msg)
        g.detail["record"] = int(m.group(1))
        g.cls, g.sev, g.component, g.device = "ghes.corrected", I, "board", "ghes"
        self._ghes_line(g, m.group(2))

    def _ghes_line(self, g: _Group, body: str) -> None:
        b = body.strip()
        d = g.detail
        if b.startswith("event severity: "):
            sev = b[16:].strip()
            d["event_severity"] = sev
            g.cls, g.sev = {"corrected": ("ghes.corrected", I), "recoverable": ("ghes.recoverable", C),
                            "fatal": ("ghes.fatal", C)}.get(sev, ("ghes.info", W))
        elif b.startswith("Hardware error from APEI Generic Hardware Error Source: "):
            d["source_id"] = b.rsplit(" ", 1)[-1]
        elif b.startswith("section_type: "):
            st = b[14:].strip()
            d["section_type"] = st
            if "memory" in st:
                g.component, g.device = "memory", g.device if g.device != "ghes" else "memory"
            elif "PCIe" in st:
                g.component, g.device = "pcie", g.device if g.device != "ghes" else "pcie"
            elif "processor" in st:
                g.component, g.device = "cpu", g.device if g.device != "ghes" else "cpu"
        elif b.startswith("fru_text: "):
            d["fru_text"] = b[10:].strip()
            g.device = d["fru_text"] or g.device
        elif b.startswith("physical_address: "):
            d["address"] = b[18:].strip()
        elif b.startswith("error_status: "):
            d["error_status"] = b[14:].strip()
        elif b.startswith("error_type: "):
            d["error_type"] = b[12:].strip()
        elif b.startswith("node:") or b.startswith("node: "):
            d["location"] = b
            if g.device in ("ghes", "memory"):
                loc = dict(_KV.findall(b.replace(": ", ":")))
                g.device = "node{}/card{}/module{}".format(loc.get("node", "?"), loc.get("card", "?"), loc.get("module", "?"))
        elif b.startswith("device_id: ") and re.match(_BDF, b[11:].strip() or "-"):
            g.device = b[11:].strip()
            d["bdf"] = g.device
        elif b.startswith("aer_") or b.startswith("It has been corrected") or b.startswith("fru_id"):
            key, _, val = b.partition(":")
            if val:
                d[key.strip()] = val.strip()

    # EDAC
    def _f_edac(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _EDAC.match(msg)
        if m:
            mc, count, kind, what, label, loc = m.groups()
            detail: dict[str, Any] = {"mc": int(mc), "count": int(count), "message": what, "label": label}
            main, _, extra = loc.partition(" - ")
            for k, v in _KV.findall(main):
                detail[k] = v
            if extra.strip():
                detail["info"] = extra.strip()
            device = label if label and label != "unknown memory" else f"mc{mc}"
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", device, detail, (msg,), meta, int(count))
            return
        m = _EDAC_OLD.match(msg)
        if m:
            mc, kind, page, off, grain, synd, row, ch, label, drv = m.groups()
            device = label.strip() or f"mc{mc}/csrow{row}" + (f"/ch{ch}" if ch else "")
            detail = {"mc": int(mc), "count": 1, "page": "0x" + page, "offset": "0x" + off, "grain": int(grain),
                      "csrow": int(row)}
            if ch:
                detail["channel"] = int(ch)
            if synd:
                detail["syndrome"] = "0x" + synd
            if drv:
                detail["info"] = drv.strip()
            cls, sev = ("edac.ce", I) if kind == "CE" else ("edac.ue", C)
            self._emit(cls, sev, "memory", device, detail, (msg,), meta)

    # memory failure handling
    def _f_memfail(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _MEMFAIL.match(msg)
        if not m:
            return
        pfn, text = m.group(1), m.group(2)
        detail: dict[str, Any] = {"action": text}
        if pfn:
            detail["pfn"] = pfn
        low = text.lower()
        if "recovery action for" in low:
            page_type, _, result = text.partition("recovery action for ")[2].partition(": ")
            detail.update(page_type=page_type, result=result.strip())
            sev = W if result.strip() == "Recovered" else C
        elif "killing" in low:
            sev = C
        else:
            sev = W
        self._emit("memory.failure", sev, "memory", "memory", detail, (msg,), meta)

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
    def _aer_classify(g: _Group, kind: str, fatal: str | None) -> None:
        if kind.startswith("Correct"):
            g.cls, g.sev = "aer.corrected", I
        elif fatal == "Fatal":
            g.cls, g.sev = "aer.fatal", C
        else:
            g.cls, g.sev = "aer.nonfatal", W

    def _aer_line(self, g: _Group, rest: str) -> None:
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

    # ATA
    def _f_ata(self, msg: str, meta: Meta) -> None:
        m = _ATA.match(msg)
        if not m:
            return
        port = f"ata{m.group(1)}"
        rest = m.group(3)
        if rest.startswith("SATA link down"):
            if port in self._ata_reset:
                self._ata_reset.discard(port)
                self._emit("ata.link_down", W, f"disk:{port}", port, {"port": port, "message": rest}, (msg,), meta)
            return  # link down on an empty port at boot is normal
        if rest.startswith("error: {"):
            if self.group is not None and self.group.kind == "ata" and self.group.key == port:
                self.group.lines.append(msg)
                self._ata_line(self.group, rest)
            return
        g = self._start("ata", port, meta, msg)
        g.component, g.device = f"disk:{port}", port + (f".{m.group(2)}" if m.group(2) else "")
        g.detail["port"] = port
        if rest.startswith("exception "):
            g.cls, g.sev = "ata.error", W
        elif rest.startswith(("hard resetting link", "COMRESET failed", "softreset failed", "link is slow")):
            g.cls, g.sev = "ata.link_reset", W
        elif rest.startswith("limiting SATA link speed"):
            g.cls, g.sev = "ata.link_slow", W
        elif rest.startswith("SError: "):
            g.cls, g.sev = "ata.link_error", W
        else:
            g.cls, g.sev = "ata.error", W
        self._ata_line(g, rest)

    def _ata_line(self, g: _Group, rest: str) -> None:
        d = g.detail
        m = _ATA_EXC.match(rest)
        if m:
            d.update(exception=True, emask=m.group(1), sact=m.group(2), serr=m.group(3), action=m.group(4))
            if m.group(5):
                d["frozen"] = True
            if g.cls != "ata.error":
                g.cls = "ata.error"
            return
        if rest.startswith("failed command: "):
            d["command"] = rest[16:].strip()
            return
        m = _EMASK_CLASS.search(rest)
        if m:
            classes = set(d.get("emask_class", ()))
            classes.add(m.group(1).strip())
            d["emask_class"] = tuple(sorted(classes))
        if rest.startswith(("error: {", "SError: {", "status: {")):
            b = _BRACES.search(rest)
            if b:
                key = {"error": "error_bits", "SError": "serror_bits", "status": "status_bits"}[rest.split(":")[0]]
                vals = set(d.get(key, ()))
                vals.update(b.group(1).split())
                d[key] = tuple(sorted(vals))
                if key == "error_bits" and ("ICRC" in vals):
                    d["link_suspect"] = True
            return
        if rest.startswith(("hard resetting link", "COMRESET failed", "softreset failed")):
            d["resets"] = d.get("resets", 0) + 1
            self._ata_reset.add(d.get("port", g.key))
            return
        if rest.startswith("limiting SATA link speed"):
            d["speed_limited"] = rest.rsplit(" ", 2)[-2] + " " + rest.rsplit(" ", 1)[-1] if " to " in rest else True
            return
        if rest.startswith("SATA link down"):
            d["link_down"] = True
            if g.sev < C:
                g.sev = W
            return
        if rest.startswith("SATA link up"):
            self._ata_reset.discard(d.get("port", g.key))
            d["link_up"] = rest[13:].split(" (")[0]

    # SCSI sense
    def _f_scsi(self, msg: str, meta: Meta) -> None:
        m = _SCSI.match(msg)
        if not m:
            return
        hctl, dev, rest = m.groups()
        g = self._start("scsi", dev, meta, msg)
        g.cls, g.sev, g.component, g.device = "scsi.error", W, f"disk:{dev}", dev
        g.detail["hctl"] = hctl
        self._scsi_line(g, rest)

    @staticmethod
    def _scsi_line(g: _Group, rest: str) -> None:
        d = g.detail
        if rest.startswith("Sense Key"):
            sk = rest.split(":", 1)[1].strip()
            d["sense_key"] = sk.split(" [")[0].strip()
        elif rest.startswith("Add. Sense"):
            d["additional_sense"] = rest.split(":", 1)[1].strip()
        elif rest.startswith("FAILED Result"):
            d["result"] = rest.split(":", 1)[1].strip()
        elif rest.startswith("CDB: "):
            d["cdb"] = rest[5:].strip()

    # block layer
    def _f_block(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _BLOCK.match(msg)
        if m:
            status, dev, sector, op = m.groups()
            detail: dict[str, Any] = {"status": status.strip(), "sector": int(sector)}
            if op:
                detail["op"] = op
            self._emit("block.io_error", W, _component_for_block(dev), dev, detail, (msg,), meta)
            return
        m = _BUFFER.match(msg)
        if m:
            dev = m.group(1)
            self._emit("block.buffer_io_error", W, _component_for_block(dev), dev,
                       {"logical_block": int(m.group(2))}, (msg,), meta)

    # NVMe
    def _f_nvme(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _NVME_NS.match(msg)
        if m:
            ns, opname, lba, blocks, status, sct, sc = m.groups()
            self._emit("nvme.io_error", W, f"disk:{disk_of(ns)}", ns,
                       {"opcode": opname, "lba": int(lba), "blocks": int(blocks), "status": status.strip(),
                        "sct": sct, "sc": sc}, (msg,), meta)
            return
        m = _NVME.match(msg)
        if not m:
            return
        ctrl, rest = m.groups()
        comp = f"disk:{ctrl}"
        detail: dict[str, Any] = {"message": rest}
        csts = re.search(r"CSTS=(0x[0-9a-fA-F]+)", rest)
        if csts:
            detail["csts"] = csts.group(1).lower()
            if csts.group(1).lower() == "0xffffffff":
                detail["off_bus"] = True
        if rest.startswith("I/O ") and " timeout" in rest:
            q = re.search(r"QID (\d+)", rest)
            if q:
                detail["qid"] = int(q.group(1))
            detail["action"] = "reset" if "reset controller" in rest else "abort" if "aborting" in rest else "timeout"
            self._emit("nvme.timeout", W, comp, ctrl, detail, (msg,), meta)
        elif rest.startswith(("controller is down", "resetting controller", "Device not ready")):
            self._emit("nvme.reset", C if detail.get("off_bus") else W, comp, ctrl, detail, (msg,), meta)
        elif rest.startswith(("Disabling device", "Removing after", "frozen state error")) or \
                (rest.startswith("failed to") and "reset" in rest):
            self._emit("nvme.controller_failed", C, comp, ctrl, detail, (msg,), meta)
        # "Abort status: 0x0" follows a timeout already counted: not a second event

    # md RAID
    def _f_md(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _MD.match(msg)
        if m:
            level, md, rest = m.groups()
            d: dict[str, Any] = {"level": level}
            f = re.match(r"Disk failure on (\S+?),? disabling device", rest)
            if f:
                d["member"] = f.group(1)
                self._emit("raid.disk_failed", C, "raid", md, d, (msg,), meta)
                return
            f = re.match(r"Operation continuing on (\d+) devices", rest)
            if f:
                d["remaining"] = int(f.group(1))
                self._emit("raid.degraded", C, "raid", md, d, (msg,), meta)
                return
            f = re.search(r"active with (\d+) out of (\d+) (?:devices|mirrors)", rest)
            if f and int(f.group(1)) < int(f.group(2)):
                d.update(active=int(f.group(1)), total=int(f.group(2)))
                self._emit("raid.degraded", C, "raid", md, d, (msg,), meta)
            elif "not clean" in rest and "reconstruction" in rest:
                self._emit("raid.resync", I, "raid", md, dict(d, state="start", reason="not clean"), (msg,), meta)
            return
        m = _MD_CORE.match(msg)
        if m:
            if m.group(1):
                self._emit("raid.resync", I, "raid", m.group(1), {"action": m.group(2), "state": m.group(3)}, (msg,), meta)
            elif m.group(4):
                self._emit("raid.resync", I, "raid", m.group(5), {"action": m.group(4), "state": "start"}, (msg,), meta)
            elif m.group(6):
                self._emit("raid.member_kicked", W, "raid", "md", {"member": m.group(6)}, (msg,), meta)

    # filesystems
    def _f_fs(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _FS_EXT.match(msg)
        if m:
            fstype, level, dev1, text1, dev2, text2 = m.groups()
            dev = dev1 or dev2
            text = text1 if text1 is not None else text2
            d = {"fs": fstype.lower(), "message": text}
            if level == "error":
                fn = re.match(r"(\w+):(\d+):", text)
                if fn:
                    d["function"] = fn.group(1)
                self._emit("fs.error", W, "fs", dev, d, (msg,), meta)
            elif level is None and "Remounting filesystem read-only" in text:
                self._emit("fs.readonly", C, "fs", dev, d, (msg,), meta)
            elif level is None and ("I/O error while writing superblock" in text or text.startswith("error ")
                                    and "count" not in text):
                self._emit("fs.error", W, "fs", dev, d, (msg,), meta)
            elif level is None and "aborting journal" in text:
                self._emit("fs.error", C, "fs", dev, d, (msg,), meta)
            return
        m = _FS_XFS.match(msg)
        if m:
            dev, text = m.groups()
            d = {"fs": "xfs", "message": text}
            low = text.lower()
            if "shut down" in low or "shutting down" in low:
                self._emit("fs.shutdown", C, "fs", dev, d, (msg,), meta)
            elif "corruption" in low:
                self._emit("fs.corruption", C, "fs", dev, d, (msg,), meta)
            elif "i/o error" in low:
                self._emit("fs.error", W, "fs", dev, d, (msg,), meta)
            return
        m = _FS_BTRFS.match(msg)
        if m:
            old_err, old_dev, level, dev2, text = m.groups()
            dev = old_dev or dev2
            level = old_err or level
            d = {"fs": "btrfs", "message": text}
            if "csum failed" in text:
                self._emit("fs.csum_error", W, "fs", dev, d, (msg,), meta)
            elif "forced readonly" in text:
                self._emit("fs.readonly", C, "fs", dev, d, (msg,), meta)
            elif level in ("error", "critical", "emerg", "alert", "crit"):
                errs = re.search(r"errs: wr (\d+), rd (\d+), flush (\d+), corrupt (\d+), gen (\d+)", text)
                if errs:
                    d.update(zip(("write_errors", "read_errors", "flush_errors", "corruption_errors", "generation_errors"),
                                 map(int, errs.groups())))
                self._emit("fs.error", C if level != "error" else W, "fs", dev, d, (msg,), meta)

    # thermal trips
    def _f_thermal(self, msg: str, meta: Meta) -> None:
        low = msg.lower()
        if "critical temperature reached" in low:
            zone = re.match(r"thermal (thermal_zone\d+):", msg)
            t = re.search(r"\((-?\d+) C\)", msg)
            d: dict[str, Any] = {"message": msg}
            if t:
                d["celsius"] = int(t.group(1))
            self._emit("thermal.critical", C, "board", zone.group(1) if zone else "acpi", d, (msg,), meta)

    # lockups, hung tasks, RCU stalls
    def _f_lockup(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = _LOCK_SOFT.search(msg)
        if m:
            self._emit("cpu.soft_lockup", W, "cpu", f"cpu{m.group(1)}",
                       {"cpu": int(m.group(1)), "seconds": int(m.group(2)), "task": m.group(3)}, (msg,), meta)
            return
        m = _LOCK_HARD.search(msg)
        if m:
            self._emit("cpu.hard_lockup", C, "cpu", f"cpu{m.group(1)}", {"cpu": int(m.group(1))}, (msg,), meta)
            return
        m = _HUNG.match(msg)
        if m:
            self._emit("cpu.hung_task", W, "cpu", "cpu", {"task": m.group(1), "pid": int(m.group(2)),
                                                         "seconds": int(m.group(3))}, (msg,), meta)
            return
        if "detected stall" in msg or "detected expedited stall" in msg or "self-detected stall" in msg:
            flavour = re.search(r"INFO: (rcu_\w+)", msg)
            self._emit("cpu.rcu_stall", W, "cpu", "cpu", {"rcu": flavour.group(1) if flavour else "rcu"}, (msg,), meta)

    # journald's note that the previous boot ended without a clean shutdown
    def _f_journal(self, msg: str, meta: Meta) -> None:
        if "uncleanly shut down" in msg or "corrupted or uncleanly" in msg:
            self._emit("system.journal_unclean", I, "board", "journal", {"message": msg.split(": ", 1)[1]}, (msg,), meta)


def classify_lines(lines: Iterable[str], source: str = "dmesg", boot_id: str = "") -> list[KernelEvent]:
    """Convenience: classify text lines (dmesg/syslog/pstore) into events."""
    c = Classifier(source=source, boot_id=boot_id)
    c.scan_text(lines)
    c.flush()
    return c.take()


def iter_kmsg_records(text: str) -> Iterator[tuple[int, int, int, str, dict[str, str]]]:
    """(prefix, seq, usec, message, properties) of every parseable record of a kmsg chunk."""
    cur = None
    for line in text.split("\n"):
        if line.startswith(" "):
            if cur is not None:
                k, _, v = line[1:].partition("=")
                cur[4][k] = v
            continue
        if cur is not None:
            yield cur
            cur = None
        hdr = parse_kmsg_header(line)
        if hdr is None:
            continue
        prefix, seq, usec, _f, off = hdr
        cur = (prefix, seq, usec, unescape_kmsg(line[off:off + MAX_RECORD]), {})
    if cur is not None:
        yield cur


# The pattern table: one entry per wording variant family, with the line shape it accepts.
PATTERNS: tuple[PatternSpec, ...] = (
    PatternSpec("mce", _MCE_CPU.pattern, "mce.corrected|mce.uncorrected|mce.fatal",
                "mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 3: cc5eb2c000100135"),
    PatternSpec("mce", _AMD_STATUS.pattern, "mce.corrected|mce.deferred|mce.uncorrected",
                "[Hardware Error]: CPU:0 (17:1:1) MC15_STATUS[Over|CE|MiscV|AddrV|-|-|SyndV|CECC|-|-|-]: 0xdc2040000000011b"),
    PatternSpec("mce", "CMCI storm", "mce.storm", "CMCI storm detected: switching to poll mode"),
    PatternSpec("panic", "Kernel panic - not syncing", "panic.mce|panic.nmi|panic", "Kernel panic - not syncing: Fatal machine check"),
    PatternSpec("thermal", _THERMAL.pattern, "thermal.throttle|thermal.normal|power.limit",
                "CPU3: Core temperature is above threshold, cpu clock is throttled (total events = 1420)"),
    PatternSpec("thermal", "critical temperature reached", "thermal.critical",
                "thermal thermal_zone0: critical temperature reached, shutting down"),
    PatternSpec("ghes", _GHES.pattern, "ghes.corrected|ghes.recoverable|ghes.fatal",
                "{1}[Hardware Error]: event severity: corrected"),
    PatternSpec("edac", _EDAC.pattern, "edac.ce|edac.ue",
                "EDAC MC0: 2 CE read ECC error on CPU#0Channel#1_DIMM#1 (channel:1 slot:1 page:0x1d1b99 offset:0x500 grain:8 syndrome:0x391a5d80 - read error)"),
    PatternSpec("edac", _EDAC_OLD.pattern, "edac.ce|edac.ue",
                "EDAC MC1: CE page 0xf075b2, offset 0x410, grain 0, syndrome 0xa082, row 6, channel 0, label \"\": amd64_edac"),
    PatternSpec("memory", _MEMFAIL.pattern, "memory.failure",
                "Memory failure: 0x40fa6: Killing mca-recover:1296 due to hardware memory corruption"),
    PatternSpec("aer", _AER_HDR.pattern, "aer.corrected|aer.nonfatal|aer.fatal",
                "pcieport 0000:00:1d.0: AER: Corrected error message received from 0000:00:1d.0"),
    PatternSpec("aer", _AER_SEV.pattern, "aer.corrected|aer.nonfatal|aer.fatal",
                "nvme 0000:01:00.0: PCIe Bus Error: severity=Uncorrected (Non-Fatal), type=Transaction Layer, (Requester ID)"),
    PatternSpec("pcie", r"Slot\(\S+\): Link Down|DPC: containment event|PCIe link lost", "pcie.link_down|pcie.dpc",
                "pcieport 0000:00:1c.0: pciehp: Slot(1): Link Down"),
    PatternSpec("ata", _ATA_EXC.pattern, "ata.error", "ata5.00: exception Emask 0x0 SAct 0x1 SErr 0x0 action 0x0"),
    PatternSpec("ata", "hard resetting link|SError|limiting SATA link speed|SATA link down",
                "ata.link_reset|ata.link_error|ata.link_slow|ata.link_down", "ata8: hard resetting link"),
    PatternSpec("scsi", _SCSI.pattern, "scsi.error", "sd 0:0:0:0: [sda] tag#0 Sense Key : Medium Error [current]"),
    PatternSpec("block", _BLOCK.pattern, "block.io_error",
                "I/O error, dev sda, sector 13765461792 op 0x0:(READ) flags 0x0 phys_seg 4 prio class 0"),
    PatternSpec("block", _BUFFER.pattern, "block.buffer_io_error", "Buffer I/O error on device sda1, logical block 196613"),
    PatternSpec("nvme", _NVME.pattern, "nvme.timeout|nvme.reset|nvme.controller_failed",
                "nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0x10"),
    PatternSpec("nvme", _NVME_NS.pattern, "nvme.io_error",
                "nvme0c0n1: I/O Cmd(0x2) @ LBA 20480, 1 blocks, I/O Error (sct 0x2 / sc 0x81)"),
    PatternSpec("raid", _MD.pattern, "raid.disk_failed|raid.degraded|raid.resync",
                "md/raid1:md0: Disk failure on sdb1, disabling device."),
    PatternSpec("raid", _MD_CORE.pattern, "raid.resync|raid.member_kicked", "md: recovery of RAID array md0"),
    PatternSpec("fs", _FS_EXT.pattern, "fs.error|fs.readonly",
                "EXT4-fs error (device sda1): ext4_find_entry:1663: inode #2: comm ls: reading directory lblock 0"),
    PatternSpec("fs", _FS_XFS.pattern, "fs.corruption|fs.shutdown|fs.error", "XFS (sda1): Corruption detected. Unmount and run xfs_repair"),
    PatternSpec("fs", _FS_BTRFS.pattern, "fs.error|fs.csum_error|fs.readonly",
                "BTRFS error (device sda1): bdev /dev/sda1 errs: wr 0, rd 0, flush 0, corrupt 1, gen 0"),
    PatternSpec("lockup", _LOCK_SOFT.pattern, "cpu.soft_lockup", "watchdog: BUG: soft lockup - CPU#7 stuck for 63s! [name:pid]"),
    PatternSpec("lockup", _LOCK_HARD.pattern, "cpu.hard_lockup", "watchdog: Watchdog detected hard LOCKUP on cpu 3"),
    PatternSpec("lockup", _HUNG.pattern, "cpu.hung_task", "INFO: task kworker/u16:9:7088 blocked for more than 120 seconds."),
    PatternSpec("lockup", r"detected (?:expedited )?stalls?", "cpu.rcu_stall", "rcu: INFO: rcu_sched detected stalls on CPUs/tasks:"),
    PatternSpec("nmi", _NMI_UNK.pattern, "nmi.unknown", "Uhhuh. NMI received for unknown reason 3d on CPU 0."),
    PatternSpec("nmi", _NMI_RSN.pattern, "nmi.serr|nmi.iock", "NMI: PCI system error (SERR) for reason a1 on CPU 0."),
    PatternSpec("journal", "uncleanly shut down", "system.journal_unclean",
                "systemd-journald[312]: File /var/log/journal/x/system.journal corrupted or uncleanly shut down, renaming and replacing."),
)
