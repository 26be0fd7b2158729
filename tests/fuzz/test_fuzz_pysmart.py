"""Fuzz the pySMART backend (smartctl < 7.0, text output): mutated captured `smartctl --all` texts
go through pySMART and pysmart_to_doc() into the common mapper. A device that cannot be parsed
becomes a device read status, never an exception out of the collector."""

from __future__ import annotations

from pathlib import Path

import hypothesis.strategies as st
from hypothesis import given

from agent.collectors.base import run_collector
from agent.collectors.smart import SmartCollector
from agent.config import CollectorConfig
from agent.host import CommandResult, Host

LAB = Path(__file__).resolve().parents[1] / "fixtures" / "smartctl" / "lab"
TEXTS = {p.name: p.read_text().splitlines()[2:] for p in sorted(LAB.glob("*/*-smartctl-*.txt"))}
junk = st.one_of(st.text(max_size=60), st.sampled_from(["", ":", "0x", "-1", "9" * 30, "ATTRIBUTE_NAME", "=== START",
                                                       "SMART overall-health self-assessment test result:",
                                                       "Critical Warning:                   0xzz",
                                                       "  5 Reallocated_Sector_Ct   0x0033   100   100   010    Pre-fail  Always       -       X"]))


@st.composite
def mutated_text(draw):
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = list(TEXTS[name])
    for _ in range(draw(st.integers(0, 8))):
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        op = draw(st.sampled_from(["drop", "junk", "cut", "number", "dup"]))
        if not lines:
            lines.append(draw(junk))
        elif op == "drop":
            del lines[i]
        elif op == "junk":
            lines[i] = draw(junk)
        elif op == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
        elif op == "number":
            words = lines[i].split(" ")
            j = draw(st.integers(0, len(words) - 1))
            words[j] = str(draw(st.integers(-2**70, 2**70)))
            lines[i] = " ".join(words)
        else:
            lines.insert(i, lines[i])
    return name, "\n".join(lines) + "\n"


def test_pysmart_text_mapping(count):
    seen: set[str] = set()

    @given(mutated_text(), st.sampled_from([0, 4, 8, 64, 2, None]))
    def inner(sample, rc):
        count()
        name, text = sample
        nvme = "nvme" in name
        dev, typ = ("/dev/nvme0", "nvme") if nvme else ("/dev/sda", "sat")

        def runner(argv, timeout, env=None):
            argv = tuple(argv)
            if argv[1:] == ("--version",):
                out = "smartctl 6.6 2016-05-31 r4324 [x86_64-linux-4.9.0] (local build)\n"
                return CommandResult(argv, 0, out.encode(), b"", 0.0, None)
            if "--scan-open" in argv:
                return CommandResult(argv, 0, f"{dev} -d {typ} # {dev}, device\n".encode(), b"", 0.0, None)
            if rc is None:
                return CommandResult(argv, None, b"", b"", 0.0, "timeout")
            return CommandResult(argv, rc, text.encode(), b"", 0.0, None)

        col = SmartCollector(Host(runner=runner, clock=lambda: 1_764_003_600.0), CollectorConfig(options={}))
        readings, status = run_collector(col, None)
        assert status.ok, status.error
        for d in readings:
            assert d.read_status in ("ok", "standby", "timeout", "open_failed", "permission_denied", "parse_error",
                                     "no_smartctl", "error"), d.read_status
            assert d.backend == "pysmart" or d.read_status != "ok"
            seen.add(d.read_status)
    inner()
    assert "ok" in seen, seen  # the texts really went through pySMART to a reading
