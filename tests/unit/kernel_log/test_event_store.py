"""The event history itself (agent/state/events.py): a storm arriving in one batch is bounded to a few
rows per (boot, class, device) without losing its count, retention and the row cap drop the
oldest first and keep what is inside them, queries filter the way `agent events` promises,
and boots are remembered for the unexpected-reboot rules.

Written against the survivors of `tests/mutation/run.sh eventstore` (see docs/mutation.md)."""

from __future__ import annotations

import json

import pytest

from agent.state.events import EventStore, parse_duration, window_from_events
from agent.model import Severity
from agent.model.events import BootRecord, KernelEvent
from agent.state.store import Store

T0 = 1_764_003_600.0
DAY = 86400.0


def io_error(seq: int, dev: str = "sdb", t: float = T0, sev: Severity = Severity.WARNING, count: int = 1,
             boot: str = "b1", **detail) -> KernelEvent:
    line = (f"I/O error, dev {dev}, sector {2048 + 8 * seq} op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 0")
    return KernelEvent(cls="block.io_error", severity=sev, component=f"disk:{dev}", device=dev, raw=(line,),
                       boot_id=boot, seq=seq, monotonic_usec=1_000_000 + seq, time=t, count=count, detail=detail)


@pytest.fixture
def es():
    s = Store.memory()
    yield EventStore(s, clock=lambda: T0)
    s.close()


def rows(es: EventStore) -> list[tuple]:
    return es.store.execute("SELECT device, events, errors, detail FROM events ORDER BY id")


# ---- a storm in one batch ------------------------------------------------------------------------

@pytest.mark.parametrize("n,expect_rows,summary", [(20, 20, None), (21, 21, 1), (22, 21, 2), (500, 21, 480)])
def test_a_batch_keeps_20_records_per_device_then_one_summary_row(es, n, expect_rows, summary):
    batch = [io_error(i, t=T0 + i * 0.001) for i in range(1, n + 1)] + [io_error(9000, dev="sdc")]
    new = es.record_events(batch, T0 + 5)
    assert len(new) == n + 1  # every event is reported new, including those folded into the summary
    sdb = [r for r in rows(es) if r[0] == "sdb"]
    assert len(sdb) == expect_rows and [r[0] for r in rows(es)].count("sdc") == 1
    last = json.loads(sdb[-1][3])
    assert last.get("coalesced_events") == summary
    if summary:
        assert sdb[-1][1:3] == (summary, summary)
    # the count is kept: the rules see every record of the storm
    w = es.window(T0 + 10, DAY, "b1")
    assert w.count("block.io_error", device="sdb") == n and w.count("block.io_error", device="sdc") == 1


def test_folding_an_already_coalesced_aggregate_keeps_its_records_and_errors(es):
    # the collector's coalescer already stands each event for 10 log records (and 12 errors)
    batch = [io_error(i, count=12, coalesced_events=10) for i in range(1, 26)]
    es.record_events(batch, T0)
    (summary,) = [r for r in rows(es) if "coalesced_events" in json.loads(r[3]) and r[1] != 10]
    assert summary[1:3] == (5 * 10, 5 * 12)
    w = es.window(T0 + 1, DAY, "b1")
    assert w.count("block.io_error") == 250 and w.count("block.io_error", errors=True) == 300


def test_the_same_records_read_again_are_not_new(es):
    batch = [io_error(i) for i in range(1, 4)]
    assert len(es.record_events(batch, T0)) == 3
    assert es.record_events(batch, T0 + 60) == [] and len(rows(es)) == 3
    assert es.record_events([], T0) == []


