"""libata error handling: an exception block up to ``EH complete``, link resets, link speed."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import FamilyParser, Group, Meta, remember
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'ata'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_ATA = re.compile(r"ata(\d+)(?:\.(\d+))?: (.*)$")
_ATA_EXC = re.compile(r"exception Emask (0x[0-9a-f]+) SAct (0x[0-9a-f]+) SErr (0x[0-9a-f]+) action (0x[0-9a-f]+)( frozen)?")
_EMASK_CLASS = re.compile(r"Emask 0x[0-9a-f]+ \(([a-zA-Z ]+)\)")
_BRACES = re.compile(r"\{ ([^}]*) \}")


def _rest_of(msg: str, k: int) -> str | None:
    """The message after ``ataN[.M]: `` when ``msg[:k]`` is the port ``ataN`` (what ``_ATA`` matches,
    without the regular expression: a storm's every line of an open group passes here); None when
    this cannot tell (the caller then asks ``_ATA``): another port, or an embedded newline."""
    c = msg[k:k + 1]
    if c == ".":
        j = msg.find(": ", k + 1)
        if j < 0 or not msg[k + 1:j].isdecimal():
            return None
    elif c == ":" and msg.startswith(": ", k):
        j = k
    else:
        return None
    rest = msg[j + 2:]
    return None if "\n" in rest else rest


# What one libata line says, parsed once per text (a storm repeats the same texts): (kind, the Emask
# class of a res line or None, the kind's values). Parsing is pure; Parser._ata_line applies it to a group.
_EXC, _CMD, _BITS, _RESET, _LIMIT, _DOWN, _UP, _OTHER = range(8)
_OPS: dict[str, tuple[int, str | None, Any]] = {}
OPS_CACHE = 512  # texts remembered at most
_BITS_KEY = {"error": "error_bits", "SError": "serror_bits", "status": "status_bits"}


def _parse_line(rest: str) -> tuple[int, str | None, Any]:
    m = _ATA_EXC.match(rest) if rest.startswith("exception ") else None
    if m:
        return _EXC, None, (m.group(1), m.group(2), m.group(3), m.group(4), bool(m.group(5)))
    if rest.startswith("failed command: "):
        return _CMD, None, rest[16:].strip()
    m = _EMASK_CLASS.search(rest) if "Emask" in rest else None  # the res line (own line or embedded)
    emask_class = m.group(1).strip() if m else None
    if rest.startswith(("error: {", "SError: {", "status: {")):
        b = _BRACES.search(rest)
        return _BITS, emask_class, (_BITS_KEY[rest.split(":")[0]], tuple(b.group(1).split())) if b else None
    if rest.startswith(("hard resetting link", "COMRESET failed", "softreset failed")):
        return _RESET, emask_class, None
    if rest.startswith("limiting SATA link speed"):
        return _LIMIT, emask_class, rest.rsplit(" ", 2)[-2] + " " + rest.rsplit(" ", 1)[-1] if " to " in rest else True
    if rest.startswith("SATA link down"):
        return _DOWN, emask_class, None
    if rest.startswith("SATA link up"):
        return _UP, emask_class, rest[13:].split(" (")[0]
    return _OTHER, emask_class, None


def _ops_put(rest: str) -> tuple[int, str | None, Any]:
    return remember(_OPS, rest, _parse_line(rest), OPS_CACHE)


class Parser(FamilyParser):
    # ATA
    def _f_ata(self, msg: str, meta: Meta) -> None:
        m = _ATA.match(msg)
        if not m:
            return
        port = f"ata{m.group(1)}"
        rest = m.group(3)
        if rest.startswith("SATA link down"):
            if "SSTATUS FFFFFFFF" in rest.upper():  # every register reads all ones: the controller is gone
                self._ata_reset.discard(port)
                self._emit("ata.link_down", C, f"disk:{port}", port, {"port": port, "message": rest, "off_bus": True},
                           (msg,), meta)
                return
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

    def _ata_line(self, g: Group, rest: str) -> None:
        try:
            kind, emask_class, arg = _OPS[rest]
        except KeyError:
            kind, emask_class, arg = _ops_put(rest)
        d = g.detail
        if kind == _EXC:
            emask, sact, serr, action, frozen = arg
            d.update(exception=True, emask=emask, sact=sact, serr=serr, action=action)
            if frozen:
                d["frozen"] = True
            if g.cls != "ata.error":
                g.cls = "ata.error"
            return
        if kind == _CMD:
            d["command"] = arg
            return
        if emask_class is not None:
            classes = set(d.get("emask_class", ()))
            classes.add(emask_class)
            d["emask_class"] = tuple(sorted(classes))
        if kind == _BITS:
            if arg is not None:
                key, words = arg
                vals = set(d.get(key, ()))
                vals.update(words)
                d[key] = tuple(sorted(vals))
                if key == "error_bits" and ("ICRC" in vals):
                    d["link_suspect"] = True
        elif kind == _RESET:
            d["resets"] = d.get("resets", 0) + 1
            self._ata_reset.add(d.get("port", g.key))
        elif kind == _LIMIT:
            d["speed_limited"] = arg
        elif kind == _DOWN:
            d["link_down"] = True
            if g.sev < C:
                g.sev = W
        elif kind == _UP:
            self._ata_reset.discard(d.get("port", g.key))
            d["link_up"] = arg

    def _cont_ata(self, g: Group, msg: str, meta: Meta) -> bool:
        key = g.key
        if not msg.startswith(key):
            return False
        rest = _rest_of(msg, len(key))
        if rest is None:
            m = _ATA.match(msg)
            if not m or f"ata{m.group(1)}" != key:
                return False
            rest = m.group(3)
        if rest.startswith("exception ") and "exception" in g.detail:
            return False  # the next incident on the same port
        if rest.startswith("SATA link down") and "SSTATUS FFFFFFFF" in rest.upper():
            return False  # the controller is gone: an event of its own
        g.lines.append(msg)
        self._ata_line(g, rest)
        if rest.startswith("EH complete"):
            self._close()
        return True

    def _text_ata(self, g: Group, line: str) -> None:
        self._ata_line(g, line)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('ata5.00: exception Emask 0x0 SAct 0x1 SErr 0x0 action 0x0',), 'ata.error', 'disk:ata5', 'ata5.00'),
    (('ata8: hard resetting link',), 'ata.link_reset', 'disk:ata8', 'ata8'),
)
