"""Replay (agent.collectors.patterns.replay): a /dev/kmsg record whose step the classifier has
taken before in the same state is replayed, not parsed. Replayed or parsed, the events (time,
sequence number, priority included) and the state left behind must be the same: every family's
table, its examples, the lab's captures and the storm, repeated in a shuffled order, cut into
chunks at random records, flushed now and then as the tail does."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from agent.collectors.patterns import Classifier
from agent.collectors.patterns import replay as rp
from agent.collectors.patterns.replay import NOT_STATE
from tests.bench.test_storm_bench import storm_blocks
from tests.unit.kernel_log import test_families as fam

LAB = Path(__file__).resolve().parents[2] / "fixtures" / "kernel_log" / "lab"
_STAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def _lines_of(row) -> list[str] | None:
    for part in row:
        if isinstance(part, (list, tuple)) and part and all(isinstance(x, str) for x in part):
            return list(part)
    return None


def table_blocks() -> list[list[str]]:
    rows = [getattr(fam, n) for n in dir(fam) if n.endswith("_ROWS") and isinstance(getattr(fam, n), list)]
    blocks = [b for table in rows + [fam.MODULE_EXAMPLES] for row in table if (b := _lines_of(row))]
    for f in sorted(LAB.glob("*-dmesg.txt")):
        blocks.append([_STAMP.sub("", ln) for ln in f.read_text(errors="replace").splitlines() if ln.strip()])
    return blocks


def records(blocks: list[list[str]], rounds: int, seed: int, burst: int = 1) -> list[str]:
    """The blocks, each ``rounds`` times in a shuffled order and ``burst`` times in a row there (as a
    storm prints them), as /dev/kmsg records (indented lines and embedded newlines folded into their
    record as ``\\x0a``), with two syslog levels."""
    rng = random.Random(seed)
    order = [b for b in blocks for _ in range(rounds)]
    rng.shuffle(order)
    order = [b for b in order for _ in range(burst)]
    recs: list[str] = []
    seq = 0
    for block in order:
        for ln in block:
            if ln.startswith(" ") and recs:
                recs[-1] += "\\x0a" + ln
                continue
            seq += 1
            prefix = (3, 4)[seq % 7 == 0]
            recs.append(f"{prefix},{seq},{1_000_000 + seq * 37},-;" + ln.replace("\\", "\\x5c").replace("\n", "\\x0a"))
    return recs


def classify(recs: list[str], replay: bool, seed: int) -> tuple[list[tuple], dict, Classifier]:
    rng = random.Random(seed)
    c = Classifier(source="kmsg", boot_id="b0", wall=lambda u: None if u is None else 1.7e9 + u / 1e6, replay=replay)
    out = []
    i = 0
    while i < len(recs):
        n = rng.randint(1, 60)
        c.scan_kmsg("\n".join(recs[i:i + n]) + "\n")
        i += n
        if rng.random() < 0.1:
            c.flush()  # the tail: nothing more came, the group is complete
        out += c.take()
    c._own()
    state = {"group": None if c.group is None else (c.group.kind, c.group.key, c.group.meta, list(c.group.lines),
                                                       c.group.detail, c.group.cls, c.group.sev, c.group.component,
                                                       c.group.device, c.group.count),
             **{k: v for k, v in vars(c).items() if k not in NOT_STATE}, "hits": c.hits, "errors": c.errors}
    c.flush()
    out += c.take()
    facts = [(e.cls, e.severity, e.component, e.device, dict(e.detail), e.raw, e.source, e.boot_id, e.seq,
              e.monotonic_usec, e.time, e.priority, e.facility, e.count, e.previous_boot) for e in out]
    return facts, state, c


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_family_replayed_classifies_as_parsed(seed, monkeypatch):
    monkeypatch.setattr(rp, "WINDOW", 10**9)  # learn all the way: as many steps replayed as can be
    recs = records(table_blocks() + storm_blocks(20), rounds=2, seed=seed, burst=3)
    parsed, state0, _ = classify(recs, replay=False, seed=seed)
    replayed, state1, c = classify(recs, replay=True, seed=seed)
    assert len(parsed) > 700
    assert replayed == parsed
    assert state1 == state0
    r = c.replay
    assert r is not None and r.replayed > 0.3 * (r.replayed + r.misses)  # it did replay (the bursts' repeats)


def test_a_storm_is_mostly_replayed_and_the_memory_stays_small():
    recs = records(storm_blocks(20), rounds=200, seed=5)
    parsed, _, _ = classify(recs, replay=False, seed=5)
    replayed, _, c = classify(recs, replay=True, seed=5)
    assert replayed == parsed
    r = c.replay
    assert r is not None and r.replayed > 0.85 * len(recs)  # a flush (10 % of the chunks here) forgets the state id
    assert len(r.snaps) < 400 and len(r.steps) < 1000  # 20 sources: ~110 distinct lines


def test_texts_that_never_repeat_pause_learning_and_stay_bounded(monkeypatch):
    """An I/O-error storm over ever-different sectors: no step comes twice. Learning pauses after a
    window of new steps (taking states would only cost), and what is remembered stays bounded."""
    monkeypatch.setattr(rp, "STEPS_MAX", 300)
    blocks = [[f"I/O error, dev sda, sector {1000 + 8 * i} op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0",
               f"ata3.00: exception Emask 0x0 SAct 0x{i:x} SErr 0x0 action 0x0",
               f"ata3.00: failed command: READ FPDMA QUEUED tag {i % 32} ncq dma 4096 in",
               "ata3: EH complete"] for i in range(3000)]
    recs = records(blocks, rounds=1, seed=9)
    parsed, _, _ = classify(recs, replay=False, seed=9)
    replayed, _, c = classify(recs, replay=True, seed=9)
    assert replayed == parsed
    r = c.replay
    assert r is not None and r.misses > 0
    assert r.learnt < len(recs) // 4  # paused most of the time
    assert len(r.steps) <= 300 and len(r.snaps) <= rp.STATES_MAX


def test_states_that_differ_only_in_a_values_type_are_different_states():
    c = Classifier()
    r = c.replay
    assert r is not None
    ids = set()
    for v in (True, 1, 1.0, "1"):
        c._x = {"resets": v}
        ids.add(r.state(c))
    assert len(ids) == 4


def test_a_state_that_is_not_plain_data_is_never_remembered():
    c = Classifier()
    c._odd = object()  # a family keeping an object: compared by identity it could hide a change
    assert c.replay is not None and c.replay.state(c) is None
    del c._odd
    assert c.replay.state(c) == 0 and c.replay.state(c) == 0  # the same state, the same id


def test_replayed_events_carry_the_stream_as_it_is_now():
    """The source, boot and previous-boot mark are the classifier's when the step is replayed, not
    when it was learnt."""
    recs = records(storm_blocks(4), rounds=5, seed=3)
    c = Classifier(source="kmsg", boot_id="b0")
    c.scan_kmsg("\n".join(recs) + "\n")
    assert c.replay is not None and c.replay.steps
    c.take()
    c.previous_boot, c.boot_id, c.source = True, "b1", "journal"
    before = c.replay.replayed
    c.scan_kmsg("\n".join(recs) + "\n")
    c.flush()
    evs = c.take()
    assert c.replay.replayed > before + len(recs) // 2
    assert evs and all(e.previous_boot and e.boot_id == "b1" and e.source == "journal" for e in evs)


def test_restoring_a_state_gives_the_classifier_exactly_its_attributes():
    c = Classifier()
    c._ata_reset.add("ata3")
    r = c.replay
    assert r is not None
    sid = r.state(c)
    assert sid is not None
    c._ata_reset.discard("ata3")
    c._fs_last = {"xfs": "sdb"}  # made after the state was taken
    r.restore(c, sid, None)
    assert c._ata_reset == {"ata3"} and not hasattr(c, "_fs_last")
    c._ata_reset.add("ata4")
    assert r.snaps[sid][1]["_ata_reset"] == {"ata3"}  # the remembered state is a copy


def test_a_step_whose_event_carries_another_records_time_is_not_remembered():
    """A rate-limit notice's event carries the time of the record that was held back: such a step
    depends on more than the state and the record, and is parsed every time."""
    from agent.model import Severity
    from agent.model.events import KernelEvent

    c = Classifier()
    r = c.replay
    assert r is not None and r.state(c) == 0
    held = KernelEvent(cls="fs.error", severity=Severity.WARNING, component="fs", device="sdc", seq=5,
                       monotonic_usec=50, priority=3, facility=0)
    assert r.learn((0, 3, "-", "x"), 0, [], [held], (9, 90, 3, 0), (7, 70, 3, 0), None, 0, 0)
    assert not r.steps
    mine = KernelEvent(cls="fs.error", severity=Severity.WARNING, component="fs", device="sdc", seq=9,
                       monotonic_usec=90, priority=3, facility=0)
    assert r.learn((0, 3, "-", "x"), 0, [], [mine], (9, 90, 3, 0), (7, 70, 3, 0), None, 0, 0) and r.steps


def test_between_groups_only_a_record_the_prefilter_hands_on_is_replayed():
    """Between groups a remembered step is replayed in the loop over the chunk, without the
    prefilter. An escaped text that reads as a remembered one after unescaping (``\\x61ta3`` for
    ``ata3``) is not handed on by the prefilter, which sees the record as the device gives it: it
    must stay unclassified when replayed too."""
    block = ["ata3.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x6 frozen",
             "ata3.00: failed command: READ FPDMA QUEUED",
             "ata3: hard resetting link",
             "ata3: EH complete"]  # closes the group
    recs = records([block], rounds=6, seed=1)
    tricky = []
    for i, r in enumerate(recs):
        tricky.append(r)
        if i % 4 == 3:  # after the block: its first line again, escaped so that only its text matches
            tricky.append("3,0,0,-;\\x61" + block[0][1:])
    recs = [f"3,{n + 1},{1000 + n},-;" + r.split(";", 1)[1] for n, r in enumerate(tricky)]
    chunk = "\n".join(recs) + "\n"
    want = Classifier(replay=False)
    want.scan_kmsg(chunk)
    want.flush()
    got = Classifier()
    got.scan_kmsg(chunk)
    got.flush()
    assert got.replay is not None and got.replay.replayed > len(recs) // 2
    w, g = want.take(), got.take()
    assert [(e.cls, e.device, e.seq, e.raw) for e in g] == [(e.cls, e.device, e.seq, e.raw) for e in w]
    assert [e.seq for e in w] == [1 + 5 * i for i in range(6)]  # one event per block; the escaped text starts none


def test_an_event_again_is_the_event_built_anew_for_every_field():
    """KernelEvent.again (a replayed record's event, built slot by slot) sets every field: a field
    added to KernelEvent and not to ``again`` fails here."""
    import dataclasses

    from agent.model import Severity
    from agent.model.events import KernelEvent

    t = KernelEvent(cls="aer.corrected", severity=Severity.WARNING, component="pcie", device="0000:00:1c.0",
                    detail={"status": "0x1"}, raw=("a", "b"), source="journal", boot_id="b9", seq=1, monotonic_usec=2,
                    time=3.0, priority=4, facility=5, count=6, previous_boot=True)
    ident = dict(seq=11, monotonic_usec=12, time=13.0, priority=3, facility=0, source="kmsg", boot_id="b0",
                 previous_boot=False)
    e = t.again(**ident)
    want = t.replace(**ident)
    names = [f.name for f in dataclasses.fields(KernelEvent)]
    assert [getattr(e, n) for n in names] == [getattr(want, n) for n in names]
    for n in names:  # every field is set from the template or the record, none left to chance
        assert getattr(e, n) != getattr(KernelEvent(cls="x", severity=Severity.INFO, component="y", device="z"), n) \
            or n in ("source", "previous_boot") and getattr(e, n) == ident[n]
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.seq = 1  # type: ignore[misc]


def test_between_groups_a_record_whose_numbers_the_header_refuses_is_not_replayed():
    """A sequence number or time beyond what /dev/kmsg's header may carry (parse_kmsg_header refuses
    it: a 64-bit signed integer at most) is not a record; between groups it is left to the prefilter,
    which passes over it, as it is with replay off."""
    from agent.collectors.patterns.record import KMSG_INT_MAX

    block = ["ata3.00: exception Emask 0x0 SAct 0x0 SErr 0x0 action 0x6 frozen",
             "ata3.00: failed command: READ FPDMA QUEUED",
             "ata3: hard resetting link",
             "ata3: EH complete"]
    recs = []
    for r in range(6):
        for ln in block:
            recs.append(f"3,{len(recs) + 1},{1000 + len(recs)},-;{ln}")
        if r >= 3:  # after a closed group, the block's first record with numbers no header carries
            recs.append(f"3,{KMSG_INT_MAX + 1},{2000 + r},-;{block[0]}")  # 19 digits, too large
            recs.append(f"3,{len(recs) + 1},{'9' * 20},-;{block[0]}")  # 20 digits
    chunk = "\n".join(recs) + "\n"
    out = {}
    for replay in (False, True):
        c = Classifier(replay=replay)
        c.scan_kmsg(chunk)
        c.flush()
        out[replay] = [(e.cls, e.seq, e.monotonic_usec, e.raw) for e in c.take()]
    assert out[True] == out[False] and len(out[False]) == 6
