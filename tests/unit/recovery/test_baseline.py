"""Baseline capture on a synthetic host tree with recorded command outputs; fingerprint; diff."""

from __future__ import annotations

import json
import os

import pytest

from agent import baseline as bl
from agent.state.store import Store
from tests.unit.recovery.hosttree import NEW_MACS, OLD_MACS, build, capture


def test_capture_reads_every_section(tmp_path, make_host):
    data, runner = capture(tmp_path, make_host)
    assert data["format_version"] == bl.FORMAT_VERSION
    assert data["dmi"]["board_serial"] == "OLDBOARD0001" and data["dmi"]["bios_version"] == "2.3"
    assert data["identity"]["machine_id"] == "0123456789abcdef0123456789abcdef"
    assert data["cpu"] == {"threads": 4, "sockets": 1, "models": ["Intel(R) Xeon(R) E-2236 CPU @ 3.40GHz"],
                           "microcode": ["0xf8"], "virtualization": ["vmx"]}
    mem = data["memory"]
    assert mem["total_bytes"] == 32780000 * 1024 and mem["dimm_slots"] == 4 and mem["dimm_count"] == 2
    assert [d["locator"] for d in mem["dimms"] if d["size_bytes"]] == ["DIMMA1", "DIMMB1"]
    nics = data["nics"]["physical"]
    assert sorted(nics) == ["eno1", "eno2"]  # lo and the bridge are virtual
    assert nics["eno1"] == {"mac": OLD_MACS["eno1"], "permanent_mac": None, "driver": "igb", "pci_path": "0000:01:00.0",
                            "operstate": "up", "carrier": 1, "speed_mbps": 1000}
    assert nics["eno2"]["speed_mbps"] is None  # -1 = no link
    assert data["nics"]["virtual"] == ["br0"]
    refs = {(r["file"], r["mac"], r["matches_nic"]) for r in data["net_config_refs"]}
    assert refs == {("/etc/netplan/01-netcfg.yaml", OLD_MACS["eno1"], True),
                    ("/etc/udev/rules.d/70-persistent-net.rules", OLD_MACS["eno2"], True)}  # the commented rule is ignored
    disks = {d["name"]: d for d in data["disks"]}
    assert sorted(disks) == ["sda", "sdb"]  # loop0 and md0 are not disks
    sda = disks["sda"]
    assert (sda["serial"], sda["wwn"], sda["model"], sda["size_bytes"]) == (
        "WD-WCAYUS000001", "0x50014ee000000001", "WDC WD5000AAKX-0", 976773168 * 512)
    assert sda["by_id"] == ["ata-WDC_WD5000AAKX-0_WD-WCAYUS000001", "wwn-0x50014ee000000001"]
    assert sda["partition_table"]["label"] == "gpt"
    assert sda["partition_table"]["partitions"][0]["uuid"] == "AAAAAAAA-0001-4000-8000-000000000001"
    md = data["storage"]["md"]
    assert md["arrays"] == [{"device": "/dev/md/0", "metadata": "1.2", "name": "testhost:0",
                             "uuid": "3e1c2a7b:5d4f6e8a:9b0c1d2e:3f4a5b6c"}]
    assert md["mdstat"] == [{"name": "md0", "state": "active", "level": "raid1", "members": ["sda2", "sdb2"], "status": "UU"}]
    assert md["conf_uuids"] == ["3e1c2a7b:5d4f6e8a:9b0c1d2e:3f4a5b6c"]
    # tools absent on this host: recorded as not found, never as empty success
    assert data["storage"]["lvm"]["vgs_source"]["error"].startswith("not found")
    assert data["storage"]["zfs"]["pools"] == [] and data["storage"]["zfs"]["source"]["error"].startswith("not found")
    fstab = {e["target"]: e for e in data["mounts"]["fstab"]}
    assert fstab["/"]["exists"] is True and fstab["/boot/efi"]["exists"] is True and "exists" not in fstab["/tmp"]
    boot = data["boot"]
    assert boot["mode"] == "uefi" and boot["efi"]["boot_order"] == ["0001", "0002", "0000"]
    assert boot["efi"]["entries"]["0001"]["partuuid"] == "aaaaaaaa-0001-4000-8000-000000000001"
    assert boot["efi"]["entries"]["0000"]["partuuid"] is None
    assert "/boot/grub/grub.cfg" in boot["bootloader_files"]
    sw = data["software"]
    assert sw["kernel"]["release"] == "6.1.0-26-amd64"
    assert sw["packages"]["mdadm"] == "4.2-5" and "old-removed" not in sw["packages"]  # rc = removed
    assert sw["held"] == ["linux-image-6.1.0-26-amd64"]
    assert sw["services_enabled"] == ["cron.service", "mdmonitor.service", "ssh.service", "systemd-timesyncd.service"]
    assert data["time"]["rtc_offset_seconds"] == pytest.approx(0.512, abs=0.01)
    assert data["time"]["ntp_synchronized"] is True
    json.dumps(data)  # JSON-able