def test_out_of_range_sequence_numbers_are_stored_as_unknown(es):
    es.record_events([io_error(1), KernelEvent(cls="block.io_error", severity=Severity.WARNING, component="disk:sdd",
                                               device="sdd", raw=("x",), boot_id="b1", seq=(1 << 63) - 1,
                                               monotonic_usec=1 << 63, time=T0),
                      KernelEvent(cls="block.io_error", severity=Severity.WARNING, component="disk:sde", device="sde",
                                  raw=("y",), boot_id="b1", seq=-(1 << 63), monotonic_usec=-(1 << 63) - 1, time=T0)], T0)
    got = {d: (s, u) for d, s, u in es.store.execute("SELECT device, seq, monotonic_usec FROM events")}
    assert got["sdd"] == ((1 << 63) - 1, None) and got["sde"] == (-(1 << 63), None)


def test_a_long_multi_line_record_keeps_its_first_64_lines(es):
    # e.g. a machine-check or hung-task dump: the event stays bounded in the store
    lines = tuple(f"mce: [Hardware Error]: line {i}" for i in range(100))
    es.record_events([KernelEvent(cls="mce.corrected", severity=Severity.WARNING, component="cpu", device="cpu0",
                                  raw=lines, boot_id="b1", time=T0)], T0)
    (stored,) = es.query()
    assert stored["raw"] == list(lines[:64])


def test_an_event_without_time_or_boot_is_stored_at_now_in_an_unknown_boot(es):
    es.record_events([KernelEvent(cls="block.io_error", severity=Severity.WARNING, component="disk:sdb", device="sdb",
                                  raw=("z",), time=None, boot_id="")], T0 + 7)
    assert es.store.execute("SELECT ts, boot_id FROM events") == [(T0 + 7, "unknown")]
    # without an explicit time, "now" is the store's clock
    es.record_events([KernelEvent(cls="block.io_error", severity=Severity.WARNING, component="disk:sdc", device="sdc",
                                  raw=("y",), time=None, boot_id="b1")])
    assert es.store.execute("SELECT ts FROM events WHERE device = 'sdc'") == [(T0,)]


# ---- retention ------------------------------------------------------------------------------------

def test_retention_keeps_an_event_exactly_at_the_limit_and_drops_one_second_older(es):
    es.record_events([io_error(1, t=T0 - 7 * DAY - 1), io_error(2, t=T0 - 7 * DAY), io_error(3, t=T0)], T0)
    assert es.prune(T0, 7 * DAY, 100) == 1
    assert [r[0] for r in es.store.execute("SELECT seq FROM events ORDER BY seq")] == [2, 3]


def test_the_row_cap_drops_the_oldest_beyond_it(es):
    es.record_events([io_error(i, t=T0 - 100 + i, dev=f"sd{chr(97 + i)}") for i in range(6)], T0)
    assert es.prune(T0, 30 * DAY, 6) == 0  # at the cap: nothing goes
    assert es.prune(T0, 30 * DAY, 4) == 2
    assert [r[0] for r in es.store.execute("SELECT seq FROM events ORDER BY seq")] == [2, 3, 4, 5]
    # both at once: one past the retention, then the oldest beyond the cap; the count is the sum
    es.record_events([io_error(50, t=T0 - 40 * DAY, dev="sdz")], T0)
    assert es.prune(T0, 30 * DAY, 2) == 1 + 2
    assert [r[0] for r in es.store.execute("SELECT seq FROM events ORDER BY seq")] == [4, 5]


def test_boots_are_kept_at_least_90_days_or_the_retention_if_longer(es):
    es.boot_alive("old", T0 - 90 * DAY - 1)
    es.boot_alive("edge", T0 - 90 * DAY)
    es.boot_alive("now", T0)
    es.prune(T0, 7 * DAY, 100)
    assert [b.boot_id for b in es.boots()] == ["edge", "now"]
    es.prune(T0 + DAY, 200 * DAY, 100)  # a retention longer than 90 days keeps boots that long
    assert [b.boot_id for b in es.boots()] == ["edge", "now"]


# ---- boots ------------------------------------------------------------------------------------------

