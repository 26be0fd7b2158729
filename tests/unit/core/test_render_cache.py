"""/metrics rendered incrementally, gzip per generation, and no rule run for an unchanged cycle.

Real collectors (hwmon, system) over a sysfs/proc tree laid out as the kernel does; values are
read back through ``registry.get_sample_value`` (the reference: every family built from scratch)
and from the served text parsed by prometheus_client's own parser.
"""

from __future__ import annotations

import gzip
import http.client

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.collectors.hwmon import HwmonCollector
from agent.collectors.system import SystemCollector
from agent.schema import from_mapping
from agent.daemon import RULES_MAX_AGE_SECONDS, Daemon
from agent.exporter.http import MetricsRenderer, MetricsServer, accepts_gzip
from agent.state.store import Store

TEMP = "hwagent_hwmon_temperature_celsius"
LAB = {"chip": "platform_nct6775_656", "sensor": "temp1"}


def served_value(body: bytes, name: str, labels: dict) -> float | None:
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


@pytest.fixture
def host(fakesys, make_host):
    fakesys.proc_basics()
    chip = fakesys.hwmon_chip(0, "nct6779", "platform/nct6775.656",
                              {"temp1_input": 41000, "temp1_max": 80000, "temp1_alarm": 0, "temp1_label": "CPUTIN",
                               "fan1_input": 1200, "fan1_min": 300})
    return fakesys, chip, make_host(fakesys.root)


def daemon(host, store=None, clock=None) -> Daemon:
    kw = {"clock": clock} if clock else {}
    return Daemon(from_mapping({}), host[2], store, collector_classes=(HwmonCollector, SystemCollector), **kw)


def chip_label(renderer: MetricsRenderer) -> dict:
    for fam in text_string_to_metric_families(renderer.render().decode()):
        for s in fam.samples:
            if s.name == TEMP and s.labels["sensor"] == "temp1":
                return s.labels
    raise AssertionError("no temp1 sample")


def test_a_changed_reading_always_shows_on_the_next_scrape(host):
    fs, chip, _ = host
    d = daemon(host)
    d.run_once()
    r = MetricsRenderer(lambda: d.snapshot)
    lab = chip_label(r)
    for value in (41.0, 55.5, 55.5, 12.0):
        (chip / "temp1_input").write_text(f"{int(value * 1000)}\n")
        d.run_once()
        body = r.render()
        assert served_value(body, TEMP, lab) == value
        assert r.registry.get_sample_value(TEMP, lab) == value
        assert body == generate_latest(r.registry)  # byte for byte what a full render gives


def test_an_unchanged_cycle_reruns_no_rule_and_re_renders_only_the_collector_families(host):
    d = daemon(host)
    d.run_once()
    r = MetricsRenderer(lambda: d.snapshot)
    first = r.render()
    runs, samplers, fams = d.rule_runs, r.incremental.sampler_runs, r.incremental.families_formatted
    gen = d.snapshot.generation
    snap = d.run_once()  # the same tree: every reading equal
    assert snap.generation == gen + 1  # statuses (durations, last success) are new
    assert d.rule_runs == runs  # old code: every rule ran again after every collector run
    body = r.render()
    # only the samplers that read collector statuses: core (hwagent_collector_*) and board
    # (whose score says which sources were read); not one of the reading samplers
    assert r.incremental.last_ran == ["core", "board"]
    assert r.incremental.sampler_runs == samplers + 2
    assert 0 < r.incremental.families_formatted - fams <= 5  # hwagent_collector_* only
    assert body == generate_latest(r.registry)
    keep = [ln for ln in first.splitlines() if not ln.startswith(b"hwagent_collector_")]
    assert keep == [ln for ln in body.splitlines() if not ln.startswith(b"hwagent_collector_")]


def test_one_collectors_change_reruns_only_the_samplers_reading_it(host):
    fs, chip, _ = host
    d = daemon(host)
    d.run_once()
    r = MetricsRenderer(lambda: d.snapshot)
    r.render()
    (chip / "fan1_input").write_text("1500\n")
    d.run_once()
    r.render()
    # hwmon's own sampler and those reading statuses; findings, extras and acks compare equal
    # after the rules ran again (no finding changed), so their samplers are not run either
    assert r.incremental.last_ran == ["core", "hwmon", "board"]
    assert r.registry.get_sample_value("hwagent_hwmon_fan_rpm", dict(chip_label(r), sensor="fan1")) == 1500


def test_rules_run_again_when_only_time_moved(host):
    now = [1_764_003_600.0]
    d = daemon(host, clock=lambda: now[0])
    d.run_once()
    runs = d.rule_runs
    now[0] += RULES_MAX_AGE_SECONDS - 1
    d.run_once()
    assert d.rule_runs == runs  # boundary: just inside the age, the findings are reused
    now[0] += 2  # now past RULES_MAX_AGE_SECONDS since the rules ran
    d.run_once()
    assert d.rule_runs == runs + 1
    now[0] -= 3600  # a clock stepped back: the rules run again
    d.run_once()
    assert d.rule_runs == runs + 2