def test_missing_fstab_uuid_is_flagged(tmp_path, make_host):
    data, _ = capture(tmp_path, make_host, missing_fstab_uuid=True)
    swap = [e for e in data["mounts"]["fstab"] if e["target"] == "none"][0]
    assert swap["ref_kind"] == "UUID" and swap["exists"] is False


def test_capture_without_any_tool_or_file(tmp_path, make_host):
    """An empty root and no commands: every section present, nothing raises."""
    (tmp_path / "empty").mkdir()
    from tests.support.replay import ReplayRunner

    data = bl.capture(make_host(tmp_path / "empty", runner=ReplayRunner(tmp_path / "none", strict=False)))
    assert data["disks"] == [] and data["nics"]["physical"] == {} and data["memory"]["dimm_count"] == 0
    assert data["boot"]["mode"] == "bios" and data["software"]["packages"] == {}
    assert data["memory"]["source"]["error"].startswith("not found")


def test_runner_exception_is_recorded(tmp_path, make_host):
    fs, _ = build(tmp_path)

    def broken(argv, timeout, env=None):
        raise OSError("runner exploded")
    data = bl.capture(make_host(fs.root, runner=broken))
    assert "runner exploded" in data["memory"]["source"]["error"]
    assert data["dmi"]["board_serial"] == "OLDBOARD0001"


def test_fingerprint_ignores_volatile_and_sees_hardware_changes(tmp_path, make_host):
    a, _ = capture(tmp_path / "a", make_host)
    b, _ = capture(tmp_path / "b", make_host)
    assert a["fingerprint"] == b["fingerprint"]
    b2 = json.loads(json.dumps(b))
    b2["time"]["rtc_offset_seconds"] = 99.0
    b2["nics"]["physical"]["eno1"]["operstate"] = "down"
    b2["captured_at"] += 86400
    assert bl.fingerprint(b2) == a["fingerprint"]
    c, _ = capture(tmp_path / "c", make_host, macs=NEW_MACS)
    assert c["fingerprint"] != a["fingerprint"]


def test_diff_keys_lists_by_identity(tmp_path, make_host):
    a, _ = capture(tmp_path / "a", make_host)
    b = json.loads(json.dumps(a))
    b["disks"].reverse()  # order alone is not a change
    assert bl.diff(a, b) == []
    b["disks"][0]["name"] = "sdc"  # same serial, new name
    changes = bl.diff(a, b)
    assert [(c["path"], c["old"], c["new"]) for c in changes] == [("disks[WD-WCAYUS000002].name", "sdb", "sdc")]
    assert bl.diff(a, b, ["nics"]) == []
    text = bl.render_diff(changes)
    assert "~ disks[WD-WCAYUS000002].name: sdb -> sdc" in text


