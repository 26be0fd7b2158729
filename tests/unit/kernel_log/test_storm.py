"""Storm aggregation: bounded memory and rows, counts kept, cursors held behind open aggregates,
and the rules' window merged in memory equals the one SQLite builds."""

from __future__ import annotations

from agent.collectors.storm import Coalescer
from agent.state.events import EventStore, merge_window
from agent.model import Severity
from agent.model.events import KernelEvent
from agent.state.store import Store
from tests.unit.kernel_log.test_collector import Clock, make_collector, make_root, split

T0 = 1_764_003_600.0  # a minute boundary


def ev(cls="aer.corrected", dev="0000:00:1d.0", t=T0, seq=1, sev=Severity.INFO, count=1, raw=None):
    return KernelEvent(cls=cls, severity=sev, component="pcie", device=dev, raw=(raw or f"{cls} {dev} {seq}",),
                       boot_id="b", seq=seq, monotonic_usec=seq, time=t, count=count)


def test_first_event_passes_the_rest_fold_per_key_and_window():
    c = Coalescer(pass_through=1)
    c.add([ev(seq=i, t=T0 + i * 0.01) for i in range(1, 1001)] + [ev(dev="0000:00:1c.0", seq=2000, t=T0 + 1)], T0 + 10)
    first = c.take(T0 + 10)
    assert [(e.device, e.seq) for e in first] == [("0000:00:1d.0", 1), ("0000:00:1c.0", 2000)]
    assert c.min_open_seq() == 2 and c.pending() == 1 and c.coalesced_total == 999
    c.add([ev(seq=1001, t=T0 + 30, sev=Severity.WARNING, count=5)], T0 + 30)
    assert c.take(T0 + 59) == []  # the minute is not over
    agg = c.take(T0 + 60)
    assert len(agg) == 1 and agg[0].detail["coalesced_events"] == 1000 and agg[0].count == 1004
    assert agg[0].severity == Severity.WARNING and agg[0].raw == ("aer.corrected 0000:00:1d.0 2", "aer.corrected 0000:00:1d.0 1001")
    assert agg[0].detail["first_time"] == T0 + 0.02 and agg[0].detail["last_time"] == T0 + 30
    assert c.min_open_seq() is None
    # the next minute starts with a first event again
    c.add([ev(seq=3000, t=T0 + 61)], T0 + 61)
    assert [e.seq for e in c.take(T0 + 61)] == [3000]


def test_open_aggregates_are_bounded():
    c = Coalescer(max_open=10, pass_through=1)
    for d in range(50):
        c.add([ev(dev=f"dev{d}", seq=2 * d), ev(dev=f"dev{d}", seq=2 * d + 1)], T0)
    assert len(c._open) <= 10 and c.pending() <= 10 + 50 + 40


def test_merged_window_equals_the_stored_one():
    store = EventStore(Store.memory())
    base = [ev(seq=i, dev=f"d{i % 3}", sev=Severity.WARNING if i % 2 else Severity.INFO) for i in range(10)]
    store.record_events(base, T0)
    w0 = store.window(T0 + 5, 86400.0, "b")
    c = Coalescer(pass_through=1)
    c.add([ev(seq=100 + i, t=T0 + 1 + i * 0.1, dev=f"d{i % 4}", sev=Severity.CRITICAL if i == 7 else Severity.INFO)
           for i in range(40)], T0 + 2)
    batch = c.take(T0 + 120)
    new = store.record_events(batch, T0 + 120)
    merged = merge_window(w0, new, T0 + 120)
    fresh = store.window(T0 + 120, 86400.0, "b")
    for q in ("aer.corrected", None):
        assert merged.count(q) == fresh.count(q) and merged.count(q, errors=True) == fresh.count(q, errors=True)
        assert merged.by_device(q) == fresh.by_device(q)
    assert sorted((e.device, e.severity) for e in merged.recent) == sorted((e.device, e.severity) for e in fresh.recent)


