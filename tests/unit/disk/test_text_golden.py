"""The classic text report parser pinned on every recorded smartctl text capture: the document
``text_to_doc`` builds from each lab capture (smartctl 7.3, QEMU NVMe and SATA disks, see the lab
fixtures' SOURCE) must stay exactly what it is, field for field. A refactoring of the parser that
changes any value fails here; ``pytest --update-golden`` rewrites the file for a deliberate change
(review the diff)."""

from __future__ import annotations

import json

from agent.collectors.smart_text import text_to_doc
from tests.support.golden import check_golden

from .conftest import LAB

GOLDEN = LAB.parent / "text-docs.golden.json"


def _docs() -> dict[str, object]:
    out: dict[str, object] = {}
    for f in sorted(LAB.glob("*/*-smartctl-*.txt")):
        lines = f.read_text().splitlines()
        rc = int(lines[1].split("=", 1)[1])
        dev = f.stem.rsplit("-smartctl-", 1)[1]
        out[str(f.relative_to(LAB))] = text_to_doc("\n".join(lines[2:]), rc=rc, path=f"/dev/{dev}")
    return out


def test_every_lab_capture_parses_to_its_recorded_document(update_golden):
    docs = _docs()
    assert len(docs) >= 16 and all(isinstance(d, dict) and d["device"]["protocol"] in ("ATA", "NVMe")
                                   for d in docs.values())
    check_golden(GOLDEN, json.dumps(docs, indent=1, sort_keys=True) + "\n", update_golden)
