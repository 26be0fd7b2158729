"""Filesystems: ext2/3/4, XFS, btrfs errors and shutdowns."""

from __future__ import annotations

import re

from agent.collectors.patterns.record import Meta
from agent.model import Severity

C, W, I = Severity.CRITICAL, Severity.WARNING, Severity.INFO

NAME = 'fs'
HEAD = (
    r"EXT[234]-fs (?:error \(|\([\w.-]+\): (?:Remounting|I/O error|aborting|error |previous I/O))|"
    r"XFS \([\w.-]+\): [^\n]{0,60}?(?:[Cc]orruption|[Ss]hut(?:ting)? down|I/O [Ee]rror|log error)|"
    r"BTRFS(?: (?:error|critical|warning|emerg|alert|crit) \(|: error| info \([\w.-]+\): forced readonly)"
)  # message starts (stage 1 prefilter)

_FS_EXT = re.compile(r"(EXT[234])-fs (?:(error|warning) \(device ([\w.-]+)\): (.*)|\(([\w.-]+)\): (.*))$")
_FS_XFS = re.compile(r"XFS \(([\w.-]+)\): (.*)$")
_FS_BTRFS = re.compile(r"BTRFS(?:: (error) \(device ([\w.-]+)\)| (\w+) \(device ([\w.-]+)\)): (.*)$")


class Parser:
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

# one line per message shape this module parses: (record lines, class, component, device);
# run as tests (tests/unit/kernel_log/test_families.py), with the wider tables kept there
EXAMPLES = (
    (('EXT4-fs error (device sda1): ext4_find_entry:1663: inode #2: comm ls: reading directory lblock 0',), 'fs.error', 'fs', 'sda1'),
    (('XFS (sda1): Corruption detected. Unmount and run xfs_repair',), 'fs.corruption', 'fs', 'sda1'),
    (('BTRFS error (device sda1): bdev /dev/sda1 errs: wr 0, rd 0, flush 0, corrupt 1, gen 0',), 'fs.error', 'fs', 'sda1'),
)
