"""The board verdict's evidence: each signal class counts at most its cap (agent/rules/board_verdict.py
SIGNALS): a storm in one class cannot make a mainboard verdict on its own, however loud it is.

Every case below gives one class more raw points than its cap (plus nothing else), so the
finding's points equal the cap exactly; one point more or less in the table changes the result.
Then what makes a DIMM count for the memory spread: one corrected error in the window, read
against the controller's reset time (else averaged over the uptime), on every controller.
"""

from __future__ import annotations

import pytest

from agent.model import HwmonSensor
from agent.model.platform import AerCounters, EdacController, EdacDimm, IpmiSelEntry, IpmiSensor
from agent.state.store import Store
from tests.unit.platform.common import NOW, run_rule, snap

H = 3600.0


def aer(dev, root, cor=0):
    return AerCounters(device=dev, root_port=root, is_root_port=dev == root, correctable={"RxErr": cor}, nonfatal={},
                       fatal={}, total_correctable=cor, total_nonfatal=0, total_fatal=0)


def sel(rid, kind, sensor, stype, event, sev="critical"):
    return IpmiSelEntry(record_id=rid, key=str(rid), bmc_time="", time=NOW - H, time_source="agent", sensor_type=stype,
                        sensor=sensor, event=event, asserted=True, detail="", kind=kind, severity=sev)


CASES = {
    # two devices behind 00:01.0 (30) and errors under a second root port (20) = 50
    "pcie_spread": [aer("0000:00:01.0", "0000:00:01.0"), aer("0000:01:00.0", "0000:00:01.0", cor=4),
                    aer("0000:01:00.1", "0000:00:01.0", cor=2), aer("0000:00:1c.0", "0000:00:1c.0"),
                    aer("0000:02:00.0", "0000:00:1c.0", cor=1)],
    # a 12 V rail below its critical limit at the BMC (25) and an SEL voltage event (25) = 50
    "power": [IpmiSensor(name="P12V", kind="voltage", value=10.7, unit="Volts", state="lcr", lcr=11.1, ucr=12.9),
              sel(1, "voltage", "P12V", "Voltage", "Lower Critical going low")],
    # a VRM temperature at the BMC over its critical limit (15) and its SEL record (15) = 30
    "vrm_temperature": [IpmiSensor(name="CPU1 VRM Temp", kind="temperature", value=112.0, unit="degrees C", state="ucr"),
                        sel(2, "temperature", "CPU1 VRM Temp", "Temperature", "Upper Critical going high")],
    # a low VBAT at the BMC (10) and an SEL battery-low record (10) = 20
    "cmos_battery": [IpmiSensor(name="VBAT", kind="voltage", value=2.4, unit="Volts", state="lcr"),
                     sel(3, "battery", "VBAT", "Battery", "Low")],
    # CATERR (30) and a critical PCI SERR (30) = 60
    "platform_errors": [sel(4, "caterr", "CPU0", "Processor", "IERR"),
                        sel(5, "bus_error", "PCI", "Critical Interrupt", "PCI SERR")],
}


# the caps docs/design/platform.md states; written out here, not read from the module
CAPS = {"pcie_spread": 40, "power": 30, "vrm_temperature": 15, "cmos_battery": 10, "platform_errors": 40}


@pytest.mark.parametrize("signal", sorted(CASES))
def test_one_class_counts_at_most_its_cap(signal):
    store = Store.memory()
    try:
        s = snap(*CASES[signal], uptime=2 * H)
        cap = CAPS[signal]
        failing = run_rule("board.failing", s, store)
        if cap >= 30:  # a cap at or above warning_points: a warning, never critical from one class
            (f,) = failing
            assert f.severity.label == "warning"
        else:  # below warning_points, and one class alone is not board.health either
            assert failing == [] and run_rule("board.health", s, store) == []
            (f,) = run_rule("board.failing", s, store, warning_points=cap)
        assert f.evidence["signals"] == signal
        assert f.evidence["points"] == cap and f.evidence[f"points_{signal}"] == cap
        assert f.evidence["health"] == round(1 - cap / 100, 3)
    finally:
        store.close()



