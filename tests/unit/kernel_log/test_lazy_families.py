"""The classifier imports a family's parser when the first message of that family arrives
(agent.collectors.patterns.heads keeps the prefilter's message starts apart from the parsers).
Lazily loaded families must classify exactly as all of them loaded up front: every table row and
every lab capture is classified in fresh processes, one lazy and one eager, and the events compared."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

from agent.collectors.patterns import FAMILIES, heads
from tests.unit.kernel_log import test_families as tables

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "tests" / "fixtures" / "kernel_log" / "lab"
PACKAGE = "agent.collectors.patterns."
FAMILY_MODULES = {PACKAGE + name for name in heads.NAMES}

RUN = """
import json, sys
from agent.collectors.patterns.classifier import Classifier, load_families
from tests.unit.kernel_log.forms import FORMS, classify_as
inputs = json.load(open(sys.argv[1]))
if sys.argv[2] == "eager":
    load_families()
out = []
for lines in inputs:
    for form in FORMS:
        out.append([repr(e) for e in classify_as(form, lines)])
    c = Classifier(source="dmesg")
    c.scan_text(lines)  # a capture as one text stream too
    c.flush()
    out.append([repr(e) for e in c.take()])
loaded = sorted(m for m in sys.modules if m.startswith("agent.collectors.patterns.") and m.rsplit(".", 1)[1] not in
                ("classifier", "heads", "record", "replay"))
json.dump({"events": out, "loaded": loaded}, sys.stdout)
"""


def classify_in_fresh_process(tmp_path: Path, inputs: list[list[str]], mode: str) -> dict:
    f = tmp_path / f"inputs-{mode}.json"
    f.write_text(json.dumps(inputs))
    r = subprocess.run([sys.executable, "-c", RUN, str(f), mode], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


def all_inputs() -> list[list[str]]:
    rows = [list(row[1]) for row in tables.MODULE_EXAMPLES]
    for name in dir(tables):
        if name.endswith("_ROWS"):
            rows += [list(row[0]) for row in getattr(tables, name)]
    rows += [p.read_text(errors="replace").splitlines() for p in sorted(LAB.glob("*.txt"))]
    return rows


def test_lazy_loading_classifies_exactly_as_eager(tmp_path):
    inputs = all_inputs()
    random.Random(20).shuffle(inputs)  # families load in an arbitrary order
    assert len(inputs) > 120
    lazy = classify_in_fresh_process(tmp_path, inputs, "lazy")
    eager = classify_in_fresh_process(tmp_path, inputs, "eager")
    assert lazy["events"] == eager["events"]
    assert sum(map(len, lazy["events"])) > 500  # it did classify
    assert set(lazy["loaded"]) == FAMILY_MODULES  # every family was needed, and loaded on the way


def test_a_family_is_imported_only_by_its_first_message(tmp_path):
    boot = (LAB / "mce-corrected.before-dmesg.txt").read_text().splitlines()  # a real boot: no hardware event
    thermal = ["thermal thermal_zone0: critical temperature reached, shutting down"]
    got = classify_in_fresh_process(tmp_path, [boot], "lazy")
    assert all(ev == [] for ev in got["events"])
    # its prefilter hits ("ata6: SATA link down" of empty ports, "pcieport ...: AER: enabled") are
    # what the two parsers then look at and drop; the other twelve families are never imported
    assert got["loaded"] == [PACKAGE + "ata", PACKAGE + "pci"]
    got = classify_in_fresh_process(tmp_path, [boot, thermal], "lazy")
    assert got["loaded"] == [PACKAGE + "ata", PACKAGE + "pci", PACKAGE + "thermal"]
    assert "thermal.critical" in got["events"][-1][0]


def test_families_define_no_name_twice_and_keep_their_heads():
    """What makes the load order irrelevant: no family's parser defines a name another defines."""
    names = Counter(k for f in FAMILIES for k in vars(f.Parser) if not k.startswith("__"))
    assert [k for k, n in names.items() if n > 1] == []
    assert [f.NAME for f in FAMILIES] == list(heads.NAMES)
    assert all(f.HEAD == heads.HEADS[f.NAME] for f in FAMILIES)
