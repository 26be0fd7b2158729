"""Defect 1 of the board-swap day: the new board must never compare itself with itself.

The daemon stores the new hardware as the newest baseline after a swap; the default "before"
(`agent recover` and `agent baseline diff` alike) must still be the old board's known-good
version, mainboard-swap must pick the newest version of a *different* board and say which and
how old, and a "before" equal to the live board is a loud warning."""

from __future__ import annotations

from click.testing import CliRunner

from agent import baseline as bl
from agent import baseline_select as sel
from agent.cli import cli
from agent.state.store import Store
from tests.support.enriched import Enriched
from tests.unit.recovery.hosttree import NEW_MACS, build

DAY = 86400.0
T0 = 1_764_003_600.0


def _data(serial: str, macs: dict[str, str], uuid: str = "00000000-0000-0000-0000-3cecef000001", pkg: str = "1"):
    return {"format_version": 1, "dmi": {"board_serial": serial, "product_uuid": uuid},
            "nics": {"physical": {n: {"mac": m} for n, m in macs.items()}}, "software": {"packages": {"x": pkg}}}


OLD = {"eno1": "3c:ec:ef:00:00:01", "eno2": "3c:ec:ef:00:00:02"}


def _rows():
    return [
        {"id": "a-old", "captured": T0 - 30 * DAY, "known_good": True, "data": _data("OLDBOARD0001", OLD)},
        {"id": "b-old", "captured": T0 - 10 * DAY, "known_good": False, "data": _data("OLDBOARD0001", OLD, pkg="2")},
        {"id": "c-new", "captured": T0 - 1 * DAY, "known_good": False, "data": _data("NEWBOARD0002", NEW_MACS,
                                                                                     uuid="11111111-0000-0000-0000-000000000002")},
    ]


def test_identity_differences_name_serial_uuid_and_macs():
    a, b = sel.identity(_rows()[0]["data"]), sel.identity(_rows()[2]["data"])
    diffs = sel.differences(a, b)
    assert diffs == ["board serial OLDBOARD0001 -> NEWBOARD0002",
                     "system UUID 00000000-0000-0000-0000-3cecef000001 -> 11111111-0000-0000-0000-000000000002",
                     "NIC MACs 3c:ec:ef:00:00:01, 3c:ec:ef:00:00:02 -> 3c:ec:ef:11:11:01, 3c:ec:ef:11:11:02"]
    only_mac = _data("OLDBOARD0001", {"eno1": "3c:ec:ef:00:00:01", "eno2": "3c:ec:ef:99:99:99"})
    assert not sel.same_hardware(a, sel.identity(only_mac))  # a NIC MAC alone makes it other hardware
    assert sel.same_hardware(a, sel.identity({"dmi": {}, "nics": {}}))  # unknown is not a difference


def test_post_swap_capture_is_never_the_default_before():
    live = sel.identity(_rows()[2]["data"])
    c = sel.choose(_rows(), live=live, now=T0)
    assert c.ident == "a-old"  # newest known-good, not the newer post-swap capture
    assert "live hardware differs: board serial OLDBOARD0001 -> NEWBOARD0002" in c.note
    # no known-good at all: the stored lineage, still never the other board's capture
    rows = [dict(r, known_good=False) for r in _rows()]
    c = sel.choose(rows, live=live, now=T0)
    assert c.ident == "b-old" and any("no baseline is marked known-good" in w for w in c.warnings)


def test_mainboard_swap_takes_the_newest_other_board_and_says_which_and_how_old():
    rows = _rows()
    rows[2]["known_good"] = True  # someone marked the new board known-good already
    live = sel.identity(rows[2]["data"])
    assert sel.choose(rows, live=live, now=T0).ident == "c-new"  # plain default: newest known-good
    c = sel.choose(rows, live=live, other_board=True, now=T0)
    assert c.ident == "a-old"
    assert "board serial OLDBOARD0001" in c.note and "30 days old" in c.note and "different board" in c.note
    assert not c.warnings


def test_before_equal_to_the_live_board_is_a_loud_warning():
    live = sel.identity(_rows()[0]["data"])
    c = sel.choose(_rows()[:2], live=live, other_board=True, now=T0)
    assert c.ident == "a-old"
    assert c.warnings and c.warnings[0].startswith("WARNING: the chosen \"before\" is the LIVE board")


