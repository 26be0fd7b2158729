"""The board-swap day end to end: `mainboard-swap` against a host tree pair.

Before: a Supermicro board, onboard NICs eno1/eno2 with ifupdown, netplan (match by MAC), a udev
rule naming the MAC, nftables (`iifname "eno1"`, policy drop), sysctl for eno1, and services on
22/25/53/80/443. After the swap: new board serial, new MACs, the NICs come up as
enp1s0f0/enp1s0f1 without addresses, NVRAM holds only PXE + the EFI shell, nginx does not listen.
The run must find every stale reference, write correct .link files after one confirmation, fail
the boot check until a loader entry is first, and fail the socket check until nginx listens."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from agent import baseline as bl
from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from agent.recovery.record import RunStore
from tests.unit.recovery.hosttree import FIXTURES, build
from tests.unit.recovery.support import ScriptedRunner

ROOT = Path(__file__).resolve().parents[3]
RENAMED = {"enp1s0f0": "ac:1f:6b:00:00:01", "enp1s0f1": "ac:1f:6b:00:00:02"}
NOW = 1_764_003_600.0  # the trees' clock: 2025-11-24 17:00 UTC
INITRD = "usr/lib/modules/6.1.0-26-amd64/kernel/drivers/{}\n"


@pytest.fixture
def before(tmp_path, make_host):
    fs, runner = build(tmp_path / "before", rich=True)
    return bl.capture(make_host(fs.root, runner=runner))


def test_before_records_names_macs_addresses_and_sockets(before):
    names = {(r["file"], r["name"]) for r in before["net_name_refs"]}
    assert {("/etc/network/interfaces", "eno1"), ("/etc/nftables.conf", "eno1"), ("/etc/sysctl.d/90-eno1.conf", "eno1"),
            ("/etc/netplan/01-netcfg.yaml", "eno1"), ("/etc/udev/rules.d/70-persistent-net.rules", "eno2")} <= names
    assert all(r["present"] for r in before["net_name_refs"])
    addrs = {a["address"]: a for a in before["network"]["addresses"]}
    assert addrs["2001:db8:10:0:3eec:efff:fe00:1/64"]["eui64"] is True  # SLAAC of the old MAC
    assert addrs["2001:db8:10::10/64"]["eui64"] is False and "203.0.113.10/24" in addrs
    assert before["network"]["resolvers"] == ["203.0.113.53", "2001:db8:53::53"]
    assert {r["gateway"] for r in before["network"]["default_routes"]} == {"203.0.113.1", "2001:db8:10::1"}
    socks = {(s["proto"], s["address"], s["port"]): s["unit"] for s in before["listening"]["sockets"]}
    assert socks[("tcp", "203.0.113.10", 443)] == "nginx.service"
    assert socks[("tcp", "0.0.0.0", 25)] == "postfix@-.service" and socks[("tcp", "::", 22)] == "ssh.service"
    assert before["firmware"]["storage_controllers"] == [{"pci": "0000:00:17.0", "kind": "sata", "driver": "ahci"}]


def _after(tmp_path, **kw):
    return build(tmp_path / "after", board_serial="NEWBOARD0002", macs=RENAMED, efi="pxe", rich=True,
                 network_up=False, services_down=True, **kw)


def _runner(fs, replay, cmd: Path | None = None):
    """The live host's commands: recorded captures, plus what the run's own steps call
    (``efibootmgr --create`` writes the entry: the NVRAM then reads as commands-after has it)."""
    initrd = fs.root / "boot/initrd.img-6.1.0-26-amd64"
    scripted = {("ipmitool", "lan", "print", "1"): "IP Address Source       : Static Address\nIP Address              : 10.0.0.5\n",
                ("getent", "hosts", "deb.debian.org"): "151.101.2.132   deb.debian.org\n",
                ("timedatectl", "show", "-p", "NTPSynchronized", "--value"): "yes\n",
                ("lsinitramfs", "/boot/initrd.img-6.1.0-26-amd64"): INITRD.format("ata/ahci.ko") + INITRD.format(
                    "net/ethernet/intel/igb/igb.ko") + INITRD.format("md/raid1.ko"),
                ("journalctl", "-k", "-b", "--no-pager", "-o", "cat"): "igb 0000:01:00.0: added PHC on eth0\n",
                ("systemctl", "list-units", "--state=failed", "--no-legend", "--plain"): "",
                ("findmnt", "--verify"): "Success, no errors or warnings detected\n"}

    def fn(argv):
        if argv[:2] == ("efibootmgr", "--create") and cmd is not None:
            shutil.copytree(FIXTURES / "commands-after", cmd, dirs_exist_ok=True)
            return 0, ""
        if argv == ("systemctl", "restart", "nginx.service") and cmd is not None:
            shutil.copytree(FIXTURES / "commands-rich", cmd, dirs_exist_ok=True)  # nginx listens again
            return 0, ""
        if argv[0] == "update-initramfs":
            os.utime(initrd, (os.path.getmtime(initrd) + 3600,) * 2)
            return 0, "update-initramfs: Generating /boot/initrd.img-6.1.0-26-amd64\n"
        if argv[0] in ("agent", "hwclock") and "--show" not in argv:
            return 0, ""
        if argv in scripted:
            return 0, scripted[argv]
        return replay(argv, 10)
    return ScriptedRunner(fn)


def _udev_applies_links(fs, replay_dir: Path):
    """What the reboot does: udev names the NICs by the .link files; ifupdown configures eno1."""
    from tests.unit.recovery.hosttree import rich_commands

    new = {}
    for link in sorted((fs.root / "etc/systemd/network").glob("10-hwagent-*.link")):
        text = link.read_text()
        mac = text.split("MACAddress=")[1].split()[0]
        name = text.split("Name=")[1].split()[0]
        new[name] = mac
    net = fs.root / "sys/class/net"
    for old, mac in RENAMED.items():
        target = os.readlink(net / old)
        os.unlink(net / old)
        name = next(n for n, m in new.items() if m == mac)
        devdir = (net / target).resolve().parent
        (devdir / old).rename(devdir / name)
        os.symlink(target.rsplit("/", 1)[0] + "/" + name, net / name)
    rich_commands(replay_dir, new, services_down=True, network_up=True)
    return new


def test_dry_run_on_the_new_board_finds_every_problem(tmp_path, make_host, before):
    fs, replay = _after(tmp_path)
    host = make_host(fs.root, runner=_runner(fs, replay))
    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    items = {i.step.id: i for i in Executor(rb, host, baseline=before, ui=NullUI()).plan()}
    # NIC step: every stale name and MAC, the proven mapping, the .link files it would write
    mb15 = [r for r in items["MB-15"].results if r["phase"] == "check"][0]
    assert not mb15["passed"]
    stale = "\n".join(mb15["value"])
    for ref in ("/etc/network/interfaces:6 (ifupdown) names interface eno1",
                "/etc/nftables.conf:9 (nftables) names interface eno1",
                "/etc/nftables.conf:10 (nftables) names interface eno1",
                "/etc/sysctl.d/90-eno1.conf:1 (sysctl) names interface eno1",
                "/etc/netplan/01-netcfg.yaml:7 (netplan) names interface eno1",
                "/etc/udev/rules.d/70-persistent-net.rules:1 (udev) names interface eno2",
                "/etc/netplan/01-netcfg.yaml:6 (netplan) names MAC 3c:ec:ef:00:00:01",
                "/etc/udev/rules.d/70-persistent-net.rules:1 (udev) names MAC 3c:ec:ef:00:00:02"):
        assert ref in stale, (ref, stale)
    assert items["MB-15"].status == "would_run"
    # the boot check: PXE first, and it says what it saw
    mb08 = [r for r in items["MB-08"].results if r["phase"] == "check"][0]
    assert not mb08["passed"]
    assert "first bootable entry Boot0001 (UEFI: PXE IP4 Intel(R) I210 Gigabit  Network Connection) is a network " \
           "(PXE/HTTP) boot" in mb08["detail"] and "BootOrder 0001,0000" in mb08["detail"]
    assert items["MB-05b"].status == "ok" and "new board serial NEWBOARD0002 (read from DMI)" in items["MB-05b"].detail
    # services and listening in one check: listening fails, so services_restore would run
    assert items["MB-25"].status == "would_run"
    mb25 = [r for r in items["MB-25"].results if r["phase"] == "check"][0]
    assert "listening: tcp 203.0.113.10:80 (nginx.service) listened before and does not now" in mb25["detail"]
    assert "services:" not in mb25["detail"]  # only the failing check is named
    net = [r for r in items["MB-16c"].results if r["phase"] == "check"][0]  # no addresses on the renamed NICs
    assert not net["passed"] and "address 203.0.113.10/24 (was on eno1) is on no interface" in net["value"]
    assert "default route via 203.0.113.1 is gone (now: none)" in net["value"]
    assert not any("3eec:efff:fe00:1" in p for p in net["value"])  # SLAAC of the old MAC: expected to change
    mb05b = [r for r in items["MB-05b"].results if r["phase"] == "verify"][0]  # three checks, one step
    assert sorted(mb05b["value"]) == ["bios_version", "firmware_settings", "new_board"]
    assert all(not problems for problems in mb05b["value"].values())


def test_plan_text_shows_the_nic_table_before_asking(tmp_path, make_host, before):
    from agent.recovery import nic_map

    fs, replay = _after(tmp_path)
    host = make_host(fs.root, runner=_runner(fs, replay))
    after = bl.capture(host)
    p = nic_map.plan(host, before, after)
    lines = nic_map.render_mapping(p["mapping"])
    assert lines == ["eno1 3c:ec:ef:00:00:01 -> enp1s0f0 ac:1f:6b:00:00:01, same slot 0000:01:00.0, driver igb",
                     "eno2 3c:ec:ef:00:00:02 -> enp1s0f1 ac:1f:6b:00:00:02, same slot 0000:02:00.0, driver igb"]
    files = p["files"]
    assert files["/etc/systemd/network/10-hwagent-eno1.link"][1].endswith(
        "[Match]\nMACAddress=ac:1f:6b:00:00:01\n\n[Link]\nName=eno1\n")
    assert files["/etc/systemd/network/10-hwagent-eno1.link"][0] is None
    assert "macaddress: ac:1f:6b:00:00:01" in files["/etc/netplan/01-netcfg.yaml"][1]
    assert 'ATTR{address}=="ac:1f:6b:00:00:02", NAME="eno2"' in files["/etc/udev/rules.d/70-persistent-net.rules"][1]
    assert "/etc/nftables.conf" not in files  # names stay valid through the .link files
    text = nic_map.render_plan(p)
    assert "+++ b/etc/systemd/network/10-hwagent-eno2.link" in text and "-        macaddress: 3c:ec:ef:00:00:01" in text
    # the rewrite alternative edits the names instead
    r = nic_map.plan(host, before, after, "rewrite")
    assert not any(k.endswith(".link") for k in r["files"])
    assert 'iifname "enp1s0f0" tcp dport' in r["files"]["/etc/nftables.conf"][1]
    assert "net.ipv6.conf.enp1s0f0.accept_ra" in r["files"]["/etc/sysctl.d/90-eno1.conf"][1]


@pytest.fixture
def served(tmp_path, monkeypatch):
    """The host's web, mail and DNS services, run on loopback; the probes reach them there."""
    from agent.recovery import probes
    from tests.unit.recovery.probe_servers import Servers

    srv = Servers(tmp_path)
    monkeypatch.setattr(probes, "CONNECT", srv.connect)
    monkeypatch.setattr(probes, "CAFILE", str(srv.crt))
    yield srv
    srv.close()


