"""Every numeric parameter of every rule is pinned at its boundary: a value at the threshold and one
just below give the expected severity and runbook. The thresholds are read from the rule metadata,
so this fails when a comparison or a default changes without the test following."""

from __future__ import annotations

import pytest

from agent.rules import RULES

from .boundary_support import check
from .probes_disk import PROBES as DISK
from .probes_events import PROBES as EVENTS
from .probes_platform import PROBES as PLATFORM
from .probes_readiness import PROBES as READINESS
from .probes_verdict import PROBES as VERDICT

PROBES = [*DISK, *PLATFORM, *EVENTS, *VERDICT, *READINESS]
BY_ID = {p.id: p for p in PROBES}

# Parameters without a boundary probe yet, each with the reason (the list may only shrink).
_UE_WINDOW = ("uncorrected errors count while any is in this boot's counter (max with the current value); the "
              "window only matters across reboots through stored samples: tested in test_rules_counters.py")
NOT_PROBED: dict[str, str] = {
    "board.health:critical_points": "declared (shared defaults with board.failing) but never read by board.health",
    "memory.uncorrected_error:window_seconds": _UE_WINDOW,
    "pcie.aer_uncorrectable:window_seconds": _UE_WINDOW,
}


def numeric_params():
    for m in RULES:
        for k, v in m.defaults.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                yield f"{m.id}:{k}"


def test_every_numeric_parameter_has_a_probe():
    missing = [p for p in numeric_params() if p not in BY_ID and p not in NOT_PROBED]
    assert not missing, f"numeric rule parameters without a boundary probe: {missing}"
    stale = [p for p in NOT_PROBED if p in BY_ID or p not in set(numeric_params())]
    assert not stale, f"NOT_PROBED lists parameters that are probed or gone: {stale}"
    assert len(BY_ID) == len(PROBES), "one probe per (rule, parameter)"


@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.id)
def test_boundary(probe):
    check(probe)
