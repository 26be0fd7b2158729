"""A storm and /metrics: the rules (and a new snapshot generation) are woken per new fault, not per
poll of the tail; each snapshot's body is rendered when the daemon swaps it in, not on a request's path."""

from __future__ import annotations

import http.client
import threading
import time

from agent.state.store import Store
from tests.bench.test_storm_bench import storm_blocks
from tests.unit.kernel_log.test_collector import Clock, make_collector, make_root, split

T0 = 1_764_003_600.0


def storm_records(n: int, sources: int = 20, seq0: int = 0, usec0: int = 590_000_000) -> str:
    blocks = storm_blocks(sources)
    out, i = [], 0
    while len(out) < n:
        for line in blocks[i % len(blocks)]:
            out.append(f"3,{seq0 + len(out) + 1},{usec0 + 100 * len(out)},-;{line}\n")
        i += 7  # another source each block
    return "".join(out[:n])


def facts(readings):
    evs, st, _ = split(readings)
    return [(e.cls, e.component, e.device, e.seq, e.count, dict(e.detail), e.raw) for e in evs], st.records_total


def test_the_rules_are_woken_per_new_fault_not_per_poll(tmp_path):
    # a storm of 20 sources polled 60 times (30 s at 0.5 s): wakes are bounded by the distinct faults
    # (the daemon then runs the collector at most once a second: daemon_slots.REQUEST_MIN_GAP_SECONDS)
    root = make_root(tmp_path, kmsg="", uptime=590.0)
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1))  # no tail thread: polled by hand
    col.collect()  # opens /dev/kmsg
    wakes = []
    col.request_run = lambda: wakes.append(1)
    seq = 0
    distinct = set()
    for _ in range(60):
        with open(root / "dev" / "kmsg", "a") as fh:
            fh.write(storm_records(500, seq0=seq, usec0=590_000_000 + seq * 100))
        seq += 500
        if col.poll():  # woken: the daemon runs the collector (and the rules)
            distinct |= {(e[0], e[2]) for e in facts(col.collect())[0]}
    assert 1 <= len(wakes) <= len(distinct) <= 25
    col.close()


def _get(port: int, path: str = "/", conn: http.client.HTTPConnection | None = None) -> bytes:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    body = c.getresponse().read()
    if conn is None:
        c.close()
    return body


def test_each_snapshot_is_rendered_when_swapped_in_not_when_scraped(fakesys, make_host):
    from agent.collectors.hwmon import HwmonCollector  # noqa: PLC0415
    from agent.collectors.system import SystemCollector  # noqa: PLC0415
    from agent.daemon import Daemon  # noqa: PLC0415
    from agent.exporter.http import MetricsRenderer, MetricsServer  # noqa: PLC0415
    from agent.schema import from_mapping  # noqa: PLC0415

    fakesys.proc_basics()
    fakesys.hwmon_chip(0, "nct6779", "platform/nct6775.656", {"temp1_input": 41000, "temp1_label": "CPUTIN"})
    d = Daemon(from_mapping({}), make_host(fakesys.root), None, collector_classes=(HwmonCollector, SystemCollector))
    renderer = MetricsRenderer(lambda: d.snapshot)
    stop = threading.Event()
    calls = []
    d.on_snapshot = lambda: (calls.append(d.snapshot.generation), renderer.prerender())  # as `agent run` wires it
    runner = threading.Thread(target=d.run_forever, args=(stop,), kwargs={"on_ready": stop.set})
    runner.start()
    runner.join(30)
    assert calls and calls[0] == d.snapshot.generation  # the first snapshot, rendered before readiness
    assert renderer.renders == 1 and renderer.peek() is not None
    srv = MetricsServer("127.0.0.1:0", renderer, lambda: {}, d.health)
    d._loop_beat = time.monotonic()  # the loop is alive (it stopped above, on purpose)
    srv.start()
    try:
        body = _get(srv.port, "/metrics")
        assert b"hwagent_hwmon_temperature_celsius" in body
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        assert resp.getheader("Content-Encoding") == "gzip" and resp.read()
        conn.close()
        assert renderer.renders == 1  # served from what was rendered at the swap
        d._rebuild()  # a new snapshot (the loop: after a collector run) ...
        renderer.prerender()  # ... rendered, and compressed since a client asked for gzip
        assert renderer.renders == 2 and renderer.peek(gzip=True) is not None and renderer.peek() is not None
    finally:
        srv.stop()


def test_the_tail_thread_lowers_the_switch_interval(tmp_path):
    # a scrape's every GIL hand-off waits at most this long behind a burst of the tail (docs/kernel-log-storm.md)
    import sys  # noqa: PLC0415

    import agent.collectors.kernel_log as kl  # noqa: PLC0415

    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)  # CPython's default
    root = make_root(tmp_path, kmsg="", uptime=590.0)
    col = make_collector(root, Store(tmp_path / "s.db"), clock=Clock(T0 + 1), follow=True)
    try:
        col.collect()
        assert kl.TAIL_SWITCH_INTERVAL <= 0.00025 and sys.getswitchinterval() == kl.TAIL_SWITCH_INTERVAL
    finally:
        col.close()
        sys.setswitchinterval(before)
