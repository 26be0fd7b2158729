"""The classifier: kernel records -> typed hardware events, in two stages.

Speed matters (an AER or I/O-error storm is tens of thousands of lines per second), so:

1. A **prefilter**: one compiled alternation (:data:`HEAD`) of the message starts of every family
   (each family module's ``HEAD``), matched only at the start of a message. Over a chunk of
   ``/dev/kmsg`` records it runs as one C-level search anchored on the ``;`` that ends every record
   header, so lines that cannot be hardware events never reach Python code.
2. Per-family parsers (each family module's ``Parser``, mixed into :class:`Classifier`) run only
   on prefilter hits. They are stateful where the kernel prints one incident over several records
   (an MCE block, a GHES ``{seq}`` record, an AER block with its error-bit lines, an ATA
   error-handler sequence, a SCSI sense block): such a group becomes one event. An open group of
   kind ``k`` pulls in following records through the family's ``_cont_k`` method.

Unknown lines are ignored; the classifier never raises on garbage input.
"""

from __future__ import annotations

import importlib
import re
import threading
from types import ModuleType
from typing import Any, Callable, Iterable

from agent.collectors.patterns.heads import HEADS, NAMES, PCI_SCAN
from agent.collectors.patterns.record import (KMSG_INT_MAX, MAX_RECORD, TEXT_PREFIX, FamilyParser, Group, Meta, remember,
                                              parse_kmsg_header, unescape_kmsg)
from agent.collectors.patterns.replay import Replay, Replaying
from agent.model import Severity
from agent.model.events import KernelEvent

__all__ = ["Classifier", "HEAD", "classify_lines", "load_families"]  # and FAMILIES, on demand (__getattr__)

# order matters only for speed: PCI last (its branch starts with a character class)
HEAD = "(?:" + "|".join(f"(?P<{name}>{HEADS[name]})" for name in NAMES) + ")"
_HEAD_RX = re.compile(HEAD)
HEAD_MATCH = _HEAD_RX.match
# Scanning: sre finds a literal prefix fast, but a leading character class ("<driver> <BDF>: ")
# tried at every record is slow. So the scan is two searches merged in order: every family but
# PCI anchored on the ';' ending the kmsg header (named groups removed: they cost per attempt),
# and the PCI family anchored on ": " before its message (AER, DPC, hotplug, link lost).
_NO_PCI = "(?:" + "|".join(f"(?:{HEADS[name]})" for name in NAMES if name != "pci") + ")"
_KMSG_SCAN = re.compile(";" + _NO_PCI)
_PCI_SCAN = re.compile(PCI_SCAN)
_FLAT_MATCH = re.compile(_NO_PCI).match
# a whole kmsg record at a line start: _KMSG_HDR (agent.collectors.patterns.record) and the message, within the line
_KMSG_REC = re.compile(r"^(\d{1,4}),(\d{1,20}),(\d{1,20}),([^,;\n]*)(?:,[^;\n]*)?;([^\n]*)", re.M).finditer

HEAD_CACHE = 1024  # messages whose prefilter result is remembered (Classifier._fresh)

# -- the family parsers, imported on first use ------------------------------------------------
# A family's module (its parser and its compiled expressions) is imported when the prefilter
# first hands the classifier a message of that family; its Parser's methods are then added to
# Classifier. The families define no name twice (tests/unit/kernel_log/test_lazy_families.py),
# so the class ends up with the methods it had as the mixin of all of them, whatever the order
# of loading. Any other missing attribute (a helper of another family: mce's NMI block calls
# ghes's) loads every family before it is looked up again.
_loaded: dict[str, ModuleType] = {}
_load_lock = threading.RLock()


def _load_family(name: str) -> None:
    with _load_lock:
        if name in _loaded:
            return
        mod = importlib.import_module(f"agent.collectors.patterns.{name}")
        for attr, value in vars(mod.Parser).items():
            if not attr.startswith("__"):
                setattr(Classifier, attr, value)
        _loaded[name] = mod


def load_families() -> tuple[ModuleType, ...]:
    """Every family module, in classifier order (tests and documentation use them all)."""
    for name in NAMES:
        _load_family(name)
    return tuple(_loaded[name] for name in NAMES)