def test_a_clean_stop_is_cleared_when_the_boot_comes_alive_again(es):
    es.boot_alive("b1", T0)
    es.boot_clean_stop("b1", T0 + 10)
    assert es.boots() == [BootRecord("b1", T0, T0 + 10, T0 + 10)]
    es.boot_alive("b1", T0 + 5)  # a late, older refresh does not move last_seen back; the marker goes
    assert es.boots() == [BootRecord("b1", T0, T0 + 10, None)]
    es.boot_alive("b2", T0 + 100)
    assert es.previous_boot("b2") == BootRecord("b1", T0, T0 + 10, None)
    assert es.previous_boot("b1").boot_id == "b2" and EventStore(Store.memory()).previous_boot("b1") is None


def test_the_previous_boot_is_the_one_seen_last(es):
    es.boot_alive("a", T0 - 3 * DAY)
    es.boot_alive("a", T0 - DAY)
    es.boot_alive("b", T0 - 2 * DAY)
    es.boot_alive("cur", T0)
    assert es.previous_boot("cur").boot_id == "a"


# ---- queries --------------------------------------------------------------------------------------

def test_query_filters_by_time_component_family_and_severity_newest_first(es):
    es.record_events([io_error(1, t=T0 - 100, sev=Severity.INFO), io_error(2, t=T0 - 50),
                      io_error(3, dev="nvme0n1", t=T0 - 10, sev=Severity.CRITICAL),
                      KernelEvent(cls="aer.corrected", severity=Severity.INFO, component="pcie", device="0000:01:00.0",
                                  raw=("pcieport 0000:00:1c.0: AER: Corrected error received: 0000:01:00.0",),
                                  boot_id="b1", time=T0 - 5, detail={"root_port": "0000:00:1c.0"})], T0)
    assert [e["time"] for e in es.query()] == [T0 - 5, T0 - 10, T0 - 50, T0 - 100]
    assert [e["time"] for e in es.query(since=T0 - 50)] == [T0 - 5, T0 - 10, T0 - 50]
    assert [e["device"] for e in es.query(component="disk")] == ["nvme0n1", "sdb", "sdb"]
    assert [e["device"] for e in es.query(component="disk:sdb")] == ["sdb", "sdb"]
    assert [e["class"] for e in es.query(cls="aer")] == ["aer.corrected"]
    assert [e["class"] for e in es.query(cls="block.io_error")] == ["block.io_error"] * 3
    assert es.query(cls="block") != [] and es.query(cls="blo") == []  # a family, not a substring
    assert [e["severity"] for e in es.query(min_severity=Severity.WARNING)] == ["critical", "warning"]
    assert len(es.query(limit=2)) == 2
    first = es.query(component="disk:sdb")[0]
    assert first["raw"][0].startswith("I/O error, dev sdb") and first["previous_boot"] is False
    assert first["events"] == 1 and first["errors"] == 1


def test_the_window_names_the_root_port_of_aer_devices(es):
    aer = KernelEvent(cls="aer.corrected", severity=Severity.WARNING, component="pcie", device="0000:01:00.0",
                      raw=("pcieport 0000:00:1c.0: AER: Corrected error received: 0000:01:00.0",), boot_id="b1",
                      time=T0, detail={"root_port": "0000:00:1c.0"})
    port = KernelEvent(cls="aer.corrected", severity=Severity.WARNING, component="pcie", device="0000:00:1c.0",
                       raw=("pcieport 0000:00:1c.0: AER: Corrected error received: 0000:00:1c.0",), boot_id="b1",
                       time=T0, detail={"root_port": "0000:00:1c.0"})
    w = window_from_events([aer, port], T0 + 1, boots=[BootRecord("b0", T0 - DAY, T0 - 60, None)], current_boot="b1")
    assert dict(w.parents) == {"0000:01:00.0": "0000:00:1c.0"}
    assert [b.boot_id for b in w.boots] == ["b0"] and w.current_boot == "b1"
    assert [e.device for e in w.recent] == ["0000:01:00.0", "0000:00:1c.0"]


