"""Fuzz the hostile-input surfaces: basic auth and web config, HTTP request parsing (in memory and
over loopback), journal JSON and pstore text, baseline parsers, device specs and durations, the
store opening damaged files, and /metrics text under hostile labels (large tool outputs:
test_fuzz_tool_output.py).

Bounded by the "default" profile in the normal suite; `--fuzz-long` runs >= 100 000 examples per
target (see tests/fuzz/README.md for the schedule).
"""

from __future__ import annotations

import asyncio
import base64
import socket
import sqlite3
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import hypothesis.strategies as st
import pytest
from hypothesis import given

from agent.exporter.aserver import AsyncHTTPServer, BadRequest, Request
from agent.exporter.webconfig import WebConfig, WebConfigError, load_web_config, parse_basic

HASH4 = b"$2b$04$" + b"abcdefghijklmnopqrstuu" + b"0123456789012345678901234567890"  # 53 chars, cost 4


# ---- basic auth and web config ----------------------------------------------------------------
def test_check_basic_never_raises(count):
    import bcrypt

    web = WebConfig(users={"prom": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4))})
    headers = st.one_of(
        st.none(), st.text(max_size=200),
        st.tuples(st.sampled_from(["Basic ", "basic ", "BASIC  ", "Bearer ", "Basic"]),
                  st.binary(max_size=150).map(lambda b: base64.b64encode(b).decode())).map("".join),
        st.tuples(st.sampled_from(["prom", "nobody", "", "p:r"]), st.binary(max_size=120)).map(
            lambda t: "Basic " + base64.b64encode(t[0].encode() + b":" + t[1]).decode()))

    @given(headers)
    def inner(header):
        count()
        res = web.check_basic(header)
        assert res in (True, False)
        assert res is (header is not None and parse_basic(header) == ("prom", "pw"))
    inner()


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=30),
                         st.sampled_from(["TLS12", "TLS13", "NoClientCert", "RequireAnyClientCert", "$2y$10$x",
                                          HASH4.decode(), "c.pem", "CurveP256", "TLS_AES_128_GCM_SHA256"]))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=4) |
                           st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
web_keys = st.sampled_from(["tls_server_config", "basic_auth_users", "http_server_config", "cert_file", "key_file",
                            "min_version", "max_version", "client_auth_type", "client_ca_file", "cipher_suites",
                            "curve_preferences", "prefer_server_cipher_suites", "headers", "http2", "prom", "X-A",
                            "X-A\r\nB", "Content-Length"])


def test_load_web_config_only_raises_web_config_error(tmp_path_factory, count):
    import yaml

    d = tmp_path_factory.mktemp("web")
    tree = st.recursive(yaml_scalars, lambda inner: st.dictionaries(web_keys, inner, max_size=5), max_leaves=15)

    @given(tree | st.binary(max_size=200))
    def inner(doc):
        count()
        p = d / "web.yml"
        if isinstance(doc, bytes):
            p.write_bytes(doc)
        else:
            p.write_text(yaml.safe_dump(doc))
        try:
            cfg = load_web_config(p)
        except WebConfigError:
            return
        for name, value in cfg.headers.items():
            assert "\r" not in name + value and "\n" not in name + value and ":" not in name
    inner()


# ---- HTTP request handling -----------------------------------------------------------------------
request_bytes = st.one_of(
    st.binary(max_size=400),
    st.tuples(st.sampled_from([b"GET", b"HEAD", b"POST", b"G\x00T", b""]), st.binary(max_size=60),
              st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2", b"", b"HTTP/1.1\r"]),
              st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=6),
              st.sampled_from([b"\r\n", b"\n", b""])).map(
        lambda t: t[0] + b" " + t[1] + b" " + t[2] + b"\r\n" + b"".join(k + b": " + v + b"\r\n" for k, v in t[3]) + t[4]),
)


