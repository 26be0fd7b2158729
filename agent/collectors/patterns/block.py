"""Block layer I/O errors (every kernel generation's wording)."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import SUPPRESSED, FamilyParser, Meta, component_for_block
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'block'
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_BLOCK = re.compile(r"(?:(?:blk_update_request|end_request|print_req_error): )?([\w /]+?) error, dev ([\w.-]+), sector (\d+)"
                    r"(?: op 0x[0-9a-f]+:\((\w+)\))?")
_CAPACITY = re.compile(r"([\w.-]+): detected capacity change from (\d+) to 0$")
# lib/ratelimit.c "%s: %d callbacks suppressed", printed before the next message its caller lets through:
# the rate-limited I/O error messages of the block layer and the buffer cache, named by __func__ of the
# printk_ratelimited()/printk_ratelimit() caller -- block/blk-core.c blk_update_request() (3.x-4.x,
# "%s: %s error, dev %s, sector %llu"), print_req_error() (4.17-5.x), blk_print_req_error() (5.18+,
# "%s error, dev %s, sector %llu op 0x%x:(%s) ..."); fs/buffer.c quiet_error() (2.6-3.x, printk_ratelimit())
# and buffer_io_error() (4.x+, "Buffer I/O error on dev %pg, logical block %llu%s"). The state is per call
# site, not per device: the dropped messages are counted for the device of the last one printed.
_RATELIMITED = {"blk_update_request": "block.io_error", "print_req_error": "block.io_error",
                "blk_print_req_error": "block.io_error", "quiet_error": "block.buffer_io_error",
                "buffer_io_error": "block.buffer_io_error"}
_BUFFER = re.compile(r"Buffer I/O error on (?:device|dev) ([\w.-]+), logical block (\d+)")


class Parser(FamilyParser):
    # block layer
    def _f_block(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        m = SUPPRESSED.match(msg)
        if m and m.group(1) in _RATELIMITED:
            cls, n = _RATELIMITED[m.group(1)], int(m.group(2))
            dev = getattr(self, "_block_last", {}).get(cls)
            if dev is not None:
                self._emit(cls, W, component_for_block(dev), dev, {"suppressed": n, "ratelimit": m.group(1)}, (msg,), meta, n)
            else:  # none printed yet (the agent started mid-storm): the kernel prints the next one right after
                self._block_pending: tuple[str, int, str, str, Meta] | None = (cls, n, m.group(1), msg, meta)
            return
        m = _BLOCK.match(msg)
        if m:
            status, dev, sector, op = m.groups()
            detail: dict[str, Any] = {"status": status.strip(), "sector": int(sector)}
            if op:
                detail["op"] = op
            self._block_remember("block.io_error", dev)
            self._emit("block.io_error", W, component_for_block(dev), dev, detail, (msg,), meta)
            return
        m = _CAPACITY.match(msg)
        if m:  # warning: a card reader's medium taken out looks the same
            dev = m.group(1)
            self._emit("block.device_gone", W, component_for_block(dev), dev,
                       {"capacity_before": int(m.group(2)), "capacity": 0}, (msg,), meta)
            return
        m = _BUFFER.match(msg)
        if m:
            dev = m.group(1)
            self._block_remember("block.buffer_io_error", dev)
            self._emit("block.buffer_io_error", W, component_for_block(dev), dev,
                       {"logical_block": int(m.group(2))}, (msg,), meta)

    def _block_remember(self, cls: str, dev: str) -> None:
        last: dict[str, str] | None = getattr(self, "_block_last", None)
        if last is None:
            last = {}
            self._block_last = last
        last[cls] = dev
        pending = getattr(self, "_block_pending", None)
        if pending is not None and pending[0] == cls:
            self._block_pending = None
            _cls, n, name, line, meta = pending
            self._emit(cls, W, component_for_block(dev), dev, {"suppressed": n, "ratelimit": name}, (line,), meta, n)

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('I/O error, dev sda, sector 13765461792 op 0x0:(READ) flags 0x0 phys_seg 4 prio class 0',), 'block.io_error', 'disk:sda', 'sda'),
    (('Buffer I/O error on device sda1, logical block 196613',), 'block.buffer_io_error', 'disk:sda', 'sda1'),
)
