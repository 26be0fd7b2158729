"""Machine checks: the x86 core decoder block (``CPU n: Machine Check`` .. ``PROCESSOR``), the AMD
decoder block, CPU thermal throttling, CMCI storms, NMIs and panics."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Group, Meta, to_int, remember
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'mce'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

# ---- MCE status decoding (Intel SDM vol. 3B, MCi_STATUS) -------------------------------------
def decode_mci_status(status: int) -> dict[str, Any]:
    bits = {"val": 63, "over": 62, "uc": 61, "en": 60, "miscv": 59, "addrv": 58, "pcc": 57, "s": 56, "ar": 55}
    out: dict[str, Any] = {k: bool(status >> b & 1) for k, b in bits.items()}
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


_MCE_CPU = re.compile(r"CPU (\d+): Machine Check( Exception)?:\s+(\w+) Bank (\d+): ([0-9a-fA-F]+)")
_MCE_TSC = re.compile(r"TSC ([0-9a-fA-F]+)(?: ADDR ([0-9a-fA-F]+))?(?: MISC ([0-9a-fA-F]+))?(?: SYND ([0-9a-fA-F]+))?(?: IPID ([0-9a-fA-F]+))?")
_MCE_PROC = re.compile(r"PROCESSOR (\S+) TIME (\d+) SOCKET (\d+) APIC (\w+)(?: microcode (\w+))?")
_MCE_RIP = re.compile(r"RIP (!INEXACT! )?\w+:<([0-9a-fA-F]+)>(?: \{(\S+)\})?")
_AMD_STATUS = re.compile(r"(?:CPU:?\s*(\d+)(?: \(([^)]*)\))?\s+)?MC(\d+)_STATUS\[([^\]]*)\]: 0x([0-9a-fA-F]+)")
_AMD_ERR = re.compile(r"(?:MC(\d+)|Northbridge) Error(?: \(node (\d+)\))?: ?(.*)$")  # 3.x-4.x bank decoders
_AMD_OLD_ADDR = re.compile(r"MC\d+_ADDR: 0x([0-9a-fA-F]+)")
_USER_ACCESS = re.compile(r"Uncorrected hardware memory error in user-access at ([0-9a-fA-F]+)")
_LEGACY_CONT = ("TSC ", "RIP", "PROCESSOR ", "This is not a software problem", "Run through mcelog", "MCG status")
_MCE_PANIC = ("machine check", "mce", "context corrupt", "broadcast exception handler", "action required",
              "unrecoverable", "processor context corrupt")
_AMD_ADDR = re.compile(r"Error Addr: 0x([0-9a-fA-F]+)")
# 2.6.2x: "CPU%d: Temperature above threshold, cpu clock throttled" / "CPU%d: Temperature/speed normal"
_THERMAL = re.compile(r"CPU(\d+): (?:(Core|Package) )?(?:[Tt]emperature (?:is )?above threshold, cpu clock (?:is )?throttled|"
                      r"([Tt]emperature/speed normal)|(power limit notification))(?: \(total events = (\d+)\))?")
_NMI_UNK = re.compile(r"NMI received for unknown reason (\w+) on CPU (\d+)")
_NMI_RSN = re.compile(r"NMI: (PCI system error \(SERR\)|IOCK error(?: \(debug interrupt\?\))?) for reason (\w+) on CPU (\d+)")


# "CPU n: Machine Check: ..." (core.c print_mce()) parsed once per text: a storm repeats the same
# texts (the kmsg header differs, the message does not). Pure; bounded.
CPU_LINES_CACHE = 512
_CPU_LINES: dict[str, tuple[tuple[tuple[str, Any], ...], str, Severity, str, str] | None] = {}


def _cpu_put(body: str) -> tuple[tuple[tuple[str, Any], ...], str, Severity, str, str] | None:
    m = _MCE_CPU.match(body)
    hit = None
    if m:
        status = int(m.group(5), 16)
        st = decode_mci_status(status)
        cpu = int(m.group(1))
        fields = dict(cpu=cpu, bank=int(m.group(4)), status=f"0x{status:016x}", mcgstatus=m.group(3),
                      exception=bool(m.group(2)), **{k: v for k, v in st.items() if k in ("mca_code", "error_kind")},
                      bits=",".join(k.upper() for k in ("over", "uc", "en", "miscv", "addrv", "pcc", "s", "ar") if st[k]))
        cls, sev = _mce_class(st)
        hit = (tuple(fields.items()), cls, sev, "memory" if st.get("error_kind") == "memory controller" else "cpu",
               f"cpu{cpu}")
    return remember(_CPU_LINES, body, hit, CPU_LINES_CACHE)


_BLOCK_LINES: dict[str, tuple[tuple[str, Any], ...] | None] = {}  # TSC / PROCESSOR lines of a block, per text


def _block_parse(body: str) -> tuple[tuple[str, Any], ...] | None:
    """The detail a block's ``TSC ...`` or ``PROCESSOR ...`` line adds (in order), None for other lines."""
    m = _MCE_TSC.match(body)
    if m:
        return tuple((k, "0x" + m.group(i).lower()) for i, k in ((2, "address"), (3, "misc"), (4, "synd"), (5, "ipid"))
                     if m.group(i))
    m = _MCE_PROC.match(body)
    if m:
        out: tuple[tuple[str, Any], ...] = (("processor", m.group(1)), ("mce_time", int(m.group(2))),
                                            ("socket", int(m.group(3))), ("apic", m.group(4)))
        return out + (("microcode", m.group(5)),) if m.group(5) else out
    return None


