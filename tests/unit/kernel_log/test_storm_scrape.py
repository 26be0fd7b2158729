"""A storm and /metrics: the tail classifies a burst in slices and lets a request in flight go first;
the server marks each request in flight from its first byte to its last; the rules are woken per new
fault, not per poll; the body is rendered after each snapshot swap, never on a request's path."""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time

import agent.collectors.kernel_log as kl
from agent.exporter.aserver import AsyncHTTPServer, Response
from agent.foreground import Foreground, MarkingSelector
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


class Busy:
    """A request is always in flight: counts the tail's pauses."""

    def __init__(self):
        self.pauses = 0

    def pause(self) -> float:
        self.pauses += 1
        return 0.0


def facts(readings):
    evs, st, _ = split(readings)
    return [(e.cls, e.component, e.device, e.seq, e.count, dict(e.detail), e.raw) for e in evs], st.records_total


def test_a_burst_is_classified_in_slices_with_pauses_and_the_same_events(tmp_path, monkeypatch):
    text = storm_records(4000)  # ~300 KB: one poll's read in a heavy storm
    slice_bytes = kl.SLICE_BYTES
    got = {}
    for name, size in (("sliced", slice_bytes), ("whole", 1 << 30)):
        monkeypatch.setattr(kl, "SLICE_BYTES", size)
        root = make_root(tmp_path / name, kmsg=text, uptime=600.0)
        col = make_collector(root, Store(tmp_path / f"{name}.db"), clock=Clock(T0 + 1))
        busy = Busy()
        col.foreground = busy
        got[name] = (facts(col.collect()), busy.pauses)
        col.close()
    (sliced, pauses), (whole, no_pauses) = got["sliced"], got["whole"]
    assert sliced == whole and sliced[1] == 4000 and len(sliced[0]) > 100
    assert no_pauses == 0
    assert len(text) // slice_bytes - 1 <= pauses <= len(text) // (slice_bytes // 2)


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


def test_foreground_pause_returns_at_once_when_nothing_is_in_flight():
    fg = Foreground()
    assert fg.pause() == 0.0 and fg.pauses == 0 and not fg.busy()


def test_foreground_pause_waits_until_the_request_is_answered():
    fg = Foreground(hold=5.0)
    tok = fg.enter()
    assert fg.busy()
    done = threading.Event()
    waited: list[float] = []
    t = threading.Thread(target=lambda: (waited.append(fg.pause()), done.set()))
    t.start()
    assert not done.wait(0.05)  # still paused: the request is in flight
    fg.leave(tok)
    assert done.wait(5)
    t.join()
    assert waited[0] > 0 and fg.pauses == 1 and not fg.busy()


def test_foreground_a_request_counts_only_for_its_hold_time():
    now = [100.0]
    fg = Foreground(hold=0.05, clock=lambda: now[0])
    fg.enter()  # a client that never finishes its request
    assert fg.busy()
    now[0] += 0.05
    assert not fg.busy() and fg.pause() == 0.0  # expired: the tail goes on (and forgets it)
    assert not fg._deadlines


def test_foreground_pauses_are_bounded_per_second():
    now = [100.0]
    fg = Foreground(hold=10.0, budget=0.2, clock=lambda: now[0])
    fg.enter()
    fg._second, fg._paused_this_second = 100, 0.2  # the budget of this second is used up
    assert fg.pause() == 0.0
    now[0] = 101.0  # the next second: would wait again (within what is left of the hold)
    fg._paused_this_second = 0.2
    fg.budget = 0.0
    assert fg.pause() == 0.0


def eventually(cond, seconds: float = 10.0) -> bool:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    try:
        while not cond():
            if stop.wait(0.005):
                return bool(cond())
        return True
    finally:
        timer.cancel()


def _get(port: int, path: str = "/", conn: http.client.HTTPConnection | None = None) -> bytes:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", path)
    body = c.getresponse().read()
    if conn is None:
        c.close()
    return body


def test_the_server_marks_each_request_in_flight_until_written():
    fg = Foreground(hold=30.0)
    seen = []

    def app(req):
        seen.append(fg.busy())
        return Response(200, b"ok\n")

    srv = AsyncHTTPServer("127.0.0.1", 0, app, foreground=fg)
    srv.start()
    try:
        assert _get(srv.port) == b"ok\n"
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)  # keep-alive: idle in between
        assert _get(srv.port, conn=conn) == b"ok\n"
        assert eventually(lambda: not fg.busy())  # answered (just after the client read it): the idle connection holds nothing
        assert _get(srv.port, conn=conn) == b"ok\n"
        conn.close()
        raw = socket.create_connection(("127.0.0.1", srv.port))  # a client that stops mid-request
        raw.sendall(b"GET / HTTP/1.1\r\n")
        assert eventually(fg.busy)
        raw.close()
        assert eventually(lambda: not fg.busy())  # the connection went away: no longer in flight
    finally:
        srv.stop()
    assert seen == [True, True, True]


class RecordingForeground(Foreground):
    """Foreground that logs its marks, with how many connections the server had taken at the time."""

    def __init__(self):
        super().__init__(hold=30.0)
        self.log: list[tuple[str, int]] = []
        self.server: AsyncHTTPServer | None = None

    def _note(self, what: str) -> None:
        self.log.append((what, self.server.open_connections if self.server else -1))

    def awake(self):
        self._note("awake")
        super().awake()

    def asleep(self):
        self._note("asleep")
        super().asleep()

    def enter(self):
        self._note("enter")
        return super().enter()


