"""Every corpus capture parses without error and yields the verdict its labels.json gives."""

from __future__ import annotations

import json

import pytest

from agent.collectors.smart_parse import parse_json
from agent.rules.disk import verdict

from .conftest import CORPUS
from .helpers import NOW, evaluate

LABELS = json.loads((CORPUS / "labels.json").read_text())
CLASS = {"ATA": "ata", "NVMe": "nvme", "SCSI": "scsi", "": "unknown"}
# Deliberate departures from the labelling rules (README: any 188 raw > 0 on a non-Seagate drive is a
# warning). Attribute 188 is the noisiest counter on healthy drives (Micron 5300 raw 8-33), so a
# stable count is shown as an info finding, and only growth warns (docs/findings/disk.md).
DEPARTURES = {
    "sce-sat-Micron_5100_Pro___52x0___5300_SSDs-Micron_5300_MTFDDAK240TDS-sda.json":
        ("healthy", ("disk.command_timeout", "info")),
}


def test_corpus_is_complete():
    files = sorted(p.name for p in CORPUS.glob("*.json") if p.name != "labels.json")
    assert files == sorted(LABELS), "every capture has a label and every label a capture"
    assert len(files) == 116


@pytest.mark.parametrize("name", sorted(LABELS))
def test_corpus_verdict(name):
    doc = json.loads((CORPUS / name).read_text())
    d = parse_json(doc, device="dut", path="/dev/dut", now=NOW)
    findings = evaluate(d)
    label = LABELS[name]
    assert CLASS[d.protocol] == label["device_class"]
    got = verdict(findings, d)
    want = label["verdict"]
    if name in DEPARTURES:
        want, info = DEPARTURES[name]
        assert label["verdict"] != want and info in [(f.rule, f.severity.label) for f in findings]
    assert got == want, (name, label["reasons"], [(f.rule, f.summary) for f in findings])
    if got in ("healthy", "unreadable"):
        assert all(f.severity.label == "info" for f in findings)
    assert not d.rejected, d.rejected  # real captures hold no implausible values


def test_corpus_verdict_totals():
    counts = {}
    for name in LABELS:
        d = parse_json(json.loads((CORPUS / name).read_text()), device="dut", path="/dev/dut", now=NOW)
        v = verdict(evaluate(d), d)
        counts[v] = counts.get(v, 0) + 1
    assert counts == {"healthy": 108 + len(DEPARTURES), "warning": 5 - len(DEPARTURES), "failing": 2, "unreadable": 1}
