"""Fuzz the kernel log path: random bytes, truncated records, over-long lines and bad headers
through the kmsg record parser, the classifier and the collector reading a kmsg file."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
from hypothesis import given

from agent.collectors.base import run_collector
from agent.collectors.kernel_log import KernelLogCollector
from agent.collectors.patterns import Classifier, classify_lines, iter_kmsg_records, parse_kmsg_header, unescape_kmsg
from agent.config import CollectorConfig
from agent.host import CommandResult, Host, HostPaths
from agent.state.store import Store
from tests.support.enriched import Enriched

LAB = Path(__file__).resolve().parents[1] / "fixtures" / "kernel_log" / "lab"
LINES = sorted({ln.split("] ", 1)[-1] for p in sorted(LAB.glob("*.txt"))[:40] for ln in p.read_text().splitlines()
                if ln.strip()})[:4000]
headers = st.one_of(
    st.tuples(st.integers(-5, 2**40), st.integers(-5, 2**70), st.integers(-5, 2**70),
              st.sampled_from(["-", "c", "+", "", "x,y"])).map(lambda t: f"{t[0]},{t[1]},{t[2]},{t[3]};"),
    st.sampled_from(["", ";", "6,", "6,1", "6,1,2", "6,,,-;", "a,b,c,-;", "6,1,2,-", "\x006,1,2,-;", "6,1,2,-;;"]),
    st.text(max_size=12))
bodies = st.one_of(st.sampled_from(LINES), st.text(max_size=120),
                   st.sampled_from(LINES).map(lambda s: s + "\\x0a  " + s),
                   st.sampled_from(LINES).map(lambda s: s[: len(s) // 2]),
                   st.sampled_from(LINES).map(lambda s: s * 300))
records = st.tuples(headers, bodies, st.lists(st.text(max_size=20), max_size=2)).map(
    lambda t: t[0] + t[1] + "".join("\n " + p for p in t[2]))


def test_kmsg_records_parser_and_classifier(count):
    @given(st.lists(records, max_size=12), st.binary(max_size=200))
    def inner(recs, junk):
        count()
        text = "\n".join(recs) + "\n" + junk.decode("utf-8", "replace") + "\n"
        for line in text.split("\n"):
            parse_kmsg_header(line)
            unescape_kmsg(line)
        for _prefix, _seq, _usec, msg, props in iter_kmsg_records(text):
            assert isinstance(msg, str) and isinstance(props, dict)
        c = Classifier(source="kmsg", boot_id="b", wall=lambda u: None if u is None else 1e9 + u / 1e6)
        c.scan_kmsg(text)
        c.flush()
        for e in c.take():
            assert e.cls and e.severity is not None
    inner()


def test_dmesg_lines_through_classifier(count):
    @given(st.lists(bodies.map(lambda s: "[  12.345678] " + s) | st.text(max_size=100), max_size=20))
    def inner(lines):
        count()
        for e in classify_lines(lines):
            assert e.cls
    inner()


def _no_commands(argv, timeout, env=None):
    return CommandResult(tuple(argv), None, b"", b"", 0.0, f"{argv[0]}: not found")


def test_kmsg_file_through_collector(tmp_path_factory, count):
    @given(st.lists(records, max_size=8), st.binary(max_size=300), st.booleans())
    def inner(recs, junk, junk_first):
        count()
        root = tmp_path_factory.mktemp("kl")
        (root / "proc/sys/kernel/random").mkdir(parents=True)
        (root / "proc/sys/kernel/random/boot_id").write_text("11111111-2222-3333-4444-555555555555\n")
        (root / "proc/uptime").write_text("600.00 100.00\n")
        (root / "dev").mkdir()
        (root / "sys").mkdir()
        body = ("\n".join(recs) + "\n").encode("utf-8", "surrogatepass")
        (root / "dev/kmsg").write_bytes(junk + body if junk_first else body + junk)
        store = Store.memory()
        host = Host(paths=HostPaths(rootfs=str(root)), runner=_no_commands, clock=lambda: 1_764_003_600.0)
        col = Enriched(KernelLogCollector(host, CollectorConfig(options={"follow": False}), store))  # + storing
        try:
            readings, status = run_collector(col, None)  # type: ignore[arg-type]
            assert status.ok, status.error
        finally:
            col.close()
            store.close()
    inner()
