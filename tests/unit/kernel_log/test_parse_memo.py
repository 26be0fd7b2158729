"""The storm fast paths remember what a message text says (the prefilter's family per text, the
parse of libata, AER and machine-check lines): the events must be the same whether a text is
seen for the first time or the thousandth, and the memories stay bounded whatever the log holds."""

from __future__ import annotations

from agent.collectors.patterns import Classifier, classifier
from agent.collectors.patterns import ata, mce, pci
from tests.bench.test_storm_bench import storm_blocks
from tests.unit.kernel_log.forms import classify_as
from tests.unit.kernel_log.test_families import DISK_ROWS, MCE_ROWS, MODULE_EXAMPLES, PCI_ROWS

MEMOS = (ata._OPS, pci._AER_OPS, pci._LINES, mce._CPU_LINES, mce._BLOCK_LINES)
BLOCKS = ([list(r[0]) for r in PCI_ROWS + MCE_ROWS + DISK_ROWS] + [list(r[1]) for r in MODULE_EXAMPLES]
          + storm_blocks(20))


def facts(events):
    return [(e.cls, e.severity, e.component, e.device, dict(e.detail), e.raw, e.count) for e in events]


def clear():
    for m in MEMOS:
        m.clear()


def test_first_and_repeated_texts_give_the_same_events():
    for form in ("kmsg", "text"):
        for lines in BLOCKS:
            clear()
            cold = facts(classify_as(form, lines))
            warm = facts(classify_as(form, lines))  # every text parsed before
            assert cold == warm, (form, lines)


class Forgetful(dict):
    """A memory that never remembers: every text parsed as if seen for the first time."""

    def __setitem__(self, key, value):
        pass


def test_a_storm_classified_with_memories_equals_one_classified_without(monkeypatch):
    blocks = storm_blocks(20)
    recs, seq = [], 0
    for _ in range(50):
        for b in blocks:
            for line in b:
                seq += 1
                recs.append(f"3,{seq},{seq * 100},-;{line}")
    text = "\n".join(recs) + "\n"

    def run(forget: bool):
        c = Classifier()
        if forget:
            c._heads = Forgetful()
        c.scan_kmsg(text)
        c.flush()
        evs = c.take()
        return [(*f, e.seq, e.monotonic_usec) for f, e in zip(facts(evs), evs, strict=True)]

    clear()
    warm = run(False)
    for mod, name in ((ata, "_OPS"), (pci, "_AER_OPS"), (pci, "_LINES"), (mce, "_CPU_LINES"), (mce, "_BLOCK_LINES")):
        monkeypatch.setattr(mod, name, Forgetful())
    cold = run(True)
    assert warm == cold
    assert len(warm) >= 50 * len(blocks)


def test_memories_are_bounded():
    c = Classifier()
    recs = []
    for i in range(3000):
        recs += [f"3,{4 * i + 1},{i},-;ata{i % 64 + 1}.00: exception Emask 0x{i:x} SAct 0x0 SErr 0x0 action 0x6 frozen",
                 f"3,{4 * i + 2},{i},-;ata{i % 64 + 1}.00: failed command: READ FPDMA QUEUED tag {i}",
                 f"3,{4 * i + 3},{i},-;nvme 0000:{i % 256:02x}:00.0: AER:   device [144d:a808] error status/mask={i:08x}/0000e000",
                 f"3,{4 * i + 4},{i},-;mce: [Hardware Error]: CPU {i}: Machine Check: 0 Bank 7: 8c0000400001{i:04x}",
                 f"3,{4 * i + 4},{i},-;mce: [Hardware Error]: TSC 0 ADDR {i:x}e2000 MISC 140f8486 "]
    c.scan_kmsg("\n".join(recs) + "\n")
    c.flush()
    assert len(c.take()) >= 3000
    assert len(ata._OPS) <= ata.OPS_CACHE and len(pci._AER_OPS) <= pci.OPS_CACHE and len(pci._LINES) <= pci.OPS_CACHE
    assert len(mce._CPU_LINES) <= mce.CPU_LINES_CACHE and len(mce._BLOCK_LINES) <= mce.CPU_LINES_CACHE and len(c._heads) <= classifier.HEAD_CACHE