# ---- memory spread: what counts as a DIMM with errors -------------------------------------------------

def _mc(name, ce, since_reset):
    return EdacController(controller=name, mc_name=None, size_bytes=None, ce_count=ce, ue_count=0, ce_noinfo_count=0,
                          ue_noinfo_count=0, seconds_since_reset=since_reset)


def _dimm(mc, i, ce, chan, label=True):
    return EdacDimm(controller=mc, dimm=f"dimm{i}", layout="dimm",
                    label=f"CPU_SrcID#0_MC#0_Chan#{chan}_DIMM#{i % 2}" if label else None,
                    location=f"channel {chan} slot {i % 2}", channel=str(chan), ce_count=ce, ue_count=0)


def _memory(*readings, uptime):
    store = Store.memory()
    try:
        s = snap(*readings, uptime=uptime)
        (f,) = run_rule("board.failing", s, store, warning_points=1) or [None]
        return f
    finally:
        store.close()


def test_one_corrected_error_on_each_of_two_channels_is_spread():
    # the boundary: one CE in the window makes a DIMM count (zero does not)
    f = _memory(_mc("mc0", 2, 2 * H), _dimm("mc0", 0, 1, 0), _dimm("mc0", 1, 1, 1), uptime=2 * H)
    assert f.evidence["points_memory_spread"] == 30 and "2 DIMMs across channels 0,1" in f.evidence["memory_spread"]
    assert _memory(_mc("mc0", 1, 2 * H), _dimm("mc0", 0, 1, 0), _dimm("mc0", 1, 0, 1), uptime=2 * H) is None


def test_a_dimm_without_a_label_is_named_by_its_sysfs_name():
    f = _memory(_mc("mc0", 2, 2 * H), _dimm("mc0", 0, 1, 0, label=False), _dimm("mc0", 1, 1, 1, label=False),
                uptime=2 * H)
    assert f.evidence["memory_spread"].endswith("(dimm0, dimm1)")


def test_every_controller_is_looked_at_not_only_the_first():
    # mc0: errors on one DIMM only (that DIMM's business); mc1: spread over two channels
    f = _memory(_mc("mc0", 5, 2 * H), _dimm("mc0", 0, 5, 0), _mc("mc1", 2, 2 * H), _dimm("mc1", 2, 1, 0),
                _dimm("mc1", 3, 1, 1), uptime=2 * H)
    assert f.evidence["memory_spread"].startswith("mc1: corrected errors on 2 DIMMs")


def test_counts_are_read_against_the_controllers_reset_time_not_the_uptime():
    # counters reset 2 h ago on a host up 30 days: all of their errors fall in the 24 h window
    f = _memory(_mc("mc0", 2, 2 * H), _dimm("mc0", 0, 1, 0), _dimm("mc0", 1, 1, 1), uptime=30 * 24 * H)
    assert f is not None and f.evidence["points_memory_spread"] == 30
    # no reset time: the counts are averaged over the uptime; 10 CEs in 30 days are < 1 a day per DIMM
    old = _memory(_mc("mc0", 20, None), _dimm("mc0", 0, 10, 0), _dimm("mc0", 1, 10, 1), uptime=30 * 24 * H)
    assert old is None
    fresh = _memory(_mc("mc0", 20, None), _dimm("mc0", 0, 10, 0), _dimm("mc0", 1, 10, 1), uptime=2 * H)
    assert fresh is not None and fresh.evidence["points_memory_spread"] == 30


def test_one_unattributed_corrected_error_counts():
    # EDAC could not name the DIMM (ce_noinfo_count): the controller's own evidence, from one error on
    mc = EdacController(controller="mc0", mc_name=None, size_bytes=None, ce_count=1, ue_count=0, ce_noinfo_count=1,
                        ue_noinfo_count=0, seconds_since_reset=int(2 * H))
    f = _memory(mc, uptime=2 * H)
    assert f.evidence["points_memory_spread"] == 15
    assert f.evidence["memory_spread"] == "mc0: 1 corrected errors without DIMM attribution"
    none = EdacController(controller="mc0", mc_name=None, size_bytes=None, ce_count=0, ue_count=0, ce_noinfo_count=0,
                          ue_noinfo_count=0, seconds_since_reset=int(2 * H))
    assert _memory(none, uptime=2 * H) is None