def test_execute_the_day_with_scripted_answers(tmp_path, make_host, before, served):
    assert before["services"]["vhosts"] == [
        {"name": "www.example.org", "port": 80, "tls": False, "source": "/etc/nginx/sites-enabled/www"},
        {"name": "www.example.org", "port": 443, "tls": True, "source": "/etc/nginx/sites-enabled/www"}]
    assert before["services"]["zones"] == ["example.org"] and before["services"]["mail_ports"] == [25]
    fs, replay = _after(tmp_path)
    cmd = tmp_path / "after" / "commands"
    runner = _runner(fs, replay, cmd)
    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    store = RunStore(tmp_path / "state")
    # MB-05 asks nothing: running on the new board (its serial, the baseline's DIMMs) is the proof;
    # MB-08 recreates the boot entries itself (efibootmgr --create from the baseline's entries)
    typed = ["none", "2025-11-24 03:00", "OLDBOARD0001", "done", "10.0.0.5", "yes",
             "kept", "reachable", "yes"]
    seen: list[tuple[str, str]] = []

    class Reboot(BaseException):
        pass

    def operator(step_id, state):
        seen.append((step_id, state))
        if step_id == "MB-16c" and state == "waiting_operator":
            raise Reboot
    ui = NullUI(list(typed))
    import socket
    with socket.socket() as sk:  # a port nothing listens on: no agent daemon answers MB-30
        sk.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{sk.getsockname()[1]}"
    ex = Executor(rb, make_host(fs.root, runner=runner), baseline=before, ui=ui, operator="alice", store=store,
                  params={"agent_listen": closed}, on_transition=operator, clock=lambda: NOW, sleep=lambda s: None)
    with pytest.raises(Reboot):
        ex.start()
    run_id = store.list()[0]["run_id"]
    d = store.load(run_id).data
    assert d["steps"]["MB-08"]["state"] == "verified"  # failed its check (PXE first), fixed, verified
    creates = [c for c in runner.calls if c[:2] == ("efibootmgr", "--create")]
    # both ESPs of the RAID1 pair, the baseline's first entry created last so that it ends first
    assert creates == [("efibootmgr", "--create", "--disk", "/dev/sdb", "--part", "1", "--label", "debian sdb",
                        "--loader", "\\EFI\\debian\\shimx64.efi"),
                       ("efibootmgr", "--create", "--disk", "/dev/sda", "--part", "1", "--label", "debian sda",
                        "--loader", "\\EFI\\debian\\shimx64.efi")], creates
    assert d["steps"]["MB-15"]["state"] == "verified" and d["steps"]["MB-11"]["state"] == "verified"
    links = sorted(p.name for p in (fs.root / "etc/systemd/network").glob("*.link"))
    assert links == ["10-hwagent-eno1.link", "10-hwagent-eno2.link"]
    assert (fs.root / "etc/systemd/network/10-hwagent-eno2.link").read_text().endswith(
        "[Match]\nMACAddress=ac:1f:6b:00:00:02\n\n[Link]\nName=eno2\n")
    assert "3c:ec:ef:00:00:01" not in (fs.root / "etc/netplan/01-netcfg.yaml").read_text()
    backup = fs.root / "var/backups/hwagent" / run_id / "etc/netplan/01-netcfg.yaml"
    assert "3c:ec:ef:00:00:01" in backup.read_text()
    shown = "\n".join(ui.lines)
    assert "eno1 3c:ec:ef:00:00:01 -> enp1s0f0 ac:1f:6b:00:00:01, same slot 0000:01:00.0, driver igb" in shown
    at15 = next(i for i, line in enumerate(ui.lines) if line.startswith("[") and "] MB-15 " in line)
    table = next(i for i, line in enumerate(ui.lines) if "same slot 0000:01:00.0" in line)
    at11 = next(i for i, line in enumerate(ui.lines) if line.startswith("[") and "] MB-11 " in line)
    assert at15 < table < at11  # shown after the check, before the one confirmation
    assert "BootOrder 0001,0000" in shown  # MB-08 printed what it saw before changing it
    # the reboot: udev applies the .link names, ifupdown configures eno1 again
    _udev_applies_links(fs, cmd)
    (fs.root / "proc/sys/kernel/random/boot_id").write_text("boot-2\n")
    ui2 = NullUI(list(ui.answers))
    ex2 = Executor(rb, make_host(fs.root, runner=runner), baseline=before, ui=ui2, operator="bob", store=store,
                   clock=lambda: NOW, sleep=lambda s: None)
    d = ex2.resume(run_id, skips={"MB-23": "os-updates after the day (kernel current)"}).data
    assert d["steps"]["MB-16c"]["state"] == "already_done"  # network back by itself after the reboot
    # nginx did not listen (it failed while the network was down): MB-25 found it and restarted it
    mb25 = d["steps"]["MB-25"]
    assert [h["state"] for h in mb25["history"]] == ["checking", "applying", "verifying", "verified"]
    assert mb25["state"] == "verified" and ("systemctl", "restart", "nginx.service") in runner.calls
    assert not [c for c in runner.calls if c[:2] == ("systemctl", "restart") and c[2] != "nginx.service"]
    assert d["status"] == "completed", {k: (v["state"], v.get("detail")) for k, v in d["steps"].items()
                                        if v["state"] == "failed"}
    answers = [a for a in d["answers"].values()]
    assert len(answers) == 8 and len([s for s in d["steps"].values() if s.get("confirmation")]) == 1
    assert d["steps"]["MB-05"]["state"] == "already_done" and "new board serial" in d["steps"]["MB-05"]["detail"]
    # no agent daemon answers in this tree: MB-30 asked (the machine could not vouch for monitoring)
    assert "does not answer" in json.dumps(d["steps"]["MB-30"]["evidence"])
    assert d["steps"]["MB-24b"]["state"] == "not_applicable" and d["steps"]["MB-31b"]["state"] == "verified"
    assert d["steps"]["MB-31c"]["state"] == "not_applicable"  # no [recovery] export_target: nothing kept off-host
    assert [(f["step"], f["closed_by"]) for f in d["followups"]] == [("MB-02", "step MB-30"), ("MB-15", "step MB-16c")]
    assert d["steps"]["MB-31"]["state"] == "verified"
    probed = [e for e in d["steps"]["MB-26"]["evidence"] if e.get("phase") == "verify"][-1]["output"]["text"]
    assert "ok   https://www.example.org/ -> 200" in probed and "STARTTLS ok" in probed
    assert "ok   DNS 127.0.0.1: example.org SOA authoritative" in probed


