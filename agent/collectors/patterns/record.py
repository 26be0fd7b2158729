"""The /dev/kmsg record format and the small helpers every family parser shares.

A kmsg record is ``prefix,seq,usec,flags[,more];text`` followed by `` KEY=value`` dictionary
lines (Documentation/ABI/testing/dev-kmsg). Unprintable bytes of the text, the newline among
them, are escaped as ``\\xNN``: a record the kernel printed with an embedded newline (libata's
``cmd``/``res`` pair, md's two-line notices) arrives as one line with ``\\x0a`` in it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from agent.model import Severity

if TYPE_CHECKING:
    from agent.model.events import KernelEvent

__all__ = ["FamilyParser", "MAX_RECORD", "KMSG_INT_MAX", "BDF", "Meta", "Group", "unescape_kmsg", "parse_kmsg_header",
           "iter_kmsg_records", "disk_of", "component_for_block", "to_int", "TEXT_PREFIX", "KV", "SUPPRESSED"]

MAX_RECORD = 8192  # longer records are truncated (the kernel's own limit is ~1 KiB of text)
KMSG_INT_MAX = (1 << 63) - 1  # sequence numbers and timestamps beyond this are garbage (and not storable)
BDF = r"[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]"

# kmsg record header: prefix,seq,usec,flags[,more];  (unknown extra fields before ';' ignored)
_KMSG_HDR = re.compile(r"(\d{1,4}),(\d{1,20}),(\d{1,20}),([^,;]*)(?:,[^;]*)?;")
_KMSG_HDR_MATCH = _KMSG_HDR.match
TEXT_PREFIX = re.compile(
    r"^(?:\w{3} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ kernel: |\S+T\d\d:\d\d:\d\d\S* \S+ kernel: )?"  # syslog
    r"(?:<(\d{1,3})>)?(?:\[\s*(\d{1,12})\.(\d{1,9})\]\s?)?")
KV = re.compile(r"([a-z_]+):(0x[0-9a-fA-F]+|\d+)")  # key:value pairs (EDAC, GHES locations)
_ESC = re.compile(r"\\x([0-9a-fA-F]{2})")
# lib/ratelimit.c ___ratelimit(rs, func): when a ratelimit state lets a message through again after it
# dropped some, it first prints "%s: %d callbacks suppressed" (KERN_WARNING; `func` is the name given to
# ___ratelimit(), i.e. __func__ of the printk_ratelimited()/__ratelimit() caller, or an explicit name).
# Those N messages were not printed but happened: the family whose rate-limited message it is counts them.
SUPPRESSED = re.compile(r"([\w: -]{1,64}?): (\d{1,10}) callbacks suppressed\s*$")

Meta = tuple  # (seq, usec, prio, facility)


class FamilyParser:
    """Base of each family module's ``Parser``. The families are mixed into
    :class:`agent.collectors.patterns.classifier.Classifier`, which holds the state and the group
    helpers they share; they are declared here for the type checker only."""

    if TYPE_CHECKING:
        out: list[KernelEvent]
        group: Group | None
        _ata_reset: set[str]  # ata: ports in an error-handling sequence

        def _start(self, kind: str, key: str, meta: Meta, line: str) -> Group: ...

        def _close(self) -> None: ...

        def _emit(self, cls: str, sev: Severity, component: str, device: str, detail: dict[str, Any],
                  lines: Iterable[str], meta: Meta, count: int = 1) -> None: ...

        def _ghes_start(self, key: str, msg: str, body: str, meta: Meta) -> None: ...  # ghes


def remember(memo: dict[str, Any], key: str, value: Any, limit: int) -> Any:
    """Store a pure parse of a message text in a bounded memo (cleared when full: a storm repeats
    few texts, so the memo refills at once) and return it."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value


def unescape_kmsg(text: str) -> str:
    """Undo /dev/kmsg escaping (``\\xNN`` for unprintables and backslash)."""
    if "\\x" not in text:
        return text
    return _ESC.sub(lambda m: chr(int(m.group(1), 16)), text)


def parse_kmsg_header(line: str) -> tuple[int, int, int, str, int] | None:
    """(prefix, seq, usec, flags, offset of the message) or None for garbage."""
    m = _KMSG_HDR_MATCH(line)
    if not m:
        return None
    prefix, seq, usec, flags = m.groups()
    seq, usec = int(seq), int(usec)
    if seq > KMSG_INT_MAX or usec > KMSG_INT_MAX:  # u64 in the kernel, never this large in practice
        return None
    return int(prefix), seq, usec, flags, m.end()


def iter_kmsg_records(text: str) -> Iterator[tuple[int, int, int, str, dict[str, str]]]:
    """(prefix, seq, usec, message, properties) of every parseable record of a kmsg chunk."""
    cur: tuple[int, int, int, str, dict[str, str]] | None = None
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


# ---- device names -----------------------------------------------------------------------------
_PART = re.compile(r"^(?:(nvme\d+)(?:c\d+)?n\d+(?:p\d+)?|(mmcblk\d+)(?:p\d+)?|((?:sd|vd|xvd|hd)[a-z]+)\d*|(md\d+)(?:p\d+)?)$")


def disk_of(dev: str) -> str:
    """The disk a block device or partition belongs to: sda1 -> sda, nvme0c0n1 -> nvme0,
    nvme1n1p2 -> nvme1 (the controller), md0p1 -> md0; other names unchanged."""
    m = _PART.match(dev)
    if not m:
        return dev
    return next(g for g in m.groups() if g)


def component_for_block(dev: str) -> str:
    d = disk_of(dev)
    return "raid" if d.startswith("md") else f"disk:{d}"


def to_int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text, base)
    except ValueError:
        return None


class Group:
    """An incident the kernel prints over several records, being assembled."""

    __slots__ = ("kind", "key", "meta", "lines", "detail", "cls", "sev", "component", "device", "count", "closed")

    def __init__(self, kind: str, key: str, meta: Meta, line: str):
        self.kind, self.key, self.meta = kind, key, meta
        self.lines = [line]
        self.detail: dict[str, Any] = {}
        self.cls, self.sev, self.component, self.device, self.count = "", Severity.INFO, "", "", 1
        self.closed = False