def test_one_unattributed_uncorrected_error_adds_ten():
    mc = EdacController(controller="mc0", mc_name=None, size_bytes=None, ce_count=0, ue_count=1, ce_noinfo_count=0,
                        ue_noinfo_count=1, seconds_since_reset=int(2 * H))
    f = _memory(mc, uptime=2 * H)
    assert f.evidence["points_memory_spread"] == 10
    assert f.evidence["memory_spread"] == "mc0: 1 uncorrected errors without DIMM attribution"


# ---- PCIe spread: which devices count ---------------------------------------------------------------

def _aer(dev, root, cor=0, nonfatal=0):
    return AerCounters(device=dev, root_port=root, is_root_port=dev == root, correctable={"RxErr": cor} if cor else {},
                       nonfatal={"CmpltTO": nonfatal} if nonfatal else {}, fatal={}, total_correctable=cor,
                       total_nonfatal=nonfatal, total_fatal=0)


PORT = "0000:00:1c.0"


def test_uncorrectable_non_fatal_errors_on_two_devices_behind_one_port_are_spread():
    f = _memory(_aer(PORT, PORT), _aer("0000:01:00.0", PORT, nonfatal=2), _aer("0000:01:00.1", PORT, nonfatal=1),
                uptime=2 * H)
    assert f.evidence["points_pcie_spread"] == 30
    assert f.evidence["pcie_spread"] == f"root port {PORT}: AER errors on 2 devices (0000:01:00.0, 0000:01:00.1)"


def test_the_root_ports_own_errors_are_not_a_second_device():
    assert _memory(_aer(PORT, PORT, cor=40), _aer("0000:01:00.0", PORT, cor=3), uptime=2 * H) is None


def test_aer_counts_are_averaged_over_a_long_uptime():
    # 10 correctable errors per device since boot 30 days ago: < 1 a day, not a spreading fault
    old = [_aer(PORT, PORT), _aer("0000:01:00.0", PORT, cor=10), _aer("0000:01:00.1", PORT, cor=10)]
    assert _memory(*old, uptime=30 * 24 * H) is None
    assert _memory(*old, uptime=2 * H).evidence["points_pcie_spread"] == 30


def test_fatal_errors_count_and_errors_under_two_root_ports_add_twenty():
    # one device with fatal errors under each of two root ports: no port has two devices, 20 points
    other = "0000:00:1d.0"
    fatal = AerCounters(device="0000:02:00.0", root_port=other, is_root_port=False, correctable={}, nonfatal={},
                        fatal={"SurpriseDown": 1}, total_correctable=0, total_nonfatal=0, total_fatal=1)
    f = _memory(_aer(PORT, PORT), _aer("0000:01:00.0", PORT, cor=2), _aer(other, other), fatal, uptime=2 * H)
    assert f.evidence["points_pcie_spread"] == 20
    assert f.evidence["pcie_spread"] == f"AER errors under 2 root ports ({PORT}, {other})"


# ---- the kernel-log window, SEL, hwmon limits -----------------------------------------------------------

def _window(*buckets):
    from agent.model.events import EventWindow

    return EventWindow(as_of=NOW, window_seconds=86400.0, current_boot="b", buckets=tuple(buckets), boots=())


def test_only_uncorrected_machine_checks_and_platform_nmis_are_platform_errors():
    # corrected MCEs, AER corrected errors and a link reset on two devices are other rules' business
    benign = _window(("mce.corrected", "cpu", "cpu0", "b", NOW - 600, 40, 40),
                     ("aer.corrected", "pcie", "0000:01:00.0", "b", NOW - 600, 9, 9),
                     ("aer.corrected", "pcie", "0000:02:00.0", "b", NOW - 600, 9, 9))
    assert _memory(benign, uptime=2 * H) is None
    (f,) = [_memory(_window(("mce.uncorrected", "cpu", "cpu0", "b", NOW - 600, 1, 1)), uptime=2 * H)]
    assert f.evidence["points_platform_errors"] == 15
    assert f.evidence["platform_errors"] == "1 uncorrected machine-check / firmware (GHES) error record(s)"
    (g,) = [_memory(_window(("nmi.serr", "board", "nmi", "b", NOW - 600, 1, 1)), uptime=2 * H)]
    assert g.evidence["points_platform_errors"] == 30 and g.evidence["platform_errors"] == "1 platform NMI(s) (PCI SERR / IOCHK)"


