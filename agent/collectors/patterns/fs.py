"""Filesystems: ext2/3/4 (and jbd2), XFS, btrfs errors, forced read-only and shutdowns."""

from __future__ import annotations

import re
from typing import Any

from agent.collectors.patterns.heads import HEADS
from agent.collectors.patterns.record import SUPPRESSED, FamilyParser, Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = "fs"
HEAD = HEADS[NAME]  # message starts (stage 1 prefilter): agent.collectors.patterns.heads

_DEV = r"\(device ([\w.-]+)(?:: state (\w+))?\)"
# lib/ratelimit.c "%s: %d callbacks suppressed" for XFS's rate-limited buffer messages: 5.10+ fs/xfs/xfs_buf.c
# xfs_buf_alert_ratelimited(bp, rlmsg, ...) calls ___ratelimit(&bp->b_target->bt_ioerror_rl, rlmsg) with rlmsg
# "XFS: metadata IO error" (xfs_buf_ioerror_alert(): "metadata I/O error in \"%pS\" at daddr ...") and
# "XFS: Failing async write" (xfs_buf_ioend_handle_error(): "Failing async write on buffer block 0x%llx.
# Retrying async write."); 4.x-5.9 xfs_buf_ioerror_alert() used xfs_alert_ratelimited() (fs/xfs/xfs_message.h
# xfs_printk_ratelimited: __ratelimit() names the caller, "xfs_buf_ioerror_alert"). The suppressed messages
# are of the device that printed the last such message (the state is per buffer target, i.e. per device).
_XFS_RATELIMITED = {"XFS: metadata IO error": "xfs_io", "xfs_buf_ioerror_alert": "xfs_io",
                    "XFS: Failing async write": "xfs_write"}
_FS_EXT = re.compile(r"(EXT[234])-fs (?:(error|warning) \(device ([\w.-]+)\)(?::| in) (.*)|\(([\w.-]+)\): (.*))$")
_EXT_SUPPRESSED = re.compile(r"(EXT[234])-fs error: (\d+) callbacks suppressed")
_JBD = re.compile(r"(?:Aborting journal on device ([\w.-]+?)(?:-\d+)?\.|JBD2?: (.*?) (?:on|for) ([\w.-]+?)(?:-\d+)?\.?$|JBD2?: (.*))")
_FS_XFS = re.compile(r"XFS(?: \(([\w.-]+)\))?: (.*)$")  # fs/xfs/xfs_error.c xfs_error_report(): "Internal error %s at line %d"
_XFS_FLAGS = re.compile(r"force_shutdown\((0x[0-9a-f]+)\)|\((0x[0-9a-f]+)\) detected at")
_FS_BTRFS = re.compile(r"BTRFS(?:: (error) " + _DEV + r"| (\w+) " + _DEV + r"):? (.*)$")
_BTRFS_OLD = re.compile(r"btrfs(?::? csum failed ino (\d+)|: bdev /dev/([\w.-]+) (errs: .*))")
_BTRFS_ERRS = re.compile(r"errs: wr (\d+), rd (\d+), flush (\d+), corrupt (\d+), gen (\d+)")


def _errs(d: dict[str, Any], text: str) -> None:
    errs = _BTRFS_ERRS.search(text)
    if errs:
        d.update(zip(("write_errors", "read_errors", "flush_errors", "corruption_errors", "generation_errors"),
                     map(int, errs.groups()), strict=True))