def test_daemon_holds_the_kmsg_cursor_behind_an_open_aggregate(tmp_path):
    # uptime 590 s at T0 + 1: the records (590.001-590.5 s) fall into the minute starting at T0
    recs = "".join(f"3,{i},{590_000_000 + i * 1000},-;I/O error, dev sdb, sector {i} op 0x0:(READ) flags 0x0 phys_seg 1 "
                   f"prio class 0\n" for i in range(1, 501))
    root = make_root(tmp_path, kmsg="", uptime=590.0)
    store = Store(tmp_path / "s.db")
    clock = Clock(T0 + 1)
    col = make_collector(root, store, clock=clock)
    col.option = lambda k, _o=col.option: True if k == "follow" else _o(k)  # daemon mode without the thread
    assert split(col.collect())[0] == []  # the first run (what was in the ring buffer at start) stores all
    (root / "dev" / "kmsg").write_text(recs)
    evs, st, win = split(col.collect())
    assert [e.seq for e in evs] == list(range(1, 9)) and st.coalesced_total == 492  # 8 pass as they are
    assert store.get("kernel_log.kmsg_cursor")["seq"] == 8  # records 9..500 are only in the open aggregate
    assert win.count("block.io_error") == 8
    clock.t = T0 + 61  # the minute is over: the aggregate is stored, the cursor moves on
    evs, st, win = split(col.collect())
    assert [(e.seq, e.detail["coalesced_events"]) for e in evs] == [(9, 492)]
    assert store.get("kernel_log.kmsg_cursor")["seq"] == 500 and win.count("block.io_error") == 500
    assert store.execute("SELECT COUNT(*) FROM events")[0][0] == 9


def test_tail_thread_wakes_the_rules_for_new_faults_not_for_a_storms_repeats(tmp_path):
    # a storm used to request a collector (and rules) run on every poll of the tail thread
    import time as _time

    root = make_root(tmp_path, kmsg="", uptime=590.0)
    store = Store(tmp_path / "s.db")
    col = make_collector(root, store, clock=Clock(T0 + 1), follow=True, poll_seconds=0.05)
    wakes: list[float] = []
    col.request_run = lambda: wakes.append(_time.monotonic())
    col.collect()  # starts the tail thread
    seq = [0]

    def write(n: int, dev: str) -> None:
        with open(root / "dev" / "kmsg", "a") as fh:
            for _ in range(n):
                seq[0] += 1
                fh.write(f"3,{seq[0]},{590_000_000 + seq[0]},-;pcieport 0000:00:1c.0: AER: Corrected error message received "
                         f"from {dev}\n3,{seq[0] + 100000},{590_000_000 + seq[0]},-;{dev.replace('0000', 'nvme 0000')}:    "
                         f"[ 0] RxErr                  (First)\n")

    try:
        write(1, "0000:01:00.0")
        deadline = _time.monotonic() + 10
        while not wakes and _time.monotonic() < deadline:
            _time.sleep(0.02)
        assert len(wakes) == 1  # the group closed by itself once nothing more came, and woke the rules
        col.collect()  # what the daemon does on a wake
        _time.sleep(0.2)
        wakes.clear()
        wakes.append(0.0)
        for _ in range(20):  # the same fault repeated: folded, no wake
            write(50, "0000:01:00.0")
            _time.sleep(0.06)
        _time.sleep(0.3)
        assert len(wakes) == 1
        write(1, "0000:02:00.0")  # a new device: wakes
        deadline = _time.monotonic() + 10
        while len(wakes) < 2 and _time.monotonic() < deadline:
            _time.sleep(0.02)
        assert len(wakes) == 2
    finally:
        col.close()


def test_one_shot_check_sees_the_whole_storm(tmp_path):
    # `agent check` runs each collector once (the tail thread on, by default): nothing may wait in an aggregate
    recs = "".join(f"3,{i},{590_000_000 + i * 1000},-;I/O error, dev sdb, sector {i} op 0x0:(READ) flags 0x0 phys_seg 1 "
                   f"prio class 0\n" for i in range(1, 301))
    root = make_root(tmp_path, kmsg=recs, uptime=590.0)
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1), follow=True)
    _, st, win = split(col.collect())
    col.close()
    assert win.count("block.io_error") == 300 and st.events_total[("block.io_error", "warning")] == 300


def test_a_few_distinct_faults_in_a_minute_are_each_stored_at_once():
    """Two corrected machine checks at different addresses within one minute: both are stored (and
    listed by `agent events`) at once, none waits in an aggregate until the minute ends; the ninth
    repeat of a key is the first one folded."""
    c = Coalescer()
    c.add([ev(cls="mce.corrected", seq=i, t=T0 + i) for i in (1, 2)], T0 + 3)
    assert [e.seq for e in c.take(T0 + 3)] == [1, 2] and c.pending() == 0 and c.coalesced_total == 0
    c.add([ev(cls="mce.corrected", seq=i, t=T0 + 3 + i * 0.1) for i in range(3, 10)], T0 + 4)
    assert [e.seq for e in c.take(T0 + 4)] == [3, 4, 5, 6, 7, 8] and c.coalesced_total == 1 and c.min_open_seq() == 9


