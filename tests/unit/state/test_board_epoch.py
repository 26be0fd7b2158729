"""A replaced mainboard starts with a clean record: the board epoch (agent/state/board_epoch.py)
and the board-scoped rules that count from it, while disk evidence keeps counting."""

from __future__ import annotations

from types import MappingProxyType

from dataclasses import replace

import pytest

from agent.model import BoardEpoch, HostInventory, Severity, Snapshot, SystemReading
from agent.model.events import KernelEvent
from agent.rules import RULES_BY_ID, evaluate
from agent.state import board_epoch as be
from agent.state.events import window_from_events
from agent.state.store import Store

NOW = 1_796_400_000.0
BOOT = NOW - 600  # the new board's first boot: ten minutes ago
C, I = Severity.CRITICAL, Severity.INFO


def inv(serial="MB-OLD-0001", uuid="4c4c4544-0001-0002-0003-000000000001"):
    return HostInventory(identity=(("board_name", "X11SCL-F"),), serials=(("board_serial", serial), ("product_uuid", uuid)))


def system(boot=BOOT):
    return SystemReading(boot_time_seconds=boot, uptime_seconds=NOW - boot, load1=None, load5=None, load15=None,
                         memory_total_bytes=None, memory_available_bytes=None, hardware_corrupted_bytes=None,
                         cpu_count=None, kernel_release=None)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def test_first_board_seen_counts_every_window_in_full(store):
    ep = be.epoch(store, [inv(), system()], NOW)
    assert ep == BoardEpoch(since=0.0, board="MB-OLD-0001/4c4c4544-0001-0002-0003-000000000001")
    assert be.epoch(store, [inv(), system()], NOW + 60) == ep  # the same board: unchanged


def test_a_new_board_starts_the_epoch_at_its_first_boot(store):
    be.epoch(store, [inv(), system(NOW - 86400)], NOW - 3600)
    ep = be.epoch(store, [inv("MB-NEW-0002", "4c4c4544-0001-0002-0003-000000000002"), system()], NOW)
    assert ep.since == BOOT and ep.previous.startswith("MB-OLD-0001") and ep.board.startswith("MB-NEW-0002")
    # kept across restarts of the agent (the state key), and a later boot does not move it
    assert be.epoch(store, [inv("MB-NEW-0002", "4c4c4544-0001-0002-0003-000000000002"), system(NOW)], NOW + 60).since == BOOT


def test_uuid_alone_tells_a_swap_when_the_serial_is_a_placeholder(store):
    be.epoch(store, [inv("To be filled by O.E.M.", "4c4c4544-0001-0002-0003-000000000001"), system()], NOW - 60)
    ep = be.epoch(store, [inv("Default string", "4c4c4544-0001-0002-0003-000000000009"), system()], NOW)
    assert ep.since == BOOT


def test_an_unreadable_serial_is_not_a_board_change(store):
    be.epoch(store, [inv(), system()], NOW - 60)
    ep = be.epoch(store, [inv("", "4c4c4544-0001-0002-0003-000000000001"), system()], NOW)  # no root: no serial
    assert ep.since == 0.0


@pytest.mark.parametrize("serial,uuid", [("", ""), ("To be filled by O.E.M.", "03000200-0400-0500-0006-000700080009"),
                                         ("Default string", "00000000-0000-0000-0000-000000000000")])
def test_placeholders_give_no_epoch(store, serial, uuid):
    assert be.epoch(store, [inv(serial, uuid), system()], NOW) is None


def test_no_inventory_or_no_store_gives_no_epoch(store):
    assert be.epoch(store, [system()], NOW) is None
    assert be.epoch(None, [inv(), system()], NOW) is None


def test_a_boot_time_in_the_future_falls_back_to_now(store):
    be.epoch(store, [inv(), system()], NOW - 60)
    ep = be.epoch(store, [inv("MB-NEW-0002", "u2"), system(NOW + 999)], NOW)
    assert ep.since == NOW