class Parser(FamilyParser):
    # filesystems
    def _f_fs(self, msg: str, meta: Meta) -> None:
        if self.group is not None:
            self._close()
        if msg.startswith("EXT"):
            self._fs_ext(msg, meta)
        elif msg.startswith(("Aborting journal", "JBD")):
            m = _JBD.match(msg)
            if m:
                dev = m.group(1) or m.group(3) or "journal"
                if m.group(1):
                    self._emit("fs.error", C, "fs", dev, {"fs": "jbd2", "message": "journal aborted"}, (msg,), meta)
                else:
                    self._emit("fs.error", W, "fs", dev, {"fs": "jbd2", "message": m.group(2) or m.group(4)}, (msg,), meta)
        elif msg.startswith(("XFS", "xfs_")):
            self._fs_xfs(msg, meta)
        else:
            self._fs_btrfs(msg, meta)

    def _fs_ext(self, msg: str, meta: Meta) -> None:
        m = _EXT_SUPPRESSED.match(msg)
        if m:  # lib/ratelimit.c: N more "EXT4-fs error" lines were dropped; they count
            dev = getattr(self, "_fs_last", {}).get("ext", "unknown")
            n = int(m.group(2))
            self._emit("fs.error", W, "fs", dev, {"fs": m.group(1).lower(), "suppressed": n}, (msg,), meta, n)
            return
        m = _FS_EXT.match(msg)
        if not m:
            return
        fstype, level, dev1, text1, dev2, text2 = m.groups()
        dev = dev1 or dev2
        text = text1 if text1 is not None else text2
        d = {"fs": fstype.lower(), "message": text}
        if level == "error":
            self._fs_remember("ext", dev)
            fn = re.match(r"(\w+):(\d+):", text)
            if fn:
                d["function"] = fn.group(1)
            self._emit("fs.error", C if "Journal has aborted" in text else W, "fs", dev, d, (msg,), meta)
        elif level is None and "Remounting filesystem read-only" in text:
            self._emit("fs.readonly", C, "fs", dev, d, (msg,), meta)
        elif level is None and ("I/O error while writing superblock" in text or text.startswith("previous I/O error")
                                or text.startswith("error ") and "count" not in text):
            self._emit("fs.error", W, "fs", dev, d, (msg,), meta)
        elif level is None and "aborting journal" in text:
            self._emit("fs.error", C, "fs", dev, d, (msg,), meta)

    def _xfs_suppressed(self, msg: str, meta: Meta) -> bool:
        """``xfs_...: N callbacks suppressed``: N more of the device's I/O error messages were
        dropped; counted for the device of the last one printed. False: not such a line."""
        m = SUPPRESSED.match(msg)
        if not (m and m.group(1) in _XFS_RATELIMITED):
            return False
        n = int(m.group(2))
        dev = getattr(self, "_fs_last", {}).get(_XFS_RATELIMITED[m.group(1)])
        if dev is None:  # none printed yet (the agent started mid-storm): the next one follows at once
            self._xfs_pending: tuple[str, int, str, str, Meta] | None = (_XFS_RATELIMITED[m.group(1)], n, m.group(1), msg, meta)
            return True
        self._emit("fs.error", W, "fs", dev, {"fs": "xfs", "suppressed": n, "ratelimit": m.group(1)}, (msg,), meta, n)
        return True

    def _fs_xfs(self, msg: str, meta: Meta) -> None:
        if self._xfs_suppressed(msg, meta):
            return
        m = _FS_XFS.match(msg)
        if not m:
            return
        dev, text = m.groups()
        dev = dev or "xfs"
        d: dict[str, Any] = {"fs": "xfs", "message": text}
        low = text.lower()
        if "metadata i/o error" in low:
            self._xfs_printed("xfs_io", dev)
        elif low.startswith("failing async write"):
            self._xfs_printed("xfs_write", dev)
            self._emit("fs.error", W, "fs", dev, d, (msg,), meta)
            return
        if "shut down" in low or "shutting down" in low or "force_shutdown" in low:
            f = _XFS_FLAGS.search(text)
            flags = int(f.group(1) or f.group(2), 16) if f else None
            if flags is not None:
                d["flags"] = f"0x{flags:x}"
            if flags == 0x4 or "user initiated" in low:  # SHUTDOWN_FORCE_UMOUNT: an operator's request
                return
            self._emit("fs.shutdown", C, "fs", dev, d, (msg,), meta)
        elif "corruption" in low or "internal error" in low:
            self._emit("fs.corruption", C, "fs", dev, d, (msg,), meta)
        elif "i/o error" in low or "mount failed" in low or "recovery failed" in low:
            self._emit("fs.error", W, "fs", dev, d, (msg,), meta)

    def _fs_btrfs(self, msg: str, meta: Meta) -> None:
        m = _BTRFS_OLD.match(msg)
        if m:  # 3.x
            if m.group(1):
                self._emit("fs.csum_error", W, "fs", "btrfs", {"fs": "btrfs", "inode": int(m.group(1))}, (msg,), meta)
            else:
                d: dict[str, Any] = {"fs": "btrfs", "message": m.group(3)}
                _errs(d, m.group(3))
                self._emit("fs.error", W, "fs", m.group(2), d, (msg,), meta)
            return
        m = _FS_BTRFS.match(msg)
        if not m:
            return
        old_err, old_dev, old_state, level, dev2, state2, text = m.groups()
        dev = old_dev or dev2
        level = old_err or level
        state = old_state or state2
        d = {"fs": "btrfs", "message": text.strip()}
        if state:  # 6.x: the filesystem has had an error (E), a transaction abort (A)...
            d["state"] = state
        if "csum failed" in text:
            self._emit("fs.csum_error", W, "fs", dev, d, (msg,), meta)
        elif "forced readonly" in text:
            self._emit("fs.readonly", C, "fs", dev, d, (msg,), meta)
        elif level in ("error", "critical", "emerg", "alert", "crit"):
            _errs(d, text)
            self._emit("fs.error", C if level != "error" or (state and "A" in state) else W, "fs", dev, d, (msg,), meta)

    def _xfs_printed(self, kind: str, dev: str) -> None:
        self._fs_remember(kind, dev)
        pending = getattr(self, "_xfs_pending", None)
        if pending is not None and pending[0] == kind:
            self._xfs_pending = None
            _kind, n, name, line, meta = pending
            self._emit("fs.error", W, "fs", dev, {"fs": "xfs", "suppressed": n, "ratelimit": name}, (line,), meta, n)

    def _fs_remember(self, fs: str, dev: str) -> None:
        last: dict[str, str] | None = getattr(self, "_fs_last", None)
        if last is None:
            last = {}
            self._fs_last = last
        last[fs] = dev


# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('EXT4-fs error (device sda1): ext4_find_entry:1663: inode #2: comm ls: reading directory lblock 0',), 'fs.error', 'fs', 'sda1'),
    (('XFS (sda1): Corruption detected. Unmount and run xfs_repair',), 'fs.corruption', 'fs', 'sda1'),
    (('XFS (dm-3): Failing async write on buffer block 0x1bc6b8. Retrying async write.',), 'fs.error', 'fs', 'dm-3'),
    (('XFS: metadata IO error: 12 callbacks suppressed',
      'XFS (sdc): metadata I/O error in "xfs_btree_read_buf_block+0x90/0x130 [xfs]" at daddr 0x1b0 len 8 error 5'),
     'fs.error', 'fs', 'sdc'),
    (('BTRFS error (device sda1): bdev /dev/sda1 errs: wr 0, rd 0, flush 0, corrupt 1, gen 0',), 'fs.error', 'fs', 'sda1'),
)
