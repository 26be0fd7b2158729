"""Property tests: any JSON (or text) smartctl might emit never crashes the parser or the rules."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.collectors.smart_parse import ParseError, parse_json, text_to_doc

from .conftest import CORPUS
from .helpers import evaluate

DOCS = [json.loads(p.read_text()) for p in sorted(CORPUS.glob("sce-*.json"))[::9]]
leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                 st.floats(allow_nan=True), st.text(max_size=20))
anyjson = st.recursive(leaf, lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c,
                                                                                            max_size=4)), max_leaves=20)


def paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from paths(v, prefix + (i,))


def _check(doc):
    try:
        d = parse_json(doc, device="sdx", path="/dev/sdx", now=1.0)
    except ParseError:
        return
    evaluate(d)  # the rules take whatever the parser let through


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DOCS), st.data(), anyjson)
def test_corrupted_corpus_documents(doc, data, value):
    doc = json.loads(json.dumps(doc))
    all_paths = list(paths(doc))
    path = data.draw(st.sampled_from(all_paths))
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    _check(doc)


@settings(max_examples=200, deadline=None)
@given(anyjson)
def test_arbitrary_json(value):
    _check(value)
    _check({"smartctl": value, "ata_smart_attributes": value, "nvme_smart_health_information_log": value,
            "scsi_error_counter_log": value, "smart_status": value, "temperature": value})


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_arbitrary_text(text):
    for t in (text, "smartctl 7.3 2022-02-28\n" + text):
        try:
            _check(text_to_doc(t, rc=0, path="/dev/sdx"))
        except ParseError:
            pass
