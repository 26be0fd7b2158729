"""The daemon survives collectors that hang, raise or vanish; stale data is never served."""

from __future__ import annotations

import threading
import time

from agent.collectors.hwmon import HwmonCollector
from agent.collectors.system import SystemCollector
from agent.collectors.thermal import ThermalCollector

COLLECTORS = (HwmonCollector, ThermalCollector, SystemCollector)  # the core ones; others have own tests
from agent.collectors.base import BaseCollector, NoData
from agent.schema import from_mapping
from agent.daemon import Daemon
from agent.model import HwmonSensor


class Hang(BaseCollector):
    name = "hang"
    default_timeout = 0.3
    release = threading.Event()

    def collect(self):
        self.release.wait(10)
        return []


class Boom(BaseCollector):
    name = "boom"

    def collect(self):
        raise OSError("EIO reading something")


class Absent(BaseCollector):
    name = "absent"

    def collect(self):
        raise NoData("no such subsystem")


class Flaky(BaseCollector):
    name = "flaky"
    fail = False

    def collect(self):
        if Flaky.fail:
            raise RuntimeError("device gone")
        return [HwmonSensor(chip="c", chip_name="n", sensor="fan1", kind="fan", label=None, value=0.0, pwm=200)]


def make(fakesys, make_host, classes, store=None):
    fakesys.proc_basics()
    return Daemon(from_mapping({}), make_host(fakesys.root), store, collector_classes=classes)


def test_hanging_and_raising_collectors_do_not_stop_the_others(fakesys, make_host):
    fakesys.hwmon_chip(0, "nct6779", "platform/nct6775.656", {"fan1_input": 0, "pwm1": 100})
    d = make(fakesys, make_host, (Hang, Boom, Absent, *COLLECTORS))
    t0 = time.monotonic()
    snap = d.run_once()
    assert time.monotonic() - t0 < 5
    st = snap.statuses
    assert st["hang"].ok is False and st["hang"].error.startswith("timeout")
    assert st["boom"].ok is False and "OSError: EIO reading something" in st["boom"].error
    assert st["absent"].ok and st["absent"].no_data
    assert st["hwmon"].ok and st["system"].ok
    assert [f.rule for f in snap.findings] == ["board.fan_stopped"]
    # the hung collector is not started twice while its thread still runs
    thread = d._slots["hang"].thread
    d.run_once()
    assert d._slots["hang"].thread is thread
    Hang.release.set()
    thread.join(5)


def test_failed_collector_drops_its_readings(fakesys, make_host):
    d = make(fakesys, make_host, (Flaky,))
    Flaky.fail = False
    assert [f.rule for f in d.run_once().findings] == ["board.fan_stopped"]
    Flaky.fail = True
    snap = d.run_once()
    assert snap.findings == () and not snap.statuses["flaky"].ok
    assert snap.statuses["flaky"].last_success is not None  # when it last worked, for staleness alerts


def test_run_forever_schedules_and_stops(fakesys, make_host):
    d = make(fakesys, make_host, COLLECTORS)
    stop = threading.Event()
    ready = threading.Event()
    t = threading.Thread(target=d.run_forever, args=(stop, ready.set))
    t.start()
    assert ready.wait(10)
    gen = d.snapshot.generation
    stop.set()
    t.join(10)
    assert not t.is_alive() and gen >= 1


def test_acked_finding_is_silenced_until_evidence_changes(fakesys, make_host, tmp_path):
    from agent.state.store import Store

    store = Store.in_dir(tmp_path / "st")
    chip = fakesys.hwmon_chip(0, "nct6779", "platform/nct6775.656", {"temp1_input": 85000, "temp1_max": 80000,
                                                                       "temp1_crit": 100000})
    d = make(fakesys, make_host, COLLECTORS, store)
    f = d.run_once().findings[0]
    assert (f.rule, f.severity.label) == ("board.temp_critical", "warning")
    store.ack(f.rule, f.subject, f.ack_token, "op")
    snap = d.run_once()
    assert snap.active_findings() == () and f.key in snap.acked
    (chip / "temp1_input").write_text("101000\n")  # now over crit: the evidence changed
    snap = d.run_once()
    assert [x.severity.label for x in snap.active_findings()] == ["critical"]
    assert store.acks() == {}


def test_malloc_arena_limit_respects_an_explicit_environment(monkeypatch):
    from agent import daemon as daemon_mod

    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert daemon_mod.limit_malloc_arenas() is False  # the operator's setting wins
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1
    monkeypatch.setattr("ctypes.CDLL", lambda name: Libc())
    assert daemon_mod.limit_malloc_arenas() is True and calls == [(daemon_mod.M_ARENA_MAX, 2)]
