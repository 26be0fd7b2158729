"""For tests: turn dmesg text lines into /dev/kmsg records."""

from __future__ import annotations

import re

_TS = re.compile(r"^\[\s*(\d+)\.(\d{6})\] ?(.*)$")


def dmesg_to_kmsg(lines, first_seq: int = 1, prefix: int = 6, skip_seqs=()) -> str:
    """``[  7.41] text`` lines -> ``prefix,seq,usec,-;text`` records; indented lines continue the
    record above (as ``\\x0a``); ``skip_seqs`` leaves holes in the sequence (lost records)."""
    recs: list[list] = []
    for line in lines:
        m = _TS.match(line)
        if m:
            recs.append([int(m.group(1)) * 1_000_000 + int(m.group(2)), m.group(3)])
        elif line.startswith((" ", "\t")) and recs:
            recs[-1][1] += "\\x0a" + line.rstrip()
    out = []
    seq = first_seq
    for usec, text in recs:
        while seq in skip_seqs:
            seq += 1
        out.append(f"{prefix},{seq},{usec},-;{text}\n")
        seq += 1
    return "".join(out)