def test_a_sel_processor_error_adds_fifteen():
    f = _memory(sel(6, "cpu_error", "CPU1", "Processor", "FRB2/Hang in POST failure"), uptime=2 * H)
    assert f.evidence["points_platform_errors"] == 15


def _volts(value, lo=1.0, hi=1.4, label="Vcore"):
    return HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="in0", kind="in", label=label,
                       value=value, min=lo, max=hi)


def test_a_rail_exactly_at_its_min_or_max_is_in_range():
    assert _memory(_volts(1.0), uptime=2 * H) is None and _memory(_volts(1.4), uptime=2 * H) is None
    f = _memory(_volts(0.99), uptime=2 * H)
    assert f.evidence["points_power"] == 5 and "outside 1-1.4 V" in f.evidence["power"]


def _vrm_temp(value, crit=100.0):
    return HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="temp7", kind="temp", label="VRM",
                       value=value, crit=crit)


def test_a_vrm_temperature_counts_from_its_critical_limit_and_correlates_resets():
    assert _memory(_vrm_temp(99.9), uptime=2 * H) is None
    f = _memory(_vrm_temp(100.0), uptime=2 * H)
    assert f.evidence["points_vrm_temperature"] == 15
    # an unexpected reset together with an overheating VRM: 30 points for the reset, not 10
    g = _memory(_vrm_temp(100.0), sel(7, "watchdog", "WDT", "Watchdog2", "Hard reset", sev="warning"), uptime=2 * H)
    assert g.evidence["points_resets"] == 30


def test_link_down_on_two_devices_is_pcie_spread():
    f = _memory(_window(("pcie.link_down", "pcie", "0000:01:00.0", "b", NOW - 600, 1, 1),
                        ("pcie.dpc", "pcie", "0000:02:00.0", "b", NOW - 600, 1, 1)), uptime=2 * H)
    assert f.evidence["points_pcie_spread"] == 30


def test_bmc_and_sel_points_per_record():
    bmc_vrm = IpmiSensor(name="VRM1 Temp", kind="temperature", value=96.0, unit="degrees C", state="unc")
    assert _memory(bmc_vrm, uptime=2 * H).evidence["points_vrm_temperature"] == 8  # non-critical: 8
    bmc_vrm_crit = IpmiSensor(name="VRM1 Temp", kind="temperature", value=112.0, unit="degrees C", state="ucr")
    assert _memory(bmc_vrm_crit, uptime=2 * H).evidence["points_vrm_temperature"] == 15  # critical: 15
    sel_vrm = sel(8, "temperature", "VRM1 Temp", "Temperature", "Upper Critical going high")
    assert _memory(sel_vrm, uptime=2 * H).evidence["points_vrm_temperature"] == 15
    serr = sel(9, "bus_error", "PCI", "Critical Interrupt", "PCI SERR")
    assert _memory(serr, uptime=2 * H).evidence["points_platform_errors"] == 30
    corr = sel(10, "bus_error", "PCI", "Critical Interrupt", "Bus Correctable Error", sev="warning")
    assert _memory(corr, uptime=2 * H).evidence["points_platform_errors"] == 10


def test_vbat_counts_above_a_tenth_of_a_volt_only():
    # a reading of 0.1 V or less is no battery sensor wired (or no battery), not a weak battery
    def vb(v):
        return HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="in8", kind="in", label="VBAT",
                           value=v)
    assert _memory(vb(0.1), uptime=2 * H) is None
    assert _memory(vb(0.11), uptime=2 * H).evidence["points_cmos_battery"] == 10


def test_a_soft_rail_excursion_also_correlates_resets():
    g = _memory(_volts(0.9), sel(11, "watchdog", "WDT", "Watchdog2", "Hard reset", sev="warning"), uptime=2 * H)
    assert g.evidence["points_resets"] == 30


