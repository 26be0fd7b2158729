"""mcelog's decoded log (``/var/log/mcelog``) as a source of machine-check events.

When the mcelog daemon consumes machine checks the kernel log shows only "Machine check events
logged"; mcelog writes each record as a block (mcelog.c ``dump_mce()``)::

    Hardware event. This is not a software error.
    MCE 0
    CPU 3 BANK 0
    TIME 1415087019 Tue Nov  4 08:43:39 2014
    ...decoded lines...
    STATUS 90000040000f0005 MCGSTATUS 0
    MCGCAP c09 APICID 6 SOCKETID 0

Blocks after a cursor (the file's inode and byte offset, so a restart reads nothing twice and a
rotated file is read from its start) become ``mce.*`` events decoded from MCi_STATUS like the
kernel's own block.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from agent.model.events import KernelEvent

__all__ = ["McelogReader", "DEFAULT_LOG"]

DEFAULT_LOG = "/var/log/mcelog"
MAX_READ = 4 << 20  # bytes per call; a backlog is worked off over several runs
START = "Hardware event. This is not a software error."

_CPU_BANK = re.compile(r"^CPU (\d+) (?:BANK (\d+)|\w+ (\d+))", re.M)
_TIME = re.compile(r"^TIME (\d+)", re.M)
_STATUS = re.compile(r"^STATUS ([0-9a-fA-F]+) MCGSTATUS ([0-9a-fA-F]+)", re.M)
_SOCKET = re.compile(r"SOCKETID ([0-9a-fA-F]+)")
_ADDR = re.compile(r"\bADDR ([0-9a-fA-F]+)")
_CPUID = re.compile(r"^CPUID .*\n", re.M)


class McelogReader:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self, cursor: dict, now: float) -> tuple[list[KernelEvent], dict]:
        """(events of complete blocks after the cursor, new cursor). Raises OSError."""
        st = os.stat(self.path)
        offset = int(cursor.get("offset", 0)) if cursor.get("inode") == st.st_ino else 0
        if offset > st.st_size:  # truncated in place
            offset = 0
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(MAX_READ).decode("utf-8", "replace")
        # only complete blocks: up to the start of the last one unless it already has its STATUS line
        starts = [m.start() for m in re.finditer(re.escape(START), data)]
        if not starts:
            return [], {"inode": st.st_ino, "offset": offset if data.strip() else offset + len(data.encode())}
        end = len(data)
        last = data[starts[-1]:]
        if not (_STATUS.search(last) and (_CPUID.search(last) or last.endswith("\n\n"))):
            end = starts[-1]  # the last block is still being written (its CPUID line ends it)
        events = []
        for i, s in enumerate(starts):
            e = starts[i + 1] if i + 1 < len(starts) else len(data)
            if s >= end:
                break
            ev = self._event(data[s:e].strip(), offset + len(data[:s].encode()), now)
            if ev is not None:
                events.append(ev)
        return events, {"inode": st.st_ino, "offset": offset + len(data[:end].encode())}

    def _event(self, block: str, where: int, now: float) -> KernelEvent | None:
        m = _STATUS.search(block)
        if not m:
            return None
        status = int(m.group(1), 16)
        from agent.collectors.patterns.mce import _mce_class, decode_mci_status  # noqa: PLC0415 - only with a machine check to decode

        st = decode_mci_status(status)
        cls, sev = _mce_class(st)
        detail = {"status": f"0x{status:016x}", "mca_code": st["mca_code"], "mcgstatus": "0x" + m.group(2).lower()}
        if st.get("error_kind"):
            detail["error_kind"] = st["error_kind"]
        cb = _CPU_BANK.search(block)
        if cb:
            detail["cpu"] = int(cb.group(1))
            bank = cb.group(2) or cb.group(3)
            if bank:
                detail["bank"] = int(bank)
        a = _ADDR.search(block)
        if a:
            detail["address"] = "0x" + a.group(1).lower()
        t = _TIME.search(block)
        sock = _SOCKET.search(block)
        device = f"socket{int(sock.group(1), 16)}" if sock else "cpu"
        comp = "memory" if st.get("error_kind") == "memory controller" else "cpu"
        first = " ".join(ln.strip() for ln in block.splitlines()[1:4])
        return KernelEvent(cls=cls, severity=sev, component=comp, device=device, detail=dict(detail, mcelog_offset=where),
                           raw=(f"mcelog: {first} STATUS {m.group(1)}"[:1024],), source="mcelog", boot_id="mcelog",
                           time=float(t.group(1)) if t else now)