def test_xfs_suppressed_messages_count_through_the_collector(tmp_path):
    """An XFS metadata I/O error storm as the kernel prints it: 10 messages per 5 s ratelimit interval,
    then "XFS: metadata IO error: N callbacks suppressed" (lib/ratelimit.c) before the next one. The
    rules' window and the stored rows count every error the kernel saw, not the printed lines."""
    lines, _seq = [], 0
    for burst in range(3):
        for i in range(10):
            lines.append(f'XFS (sdc): metadata I/O error in "xfs_imap_to_bp+0x5c/0xa0 [xfs]" at daddr 0x{burst:x}{i:02x} '
                         f"len 32 error 5")
        lines.append("XFS: metadata IO error: 250 callbacks suppressed")
    recs = "".join(f"3,{n + 1},{590_000_000 + n * 1000},-;{text}\n" for n, text in enumerate(lines))
    root = make_root(tmp_path, kmsg=recs, uptime=590.0)
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1), follow=True)
    _, st, win = split(col.collect())
    col.close()
    assert win.count("fs.error", device="sdc", errors=True) == 3 * 10 + 3 * 250
    assert win.count("fs.error", device="sdc") == 33  # log records



def test_tail_thread_bounds_how_long_other_threads_wait_for_the_gil(tmp_path):
    """While the tail thread classifies a storm (pure Python holding the GIL), the HTTP server's thread
    waits at most the switch interval for it at each step of a scrape; CPython's default is 5 ms."""
    import sys

    old = sys.getswitchinterval()
    try:
        sys.setswitchinterval(0.005)
        root = make_root(tmp_path, kmsg="", uptime=590.0)
        col = make_collector(root, Store.memory(), clock=Clock(T0 + 1), follow=True)
        col.collect()  # starts the tail thread
        col.close()
        assert sys.getswitchinterval() <= 0.001
        sys.setswitchinterval(0.0002)  # never raised
        root2 = make_root(tmp_path / "b", kmsg="", uptime=590.0)
        col = make_collector(root2, Store.memory(), clock=Clock(T0 + 1), follow=True)
        col.collect()
        col.close()
        assert abs(sys.getswitchinterval() - 0.0002) < 1e-6
    finally:
        sys.setswitchinterval(old)


def _storm_chunks(n: int, step_usec: int) -> list[str]:
    """A storm of ``n`` /dev/kmsg records over 20 sources, ``step_usec`` apart, in ~4 KiB chunks (the
    tail's slices): with 10 ms between records it crosses several aggregation windows."""
    from tests.bench.test_storm_bench import storm_blocks

    blocks = storm_blocks(20)
    recs, i = [], 0
    while len(recs) < n:
        for line in blocks[i % len(blocks)]:
            recs.append(f"3,{len(recs) + 1},{590_000_000 + step_usec * len(recs)},-;{line}\n")
        i += 7
    chunks, cur = [], ""
    for r in recs[:n]:
        cur += r
        if len(cur) >= 4096:
            chunks.append(cur)
            cur = ""
    return [*chunks, cur] if cur else chunks


def test_a_storms_repeats_folded_unbuilt_are_stored_as_built_ones_would_be(tmp_path):
    """The tail's fold hook (KernelLogCollector._fold): a replayed record's event goes into its open
    aggregate without being built. Stored (aggregates released), the events are the same, field by
    field, as when every event is built, enriched and added; and most repeats were folded so."""
    got = {}
    for name in ("fold", "build"):
        root = make_root(tmp_path / name, kmsg="", uptime=600.0)
        # the storm's ATA port 2 is sda's: the enrichment names the disk (the folded events too)
        port = root / "sys" / "devices" / "pci0000:00" / "0000:00:1f.2" / "ata2" / "host1" / "target1:0:0" / "1:0:0:0"
        port.mkdir(parents=True)
        (root / "sys" / "block" / "sda").mkdir(parents=True)
        (root / "sys" / "block" / "sda" / "device").symlink_to(port)
        col = make_collector(root, Store(tmp_path / f"{name}.db"), clock=Clock(T0 + 1)).collector
        col.collect()  # the (empty) ring buffer read; the boot's time known
        folded = [0]
        if name == "build":
            col.classifier.fold = None
        else:
            real = col.coalescer.fold

            def counting(*a, real=real, folded=folded, **k):
                ok = real(*a, **k)
                folded[0] += ok
                return ok

            col.coalescer.fold = counting
        released = []
        n = 0
        for i, chunk in enumerate(_storm_chunks(30_000, 10_000)):
            col.classifier.scan_kmsg(chunk)
            col._absorb()
            n += chunk.count("\n")
            if i % 50 == 49:  # the daemon's collect: what is ready, the aggregates of windows ended by now
                released += col.coalescer.take(col._wall(590_000_000 + 10_000 * n), flush=False)
        col.classifier.flush()
        col._absorb()
        released += col.coalescer.take(T0 + 10**6, flush=True)
        got[name] = ([(e.cls, e.severity, e.component, e.device, dict(e.detail), e.raw, e.source, e.boot_id, e.seq,
                       e.monotonic_usec, e.time, e.priority, e.facility, e.count, e.previous_boot) for e in released],
                     col.coalescer.coalesced_total, folded[0])
        col.close()
    (fold, coalesced, n_folded), (build, coalesced_b, _) = got["fold"], got["build"]
    assert fold == build and coalesced == coalesced_b
    assert len(fold) > 100 and any(e[4].get("coalesced_events", 0) > 100 for e in fold)
    assert any(e[2] == "disk:sda" and e[4].get("disk") == "sda" and e[4].get("coalesced_events", 0) > 20 for e in fold)
    assert n_folded > 0.8 * coalesced


