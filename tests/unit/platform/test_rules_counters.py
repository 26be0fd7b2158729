"""EDAC and AER rules: windowed, reset-aware rates from the store's history."""

from __future__ import annotations

import pytest

from agent.model import Severity
from agent.model.platform import AerCounters, EdacController, EdacDimm
from agent.state.store import Store
from tests.unit.platform.common import BOOT, NOW, record, run_rule, snap

BOOT2 = "00000000-0000-4000-8000-000000000002"
H = 3600.0


def mc(ce=0, ue=0, noinfo=0, since=None, name="mc0"):
    return EdacController(controller=name, mc_name="Skylake Socket#0 IMC#0", size_bytes=None, ce_count=ce, ue_count=ue,
                          ce_noinfo_count=noinfo, ue_noinfo_count=0, seconds_since_reset=since)


def dimm(i, ce=0, ue=0, chan=None, controller="mc0"):
    chan = str(i) if chan is None else chan
    return EdacDimm(controller=controller, dimm=f"dimm{i}", layout="dimm",
                    label=f"CPU_SrcID#0_MC#0_Chan#{chan}_DIMM#0", location=f"channel {chan} slot 0", channel=chan,
                    ce_count=ce, ue_count=ue)


@pytest.fixture
def store():
    s = Store.memory()
    yield s
    s.close()


def test_fresh_boot_counts_everything_since_reset(store):
    # booted 2 h ago (counters reset 2 h ago), 40 CEs on one DIMM: a storm within 24 h, no history needed
    s = snap(mc(ce=40, since=2 * H), dimm(0, ce=40), uptime=2 * H)
    f = run_rule("memory.ce_storm", s, store)
    assert [(x.severity, x.subject) for x in f] == [(Severity.WARNING, "CPU_SrcID#0_MC#0_Chan#0_DIMM#0")]
    assert f[0].evidence["errors_in_window"] == 40 and f[0].runbook == "memory-ecc-errors"


def test_long_uptime_without_history_is_prorated(store):
    # up 300 days with 50 CEs in total: about 0.17 per day, not a storm on agent start
    s = snap(mc(ce=50, since=300 * 86400), dimm(0, ce=50), uptime=300 * 86400)
    assert run_rule("memory.ce_storm", s, store) == []


def test_growth_in_window_from_history(store):
    old = snap(mc(ce=100, since=100 * 86400), dimm(0, ce=100), dimm(1, ce=0), uptime=100 * 86400, now=NOW - 20 * H)
    record(store, old, NOW - 20 * H)
    new = snap(mc(ce=130, since=100 * 86400 + 20 * H), dimm(0, ce=130), dimm(1, ce=0), uptime=100 * 86400 + 20 * H)
    f = run_rule("memory.ce_storm", new, store)
    assert [(x.device, x.evidence["errors_in_window"]) for x in f] == [("mc0/dimm0", 30)]
    assert run_rule("memory.ce_storm", new, store, warning=31) == []
    crit = run_rule("memory.ce_storm", new, store, critical=25)
    assert crit[0].severity == Severity.CRITICAL


def test_reboot_does_not_read_as_negative_or_lose_errors(store):
    # previous boot: 10 -> 25 within the window; reboot; now 3 again (counter restarted)
    record(store, snap(mc(ce=10, since=50 * H), dimm(0, ce=10), uptime=50 * H, now=NOW - 10 * H), NOW - 10 * H)
    record(store, snap(mc(ce=25, since=55 * H), dimm(0, ce=25), uptime=55 * H, now=NOW - 5 * H), NOW - 5 * H)
    now = snap(mc(ce=3, since=H), dimm(0, ce=3), boot=BOOT2, uptime=H)
    f = run_rule("memory.ce_storm", now, store)
    assert f[0].evidence["errors_in_window"] == 18  # 15 before the reboot + 3 after


def test_uncorrected_alerts_on_first_and_survives_reboot(store):
    s = snap(mc(ue=1, since=300 * 86400), dimm(0), dimm(1, ue=1), uptime=300 * 86400)
    f = run_rule("memory.uncorrected_error", s, store)
    assert [(x.severity, x.device) for x in f] == [(Severity.CRITICAL, "mc0/dimm1")]  # attributed: no controller dup
    record(store, snap(mc(ue=0), dimm(1, ue=0), uptime=H, now=NOW - 3 * H), NOW - 3 * H)
    record(store, snap(mc(ue=1), dimm(1, ue=1), uptime=2 * H, now=NOW - 2 * H), NOW - 2 * H)
    after = snap(mc(ue=0, since=600), dimm(1, ue=0), boot=BOOT2, uptime=600)
    f = run_rule("memory.uncorrected_error", after, store)
    assert [x.device for x in f] == ["mc0/dimm1"]
    assert run_rule("memory.uncorrected_error", after, store, now=NOW + 8 * 86400) == []