def test_the_summary_leads_with_the_strongest_evidence():
    store = Store.memory()
    try:
        s = snap(sel(4, "caterr", "CPU0", "Processor", "IERR"), _volts(0.9), uptime=2 * H)  # 30 and 5 points
        (f,) = run_rule("board.failing", s, store)
        assert f.summary.startswith("mainboard suspected (health 0.65): SEL: ")
        assert f.summary.index("SEL:") < f.summary.index("nct6775 Vcore")
    finally:
        store.close()


def test_only_previous_boots_without_a_clean_stop_are_unexpected_resets():
    from agent.model.events import BootRecord, EventWindow

    def window(*boots):
        return EventWindow(as_of=NOW, window_seconds=86400.0, current_boot="b2", buckets=(), boots=boots)
    volts = IpmiSensor(name="P12V", kind="voltage", value=11.5, unit="Volts", state="unc")  # 10 points, power
    clean = window(BootRecord("b1", NOW - 5 * H, NOW - 3 * H, NOW - 3 * H), BootRecord("b2", NOW - 2 * H, NOW, None))
    f = _memory(clean, volts, uptime=2 * H)
    assert "points_resets" not in f.evidence
    unclean = window(BootRecord("b1", NOW - 5 * H, NOW - 3 * H, None), BootRecord("b2", NOW - 2 * H, NOW, None))
    g = _memory(unclean, volts, uptime=2 * H)
    assert g.evidence["points_resets"] == 30
    assert g.evidence["resets"] == "1 unexpected reset(s) together with power or VRM temperature anomalies"


def test_a_battery_sensor_does_not_hide_the_rails_after_it():
    vbat_ok = HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="in8", kind="in", label="VBAT",
                          value=3.1)
    f = _memory(vbat_ok, _volts(0.9), uptime=2 * H)
    assert f.evidence["points_power"] == 5 and "cmos_battery" not in f.evidence["signals"]


def test_a_rail_beyond_its_critical_limit_counts_25_and_correlates_resets():
    crit = HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="in1", kind="in", label="+12V",
                       value=10.8, lcrit=11.0, crit=13.0)
    g = _memory(crit, sel(12, "watchdog", "WDT", "Watchdog2", "Hard reset", sev="warning"), uptime=2 * H)
    assert g.evidence["points_power"] == 25 and g.evidence["points_resets"] == 30


def test_io_errors_on_two_disks_add_25_and_on_three_35():
    two = _window(("ata.error", "disk:sda", "sda", "b", NOW - 600, 3, 3),
                  ("block.io_error", "disk:sdb", "sdb", "b", NOW - 300, 2, 2))
    assert _memory(two, uptime=2 * H).evidence["points_multi_disk_io"] == 25
    assert _memory(_window(("ata.error", "disk:sda", "sda", "b", NOW - 600, 3, 3)), uptime=2 * H) is None


def test_a_sel_vrm_temperature_correlates_resets():
    g = _memory(sel(13, "temperature", "VRM1 Temp", "Temperature", "Upper Critical going high"),
                sel(14, "watchdog", "WDT", "Watchdog2", "Hard reset", sev="warning"), uptime=2 * H)
    assert g.evidence["points_resets"] == 30


def test_a_rail_exactly_at_its_critical_low_limit_is_critical():
    at = HwmonSensor(chip="platform_nct6775_656", chip_name="nct6775", sensor="in1", kind="in", label="+12V",
                     value=11.0, lcrit=11.0, crit=13.0)
    assert _memory(at, uptime=2 * H).evidence["points_power"] == 25


def test_each_sel_reset_record_counts_once():
    g = _memory(sel(15, "watchdog", "WDT", "Watchdog2", "Hard reset", sev="warning"),
                sel(16, "os_stop", "OS", "OS Critical Stop", "Run-time critical stop", sev="warning"),
                IpmiSensor(name="P12V", kind="voltage", value=11.5, unit="Volts", state="unc"), uptime=2 * H)
    assert g.evidence["resets"] == "2 unexpected reset(s) together with power or VRM temperature anomalies"