def test_the_selector_marks_the_loop_awake_while_sockets_are_ready_and_asleep_when_it_blocks():
    fg = Foreground(hold=30.0)
    sel = MarkingSelector(fg)
    a, b = socket.socketpair()
    try:
        sel.register(a, selectors.EVENT_READ)
        assert sel.select(0) == [] and not fg._deadlines  # a non-blocking look marks nothing
        fg.awake()
        assert sel.select(0) == [] and fg.busy()  # callbacks were ready (timeout 0): not finished, still awake
        assert sel.select(0.01) == [] and not fg.busy()  # about to block with nothing to do: asleep
        b.send(b"x")
        assert len(sel.select(5)) == 1 and fg.busy()  # woke with a ready socket: awake until it blocks again
        a.recv(1)
        assert sel.select(0.01) == [] and not fg.busy()
    finally:
        sel.close()
        a.close()
        b.close()


def test_the_server_loop_marks_a_connection_before_taking_it_and_frees_the_tail_while_it_waits(tmp_path):
    """The server marks a request when it starts serving it, several loop steps after the wake-up
    (accept, the task's first step, a TLS handshake), each of which can wait behind the tail in a storm:
    the loop counts as awake from its selector's wake-up, before it took the connection, so those go first
    too. While the loop waits for a client's bytes (a ClientHello not sent yet) the tail is free."""
    import shutil
    import ssl
    import subprocess

    assert shutil.which("openssl"), "openssl (Debian package openssl) is needed for the TLS server's certificate"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem"), "-days", "2",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    fg = RecordingForeground()
    srv = AsyncHTTPServer("127.0.0.1", 0, lambda req: Response(200, b"ok\n"), tls=tls, foreground=fg)
    fg.server = srv
    fg.unwatch(srv._sock)  # only the loop marks it here, not the tail's select on the listening socket
    srv.start()
    assert eventually(lambda: fg.log[-1:] == [("asleep", 0)])  # started, blocked with nothing to do
    fg.log.clear()
    raw = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        assert eventually(lambda: srv.open_connections == 1)
        assert eventually(lambda: not fg.busy())  # accepted, no ClientHello yet: nothing to do, the tail is free
        assert fg.log[0] == ("awake", 0)  # marked at the wake-up, before the server had taken the connection
        fg.log.clear()
        client = ssl.create_default_context()
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        with client.wrap_socket(raw) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        assert eventually(lambda: not fg.busy())  # answered, the loop asleep again
        marks = [what for what, _ in fg.log]
        assert marks[0] == "awake" and "enter" in marks  # the ClientHello woke the loop before the request was marked
        assert marks.index("awake") < marks.index("enter")
    finally:
        raw.close()
        srv.stop()


def test_foreground_a_connection_waiting_to_be_accepted_counts_as_a_request():
    """Before its request can be marked, a new connection needs the GIL for the loop's wake-up, the
    accept and the task's first step: the tail sees it waiting on the listening socket and lets it go first."""
    fg = Foreground(hold=5.0)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    fg.watch(lsock)
    client = None
    try:
        assert fg.pause() == 0.0 and fg.pauses == 0  # nobody waiting: no pause, nothing marked
        client = socket.create_connection(lsock.getsockname())
        done = threading.Event()
        waited: list[float] = []
        t = threading.Thread(target=lambda: (waited.append(fg.pause()), done.set()))
        t.start()
        assert not done.wait(0.05)  # paused: a connection waits to be accepted
        assert fg.busy()
        conn, _ = lsock.accept()
        tok = fg.enter()  # the server took it and marked its request: the waiting mark is this request
        fg.leave(tok)
        assert done.wait(5)
        t.join()
        conn.close()
        assert waited[0] > 0 and not fg.busy() and not fg._deadlines
        fg.unwatch(lsock)
        client.close()
        client = socket.create_connection(lsock.getsockname())  # waiting again, but no longer watched
        assert fg.pause() == 0.0
    finally:
        if client is not None:
            client.close()
        lsock.close()


def test_foreground_a_connection_never_accepted_holds_the_tail_only_for_the_hold_time():
    fg = Foreground(hold=0.05)
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    fg.watch(lsock)
    client = socket.create_connection(lsock.getsockname())
    try:
        waited = fg.pause()  # a server that never accepts (stopped, overloaded): bounded by the hold
        assert 0.04 <= waited < 1.0
    finally:
        client.close()
        lsock.close()
    assert fg._listen and fg.pause() == 0.0  # a watched socket closed (never unwatched): ignored, not selected on


def test_the_server_watches_its_listening_socket_until_stopped():
    fg = Foreground(hold=30.0)
    srv = AsyncHTTPServer("127.0.0.1", 0, lambda req: Response(200, b"ok\n"), foreground=fg)
    assert fg._listen == [srv._sock]
    srv.start()
    try:
        assert _get(srv.port) == b"ok\n"
    finally:
        srv.stop()
    assert fg._listen == []  # its number may be reused by another file


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