def test_unattributed_ue_and_noinfo(store):
    s = snap(mc(ue=2, noinfo=5, since=H), dimm(0), uptime=H)
    ue = run_rule("memory.uncorrected_error", s, store)
    assert [(x.subject, x.evidence["errors_in_window"]) for x in ue] == [("edac/mc0", 2)]
    ni = run_rule("memory.ce_noinfo", s, store)
    assert [(x.severity, x.device) for x in ni] == [(Severity.WARNING, "mc0")]


def test_controller_storm(store):
    dimms = [dimm(i, ce=30) for i in range(4)]
    s = snap(mc(ce=120, since=H), *dimms, uptime=H)
    f = run_rule("memory.controller_ce_storm", s, store)
    assert f[0].severity == Severity.WARNING and "across 4 DIMMs" in f[0].summary


def aer(dev, root, cor=0, nonfatal=0, fatal=0, rp=None, bits=None):
    return AerCounters(device=dev, root_port=root, is_root_port=dev == root, correctable=bits or {"RxErr": cor},
                       nonfatal={"CmpltTO": nonfatal}, fatal={"SDES": fatal}, total_correctable=cor,
                       total_nonfatal=nonfatal, total_fatal=fatal,
                       rootport_total_correctable=rp if dev == root else None, rootport_total_nonfatal=0 if dev == root else None,
                       rootport_total_fatal=0 if dev == root else None, driver="nvme")


RP = "0000:00:01.0"
EP = "0000:01:00.0"


def test_aer_correctable_rate_and_rootport(store):
    s = snap(aer(RP, RP, rp=60), aer(EP, RP, cor=60), uptime=H)
    f = run_rule("pcie.aer_correctable_rate", s, store)
    assert [(x.device, x.severity) for x in f] == [(EP, Severity.WARNING)]
    assert "behind root port 0000:00:01.0" in f[0].summary and f[0].evidence["bits"] == "RxErr=60"
    rp = run_rule("pcie.aer_rootport_rate", s, store)
    assert [(x.subject, x.evidence["devices_with_errors"]) for x in rp] == [(f"rootport/{RP}", EP)]
    # a long-running host with the same counters: averaged, below the threshold
    assert run_rule("pcie.aer_correctable_rate", snap(aer(EP, RP, cor=60), uptime=30 * 86400), store) == []


def test_aer_uncorrectable(store):
    s = snap(aer(EP, RP, nonfatal=1), uptime=30 * 86400)
    f = run_rule("pcie.aer_uncorrectable", s, store)
    assert [(x.severity, x.evidence["nonfatal_bits"]) for x in f] == [(Severity.WARNING, "CmpltTO=1")]
    f = run_rule("pcie.aer_uncorrectable", snap(aer(EP, RP, nonfatal=1, fatal=1)), store)
    assert f[0].severity == Severity.CRITICAL
    assert run_rule("pcie.aer_uncorrectable", snap(aer(EP, RP)), store) == []


def test_missing_counters_are_not_zero_errors(store):
    d = EdacDimm(controller="mc0", dimm="dimm0", layout="dimm", label=None, location=None, channel=None,
                 ce_count=None, ue_count=None)
    s = snap(EdacController("mc0", None, None, None, None, None, None, None), d)
    for rid in ("memory.ce_storm", "memory.controller_ce_storm", "memory.uncorrected_error", "memory.ce_noinfo"):
        assert run_rule(rid, s, store) == []
    assert d.subject == "mc0/dimm0"


def test_history_samples_keys():
    from agent.rules import history_samples
    keys = history_samples(snap(mc(ce=1), dimm(0, ce=1), aer(RP, RP, rp=2), aer(EP, RP, cor=1)))
    assert {"edac.ce:mc0/dimm0", "edac.mc.ce:mc0", "aer.cor:0000:01:00.0", "aer.rp.cor:0000:00:01.0"} <= set(keys)
    assert BOOT


def test_clock_jump_back_does_not_invent_or_lose_errors(store):
    # samples stored at NOW; then the clock jumps back 2 h (NTP step): the stored rows lie "in the future"
    record(store, snap(mc(ce=100, since=100 * 86400), dimm(0, ce=100), uptime=100 * 86400), NOW)
    back = NOW - 2 * H
    s = snap(mc(ce=112, since=100 * 86400), dimm(0, ce=112), uptime=100 * 86400, now=back)
    f = run_rule("memory.ce_storm", s, store, now=back)
    assert [(x.device, x.evidence["errors_in_window"]) for x in f] == [("mc0/dimm0", 12)]
    # and forward by a year: the old rows are outside every window, the since-reset estimate applies
    fwd = NOW + 365 * 86400
    s = snap(mc(ce=112, since=465 * 86400), dimm(0, ce=112), uptime=465 * 86400, now=fwd)
    assert run_rule("memory.ce_storm", s, store, now=fwd) == []
