"""A state database written by the release before ``agent/state/`` keeps working: acks, finding
lifecycles, counter history, cursors, event windows, disk baselines and slots, host baselines.

``tests/fixtures/state/prev_release.db`` was written by that release's code (the generator next to
it records how); the test works on a copy so the fixture never changes."""

from __future__ import annotations

import shutil

import pytest

from agent.baseline import BaselineStore
from agent.state.disks import STATE_SCRIPTS, CounterState, SlotTracker
from agent.state.events import EventStore
from agent.state.store import History, Store
from tests.conftest import FIXTURES

T0 = 1_760_000_000.0
SID = "5 0014ee 2b1c2d3e4"


@pytest.fixture
def store(tmp_path):
    db = tmp_path / "state.db"
    shutil.copy(FIXTURES / "state" / "prev_release.db", db)
    st = Store(db, clock=lambda: T0 + 90000)
    yield st
    st.close()


def test_core_tables_read_back(store):
    assert store.acks() == {("disk.reallocated_sectors", "disk:WDC-1"): "tok-1"}
    assert store.finding_times() == {("disk.reallocated_sectors", "disk:WDC-1"): (T0, T0 + 60)}
    assert store.get("kernel_log.kmsg_cursor") == {"boot_id": "boot-b", "seq": 1234}
    assert store.get("ipmi.sel")["version"] == 1
    h = History(store, T0 + 7200)
    # 1 -> 4 in boot-a, then a new boot whose counter restarted at 1: growth 3 + 1
    assert h.delta("edac.mc0.ce", 7200) == 4.0
    assert h.first("edac.mc0.ce") == 1.0 and h.max("edac.mc0.ce") == 4.0


def test_events_and_boots_read_back(store):
    ev = EventStore(store)
    assert [b.boot_id for b in ev.boots()] == ["boot-a", "boot-b"]
    assert ev.previous_boot("boot-b").clean_stop == T0 + 3600
    win = ev.window(T0 + 8000, 86400.0, "boot-b")
    assert {s.cls for s in win.recent} == {"mce.corrected", "aer.corrected", "sel.power"}
    assert dict(win.parents) == {"0000:01:00.0": "0000:00:01.0"}
    assert sum(b[5] for b in win.buckets) == 3
    assert [e["class"] for e in ev.query(cls="sel")] == ["sel.power"]


def test_disk_state_reads_back_and_continues(store):
    store.migrate("disk", STATE_SCRIPTS)  # already at the newest version: a no-op
    counters = CounterState(store)
    counters.load()
    assert counters.baseline[SID]["ata_5"] == (0.0, T0)
    assert counters.history[SID]["ata_5"] == [(T0, 0.0), (T0 + 86400, 8.0)]
    slots = SlotTracker(store)
    slots.load()
    assert slots.slots["pci-0000:00:17.0-ata-1"]["id"] == SID
    assert store.execute("SELECT target, last_success FROM disk_devices") == [("/dev/sda#sat", T0 + 86400)]
    assert store.execute("SELECT id, kind, started FROM disk_selftests") == [(SID, "short", T0 + 3600)]


def test_host_baselines_read_back(store):
    bs = BaselineStore(store)
    (row,) = bs.list()
    assert row["captured"] == T0 and not row["known_good"]
    assert bs.latest()["hostname"] == "db-01"


def test_enrichment_continues_the_previous_release_disk_history(store):
    """The enrichment step picks up the old release's baseline: the disk's growth since then is seen."""
    from agent.model.disk import AtaAttribute, SmartDevice
    from agent.state.enrich import Enricher

    d = SmartDevice(device="sda", path="/dev/sda", dev_type="sat", protocol="ATA", model="WDC WD20EFRX",
                    serial="WD-1", wwn="5 0014ee 2b1c2d3e4", read_status="ok", read_time=T0 + 90000,
                    ata_attributes=(AtaAttribute(id=5, name="Reallocated_Sector_Ct", value=198, worst=198,
                                                 threshold=140, raw=24, raw_string="24", count=24),))
    (got,), _ = Enricher(store).enrich("smart", (d,), T0 + 90000)
    assert got.stable_id == SID and got.baseline == {"ata_5": 0.0} and got.baseline_since == T0
    assert got.history["ata_5"] == ((T0, 0.0), (T0 + 86400, 8.0), (T0 + 90000, 24.0))
    assert got.slot is None and store.execute("SELECT target FROM disk_devices") == [("/dev/sda#sat",)]
