"""Fuzz the platform parsers: ipmitool sensor / sdr elist / sel elist / sel info tables, mdstat,
EDAC and AER sysfs values. Garbage is reported (problems, AerParseError), never a crash."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
from hypothesis import given

from agent.collectors import ipmi
from agent.collectors.aer import AerCollector, AerParseError, parse_aer_table
from agent.collectors.base import run_collector
from agent.collectors.edac import EdacCollector
from agent.collectors.mdraid import parse_mdstat, parse_sync_completed
from agent.host import Host, HostPaths

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "platform"
IPMI = {p.parent.parent.parent.name + "/" + p.name: p.read_text() for p in sorted((FIX / "ipmi").glob("*/commands/ipmitool/*"))}
MDSTAT = [p.read_text() for p in sorted((FIX / "mdstat").iterdir()) if p.is_file() and p.name != "SOURCE"]


def _lines(text: str) -> list[str]:
    return text.splitlines() or [""]


def mutated(corpus: list[str]):
    """A corpus text with lines dropped, duplicated, truncated, cut at a '|' or replaced by junk."""
    junk = st.one_of(st.text(max_size=80), st.sampled_from(["|", "| | | |", "na", "0x", "-1", "1e999", "nan",
                                                          "9" * 40, "\x00", "\ufffd", " | ".join(["x"] * 30)]))

    @st.composite
    def build(draw):
        lines = _lines(draw(st.sampled_from(corpus)))
        for _ in range(draw(st.integers(0, 6))):
            i = draw(st.integers(0, len(lines) - 1))
            op = draw(st.sampled_from(["drop", "dup", "cut", "field", "junk", "long"]))
            line = lines[i]
            if op == "drop" and len(lines) > 1:
                del lines[i]
            elif op == "dup":
                lines.insert(i, line)
            elif op == "cut":
                lines[i] = line[:draw(st.integers(0, max(0, len(line))))]
            elif op == "field":
                cols = line.split("|")
                cols[draw(st.integers(0, len(cols) - 1))] = draw(junk)
                lines[i] = "|".join(cols)
            elif op == "junk":
                lines[i] = draw(junk)
            else:
                lines[i] = (line * 50)[:20000]  # an over-long line (bounded: ops may repeat)
        return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))
    return build()


def test_ipmi_sensor_and_sdr_tables(count):
    sensors = [t for k, t in IPMI.items() if k.endswith("/sensor")]
    sdrs = [t for k, t in IPMI.items() if k.endswith("/sdr_elist")]

    @given(mutated(sensors), mutated(sdrs))
    def inner(sensor_text, sdr_text):
        count()
        problems = []
        rows = ipmi.parse_sensor(sensor_text, problems.append)
        sdr = ipmi.parse_sdr_elist(sdr_text, problems.append)
        for s in ipmi.merge_sensors(rows, sdr):
            assert s.name is not None
        assert all(isinstance(p, str) for p in problems)
    inner()


def test_ipmi_sel_lines(count):
    sels = [t for k, t in IPMI.items() if k.endswith("/sel_elist")]

    @given(mutated(sels) | st.text(max_size=300))
    def inner(text):
        count()
        entries, bad = ipmi.parse_sel_elist(text)
        for e in entries:
            ipmi.entry_from_dict({**e, "seen_time": 1.0})  # the collector stamps stored records
        assert all(isinstance(b, str) for b in bad)
        ipmi.parse_sel_info(text)
    inner()


def test_ipmi_sel_decode_and_time(count):
    words = st.text(max_size=30) | st.sampled_from(["Memory", "Temperature", "Fan", "Processor", "Power Supply",
                                                    "Correctable ECC", "Upper Critical going high", "Asserted",
                                                    "Deasserted", "Critical Interrupt", "Bus Uncorrectable error"])

    @given(words, words, words, words, st.booleans(), st.text(max_size=12), st.text(max_size=12))
    def inner(stype, sensor, event, detail, asserted, date, tm):
        count()
        cls, sev = ipmi.decode_sel(stype, sensor, event, detail, asserted)
        assert isinstance(cls, str) and isinstance(sev, str)
        t = ipmi.parse_bmc_time(date, tm)
        assert t is None or t == t
    inner()


def test_mdstat(count):
    @given(mutated(MDSTAT) | st.text(max_size=400), st.text(max_size=30))
    def inner(text, sync):
        count()
        arrays = parse_mdstat(text)
        assert isinstance(arrays, dict)
        v = parse_sync_completed(sync)
        assert v is None or 0.0 <= v <= 1.0 or v == v
    inner()


raw = st.one_of(st.binary(max_size=40),
                st.integers(-(2**70), 2**70).map(lambda i: f"{i}\n".encode()),
                st.sampled_from([b"", b"\n", b"-1\n", b"0x10\n", b"18446744073709551616\n", b"\xff\xfe", b"1 2\n"]))


def test_edac_sysfs_values(tmp_path_factory, count):
    files = st.dictionaries(st.sampled_from(["mc0/ce_count", "mc0/ue_count", "mc0/size_mb", "mc0/mc_name",
                                             "mc0/ce_noinfo_count", "mc0/seconds_since_reset",
                                             "mc0/dimm0/dimm_ce_count", "mc0/dimm0/dimm_ue_count",
                                             "mc0/dimm0/dimm_label", "mc0/dimm0/dimm_location",
                                             "mc1/csrow0/ch0_ce_count", "mc1/csrow0/ch0_ue_count",
                                             "mc1/csrow0/ch0_dimm_label", "mc1/ce_count"]), raw, max_size=10)

    @given(files)
    def inner(values):
        count()
        root = tmp_path_factory.mktemp("edac")
        base = root / "sys/devices/system/edac/mc"
        (base / "mc0").mkdir(parents=True)
        for rel, data in values.items():
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            (base / rel).write_bytes(data)
        readings, status = run_collector(EdacCollector(Host(HostPaths(rootfs=str(root)))), None)
        assert status.ok, status.error
        for r in readings:
            for f in ("ce_count", "ue_count"):
                v = getattr(r, f, None)
                assert v is None or v >= 0
    inner()


def test_aer_tables(tmp_path_factory, count):
    line = st.one_of(st.tuples(st.sampled_from(["RxErr", "BadTLP", "Undefined", "TOTAL_ERR_COR", "TOTAL_ERR_FATAL",
                                                "TOTAL_ERR_NONFATAL", "CmpltTO", "UnsupReq", "x y", "", "Bit31"]),
                               st.integers(-5, 2**70).map(str) | st.text(max_size=6)).map(" ".join),
                     st.text(max_size=40))
    table = st.lists(line, max_size=8).map("\n".join)

    @given(table, table, table)
    def inner(cor, fatal, nonfatal):
        count()
        for text, key in ((cor, "TOTAL_ERR_COR"), (fatal, "TOTAL_ERR_FATAL")):
            try:
                bits, total = parse_aer_table(text, key)
                assert all(v >= 0 for v in bits.values()) and (total is None or total >= 0)
            except AerParseError:
                pass
        root = tmp_path_factory.mktemp("aer")
        d = root / "sys/devices/pci0000:00/0000:00:1c.0"
        d.mkdir(parents=True)
        (root / "sys/bus/pci/devices").mkdir(parents=True)
        (root / "sys/bus/pci/devices/0000:00:1c.0").symlink_to("../../../devices/pci0000:00/0000:00:1c.0")
        (d / "aer_dev_correctable").write_text(cor)
        (d / "aer_dev_fatal").write_bytes(fatal.encode("utf-8", "surrogatepass"))
        (d / "aer_dev_nonfatal").write_text(nonfatal, errors="replace")
        readings, status = run_collector(AerCollector(Host(HostPaths(rootfs=str(root)))), None)
        assert status.ok or status.error
    inner()
