"""Fuzz the smartctl parsers: any JSON or text smartctl (or something in its place) emits never
crashes the parser or the disk rules; only ParseError is allowed, and it names the device."""

from __future__ import annotations

import json
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import given

from agent.collectors.smart import parse_scan
from agent.collectors.smart_parse import ParseError, parse_json, text_to_doc
from agent.model import Snapshot
from agent.rules import disk as disk_rules
from agent.rules.base import Params, RuleContext

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "smartctl" / "corpus"
DOCS = [json.loads(p.read_text()) for p in sorted(CORPUS.glob("sce-*.json"))[::7]]
leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                 st.floats(allow_nan=True), st.text(max_size=20))
anyjson = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                 st.dictionaries(st.text(max_size=8), c, max_size=4)), max_leaves=20)


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


def _check(doc):
    try:
        d = parse_json(doc, device="sdx", path="/dev/sdx", now=1.0)
    except ParseError as exc:
        assert str(exc).startswith("sdx:")
        return
    snap = Snapshot(time=1.0, boot_id="b", readings={"smart": (d,)}, statuses={})
    for fn in disk_rules.RULES:
        list(fn(RuleContext(snapshot=snap, history=None, params=Params(fn.meta.defaults, {}, {}), now=1.0,
                            rule=fn.meta)))


def test_corrupted_corpus_documents(count):
    @given(st.sampled_from(DOCS), st.data(), anyjson)
    def inner(doc, data, value):
        count()
        doc = json.loads(json.dumps(doc))
        path = data.draw(st.sampled_from(list(_paths(doc))))
        cur = doc
        for p in path[:-1]:
            cur = cur[p]
        cur[path[-1]] = value
        _check(doc)

    inner()


def test_arbitrary_json_documents(count):
    @given(anyjson)
    def inner(value):
        count()
        _check(value)
        _check({"smartctl": value, "ata_smart_attributes": value, "nvme_smart_health_information_log": value,
                "scsi_error_counter_log": value, "smart_status": value, "temperature": value,
                "ata_smart_self_test_log": value, "nvme_self_test_log": value, "power_on_time": value})

    inner()


def test_text_reports_and_scans(count):
    @given(st.text(max_size=400))
    def inner(text):
        count()
        for t in (text, "smartctl 7.3 2022-02-28\n" + text):
            try:
                _check(text_to_doc(t, rc=0, path="/dev/sdx"))
            except ParseError:
                pass
        try:
            parse_scan(text)
        except ValueError:  # a JSON scan that does not decode
            pass

    inner()
