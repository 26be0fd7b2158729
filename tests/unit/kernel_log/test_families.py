"""Every message family, row by row: each family module's EXAMPLES, and the wider tables here
(format strings of the kernel source, the file cited next to the rows, and real published lines,
the source cited), through every transport (dmesg text, /dev/kmsg records, syslog)."""

from __future__ import annotations

import pytest

from agent.collectors.patterns import FAMILIES
from tests.unit.kernel_log.forms import FORMS, classify_as

MODULE_EXAMPLES = [(f.NAME, *row) for f in FAMILIES for row in f.EXAMPLES]


def test_every_family_has_examples():
    assert {f.NAME for f in FAMILIES} == {name for name, *_ in MODULE_EXAMPLES}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("family,lines,cls,component,device", MODULE_EXAMPLES,
                         ids=[f"{r[0]}:{r[1][0][:40]}" for r in MODULE_EXAMPLES])
def test_module_example(form, family, lines, cls, component, device):
    evs = classify_as(form, lines)
    assert evs, "no event"
    assert (evs[0].cls, evs[0].component, evs[0].device) == (cls, component, device)