def test_request_head_parser(count):
    loop = asyncio.new_event_loop()

    async def parse(data: bytes):
        reader = asyncio.StreamReader(limit=8194, loop=loop)
        reader.feed_data(data)
        reader.feed_eof()
        return await AsyncHTTPServer._read_head(None, reader, "fuzz", b"")  # noqa: SLF001 - self is unused

    @given(request_bytes)
    def inner(data):
        count()
        try:
            req = loop.run_until_complete(parse(data))
        except BadRequest as exc:
            assert 400 <= exc.status < 600
            return
        assert req is None or isinstance(req, Request)
        if req is not None:
            assert req.method.isascii() and " " not in req.method and req.version in ("HTTP/1.0", "HTTP/1.1")
    try:
        inner()
    finally:
        loop.close()


@pytest.fixture(scope="module")
def live_server():
    from agent.exporter.http import MetricsRenderer, MetricsServer
    from agent.model import Snapshot

    srv = MetricsServer("127.0.0.1:0", MetricsRenderer(Snapshot.empty), dict)
    srv.start()
    yield srv
    srv.stop()


def test_requests_over_loopback_get_a_status_line_or_close(live_server, count):
    @given(request_bytes)
    def inner(data):
        count()
        with socket.create_connection(("127.0.0.1", live_server.port), 30) as s:
            # the property is "a status line or a close", not a latency: the long run shares a loaded machine at
            # nice 19, where a 5 s timeout was once hit by scheduling alone (28,134th example; not reproducible
            # in 300 replays, each answered 400 within 62 ms). A hung server still fails here.
            s.settimeout(30)
            try:
                s.sendall(data + b"\r\n\r\n")
                s.shutdown(socket.SHUT_WR)
                got = s.recv(200)
            except (ConnectionResetError, BrokenPipeError):
                got = b""
        assert got == b"" or got.startswith(b"HTTP/1.1 "), got
        assert b"Traceback" not in got
    inner()
    # the server is still answering
    with socket.create_connection(("127.0.0.1", live_server.port), 5) as s:
        s.sendall(b"GET /-/healthy HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")


# ---- kernel log: journal JSON fallback and pstore text ----------------------------------------------
journal_entry = st.fixed_dictionaries({}, optional={
    "MESSAGE": st.one_of(st.text(max_size=120), st.lists(st.integers(-5, 300), max_size=40), st.integers(),
                         st.none()),
    "_BOOT_ID": st.one_of(st.text(max_size=32), st.integers(), st.none()),
    "_SOURCE_MONOTONIC_TIMESTAMP": st.one_of(st.text(max_size=20), st.integers(-2**70, 2**70), st.none()),
    "__REALTIME_TIMESTAMP": st.one_of(st.text(max_size=20), st.integers(-2**70, 2**70)),
    "PRIORITY": st.one_of(st.text(max_size=3), st.integers(-3, 12)),
    "__CURSOR": st.one_of(st.text(max_size=40), st.integers()),
})


def test_journal_json_fallback(tmp_path_factory, count):
    import json

    from agent.collectors.kernel_log import KernelLogCollector
    from agent.host import Host, HostPaths

    root = tmp_path_factory.mktemp("jr")
    (root / "proc").mkdir()
    col = KernelLogCollector(Host(HostPaths(rootfs=str(root))))

    @given(st.lists(st.one_of(journal_entry.map(json.dumps), st.text(max_size=80)), max_size=12),
           st.booleans())
    def inner(lines, previous):
        count()
        col._classify_journal("\n".join(lines), previous_boot=previous)  # noqa: SLF001
    inner()
    col.close()


kernel_lines = st.one_of(
    st.text(max_size=160),
    st.sampled_from(["Kernel panic - not syncing: Fatal exception", "mce: [Hardware Error]: CPU 3: Machine Check",
                     "EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0",
                     "ata1.00: failed command: READ FPDMA QUEUED", "<4>[   12.345678] nvme nvme0: I/O 12 QID 3 timeout",
                     "Oops#1 Part1", "BUG: unable to handle page fault for address: 0000"]),
)


def test_pstore_text(count):
    from agent.collectors.patterns import Classifier

    @given(st.lists(kernel_lines, max_size=30))
    def inner(lines):
        count()
        c = Classifier(source="pstore", boot_id="prev")
        c.previous_boot = True
        c.scan_text(lines)
        c.flush()
        for e in c.take():
            assert e.component
    inner()