# ---- the rules ------------------------------------------------------------------------------------
def ev(cls, comp, dev, t, boot="old"):
    return KernelEvent(cls=cls, severity=C if "uncorrected" in cls or "io_error" in cls else I, component=comp,
                       device=dev, detail={}, raw=(f"{cls} {dev}",), boot_id=boot, monotonic_usec=1, time=t, count=1)


def findings(events, epoch):
    win = window_from_events(events, NOW, boots=(), current_boot="new")
    readings = {"kernel_log": (win,)}
    if epoch is not None:
        readings["system"] = (epoch,)
    snap = Snapshot(time=NOW, boot_id="new", readings=MappingProxyType(readings), statuses=MappingProxyType({}))
    got, errors = evaluate(snap, None, None, NOW)
    assert not errors
    return {(f.rule, f.device) for f in got}


OLD_MCE = ev("mce.uncorrected", "cpu", "socket0", NOW - 3600)  # on the old board, an hour ago (window: 7 days)
OLD_DISK = ev("block.io_error", "disk:sda", "sda", NOW - 3600)


def test_an_old_boards_machine_check_does_not_count_on_the_new_board():
    assert ("cpu.machine_check_uncorrected", "socket0") in findings([OLD_MCE], None)
    assert ("cpu.machine_check_uncorrected", "socket0") in findings([OLD_MCE], BoardEpoch(since=0.0, board="a"))
    assert ("cpu.machine_check_uncorrected", "socket0") not in findings([OLD_MCE], BoardEpoch(since=BOOT, board="b"))


def test_a_machine_check_on_the_new_board_counts():
    new = ev("mce.uncorrected", "cpu", "socket0", BOOT + 30, boot="new")
    assert ("cpu.machine_check_uncorrected", "socket0") in findings([OLD_MCE, new], BoardEpoch(since=BOOT, board="b"))


def test_the_epoch_boundary_is_inclusive():
    at = ev("mce.uncorrected", "cpu", "socket0", BOOT, boot="new")
    before = ev("mce.uncorrected", "cpu", "socket1", BOOT - 0.001)
    got = findings([at, before], BoardEpoch(since=BOOT, board="b"))
    assert ("cpu.machine_check_uncorrected", "socket0") in got
    assert ("cpu.machine_check_uncorrected", "socket1") not in got


@pytest.mark.parametrize("offset", [0.0, 1.0, 2.0, 30.5, 58.0, 59.9])
def test_the_old_boards_sudden_death_does_not_count_on_the_new_board(offset):
    # the kernel_log collector dates it BEFORE_THIS_BOOT_SECONDS before the boot that found the
    # previous one unfinished; rules count whole-minute buckets, so wherever in its minute the new
    # board's boot (btime, whole seconds) falls, the death's bucket must end before it (dated 2 s
    # before, it shared the boot's minute in the VM and counted on the new board)
    from agent.collectors.kernel_prevboot import BEFORE_THIS_BOOT_SECONDS

    boot = BOOT + offset
    uptime_boot = boot + 0.7  # the collector's boot time (now - uptime) vs btime's whole seconds
    death = ev("reboot.unexpected", "board", "host", uptime_boot - BEFORE_THIS_BOOT_SECONDS, boot="new")
    assert ("board.unexpected_reboot", "host") in findings([death], BoardEpoch(since=0.0, board="a"))
    assert ("board.unexpected_reboot", "host") not in findings([death], BoardEpoch(since=boot, board="b"))
    # and a real unexpected reboot of the new board itself (its first boot died) counts
    again = replace(ev("reboot.unexpected", "board", "host", boot + 300, boot="new"), monotonic_usec=2)
    assert ("board.unexpected_reboot", "host") in findings([death, again], BoardEpoch(since=boot, board="b"))


def test_disk_errors_move_with_the_disks_and_keep_counting():
    got = findings([OLD_DISK], BoardEpoch(since=BOOT, board="b"))
    assert ("disk.io_errors", "sda") in got


def test_board_scoped_families_are_the_boards():
    scoped = {m.family for m in RULES_BY_ID.values() if m.board_scoped}
    assert scoped == {"board", "cpu", "memory", "pcie"}
    assert not RULES_BY_ID["disk.io_errors"].board_scoped and not RULES_BY_ID["raid.degraded"].board_scoped
