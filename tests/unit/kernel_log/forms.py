"""For tests: run a block of kernel lines through every transport the classifier reads."""

from __future__ import annotations

from agent.collectors.patterns import Classifier

FORMS = ("text", "kmsg", "syslog")


def classify_as(form: str, lines) -> list:
    """Events of ``lines`` read as dmesg text, as /dev/kmsg records (indented lines and embedded
    newlines folded into their record as ``\\x0a``, as the kernel does), or as syslog lines."""
    c = Classifier()
    if form == "text":
        c.scan_text([p for ln in lines for p in ln.split("\n")])
    elif form == "syslog":
        c.scan_text([f"Sep 19 10:29:11 host kernel: [  590.{i:06d}] {p}" if not p.startswith(" ") else p
                     for i, ln in enumerate(lines) for p in ln.split("\n")])
    else:
        recs: list[str] = []
        for i, ln in enumerate(lines):
            if ln.startswith(" ") and recs:
                recs[-1] += "\\x0a" + ln
            else:
                recs.append(f"3,{100 + i},{5_000_000 + i},-;" + ln.replace("\\", "\\x5c").replace("\n", "\\x0a"))
        c.scan_kmsg("\n".join(recs) + "\n")
    c.flush()
    return c.take()
