"""Self-test scheduling (staggered, never on a sleeping disk) and `agent selftest DEVICE`."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from click.testing import CliRunner

from agent.cli import cli
from agent.collectors.smart import SmartCollector
from agent.config import CollectorConfig
from agent.daemon import Daemon
from agent.jobs.selftests import SelfTestJob, due_selftests, selftest_slots
from agent.host import Host, HostPaths
from agent.model.disk import SelfTest, SelfTestPlan, SmartDevice
from agent.schema import load
from agent.state.disks import DiskState
from agent.state.store import Store

from .conftest import corpus_doc


def dev(name: str, serial: str, **kw) -> SmartDevice:
    base = dict(device=name, path=f"/dev/{name}", dev_type="sat", protocol="ATA", read_status="ok", model="M",
                serial=serial, power_state="active")
    base.update(kw)
    return SmartDevice(**base)


def at(hour: int, wday_offset: int = 0) -> float:
    # Monday 2026-11-23 (tm_wday 0) + offset days, local time
    return time.mktime((2026, 11, 23 + wday_offset, hour, 30, 0, 0, 0, -1))


def test_slots_are_staggered_one_hour_apart():
    ids = [f"id{i}" for i in range(30)]
    slots = selftest_slots(ids, short_hour=2, long_weekday=6, long_hour=3)
    hours = [slots[i][0] for i in sorted(ids)[:24]]
    assert len(set(hours)) == 24  # no two of the first 24 disks share an hour
    longs = {(slots[i][1], slots[i][2]) for i in ids}
    assert len(longs) == 30  # weekly long tests: never two in the same weekday+hour


def test_due_short_one_disk_per_hour():
    disks = [dev("sda", "A"), dev("sdb", "B"), dev("sdc", "C")]
    due2 = due_selftests(disks, at(2), {}, short_hour=2, long_weekday=6, long_hour=3)
    due3 = due_selftests(disks, at(3), {}, short_hour=2, long_weekday=6, long_hour=3)
    assert [(d.device, k, r) for d, k, r in due2] == [("sda", "short", "scheduled")]
    assert [(d.device, k, r) for d, k, r in due3] == [("sdb", "short", "scheduled")]
    # already done today
    assert due_selftests(disks, at(2), {("M_A", "short"): at(2) - 3600}, short_hour=2, long_weekday=6,
                         long_hour=3) == []


def test_long_weekly_replaces_short_and_standby_is_never_tested():
    sunday = 6
    disks = [dev("sda", "A"), dev("sdb", "B")]
    due = due_selftests(disks, at(3, sunday), {}, short_hour=3, long_weekday=sunday, long_hour=3)
    assert [(d.device, k) for d, k, _r in due] == [("sda", "long")]
    asleep = [replace(disks[0], read_status="standby", power_state="standby")]
    (d, kind, reason), = due_selftests(asleep, at(2), {}, short_hour=2, long_weekday=6, long_hour=3)
    assert reason == "skipped: disk in standby"
    running = [replace(disks[0], selftest_running=True)]
    assert due_selftests(running, at(2), {}, short_hour=2, long_weekday=6, long_hour=3)[0][2].startswith("skipped")


def _one_disk(fake_smartctl):
    fake_smartctl.scan(("/dev/sda", "sat", "ATA"))
    fake_smartctl.read("/dev/sda", "sat", corpus_doc("sce-WDC_WD20EFRX-68EUZN0_17.json"))
    fake_smartctl.add(["--json", "-t", "short", "-d", "sat", "/dev/sda"],
                      {"json_format_version": [1, 0], "smartctl": {"exit_status": 0}})


def plans(readings):
    return [r for r in readings if isinstance(r, SelfTestPlan)]


def test_job_runs_due_tests_but_not_in_its_first_sweep_and_not_twice_after_a_restart(tmp_path, fake_smartctl):
    _one_disk(fake_smartctl)
    host = Host(paths=HostPaths(devfs=str(tmp_path)), clock=lambda: at(2))  # not this machine's /dev
    col = SmartCollector(host, CollectorConfig(options={"selftests": True}))
    store = Store(tmp_path / "state.db")
    job = SelfTestJob(host, col, DiskState(store))
    assert not plans(col.collect()), "the collector itself never starts a test"
    assert job.run(col.collect(), at(2)) == []  # the first sweep after start: never
    (plan,) = job.run(col.collect(), at(2))
    assert plan.started and plan.kind == "short" and plan.device == "sda" and plan.reason == "started"
    assert store.execute("SELECT kind, started FROM disk_selftests") == [("short", at(2))]
    assert job.run(col.collect(), at(2)) == []  # same hour: not again
    # a restart in the same hour: the start date came back from the state store
    again = SelfTestJob(host, col, DiskState(Store(tmp_path / "state.db")))
    assert again.run(col.collect(), at(2)) == [] and again.run(col.collect(), at(2)) == []
    # the next day at the same hour: due again
    assert again.run(col.collect(), at(2, 1))[0].started


def test_job_is_off_unless_configured(tmp_path, fake_smartctl):
    _one_disk(fake_smartctl)
    host = Host(paths=HostPaths(devfs=str(tmp_path)), clock=lambda: at(2))
    col = SmartCollector(host, CollectorConfig())
    job = SelfTestJob(host, col, DiskState())
    assert not SelfTestJob.wanted(col)
    assert job.run(col.collect(), at(2)) == [] and job.run(col.collect(), at(2)) == []


def test_daemon_schedules_the_job_after_each_sweep(tmp_path, fake_smartctl):
    _one_disk(fake_smartctl)
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text(f'[host]\nsmartctl = "{fake_smartctl.exe}"\ndevfs = "{tmp_path}"\n'
                        '[collectors.smart]\nselftests = true\n')
    cfg = load(str(cfg_file))
    host = Host(paths=HostPaths(devfs=str(tmp_path)), clock=lambda: at(2))
    d = Daemon(cfg, host, Store.memory(), clock=lambda: at(2), collector_classes=(SmartCollector,))
    first = d.run_once().readings["smart"]
    assert not plans(first) and [r.device for r in first] == ["sda"]
    assert first[0].baseline and first[0].last_success == at(2)  # enriched before rules
    (plan,) = plans(d.run_once().readings["smart"])
    assert plan.started and plan.kind == "short"


def _cli_config(tmp_path, fake) -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[host]\nsmartctl = "{fake.exe}"\n[state]\ndir = "{tmp_path / "state"}"\n')
    return str(cfg)


def test_cli_selftest_runs_and_prints_result(tmp_path, fake_smartctl):
    doc = corpus_doc("sce-WDC_WD20EFRX-68EUZN0_17.json")
    doc["ata_smart_data"] = {"self_test": {"status": {"value": 0}, "polling_minutes": {"short": 2, "extended": 80}}}
    fake_smartctl.scan(("/dev/sda", "sat", "ATA"))
    fake_smartctl.read("/dev/sda", "sat", doc)
    fake_smartctl.add(["--json", "-t", "short", "-d", "sat", "/dev/sda"],
                      {"json_format_version": [1, 0], "smartctl": {"exit_status": 0}})
    done = json.loads(json.dumps(doc))
    done["ata_smart_self_test_log"] = {"standard": {"table": [
        {"type": {"value": 1, "string": "Short offline"},
         "status": {"value": 121, "string": "Completed: read failure", "passed": False},
         "lifetime_hours": 4321, "lba": 104870168}]}}
    fake_smartctl.read("/dev/sda", "sat", done, standby=False)  # the polls (no -n)
    r = CliRunner().invoke(cli, ["--config", _cli_config(tmp_path, fake_smartctl), "selftest", "sda",
                                 "--poll-seconds", "0", "--json"])
    assert r.exit_code == 1, r.output
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"device": "sda", "kind": "short", "status": "Completed: read failure", "passed": False,
                   "lifetime_hours": 4321, "lba": 104870168}


def test_cli_selftest_refuses_standby_and_unknown(tmp_path, fake_smartctl):
    from .conftest import standby_doc

    fake_smartctl.scan(("/dev/sdc", "sat", "ATA"))
    fake_smartctl.read("/dev/sdc", "sat", standby_doc("/dev/sdc"), rc=253)
    cfg = _cli_config(tmp_path, fake_smartctl)
    r = CliRunner().invoke(cli, ["--config", cfg, "selftest", "sdc"])
    assert r.exit_code != 0 and "standby" in r.output and "--wake" in r.output
    r = CliRunner().invoke(cli, ["--config", cfg, "selftest", "sdz"])
    assert r.exit_code != 0 and "unknown device 'sdz'" in r.output and "sdc" in r.output


def test_selftest_entry_kinds_parse():
    from agent.collectors.smart_parse import parse_json

    doc = corpus_doc("sce-WDC_WD20EFRX-68EUZN0_17.json")
    doc["ata_smart_self_test_log"] = {"standard": {"table": [
        {"type": {"string": "Extended offline"}, "status": {"value": 0, "string": "Completed without error",
                                                             "passed": True}, "lifetime_hours": 10},
        {"type": {"string": "Short offline"}, "status": {"value": 249, "string": "Self-test routine in progress"},
         "lifetime_hours": 9}]}}
    doc["ata_smart_data"] = {"self_test": {}}
    doc["ata_smart_data"]["self_test"]["status"] = {"value": 249, "string": "in progress, 90% remaining",
                                                    "remaining_percent": 90}
    d = parse_json(doc, device="sda", path="/dev/sda", now=0.0)
    assert [t.kind for t in d.self_tests] == ["extended", "short"]
    assert d.self_tests[1].passed is None and d.self_tests[1].result == 15
    assert d.selftest_running and d.selftest_remaining_ratio == 0.9
    assert isinstance(d.self_tests[0], SelfTest)


def test_cli_selftest_progress_until_done(tmp_path, fake_smartctl):
    doc = corpus_doc("sce-WDC_WD20EFRX-68EUZN0_17.json")
    doc["ata_smart_data"] = {"self_test": {"status": {"value": 0}, "polling_minutes": {"short": 2, "extended": 80}}}
    fake_smartctl.scan(("/dev/sda", "sat", "ATA"))
    fake_smartctl.read("/dev/sda", "sat", doc)
    fake_smartctl.add(["--json", "-t", "long", "-d", "sat", "/dev/sda"],
                      {"json_format_version": [1, 0], "smartctl": {"exit_status": 0}})
    running = json.loads(json.dumps(doc))
    running["ata_smart_data"]["self_test"]["status"] = {"value": 245, "string": "in progress, 50% remaining",
                                                        "remaining_percent": 50}
    done = json.loads(json.dumps(doc))
    done["ata_smart_self_test_log"] = {"standard": {"table": [
        {"type": {"value": 2, "string": "Extended offline"},
         "status": {"value": 0, "string": "Completed without error", "passed": True}, "lifetime_hours": 4400}]}}
    seq = fake_smartctl.dir / "--json_-x_-d_sat__dev_sda.seq"
    seq.mkdir()
    (seq / "1").write_text(json.dumps(running))
    (seq / "2").write_text(json.dumps(running))
    (seq / "3").write_text(json.dumps(done))
    r = CliRunner().invoke(cli, ["--config", _cli_config(tmp_path, fake_smartctl), "selftest", "sda", "--long",
                                 "--poll-seconds", "0"])
    assert r.exit_code == 0, r.output
    assert "sda: extended self-test PASSED: Completed without error" in r.stdout
    assert (seq / ".n").read_text() == "3"  # watched while running, stopped once logged