def test_auto_known_good_boundaries():
    rows = [{"id": "x", "captured": T0, "known_good": False, "data": _data("OLDBOARD0001", OLD)}]
    assert sel.auto_known_good(rows, now=T0 + 3 * DAY - 1, after_days=3, active_findings=0) is None
    assert sel.auto_known_good(rows, now=T0 + 3 * DAY, after_days=3, active_findings=0) == "x"
    assert sel.auto_known_good(rows, now=T0 + 9 * DAY, after_days=3, active_findings=1) is None
    assert sel.auto_known_good(rows, now=T0 + 9 * DAY, after_days=0, active_findings=0) is None
    # a different board than the last known-good one needs a person (MB-31b / --known-good)
    swapped = _rows()
    swapped[2]["captured"] = T0 - 9 * DAY
    swapped[1]["captured"] = T0 - 20 * DAY
    assert sel.auto_known_good(swapped, now=T0, after_days=3, active_findings=0) is None
    same = _rows()[:2]
    assert sel.auto_known_good(same, now=T0, after_days=3, active_findings=0) == "b-old"


def test_collector_marks_known_good_after_stable_days_without_findings(tmp_path):
    from agent.collectors.baseline import BaselineCollector
    from agent.config import CollectorConfig
    from agent.host import Host, HostPaths

    fs, runner = build(tmp_path)
    now = {"t": T0}
    host = Host(paths=HostPaths(rootfs=str(fs.root)), runner=runner, clock=lambda: now["t"])
    store = Store(tmp_path / "state.db")
    col = Enriched(BaselineCollector(host, CollectorConfig(), store))  # as the daemon runs it
    col.collect()
    bs = bl.BaselineStore(store)
    assert [r["known_good"] for r in bs.list()] == [False]
    store.execute("INSERT INTO findings (rule, subject, component, device, severity, summary, evidence, first_seen, "
                  "last_seen) VALUES ('disk.x', 's', 'disk:s', 'sda', 'warning', 'x', '{}', 0, 0)")
    now["t"] += 3 * DAY
    col.collect()
    assert [r["known_good"] for r in bs.list()] == [False]  # an active warning blocks it
    store.execute("UPDATE findings SET resolved = 1")
    now["t"] += 900
    col.collect()
    assert [r["known_good"] for r in bs.list()] == [True]
    store.close()


def _invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_diff_and_recover_default_to_the_old_board_after_the_swap(tmp_path, monkeypatch, make_host):
    """Before the fix `agent baseline diff` compared with the newest stored capture (the new board
    itself) and printed `no changes`."""
    state = {"kw": {}, "n": 0}

    def fake(app):
        state["n"] += 1
        fs, runner = build(tmp_path / f"live{state['n']}", **state["kw"])
        return make_host(fs.root, runner=runner)
    monkeypatch.setattr("agent.cli.baseline._host", fake)
    sd = ("--state-dir", str(tmp_path / "state"))
    assert _invoke("baseline", "capture", *sd).exit_code == 0  # the old board, not marked known-good
    state["kw"] = {"board_serial": "NEWBOARD0002", "macs": NEW_MACS, "efi": "after"}
    assert _invoke("baseline", "capture", *sd).output.startswith("stored baseline")  # the daemon saw the new board
    r = _invoke("baseline", "diff", "--section", "dmi", *sd)
    assert r.exit_code == 1, r.output
    assert "~ dmi.board_serial: OLDBOARD0001 -> NEWBOARD0002" in r.output
    r = _invoke("recover", "show", "mainboard-swap", "--filled", *sd)
    assert r.exit_code == 0
    assert "before: baseline" in r.output and "board serial OLDBOARD0001" in r.output
    assert "NEWBOARD0002" not in r.output.split("live hardware differs", 1)[0]


def test_new_board_marked_known_good_too_early_still_compares_with_the_old_board():
    rows = [dict(r, known_good=False) for r in _rows()]
    rows[2]["known_good"] = True  # `baseline capture --known-good` ran on the new board before the run
    c = sel.choose(rows, live=sel.identity(rows[2]["data"]), other_board=True, now=T0)
    assert c.ident == "b-old" and "not marked known-good" in c.note and not any("LIVE" in w for w in c.warnings)