def test_store_saves_only_on_change_and_keeps_versions(tmp_path, make_host):
    store = Store(tmp_path / "state.db")
    bs = bl.BaselineStore(store)
    a, _ = capture(tmp_path / "a", make_host)
    ident, stored = bs.save(a)
    assert stored
    assert bs.save(dict(a, captured_at=a["captured_at"] + 3600)) == (ident, False)
    c, _ = capture(tmp_path / "c", make_host, macs=NEW_MACS)
    c["captured_at"] += 86400
    ident2, stored2 = bs.save(c)
    assert stored2 and ident2 != ident
    assert [r["id"] for r in bs.list()] == [ident2, ident]
    assert bs.get(ident[:12])["dmi"]["board_serial"] == "OLDBOARD0001"
    with pytest.raises(bl.BaselineError, match="no stored baseline"):
        bs.get("nope")
    bs.mark_known_good(ident)
    assert [r["known_good"] for r in bs.list()] == [False, True]
    store.close()


def test_export_and_load(tmp_path, make_host):
    a, _ = capture(tmp_path / "a", make_host)
    p = bl.export(a, tmp_path / "out.json")
    assert oct(os.stat(p).st_mode & 0o777) == "0o600"
    assert bl.load_file(p)["fingerprint"] == a["fingerprint"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(bl.BaselineError, match="not a baseline file"):
        bl.load_file(tmp_path / "bad.json")
    (tmp_path / "new.json").write_text(json.dumps({"format_version": 99}))
    with pytest.raises(bl.BaselineError, match="newer"):
        bl.load_file(tmp_path / "new.json")


def test_collector_captures_daily_and_on_change(tmp_path):
    from agent.collectors.baseline import BaselineCollector
    from tests.support.enriched import Enriched
    from agent.config import CollectorConfig
    from agent.host import Host, HostPaths

    fs, runner = build(tmp_path)
    now = {"t": 1_764_003_600.0}
    host = Host(paths=HostPaths(rootfs=str(fs.root)), runner=runner, clock=lambda: now["t"])
    store = Store(tmp_path / "state.db")
    col = Enriched(BaselineCollector(host, CollectorConfig(), store))  # as the daemon runs it: the enrichment step stores
    assert col.interval == 900
    out = tuple(col.collect())
    assert [type(r).__name__ for r in out] == ["RecoveryReadiness"] and col.captures == 1 and col.enricher.baselines.last_stored
    now["t"] += 900
    col.collect()
    assert col.captures == 1  # nothing changed, not due: no dmidecode, no dpkg-query
    (fs.root / "sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0/net/eno1/address").write_text(NEW_MACS["eno1"] + "\n")
    now["t"] += 900
    col.collect()
    assert col.captures == 2 and col.enricher.baselines.last_stored  # a MAC changed: captured and stored at once
    now["t"] += 86400
    col.collect()
    assert col.captures == 3 and not col.enricher.baselines.last_stored  # daily capture, same fingerprint: not stored again
    assert len(bl.BaselineStore(store).list()) == 2
    store.close()


def test_parsers_on_odd_input():
    assert bl.parse_mdstat("md1 : active (auto-read-only) raid1 sdb3[1](F) sda3[0]\n      1 blocks [2/1] [U_]\n") == [
        {"name": "md1", "state": "active", "level": "raid1", "members": ["sda3", "sdb3(F)"], "status": "U_"}]
    assert bl.parse_efibootmgr("garbage\n") == {"boot_current": None, "boot_order": [], "entries": {}}
    assert bl.parse_hwclock("") is None and bl.parse_hwclock("not a date") is None
    assert bl.parse_mdadm_scan("ARRAY\nINACTIVE-ARRAY /dev/md9\n") == []


def test_commands_are_not_run_against_a_foreign_root(tmp_path):
    from agent.host import Host, HostPaths

    fs, _ = build(tmp_path)
    data = bl.capture(Host(paths=HostPaths(rootfs=str(fs.root))))  # no runner: would be this machine's tools
    assert data["memory"]["source"]["error"].startswith("skipped: host root is not /")
    assert data["memory"]["dimms"] == [] and data["software"]["packages"] == {}
    assert data["dmi"]["board_serial"] == "OLDBOARD0001"  # files still come from the tree


def test_collector_state_survives_restarts_and_absent_hosts(tmp_path, make_host):
    from agent.collectors.base import NoData
    from agent.collectors.baseline import BaselineCollector
    from agent.config import CollectorConfig
    from tests.support.enriched import Enriched

    fs, runner = build(tmp_path)
    store = Store(tmp_path / "state.db")
    Enriched(BaselineCollector(make_host(fs.root, runner=runner), CollectorConfig(), store)).collect()
    again = BaselineCollector(make_host(fs.root, runner=runner), CollectorConfig(), store)  # e.g. `agent check`
    again.collect()
    assert again.captures == 0  # a fresh capture exists: no dmidecode/dpkg-query on every check
    assert [type(r).__name__ for r in BaselineCollector(make_host(fs.root, runner=runner), CollectorConfig(), None).collect()] == ["RecoveryReadiness"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoData, match="nothing to fingerprint"):
        BaselineCollector(make_host(tmp_path / "empty"), CollectorConfig(), store).collect()
    store.close()


def test_lvm_and_zfs_layout(tmp_path, make_host):
    fs, runner = build(tmp_path)
    cmd = runner.directory
    (cmd / "vgs").mkdir()
    (cmd / "vgs" / "--reportformat_json_-o_vg_name,vg_uuid,vg_size_--units_b").write_text(
        '  {\n      "report": [\n          {\n              "vg": [\n                  {"vg_name":"vg0", '
        '"vg_uuid":"Xw3f9J-0000-1111-2222-3333-4444-555555", "vg_size":"478964350976B"}\n              ]\n'
        '          }\n      ]\n  }\n')
    (cmd / "lvs").mkdir()
    (cmd / "lvs" / "--reportformat_json_-o_lv_name,vg_name,lv_uuid,lv_size_--units_b").write_text(
        '{"report": [{"lv": [{"lv_name":"root", "vg_name":"vg0", "lv_uuid":"aB3dE5-0000-1111-2222-3333-4444-666666", '
        '"lv_size":"53687091200B"}]}]}\n')
    (cmd / "zpool").mkdir()
    (cmd / "zpool" / "list_-H_-o_name,guid,health").write_text("tank\t12345678901234567890\tONLINE\n")
    (cmd / "zpool" / "status_-P").write_text("  pool: tank\n state: ONLINE\nconfig:\n\n\tNAME  STATE\n\ttank  ONLINE\n")
    data = bl.capture(make_host(fs.root, runner=runner))
    lvm = data["storage"]["lvm"]
    assert lvm["vgs"] == [{"vg_name": "vg0", "vg_uuid": "Xw3f9J-0000-1111-2222-3333-4444-555555", "vg_size": "478964350976B"}]
    assert lvm["lvs"][0]["lv_uuid"] == "aB3dE5-0000-1111-2222-3333-4444-666666"
    assert data["storage"]["zfs"]["pools"] == [{"name": "tank", "guid": "12345678901234567890", "health": "ONLINE"}]
    assert "pool: tank" in data["storage"]["zfs"]["status"]
    (cmd / "vgs" / "--reportformat_json_-o_vg_name,vg_uuid,vg_size_--units_b").write_text("garbage")
    data = bl.capture(make_host(fs.root, runner=runner))
    assert data["storage"]["lvm"]["vgs"] == [] and data["storage"]["lvm"]["vgs_source"]["error"] == "unexpected JSON layout"


def test_read_stored_is_read_only_and_prefers_known_good(tmp_path, make_host):
    store = Store(tmp_path / "state.db")
    bs = bl.BaselineStore(store)
    a, _ = capture(tmp_path / "a", make_host)
    c, _ = capture(tmp_path / "c", make_host, macs=NEW_MACS)
    c["captured_at"] += 86400
    ida, _ = bs.save(a)
    idc, _ = bs.save(c)
    store.close()
    assert bl.read_stored(tmp_path / "state.db")["id"] == idc  # newest
    s2 = Store(tmp_path / "state.db")
    bl.BaselineStore(s2).mark_known_good(ida)
    s2.close()
    assert bl.read_stored(tmp_path / "state.db")["id"] == ida  # known-good first
    assert bl.read_stored(tmp_path / "state.db", idc[:11])["id"] == idc
    with pytest.raises(bl.BaselineError, match="no stored baseline 'zzz'"):
        bl.read_stored(tmp_path / "state.db", "zzz")
    empty = Store(tmp_path / "empty.db")
    empty.close()
    assert bl.read_stored(tmp_path / "empty.db") is None


def test_baseline_mdstat_keeps_an_inactive_array():
    """One mdstat parser for the collector and the baseline: the baseline's own parser skipped a
    head line without a level (``md4 : inactive sdi1[0](S)``), so an array that did not assemble -
    what a board swap leaves behind - was missing from "before"."""
    from tests.conftest import FIXTURES

    arrays = bl.parse_mdstat((FIXTURES / "platform" / "mdstat" / "raid5-mixed").read_text())
    assert {a["name"]: (a["state"], a["level"], a["members"]) for a in arrays}["md4"] == ("inactive", None, ["sdi1(S)"])
    assert [a["name"] for a in arrays] == ["md127", "md1", "md4", "md5"]


# iproute2 6.1 (Debian 12) in a unit without AF_NETLINK (RestrictAddressFamilies=AF_UNIX AF_INET
# AF_INET6, the daemon's sandbox before it allowed netlink), recorded in the VM suite's guest
NETLINK_REFUSED = b"Cannot open netlink socket: Address family not supported by protocol\n"


def test_a_failed_command_keeps_its_stderr_in_the_source(tmp_path, make_host):
    from agent.recovery.services import compare_network
    from agent.runner import CommandResult

    fs, runner = build(tmp_path, rich=True)  # recorded ip and ss output

    def no_netlink(argv, timeout, env=None):
        if argv[0] == "ip":
            return CommandResult(tuple(argv), 1, b"", NETLINK_REFUSED, 0.01)
        return runner(argv, timeout, env)
    data = bl.capture(make_host(fs.root, runner=no_netlink))
    src = data["network"]["source"]
    assert src == {"argv": ["ip", "-j", "addr", "show"], "rc": 1, "error": None,
                   "stderr": "Cannot open netlink socket: Address family not supported by protocol"}
    assert data["network"]["addresses"] == [] and data["network"]["default_routes"] == []
    # a command that worked records no stderr key, so old and new captures fingerprint alike
    good = bl.capture(make_host(fs.root, runner=runner))
    assert good["network"]["source"] == {"argv": ["ip", "-j", "addr", "show"], "rc": 0, "error": None}
    assert good["network"]["addresses"]
    problems, _, _ = compare_network(data, good)
    assert "(ip -j addr show: rc 1, Cannot open netlink socket: Address family not supported by protocol)" \
        in problems[0], problems


def _ss_recording() -> str:
    """`ss -tulnpH --cgroup` of iproute2 6.1, recorded on a Linux 6.1 host with cgroup v2: one
    process in system.slice/demo-web.service listening on TCP and UDP, and a socket of a process in
    the root cgroup that `ss -p` could not attribute (tests/fixtures/baseline/SOURCE)."""
    from tests.conftest import FIXTURES

    return (FIXTURES / "baseline" / "ss-cgroup" / "ss-tulnpH--cgroup.txt").read_text()


def _ss_run(texts: dict[tuple[str, ...], tuple[int, str, str]]):
    def run(argv):
        rc, out, err = texts.get(tuple(argv), (None, "", ""))
        rec = {"argv": list(argv), "rc": rc, "error": None if rc is not None else f"not found: {argv[0]}", "text": out}
        if rc and err:
            rec["stderr"] = err
        return rec
    return run


def test_a_socket_whose_owner_the_sandbox_cannot_read_gets_its_unit_from_its_cgroup(tmp_path, make_host):
    """The daemon's sandbox has no ptrace access to other services' /proc/PID: `ss -p` names no
    process, and the owner's cgroup file cannot be read. The socket's own cgroup still names the
    unit, which MB-25 needs to restart a service whose socket does not listen."""
    import re

    from agent.baseline_services import capture_listening

    (tmp_path / "tree").mkdir()
    host = make_host(tmp_path / "tree")  # no /proc/PID/cgroup to read
    sandboxed = re.sub(r" users:\(\(.*?\)\)", "", _ss_recording())  # what `ss -p` shows without ptrace access
    got = capture_listening(host, _ss_run({("ss", "-tulnpH", "--cgroup"): (0, sandboxed, "")}))
    assert got["source"] == {"argv": ["ss", "-tulnpH", "--cgroup"], "rc": 0, "error": None}
    assert [(s["proto"], s["address"], s["port"], s["process"], s["unit"]) for s in got["sockets"]] == [
        ("udp", "127.0.0.1", 18053, None, "demo-web.service"),
        ("tcp", "0.0.0.0", 2024, None, None),  # cgroup "/": no unit
        ("tcp", "*", 18443, None, "demo-web.service")]
    # as root: the owner's /proc/PID/cgroup is read first (the process's unit now, not when it opened the socket)
    (tmp_path / "tree" / "proc" / "11840").mkdir(parents=True)
    (tmp_path / "tree" / "proc" / "11840" / "cgroup").write_text("0::/system.slice/demo-web-v2.service\n")
    got = capture_listening(host, _ss_run({("ss", "-tulnpH", "--cgroup"): (0, _ss_recording(), "")}))
    assert [(s["process"], s["unit"]) for s in got["sockets"]] == [
        ("python3", "demo-web-v2.service"), (None, None), ("python3", "demo-web-v2.service")]


def test_an_ss_without_cgroup_support_is_asked_again_without_it(tmp_path, make_host):
    from agent.baseline_services import capture_listening

    (tmp_path / "tree").mkdir()
    plain = "tcp LISTEN 0      128            *:18443       *:* users:((\"python3\",pid=11840,fd=3))\n"
    # iproute2 before 5.9: getopt's message and usage() exit 255 (recorded with an unknown option on 6.1)
    got = capture_listening(make_host(tmp_path / "tree"), _ss_run({
        ("ss", "-tulnpH", "--cgroup"): (255, "", "ss: unrecognized option '--cgroup'"),
        ("ss", "-tulnpH"): (0, plain, "")}))
    assert got["source"] == {"argv": ["ss", "-tulnpH"], "rc": 0, "error": None}
    assert [(s["port"], s["process"], s["unit"]) for s in got["sockets"]] == [(18443, "python3", None)]


def test_an_unread_unit_list_is_not_an_empty_one(tmp_path, make_host):
    """`systemctl list-unit-files` waited 18 s on systemd right after boot in the emulated server: with
    the 20 s of other commands a baseline once held no enabled units, and MB-25 passed on "0 units"."""
    from agent.baseline.capture import CMD_TIMEOUT, UNIT_FILES_TIMEOUT
    from agent.recovery.services import compare_services
    from agent.runner import CommandResult

    fs, runner = build(tmp_path, rich=True)
    seen = {}

    def slow_systemd(argv, timeout, env=None):
        if argv[:2] == ["systemctl", "list-unit-files"]:
            seen["timeout"] = timeout
            return CommandResult(tuple(argv), None, b"", b"", timeout, "timeout")
        return runner(argv, timeout, env)
    unread = bl.capture(make_host(fs.root, runner=slow_systemd))
    assert seen["timeout"] == UNIT_FILES_TIMEOUT > CMD_TIMEOUT
    assert unread["software"]["services_enabled"] == [] and unread["software"]["services_source"]["error"] == "timeout"
    good = bl.capture(make_host(fs.root, runner=runner))
    argv = "systemctl list-unit-files --state=enabled --no-legend --no-pager"
    assert compare_services(unread, good)[0] == [f"enabled units in the baseline unreadable: timeout ({argv})"]
    assert compare_services(good, unread)[0] == [f"enabled units now unreadable: timeout ({argv})"]
    problems, ok, _ = compare_services(good, good)
    assert problems == [] and ok == "4 baseline unit(s) enabled, none failed"
    # a baseline of an older version has no source: its list is taken as read
    legacy = {"software": {k: v for k, v in good["software"].items() if k != "services_source"}}
    assert compare_services(legacy, good)[0] == []
