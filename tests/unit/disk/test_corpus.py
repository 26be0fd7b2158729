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
    assert got == label["verdict"], (name, label["reasons"], [(f.rule, f.summary) for f in findings])
    if got in ("healthy", "unreadable"):
        assert not findings
    assert not d.rejected, d.rejected  # real captures hold no implausible values


def test_corpus_verdict_totals():
    counts = {}
    for name in LABELS:
        d = parse_json(json.loads((CORPUS / name).read_text()), device="dut", path="/dev/dut", now=NOW)
        v = verdict(evaluate(d), d)
        counts[v] = counts.get(v, 0) + 1
    assert counts == {"healthy": 108, "warning": 5, "failing": 2, "unreadable": 1}