# ---- baseline parsers --------------------------------------------------------------------------------------
def _lines(words: list[str]):
    return st.lists(st.one_of(st.text(max_size=60), st.sampled_from(words),
                              st.tuples(st.sampled_from(words), st.text(max_size=30)).map(": ".join)),
                    max_size=25).map("\n".join)


def test_baseline_parsers(count):
    from agent import baseline as b

    dmi = _lines(["Handle 0x0011, DMI type 17, 40 bytes", "Memory Device", "\tSize: 16 GB", "\tSize: No Module Installed",
                  "\tLocator: DIMM_A1", "\tSerial Number: 1234", "\tPart Number: M393", "\tSpeed: 2666 MT/s"])
    mdadm = _lines(["ARRAY /dev/md0 metadata=1.2 name=h:0 UUID=a:b:c:d", "ARRAY", "   devices=/dev/sda1,/dev/sdb1"])
    mdstat = _lines(["Personalities : [raid1]", "md0 : active raid1 sdb1[1] sda1[0]", "      123 blocks [2/2] [UU]"])
    efi = _lines(["BootCurrent: 0001", "BootOrder: 0001,0000", "Boot0001* debian\tHD(1,GPT,x)/File(\\EFI\\shim.efi)",
                  "Timeout: 1 seconds"])
    hw = _lines(["2026-12-05 13:40:01.123456+00:00", "2026-12-05 13:40:01+0100", "Sat 05 Dec 2026 01:40:01 PM UTC"])

    @given(dmi, mdadm, mdstat, efi, hw)
    def inner(a, m, s, e, h):
        count()
        assert isinstance(b.parse_dmidecode_memory(a), list)
        assert isinstance(b.parse_mdadm_scan(m), list)
        assert isinstance(b.parse_mdstat(s), list)
        assert isinstance(b.parse_efibootmgr(e), dict)
        v = b.parse_hwclock(h)
        assert v is None or v == v
    inner()


def test_baseline_cpuinfo_nic_and_disk_capture(tmp_path_factory, count):
    from agent import baseline as b
    from agent.host import Host, HostPaths

    values = st.one_of(st.binary(max_size=40), st.sampled_from([b"1000\n", b"-1\n", b"up\n", b"aa:bb:cc:dd:ee:ff\n",
                                                                 b"8:0\n", b"\xff\xfe", b"", b"1953525168\n"]))
    cpuinfo = _lines(["processor", "model name", "physical id", "microcode", "flags"])

    @given(cpuinfo, st.dictionaries(st.sampled_from(["address", "speed", "operstate", "carrier"]), values, max_size=4),
           st.dictionaries(st.sampled_from(["dev", "size", "wwid", "device/serial", "device/model", "device/wwid"]),
                           values, max_size=6))
    def inner(cpu, nic, disk):
        count()
        root = tmp_path_factory.mktemp("bl")
        (root / "proc").mkdir()
        (root / "proc" / "cpuinfo").write_text(cpu)
        nd = root / "sys/devices/pci0000:00/0000:00:03.0/net/eth0"
        nd.mkdir(parents=True)
        (nd / "device").symlink_to("../..")
        (root / "sys/class/net").mkdir(parents=True)
        (root / "sys/class/net/eth0").symlink_to("../../devices/pci0000:00/0000:00:03.0/net/eth0")
        for k, v in nic.items():
            (nd / k).write_bytes(v)
        bd = root / "sys/block/sda"
        (bd / "device").mkdir(parents=True)
        for k, v in disk.items():
            (bd / k).write_bytes(v)
        host = Host(HostPaths(rootfs=str(root)))
        cpu_out = b.capture_cpu(host)
        assert cpu_out["threads"] >= 0
        assert "eth0" in b.capture_nics(host)["physical"]
        assert isinstance(b.capture_disks(host), dict)
    inner()


# ---- small parsers -----------------------------------------------------------------------------------------
def test_parse_version_device_spec_duration(count):
    from agent.collectors.smart import parse_device_spec, parse_version
    from agent.state.events import parse_duration

    @given(st.text(max_size=60), st.text(max_size=60), st.one_of(st.text(max_size=20), st.integers().map(str)))
    def inner(version, spec, duration):
        count()
        v = parse_version(version)
        assert v is None or all(isinstance(x, int) for x in v)
        try:
            t = parse_device_spec(spec)
            assert t.path.startswith("/")
        except ValueError:
            pass
        try:
            d = parse_duration(duration)
            assert d >= 0
        except ValueError:
            pass
    inner()


