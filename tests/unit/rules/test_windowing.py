"""Reset-aware windows of the EDAC rules without stored history: counters older than the window are
prorated to the window (the average rate since the reset), newer ones count in full."""

from __future__ import annotations

from agent.model.platform import EdacController, EdacDimm

from .boundary_support import run
from .probes_platform import system

DAY = 86400.0


def edac(ces: list[int], since_reset: float | None, uptime: float) -> list:
    mc = EdacController(controller="mc0", mc_name=None, size_bytes=None, ce_count=sum(ces), ue_count=0,
                        ce_noinfo_count=0, ue_noinfo_count=0,
                        seconds_since_reset=None if since_reset is None else int(since_reset))
    dimms = [EdacDimm(controller="mc0", dimm=f"dimm{i}", layout="dimm", label=f"DIMM_A{i}", location=None,
                      channel=str(i), ce_count=n, ue_count=0) for i, n in enumerate(ces)]
    return [mc, *dimms, system(uptime)]


def test_counters_older_than_the_window_are_prorated():
    # 1,500 errors over two days: 750 per day -> a warning, not the 1,000 a day of a critical storm
    assert run("memory.ce_storm", edac([1500], 2 * DAY, 2 * DAY), {}) == ("warning", "memory-ecc-errors")
    assert run("memory.ce_storm", edac([1500], DAY, 2 * DAY), {}) == ("critical", "memory-ecc-errors")


def test_without_a_reset_time_the_uptime_is_the_age():
    assert run("memory.ce_storm", edac([1500], None, 2 * DAY), {}) == ("warning", "memory-ecc-errors")
    assert run("memory.ce_storm", edac([1500], None, 3600.0), {}) == ("critical", "memory-ecc-errors")


def test_a_quiet_dimm_does_not_end_the_sweep():
    assert run("memory.ce_storm", edac([0, 0, 1200], 3600.0, 3600.0), {}) == ("critical", "memory-ecc-errors")


def ue(dimm_ues: list[int], mc_ue: int) -> list:
    mc = EdacController(controller="mc0", mc_name="Skylake Socket#0 IMC#0", size_bytes=None, ce_count=0,
                        ue_count=mc_ue, ce_noinfo_count=0, ue_noinfo_count=0, seconds_since_reset=3600)
    dimms = [EdacDimm(controller="mc0", dimm=f"dimm{i}", layout="dimm", label=f"DIMM_A{i}", location=None,
                      channel=str(i), ce_count=0, ue_count=n) for i, n in enumerate(dimm_ues)]
    return [mc, *dimms, system(3600.0)]


def findings_of(rule_id: str, readings) -> list:
    from agent.model import CollectorStatus, Snapshot
    from agent.rules import RULES_BY_ID
    from agent.rules.base import Params, RuleContext

    from .boundary_support import NOW

    meta = RULES_BY_ID[rule_id]
    snap = Snapshot(time=NOW, boot_id="b", readings={"x": tuple(readings)}, statuses={"x": CollectorStatus("x", ok=True)})
    return list(meta.fn(RuleContext(snapshot=snap, history=None, params=Params(meta.defaults, {}, {}), now=NOW, rule=meta)))


def test_uncorrected_errors_per_dimm_and_the_unattributed_rest():
    """Every DIMM's UEs are attributed (summed); what the controller counts beyond them is reported on
    the controller, from the first one."""
    got = [(f.device, f.evidence["errors_in_window"]) for f in findings_of("memory.uncorrected_error", ue([0, 1, 2], 4))]
    assert got == [("mc0/dimm1", 1), ("mc0/dimm2", 2), ("mc0", 1)]
    assert [f.device for f in findings_of("memory.uncorrected_error", ue([0, 1, 2], 3))] == ["mc0/dimm1", "mc0/dimm2"]
    (f,) = findings_of("memory.uncorrected_error", ue([0], 1))
    assert (f.device, f.severity.label, f.evidence["mc_name"]) == ("mc0", "critical", "Skylake Socket#0 IMC#0")
    assert f.summary == "1 uncorrected memory error(s) on controller mc0 not attributed to a DIMM"