def test_the_window_keeps_the_newest_warnings_per_device_not_a_storms_oldest(es):
    es.record_events([io_error(i, t=T0 + i) for i in range(1, 16)], T0 + 20)
    es.record_events([io_error(100, dev="sdc", t=T0 + 1, sev=Severity.CRITICAL)], T0 + 20)
    w = es.window(T0 + 30, DAY, "b1", per_device=3)
    assert [(e.device, e.time) for e in w.recent] == [("sdc", T0 + 1), ("sdb", T0 + 13), ("sdb", T0 + 14),
                                                      ("sdb", T0 + 15)]
    assert [e.time for e in es.window(T0 + 30, DAY, "b1", recent_limit=2).recent] == [T0 + 14, T0 + 15]
    # the window starts at as_of - window_seconds, inclusive: events at T0+10 .. T0+15
    assert es.window(T0 + 30, 20, "b1").count("block.io_error", device="sdb") == 6


# ---- durations ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,seconds", [("90", 90), ("90s", 90), ("15m", 900), ("24h", 86400), ("7d", 604800),
                                          ("2w", 1209600), (" 1.5h ", 5400)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1y", "-1h", "1 h x", "1e3"])
def test_bad_durations_are_refused_naming_the_text(text):
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_merging_new_events_learns_root_ports_and_keeps_the_newest_2000_warnings():
    from agent.state.events import merge_window

    empty = EventStore(Store.memory()).window(T0, DAY, "b1")
    aer = KernelEvent(cls="aer.corrected", severity=Severity.WARNING, component="pcie", device="0000:01:00.0",
                      raw=("pcieport 0000:00:1c.0: AER: Corrected error received: 0000:01:00.0",), boot_id="b1",
                      time=T0, detail={"root_port": "0000:00:1c.0"})
    storm = [io_error(i, dev=f"sd{i}", t=T0 + i) for i in range(2001)]  # 2001 devices, one warning each
    merged = merge_window(empty, [aer, *storm], T0 + 3000)
    assert dict(merged.parents) == {"0000:01:00.0": "0000:00:1c.0"}
    assert len(merged.recent) == 2000 and merged.recent[-1].device == "sd2000"
    assert merged.recent[0].device == "sd1"  # the oldest two (the AER event, sd0) left first


def test_merging_keeps_the_newest_20_warnings_of_one_device():
    from agent.state.events import merge_window

    empty = EventStore(Store.memory()).window(T0, DAY, "b1")
    merged = merge_window(empty, [io_error(i, t=T0 + i) for i in range(25)], T0 + 100)
    assert [e.time for e in merged.recent] == [T0 + i for i in range(5, 25)]
    assert merged.count("block.io_error") == 25  # the counts keep every event


def test_merged_and_stored_windows_agree_on_events_without_a_boot():
    from agent.state.events import merge_window

    ev = KernelEvent(cls="block.io_error", severity=Severity.WARNING, component="disk:sdb", device="sdb", raw=("x",),
                     boot_id="", time=T0)
    es = EventStore(Store.memory())
    merged = merge_window(es.window(T0, DAY, "b1"), es.record_events([ev], T0), T0 + 1)
    assert merged.buckets == es.window(T0 + 1, DAY, "b1").buckets
    assert merged.buckets[0][3] == "unknown"


@pytest.mark.parametrize("bad", [0, -3, "12", None])
def test_an_invalid_coalesced_count_stands_for_one_record(bad):
    from agent.state.events import records_of

    assert records_of(io_error(1, coalesced_events=bad)) == 1
    assert records_of(io_error(1, coalesced_events=7)) == 7 and records_of(io_error(1)) == 1


def test_last_id_is_the_newest_row(es):
    assert es.last_id() == 0
    es.record_events([io_error(i, dev=f"sd{i}") for i in range(3)], T0)
    assert es.last_id() == 3