def test_the_fold_hook_builds_what_it_cannot_fold_exactly(tmp_path):
    """Built, not folded: an event waits in the classifier (order), the time is unknown, the template
    is of another stream, a critical machine check (its early-boot mark depends on the record), a key
    without an open aggregate."""
    root = make_root(tmp_path, kmsg="", uptime=600.0)
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1)).collector
    boot = col.classifier.boot_id

    def mine(**k):
        return ev(**k).replace(boot_id=boot)

    for i in range(20):  # the key's aggregate is open
        col.coalescer.add([mine(seq=i + 1)], T0)
        col.coalescer.add([mine(cls="mce.fatal", sev=Severity.CRITICAL, dev="socket0", seq=40 + i)], T0)
    t = mine(seq=1)
    n = col.coalescer.coalesced_total
    assert col._fold(t, 30, 1, T0) and col.coalescer.coalesced_total == n + 1
    col.classifier.out.append(mine(seq=31))
    assert not col._fold(t, 32, 1, T0)
    col.classifier.out.clear()
    assert not col._fold(t, 33, 1, None)
    assert not col._fold(t.replace(source="journal"), 34, 1, T0)
    assert not col._fold(mine(cls="mce.fatal", sev=Severity.CRITICAL, dev="socket0"), 70, 1, T0)
    assert col._fold(mine(cls="mce.fatal", sev=Severity.WARNING, dev="socket1"), 71, 1, T0) is False  # another key
    assert col._fold(mine(seq=2), 72, 1, T0 + 60) is False  # the next window: no aggregate yet
    assert col.coalescer.coalesced_total == n + 1
    col.close()


def test_an_aggregate_folds_an_unbuilt_event_as_it_adds_a_built_one():
    import random

    from agent.collectors.storm import _Agg

    rng = random.Random(3)
    evs = [ev(seq=rng.randint(1, 10**6), t=T0 + rng.random() * 50, count=rng.randint(1, 9),
              sev=rng.choice([Severity.INFO, Severity.WARNING, Severity.CRITICAL])) for _ in range(200)]
    added, folded = _Agg(evs[0]), _Agg(evs[0])
    for e in evs[1:]:
        added.add(e)
        folded.fold(e, e.seq, e.time)  # type: ignore[arg-type]
    a, f = added.event(), folded.event()
    assert (a.severity, a.count, dict(a.detail), a.raw, a.seq, added.min_seq) == \
        (f.severity, f.count, dict(f.detail), f.raw, f.seq, folded.min_seq)
    assert added.min_seq == min(e.seq for e in evs)


def test_the_fold_hook_remembers_a_templates_enrichment_by_the_template_itself(tmp_path, monkeypatch):
    import agent.collectors.kernel_sources as ks

    root = make_root(tmp_path, kmsg="", uptime=600.0)
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1)).collector
    boot = col.classifier.boot_id
    a = ev(dev="0000:00:1d.0").replace(boot_id=boot)
    b = ev(dev="0000:00:1e.0").replace(boot_id=boot)
    for i in range(20):
        col.coalescer.add([a.replace(seq=i), b.replace(seq=100 + i)], T0)
    col._posted[id(a)] = (b, b)  # an entry whose id is a's but whose template is another (reused id)
    n_a = col.coalescer._open[(boot, a.cls, a.device, a.component, "kmsg", False, int(T0 // 60))].n
    assert col._fold(a, 50, 1, T0)
    assert col.coalescer._open[(boot, a.cls, a.device, a.component, "kmsg", False, int(T0 // 60))].n == n_a + 1
    assert col._posted[id(a)][0] is a
    monkeypatch.setattr(ks, "POSTED_MAX", 2)
    for i in range(5):
        col._fold(ev(dev=f"0000:00:0{i}.0").replace(boot_id=boot), 60 + i, 1, T0)
        assert len(col._posted) <= 2
    col.close()
