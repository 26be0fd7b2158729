"""The enrichment step in the daemon: collectors' readings get their history before rules run,
what a collector drains on close is stored, and a broken store costs history, never readings."""

from __future__ import annotations

from agent.collectors.kernel_log import KernelLogCollector
from agent.schema import load
from agent.daemon import Daemon
from agent.host import CommandResult, Host, HostPaths
from agent.model import CollectorStatus, Severity
from agent.model.disk import AtaAttribute, SmartDevice
from agent.model.events import EventWindow, KernelEvent, KernelLogStatus, StateUpdate
from agent.state.enrich import Enricher
from agent.state.events import EventStore
from agent.state.store import Store
from tests.unit.kernel_log.kmsg import dmesg_to_kmsg
from tests.unit.kernel_log.test_collector import BOOT_A, NOW, make_root

AER = ("pcieport 0000:00:1c.0: AER: Corrected error message received from 0000:03:00.0",
       "nvme 0000:03:00.0: PCIe Bus Error: severity=Corrected, type=Physical Layer, (Receiver ID)")


def _no_commands(argv, timeout, env=None):
    return CommandResult(tuple(argv), None, b"", b"", 0.0, f"not found: {argv[0]}")


def _kernel_log_daemon(tmp_path, kmsg_lines=None):
    """A daemon with only the kernel-log collector, not run yet: (daemon, store, host, config)."""
    root = make_root(tmp_path, kmsg=dmesg_to_kmsg(kmsg_lines or [f"[ 10.000000] {AER[0]}"]))
    store = Store(tmp_path / "state.db")
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text("[collectors.kernel_log]\nfollow = false\n")
    cfg = load(str(cfg_file))
    host = Host(paths=HostPaths(rootfs=str(root)), runner=_no_commands, clock=lambda: NOW)
    return Daemon(cfg, host, store, clock=lambda: NOW, collector_classes=(KernelLogCollector,)), store, host, cfg


def test_daemon_cycle_stores_kernel_events_attaches_the_window_and_closes_cleanly(tmp_path):
    d, store, _, _ = _kernel_log_daemon(tmp_path, [f"[ 10.000000] {AER[0]}", f"[ 10.000001] {AER[1]}"])
    readings = d.run_once().readings["kernel_log"]
    assert not [r for r in readings if isinstance(r, StateUpdate)]  # consumed by the enrichment step
    (win,) = [r for r in readings if isinstance(r, EventWindow)]
    (st,) = [r for r in readings if isinstance(r, KernelLogStatus)]
    assert win.count("aer.") == 1 and dict(st.events_total) == {("aer.corrected", "info"): 1}
    assert [e.cls for e in readings if isinstance(e, KernelEvent)] == ["aer.corrected"]
    assert [e["class"] for e in EventStore(store).query(cls="aer")] == ["aer.corrected"]
    assert store.get("kernel_log.kmsg_cursor") == {"boot_id": BOOT_A, "seq": 2}
    d.close_collectors()
    (boot,) = EventStore(store).boots()
    assert boot.boot_id == BOOT_A and boot.clean_stop == NOW  # no unexpected-reboot event at the next start
    store.close()


def _disk(raw: int) -> SmartDevice:
    return SmartDevice(device="sda", path="/dev/sda", dev_type="sat", protocol="ATA", model="M", serial="S1",
                       read_status="ok", read_time=NOW,
                       ata_attributes=(AtaAttribute(id=5, name="Reallocated_Sector_Ct", value=100, worst=100,
                                                    threshold=10, raw=raw, raw_string=str(raw), count=raw),))


def test_a_broken_store_costs_the_history_not_the_readings(tmp_path):
    store = Store(tmp_path / "state.db")
    enricher = Enricher(store)
    (d,), _ = enricher.enrich("smart", (_disk(0),), NOW)
    assert d.baseline == {"ata_5": 0.0}
    store.close()  # every statement fails from here on
    ok = CollectorStatus("smart", ok=True)
    (d2,), status = enricher.enrich("smart", (_disk(8),), NOW + 60, ok)
    assert d2.fresh and d2.counter("ata_5") == 8.0  # the reading is served
    assert status == ok or status.ok  # a store failure never fails the collector
    events = (KernelEvent(cls="sel.power", severity=Severity.WARNING, component="board", device="PS1", source="sel",
                          boot_id=BOOT_A, time=NOW),)
    out, status = enricher.enrich("ipmi", events + (StateUpdate("ipmi.sel", {"version": 1}),), NOW, ok)
    assert not [r for r in out if isinstance(r, StateUpdate)]  # never reaches the snapshot
    assert status.ok and status.messages and status.messages[0].startswith("state: ")


def test_a_run_that_ends_after_the_clean_stop_does_not_clear_it(tmp_path):
    """A kernel-log run in flight while the daemon stopped stored the boot's heartbeat after the
    clean-stop marker, which clears it: the next boot was reported as an unexpected reboot (seen
    in the VM after a plain `systemctl reboot`). Once the marker is written, this process stores
    no heartbeat any more; a restarted agent (a new process) still clears it."""
    d, store, host, cfg = _kernel_log_daemon(tmp_path)
    d.run_once()
    (slot,) = d._slots.values()
    late = slot.collector.collect()  # finished before the stop, enriched after it
    d.close_collectors()
    d.enricher.enrich(slot.collector.name, list(late), NOW + 600, CollectorStatus(name="kernel_log", ok=True))
    (boot,) = EventStore(store).boots()
    assert boot.clean_stop == NOW  # old code: None, and the next boot an "unexpected reboot"
    again = Daemon(cfg, host, store, clock=lambda: NOW + 900, collector_classes=(KernelLogCollector,))
    again.run_once()  # the agent restarted in the same boot: alive again
    assert EventStore(store).boots()[0].clean_stop is None
    store.close()


def test_close_waits_for_a_collector_run_in_flight(tmp_path):
    import threading

    d, store, host, cfg = _kernel_log_daemon(tmp_path)
    d.run_once()
    (slot,) = d._slots.values()
    order: list[str] = []
    release = threading.Event()

    def in_flight():  # a run whose enrichment is still to store the heartbeat
        release.wait(5)
        order.append("run done")
    slot.thread = threading.Thread(target=in_flight)
    slot.thread.start()
    threading.Timer(0.3, release.set).start()
    d.close_collectors()
    order.append("closed")
    assert order == ["run done", "closed"]  # old code: closed first, the run's heartbeat after the marker
    store.close()


def test_the_clean_stop_is_written_when_the_drained_events_cannot_be_stored(tmp_path, monkeypatch):
    d, store, host, cfg = _kernel_log_daemon(tmp_path)
    d.run_once()
    hist = d.enricher.events

    def broken(*a, **k):
        raise ValueError("a drained event the store rejects")
    monkeypatch.setattr(hist, "store", broken)
    d.close_collectors()
    assert EventStore(store).boots()[0].clean_stop == NOW  # old code: no marker, the next boot "unexpected"
    store.close()