def __getattr__(name: str) -> Any:  # module attribute FAMILIES, loaded on demand (PEP 562)
    if name == "FAMILIES":
        return load_families()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Classifier(Replaying, FamilyParser):
    """Stateful classifier: feed messages in kernel order, take events with :meth:`take`."""

    def __getattr__(self, name: str) -> Any:
        """A family method not added yet: load its family (``_f_<family>``) or every family."""
        if name.startswith("__") or len(_loaded) == len(NAMES):
            raise AttributeError(name)
        family = name[3:] if name.startswith("_f_") else None
        if family in HEADS:
            _load_family(family)
        else:
            load_families()
        return getattr(self, name)

    def __init__(self, source: str = "kmsg", boot_id: str = "", wall: Callable[[int | None], float | None] | None = None,
                 replay: bool = True):
        self.source = source
        self.boot_id = boot_id
        self.wall = wall  # monotonic usec -> unix time
        self.previous_boot = False
        self.out: list[KernelEvent] = []
        self.group: Group | None = None
        self._ata_reset: set[str] = set()  # ports in an error-handling sequence (link down there is news)
        self.hits = 0
        self._conts: dict[str, Callable | None] = {}
        self._fams: dict[str | None, Callable[[str, Meta], None]] = {}  # family -> its bound _f_<family>
        # message -> the family whose start it is (None: no start). In a storm the same texts come
        # again and again (the kmsg header, which differs, is not part of them); bounded.
        self._heads: dict[str, str | None] = {}
        self.errors = 0  # lines a family parser choked on (skipped)
        # /dev/kmsg records: each (state, record) step worked out once (agent.collectors.patterns.replay)
        self.replay: Replay | None = Replay() if replay else None
        self._sid: int | None = None  # the id of the current state, when known
        self._gmeta: Meta | None = None  # the open group's first record's (seq, usec, prio, facility)
        self._stale = False  # self.group is a remembered state's, read-only: _own() before changing anything
        # a replayed step's event (template, seq, usec, time) -> True when the caller took it as it is, not built
        # (the kernel-log collector folds a storm's repeats into their aggregate: Replaying._replay)
        self.fold: Callable[[KernelEvent, int, int, float | None], bool] | None = None

    # -- public API ----------------------------------------------------------------------------
    def take(self) -> list[KernelEvent]:
        out, self.out = self.out, []
        return out

    def flush(self) -> None:
        self._own()
        if self.group is not None:
            self._close()

    def feed(self, msg: str, meta: Meta = (None, None, None, None)) -> None:
        """Classify one message (a record's text, kmsg prefix removed). A record the kernel
        printed with embedded newlines (libata's ``cmd``/``res`` pair, md's two notices, a journal
        entry) is classified line by line: a line that starts no message of its own continues
        the group the record's first line opened or continued (the ``res ... Emask`` line)."""
        self._own()
        if "\n" in msg:
            first, *rest = msg.split("\n")
            self._feed_one(first, meta)
            for extra in rest:
                s = extra.strip()
                if s:
                    self.continuation(s, meta)
            return
        self._feed_one(msg, meta)

    def continuation(self, line: str, meta: Meta = (None, None, None, None)) -> None:
        """A continuation line (an embedded line of a record, an indented dmesg line, a kmsg
        ``+`` fragment): part of the open group unless it starts a message of its own."""
        self._own()
        if self.group is not None:
            if self._continues(line, meta):
                return
            if HEAD_MATCH(line) is None:
                self.group.lines.append(line[:MAX_RECORD])
                self._continuation_text(line)
                return
        self._feed_one(line, meta)

    def _feed_one(self, msg: str, meta: Meta) -> None:
        if self.group is not None and self._continues(msg, meta):
            return
        self._fresh(msg, meta)

    def _fresh(self, msg: str, meta: Meta) -> None:
        """A message that continues no open group: it starts an event, or closes the group."""
        heads = self._heads
        try:
            fam = heads[msg]
        except KeyError:
            m = HEAD_MATCH(msg)
            fam = m.lastgroup or "none" if m is not None else None
            remember(heads, msg, fam, HEAD_CACHE)
        if fam is None:
            if self.group is not None:
                self._close()
            return
        self.hits += 1
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
            if self.group is not None or self._sid is not None:
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
            assert m is not None  # both None ended the loop above
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
        prefix, seq, usec, flags, off = hdr
        msg = line[off:off + MAX_RECORD]
        if "\\" in msg:
            msg = unescape_kmsg(msg)
        self._record(prefix, seq, usec, flags, msg)
        return True

    def _walk(self, text: str, pos: int) -> int:
        """An open group pulls in following records while they continue it; the first record that
        does not is classified here too (it closes the group, or starts the next one). Between
        groups, in a remembered state, a record with a remembered step is replayed here as well (a
        storm's next block); the first record without one is left to the prefilter: the position
        of its line is returned.

        The hot loop of a storm (every record of an open group passes here): the records are found
        by one expression over the chunk (``parse_kmsg_header``'s, at line starts: `` KEY=value``
        dictionary lines and garbage are passed over), and a record whose step is remembered for
        the state the classifier is in is replayed (agent.collectors.patterns.replay)."""
        record, replay = self._record, self._replay
        rp = self.replay
        steps = rp.steps if rp is not None else {}
        replayed = 0
        for m in _KMSG_REC(text, pos):
            prefix_s, seq_s, usec_s, flags, msg = m.groups()
            if self.group is None:
                if not self._between(steps, prefix_s, seq_s, usec_s, flags, msg):
                    break
                replayed += 1
                continue
            if (len(seq_s) < 19 and len(usec_s) < 19) or (int(seq_s) <= KMSG_INT_MAX and int(usec_s) <= KMSG_INT_MAX):
                if len(msg) > MAX_RECORD:
                    msg = msg[:MAX_RECORD]
                if "\\" in msg:
                    msg = unescape_kmsg(msg)
                prefix = int(prefix_s)
                step = steps.get((self._sid, prefix, flags, msg))  # a storm's records: the step replayed
                if step is None:
                    record(prefix, int(seq_s), int(usec_s), flags, msg)
                elif step[6]:  # the group goes on, nothing else happens (most of a storm's records)
                    self._sid, self.group, self._stale = step[0], step[1], True
                    replayed += 1
                else:
                    replay(step, prefix, int(seq_s), int(usec_s))
                    replayed += 1
        else:
            m = None
        if replayed:
            rp.replayed += replayed  # type: ignore[union-attr]
        return len(text) if m is None else m.start()

    def _between(self, steps: dict, prefix_s: str, seq_s: str, usec_s: str, flags: str, msg: str) -> bool:
        """A record between groups: its remembered step replayed -> True; False: none (the prefilter's).

        Between groups only the prefilter hands a record on. A step remembered in a state without a
        group was learnt from a record it handed on, and its verdict depends on the message alone:
        the same text (no escapes, not cut) is handed on too."""
        if self._sid is None or len(msg) > MAX_RECORD or "\\" in msg or len(seq_s) > 18 or len(usec_s) > 18:
            return False
        prefix = int(prefix_s)
        step = steps.get((self._sid, prefix, flags, msg))
        if step is None:
            return False
        self._replay(step, prefix, int(seq_s), int(usec_s))
        return True

    def _parse(self, flags: str, msg: str, meta: Meta) -> None:
        if flags == "+":  # a continuation fragment of the record before (kernels before 3.5-4.x)
            self.continuation(msg.strip(), meta)
        else:
            self.feed(msg, meta)
        self._gmeta = self.group.meta if self.group is not None else None

    def scan_text(self, lines: Iterable[str]) -> None:
        """Classify dmesg/syslog/pstore text lines (``[  7.416] msg``, ``<6>[..] msg``,
        ``Sep 19 10:29:11 host kernel: [..] msg``). Indented lines continue the record above."""
        self._own()
        flat, pci = _FLAT_MATCH, _PCI_SCAN.search
        for line in lines:
            if not line:
                continue
            c0 = line[0]
            if c0 in " \t":
                s = line.strip()
                if not s:
                    continue
                if not s.startswith("["):  # an indented line continues the record above
                    self.continuation(s[:MAX_RECORD])
                    continue
            if self.group is None and (c0 == "[" or c0 == "<"):
                # fast rejection: look at the message after the "[  7.41] " stamp without parsing it
                j = line.find("] ")
                k = j + 2 if j > 0 else 0
                if not flat(line, k) and not (": " in line and pci(line, k, k + 160)):
                    continue
            m = TEXT_PREFIX.match(line)
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
    def _start(self, kind: str, key: str, meta: Meta, line: str) -> Group:
        if self.group is not None:
            self._close()
        self.group = Group(kind, key, meta, line)
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
        """Does ``msg`` belong to the open group? If so it is absorbed (by the family's
        ``_cont_<kind>`` method)."""
        g = self.group
        assert g is not None
        try:
            cont = self._conts[g.kind]
        except KeyError:
            cont = self._conts[g.kind] = getattr(self, "_cont_" + g.kind, None)
        return cont is not None and bool(cont(g, msg, meta))

    def _continuation_text(self, line: str) -> None:
        g = self.group
        if g is not None:
            fn = getattr(self, "_text_" + g.kind, None)
            if fn is not None:
                fn(g, line)

    # -- dispatch --------------------------------------------------------------------------------
    def _dispatch(self, fam: str | None, msg: str, meta: Meta) -> None:
        try:
            fn = self._fams.get(fam)
            if fn is None:
                fn = self._fams[fam] = getattr(self, "_f_" + (fam or "none"))
            fn(msg, meta)
        except Exception:  # noqa: BLE001 - a line the parser did not expect is skipped, never fatal
            self.errors += 1

    def _f_none(self, msg: str, meta: Meta) -> None:
        return


def classify_lines(lines: Iterable[str], source: str = "dmesg", boot_id: str = "") -> list[KernelEvent]:
    """Convenience: classify text lines (dmesg/syslog/pstore) into events."""
    c = Classifier(source=source, boot_id=boot_id)
    c.scan_text(lines)
    c.flush()
    return c.take()