def test_an_ack_from_another_process_shows_without_a_changed_reading(host, tmp_path):
    fs, chip, _ = host
    (chip / "temp1_alarm").write_text("1\n")
    store = Store(tmp_path / "state.db")
    d = daemon(host, store)
    snap = d.run_once()
    alarm = [f for f in snap.findings if f.rule == "board.sensor_alarm"]
    assert alarm and not snap.acked
    other = Store(tmp_path / "state.db")  # what `agent ack` does from its own process
    other.ack(alarm[0].rule, alarm[0].subject, alarm[0].ack_token, "op")
    other.close()
    snap = d.run_once()
    assert alarm[0].key in snap.acked
    store.close()


@pytest.mark.parametrize("header,ok", [
    ("gzip", True), ("gzip, deflate, br", True), ("deflate, gzip;q=0.5", True), ("x-gzip", True), ("*", True),
    ("gzip;q=0", False), ("identity", False), ("", False), (None, False), ("*;q=0", False), ("gzip;q=bad", False),
    ("GZIP", True), ("br, *;q=0.1", True), ("gzip;q=0, *", False),
])
def test_accept_encoding(header, ok):
    assert accepts_gzip(header) is ok


def get(port: int, enc: str | None) -> tuple[int, dict, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics", headers={"Accept-Encoding": enc} if enc else {})
    resp = c.getresponse()
    out = resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    c.close()
    return out


def test_gzip_round_trip_and_one_compression_per_generation(host):
    fs, chip, _ = host
    d = daemon(host)
    d.run_once()
    r = MetricsRenderer(lambda: d.snapshot)
    srv = MetricsServer("127.0.0.1:0", r, dict)
    srv.start()
    try:
        st, h, plain = get(srv.port, None)
        assert st == 200 and "content-encoding" not in h and h["vary"] == "Accept-Encoding"
        st, h, gz = get(srv.port, "gzip")
        assert st == 200 and h["content-encoding"] == "gzip" and int(h["content-length"]) == len(gz)
        assert gzip.decompress(gz) == plain
        assert gz == gzip.compress(plain, 6, mtime=0)  # the bytes the gzip module made (the daemon no longer imports it)
        assert len(gz) < len(plain) / 3
        assert r.peek(gzip=True) is r.peek(gzip=True) is not None  # compressed once, then served as is
        assert get(srv.port, "gzip;q=0")[2] == plain
        lab = chip_label(r)
        (chip / "temp1_input").write_text("63000\n")
        d.run_once()  # a new generation: the compressed body is made again, with the new value
        st, h, gz2 = get(srv.port, "gzip")
        assert served_value(gzip.decompress(gz2), TEMP, lab) == 63.0
    finally:
        srv.stop()


def test_process_metrics_are_fresh_on_every_scrape_and_gzip_too(host):
    d = daemon(host)
    d.run_once()
    r = MetricsRenderer(lambda: d.snapshot, process_metrics=True)
    body = r.render()
    assert b"\nprocess_resident_memory_bytes " in body and b"hwagent_hwmon_temperature_celsius{" in body
    assert b"process_resident_memory_bytes " in gzip.decompress(r.render(gzip=True))
    assert r.peek() is None  # never a cached body: the process figures move


from hypothesis import given, settings, strategies as st  # noqa: E402

from agent.exporter.catalog import METRICS_BY_NAME  # noqa: E402
from agent.exporter.collector import _family  # noqa: E402
from agent.exporter.render import format_family, go_float  # noqa: E402


class _One:
    def __init__(self, fam):
        self.fam = fam

    def collect(self):
        yield self.fam


@pytest.mark.parametrize("value,text", [(1764003600.0, "1.7640036e+09"), (1234567.0, "1.234567e+06"),
                                        (123456.0, "123456.0"), (-1234567.0, "-1234567.0"), (0.5, "0.5"),
                                        (1e-07, "1e-07"), (1e21, "1e+21"), (float("inf"), "+Inf"),
                                        (float("-inf"), "-Inf"), (float("nan"), "NaN"), (10000000.0, "1e+07")])
def test_go_float(value, text):
    assert go_float(value) == text


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(["hwagent_hwmon_temperature_celsius", "hwagent_cpu_throttles_total", "hwagent_host_info",
                             "hwagent_rule_errors"]),
       values=st.lists(st.tuples(st.text(max_size=12), st.floats(allow_nan=True, allow_infinity=True)), max_size=4))
def test_own_formatter_is_byte_for_byte_prometheus_client(name, values):
    """The daemon formats without prometheus_client; every label value and float as it would."""
    spec = METRICS_BY_NAME[name]
    samples = [({k: f"{text}{i}" for i, k in enumerate(spec.labels)}, v) for text, v in values]
    assert format_family(spec, samples) == generate_latest(_One(_family(spec, samples)))


def test_metrics_answers_503_until_the_first_snapshot_then_200_even_when_stale(host):
    d = daemon(host)
    r = MetricsRenderer(lambda: d.snapshot)
    state = [(False, "starting: first collection cycle not complete")]
    srv = MetricsServer("127.0.0.1:0", r, dict, lambda: state[0])
    srv.start()
    try:
        st, h, body = get(srv.port, None)
        assert st == 503 and h["retry-after"] == "1" and b"starting" in body  # old code: 200 with 2 series
        d.run_once()
        state[0] = (False, "stale data: hwmon last ran 100 s ago (interval 30 s)")
        st, h, body = get(srv.port, None)
        assert st == 200 and served_value(body, "hwagent_collector_success", {"collector": "hwmon"}) == 1.0
    finally:
        srv.stop()