def _block_put(body: str) -> tuple[tuple[str, Any], ...] | None:
    return remember(_BLOCK_LINES, body, _block_parse(body), CPU_LINES_CACHE)


def _cpu_line(body: str) -> tuple[tuple[tuple[str, Any], ...], str, Severity, str, str] | None:
    """What a "CPU n: Machine Check" line says (fields of the detail, class, severity, component,
    device), or None when ``body`` is not one."""
    try:
        return _CPU_LINES[body]
    except KeyError:
        return _cpu_put(body)


class Parser(FamilyParser):
    def _f_mce(self, msg: str, meta: Meta) -> None:
        body = msg[5:] if msg.startswith(("mce: ", "MCE: ")) else msg
        legacy = body.startswith("CPU ") and not body.startswith("CPU 0x")
        if body.startswith("[Hardware Error]: ") or legacy:
            body = body if legacy else body[18:]
            hit = _cpu_line(body)
            if hit is not None:
                self._drop_notice()
                g = self._start("mce", "", meta, msg)
                if legacy:
                    g.detail["legacy"] = True
                fields, g.cls, g.sev, g.component, g.device = hit
                g.detail.update(fields)
                return
            if body.startswith(("Corrected error", "Uncorrected", "Deferred error")) or _AMD_STATUS.match(body) \
                    or _AMD_ERR.match(body):
                self._drop_notice()
                g = self._start("amd", "", meta, msg)
                self._mce_line(g, body)
                return
            if body.startswith("Machine check events logged"):
                self._notice(msg, meta)
                return
            if body.startswith("Hardware error from APEI Generic Hardware Error Source"):  # GHES before "{n}" (3.x)
                self._ghes_start("", msg, body, meta)
                return
            if self.group is None and body.startswith(("TSC ", "PROCESSOR ", "RIP ")):
                return  # orphan continuation (start of the block lost)
            return
        if body.startswith("Machine check events"):
            self._notice(msg, meta)
            return
        if self.group is not None:
            self._close()
        m = _USER_ACCESS.match(body)
        if m:  # core.c (5.x+): a UE consumed in a copy from user space; memory-failure handling follows
            self._emit("mce.uncorrected", C, "memory", "memory", {"address": "0x" + m.group(1).lower(),
                                                                  "context": "user-access"}, (msg,), meta)
            return
        if body == "HARDWARE ERROR":  # 2.6: banner before the block
            return
        m = _THERMAL.match(body)
        if m:
            cpu, scope = int(m.group(1)), (m.group(2) or "cpu").lower()
            total = to_int(m.group(5))
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
        if body.startswith("CMCI storm detected"):  # "CMCI storm subsided" ends it: no second event
            self._emit("mce.storm", W, "cpu", "cpu", {}, (msg,), meta)
            return
        if msg.startswith("Kernel panic"):
            reason = msg.split(": ", 1)[1].strip() if ": " in msg else ""
            low = reason.lower()
            if any(k in low for k in _MCE_PANIC):
                self._emit("panic.mce", C, "cpu", "cpu", {"reason": reason}, (msg,), meta)
            elif "fatal hardware error" in low:  # drivers/acpi/apei/ghes.c __ghes_panic(): "GHES: Fatal hardware error!"
                self._emit("panic.hardware", C, "board", "ghes", {"reason": reason}, (msg,), meta)
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

    def _mce_line(self, g: Group, body: str) -> None:
        d = g.detail
        if g.kind == "mce":
            try:
                fields = _BLOCK_LINES[body]
            except KeyError:
                fields = _block_put(body)
            if fields is not None:  # a TSC or PROCESSOR line
                d.update(fields)
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
            flags = [f for f in m.group(4).split("|") if f and f != "-"]
            d.update(bank=int(m.group(3)), status="0x" + m.group(5).lower(), bits=",".join(flags))
            cpu = to_int(m.group(1))
            if cpu is not None:
                d["cpu"] = cpu
            if m.group(2):
                d["family_model"] = m.group(2)
            if g.device in ("", "cpu") and cpu is not None:
                g.device = f"cpu{cpu}"
            if not g.cls or (g.cls == "mce.corrected" and ("UC" in flags or "UE" in flags)):
                g.cls, g.sev = ("mce.uncorrected", C) if "UC" in flags or "UE" in flags else ("mce.corrected", I)
                g.component = g.component or "cpu"
            if "PCC" in flags:
                g.cls, g.sev = "mce.fatal", C
            return
        m = _AMD_ADDR.match(body) or _AMD_OLD_ADDR.match(body)
        if m:
            d["address"] = "0x" + m.group(1).lower()
            return
        m = _AMD_ERR.match(body)
        if m:
            if m.group(1):
                d.setdefault("bank", int(m.group(1)))
            if m.group(2):
                d["node"] = int(m.group(2))
            d["error"] = m.group(3).strip()
            if m.group(2) and g.device in ("", "cpu"):
                g.device = f"node{m.group(2)}"
            if not g.cls:
                g.cls, g.sev = ("mce.uncorrected", C) if "uncorrect" in body.lower() else ("mce.corrected", I)
                g.component = "cpu"
        if "DRAM ECC error" in body or "Memory Controller" in body:
            g.component = "memory"
            d["error_kind"] = "memory controller"
        if not g.device:
            g.device = "cpu"

    def _cont_mce(self, g: Group, msg: str, meta: Meta) -> bool:
        body = msg[5:] if msg.startswith("mce: ") else msg
        if not body.startswith("[Hardware Error]: "):
            if g.detail.get("legacy") and body.startswith(_LEGACY_CONT):  # 2.6: no prefix
                g.lines.append(msg)
                self._mce_line(g, body)
                return True
            return False
        body = body[18:]
        if g.kind == "mce" and (_cpu_line(body) is not None or body.startswith("Machine check events")):
            return False
        if g.kind == "amd" and (body.startswith(("Corrected error", "Uncorrected", "Deferred error"))
                                or (_AMD_STATUS.match(body) and "status" in g.detail)
                                or (_AMD_ERR.match(body) and "error" in g.detail)):
            return False
        g.lines.append(msg)
        self._mce_line(g, body)
        return True

    _cont_amd = _cont_mce

    def _notice(self, msg: str, meta: Meta) -> None:
        """core.c mce_notify_irq(): records were logged. When mcelog or rasdaemon consumes them the
        kernel prints no decoded block and this notice is the only trace; a block right after it
        (the default decoder) replaces it."""
        g = self._start("mcelog", "", meta, msg)
        g.cls, g.sev, g.component, g.device = "mce.logged", I, "cpu", "cpu"

    def _drop_notice(self) -> None:
        if self.group is not None and self.group.kind == "mcelog":
            self.group = None

    def _cont_nmi(self, g: Group, msg: str, meta: Meta) -> bool:
        if msg.startswith(("Dazed and confused", "Do you have a strange power saving mode")):
            g.lines.append(msg)
            return True
        return False

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 3: cc5eb2c000100135',), 'mce.corrected', 'cpu', 'cpu2'),
    (('[Hardware Error]: CPU:0 (17:1:1) MC15_STATUS[Over|CE|MiscV|AddrV|-|-|SyndV|CECC|-|-|-]: 0xdc2040000000011b',), 'mce.corrected', 'cpu', 'cpu0'),
    (('CMCI storm detected: switching to poll mode',), 'mce.storm', 'cpu', 'cpu'),
    (('Kernel panic - not syncing: Fatal machine check',), 'panic.mce', 'cpu', 'cpu'),
    (('CPU3: Core temperature is above threshold, cpu clock is throttled (total events = 1420)',), 'thermal.throttle', 'cpu', 'cpu3'),
    (('Uhhuh. NMI received for unknown reason 3d on CPU 0.',), 'nmi.unknown', 'board', 'cpu0'),
    (('NMI: PCI system error (SERR) for reason a1 on CPU 0.',), 'nmi.serr', 'board', 'cpu0'),
)