# ---- the store opening damaged or partial files ------------------------------------------------------------
@pytest.fixture(scope="module")
def db_template(tmp_path_factory) -> bytes:
    from agent.state.store import Store

    d = tmp_path_factory.mktemp("tpl")
    s = Store(d / "state.db")
    s.ack("r", "s", "t", "o")
    s.record_samples("b", 1.0, {f"k{i}": float(i) for i in range(300)})
    s.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    return (d / "state.db").read_bytes()


def test_store_opens_damaged_files(tmp_path_factory, db_template, count):
    from agent.state.store import Store, StoreError

    damage = st.one_of(
        st.integers(0, len(db_template)).map(lambda n: ("truncate", n, b"")),
        st.tuples(st.integers(0, len(db_template) - 1), st.binary(min_size=1, max_size=64)).map(
            lambda t: ("overwrite", t[0], t[1])),
        st.binary(max_size=300).map(lambda b: ("replace", 0, b)))

    @given(st.lists(damage, min_size=1, max_size=3))
    def inner(ops):
        count()
        d = tmp_path_factory.mktemp("db")
        data = bytearray(db_template)
        for op, at, blob in ops:
            if op == "truncate":
                data = data[:at]
            elif op == "overwrite":
                data[at:at + len(blob)] = blob
            else:
                data = bytearray(blob)
        (d / "state.db").write_bytes(bytes(data))
        try:
            s = Store.in_dir(d, clock=lambda: 7.0)
        except StoreError:
            return
        try:
            if s.recovered_from:
                assert (d / "state.db.corrupt-7").exists()
            s.put("x", 1)
            assert s.get("x") == 1
            try:
                s.acks()
                s.samples("k1")
            except sqlite3.DatabaseError:
                pass  # damage quick_check did not see (an index page): reads fail, writes went on
        finally:
            s.close()
    inner()


# ---- /metrics text under hostile labels --------------------------------------------------------------------
def test_metrics_text_under_hostile_labels(count):
    from prometheus_client.parser import text_string_to_metric_families

    from agent.exporter.http import MetricsRenderer
    from agent.model import HwmonSensor, Snapshot

    label = st.text(max_size=40)

    @given(st.lists(st.tuples(label, label, st.one_of(st.none(), label),
                              st.floats(allow_nan=False, allow_infinity=False, width=32)), max_size=8, unique_by=lambda t: (t[0], t[1])))
    def inner(sensors):
        count()
        readings = tuple(HwmonSensor(chip=c, chip_name="n", sensor=s, kind="temp", label=lab, value=v)
                         for c, s, lab, v in sensors)
        snap = replace(Snapshot.empty(), readings=MappingProxyType({"hwmon": readings}), generation=1)
        text = MetricsRenderer(lambda: snap).render().decode()
        seen = {}
        for fam in text_string_to_metric_families(text):
            for sample in fam.samples:
                if sample.name == "hwagent_hwmon_temperature_celsius":
                    seen[(sample.labels["chip"], sample.labels["sensor"])] = sample.value
        for c, s, _lab, v in sensors:
            assert seen[(c, s)] == v
    inner()


def test_hostile_label_text_passes_promtool(tmp_path):
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    from agent.exporter.http import MetricsRenderer
    from agent.model import HwmonSensor, Snapshot

    nasty = ['a"b', "a\\b", "line\nbreak", "tab\tx", "é😀", "}", "{x=\"y\"}", "#", " "]
    readings = tuple(HwmonSensor(chip=n, chip_name="n", sensor=f"temp{i}", kind="temp", label=n, value=1.0)
                     for i, n in enumerate(nasty))
    snap = replace(Snapshot.empty(), readings=MappingProxyType({"hwmon": readings}), generation=1)
    p = Path(tmp_path) / "m.prom"
    p.write_bytes(MetricsRenderer(lambda: snap).render())
    res = subprocess.run([promtool, "check", "metrics"], input=p.read_bytes(), capture_output=True, timeout=60)
    assert b"error" not in res.stdout.lower() + res.stderr.lower(), res.stdout + res.stderr