def test_dry_run_text_shows_the_data_before_any_prompt(tmp_path, make_host, before):
    from agent.recovery import report

    fs, replay = _after(tmp_path)
    host = make_host(fs.root, runner=_runner(fs, replay))
    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    text = report.plan_text(Executor(rb, host, baseline=before, ui=NullUI()).plan(), rb)
    mb15 = text[text.index("] MB-15 "):text.index("] MB-11 ")]
    assert "|   eno1 3c:ec:ef:00:00:01 -> enp1s0f0 ac:1f:6b:00:00:01, same slot 0000:01:00.0, driver igb" in mb15
    assert mb15.index("NIC mapping (old -> new)") < mb15.index("References that do not resolve")
    assert '| +SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="ac:1f:6b:00:00:02", NAME="eno2"' in mb15
    assert "| +++ b/etc/systemd/network/10-hwagent-eno1.link" in mb15
    assert "|   /etc/nftables.conf:9 (nftables) names interface eno1, which does not exist" in text
    assert "| BootOrder 0001,0000: Boot0001* UEFI: PXE IP4" in text
    assert "| MISSING tcp 203.0.113.10:443 nginx.service" in text


def test_outside_probe_prompt_shows_the_exact_commands(tmp_path, make_host, before):
    from agent.recovery import report

    fs, replay = _after(tmp_path)
    host = make_host(fs.root, runner=_runner(fs, replay))
    rb = rbm.load(ROOT / "runbooks" / "mainboard-swap.toml")
    text = report.plan_text(Executor(rb, host, baseline=before, ui=NullUI()).plan(), rb)
    mb17 = text[text.index("] MB-17 "):text.index("] MB-30 ")]
    for cmd in ("|   ping -c 3 testhost", "|   curl -sS -o /dev/null -w '%{http_code}\\n' https://www.example.org/",
                "|   openssl s_client -connect testhost:25 -starttls smtp -brief </dev/null",
                "|   dig +norec SOA example.org @testhost"):
        assert cmd in mb17, (cmd, mb17)


def test_power_restore_policy_is_read_from_the_bmc(tmp_path, make_host, before):
    from agent.recovery import boot
    from tests.unit.recovery.support import ScriptedRunner

    fs, replay = _after(tmp_path)
    fs.write("dev/ipmi0", "")
    policy = {"p": "always-off"}

    def fn(argv):
        if argv == ("ipmitool", "chassis", "status"):
            return 0, ("System Power         : on\nPower Overload       : false\nPower Interlock      : inactive\n"
                       "Main Power Fault     : false\nPower Control Fault  : false\n"
                       f"Power Restore Policy : {policy['p']}\nLast Power Event     : \n")
        return replay(argv, 10)
    host = make_host(fs.root, runner=ScriptedRunner(fn))
    after = bl.capture(host)
    problems, _, _ = boot.compare_firmware(before, after, host)
    assert problems == ["power restore policy always-off: set 'on' or 'last state' (the next power blip would leave "
                        "the host off)"]
    policy["p"] = "previous"
    assert boot.compare_firmware(before, after, host)[0] == []
