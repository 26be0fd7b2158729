"""The dry run's allow-list: deny by default, argvs split the way each program splits them.

Every argv the field report found slipping through is here, next to the safe forms the shipped
runbooks use; the old "any arguments" rules passed all of the refused ones."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from agent.recovery import actions as A
from agent.recovery import runbook as rbm
from agent.recovery.readonly_programs import argv_read_only

RUNBOOKS = Path(__file__).resolve().parents[3] / "runbooks"

REFUSED = [
    ["doveadm", "-c", "/etc/dovecot/dovecot.conf", "force-resync", "-A", "*"], ["doveadm", "-c", "/x", "expunge"],
    ["doveadm", "-o", "mail_location=maildir:/x", "mailbox", "status", "-A", "messages", "INBOX"],
    # programs whose "any arguments" rule let these through
    ["date", "-s", "2020-01-01"], ["date", "--set=2020-01-01"], ["date", "010100002020"],
    ["hostname", "evil"], ["hostname", "-F", "/tmp/name"],
    ["awk", "BEGIN{system(\"touch /tmp/x\")}"],
    ["sort", "-o", "/tmp/out", "/etc/passwd"], ["sort", "--output=/tmp/out", "/etc/passwd"],
    ["sort", "--compress-program=sh", "/etc/passwd"], ["sort", "-T", "/tmp", "/etc/passwd"],
    ["uniq", "/etc/passwd", "/tmp/out"],
    ["dmidecode", "--dump-bin", "/tmp/dmi.bin"],
    ["sensors", "-s"],
    # = forms of forbidden options
    ["smartctl", "--test=long", "/dev/sda"], ["smartctl", "--smart=off", "/dev/sda"],
    ["smartctl", "--set=standby,now", "/dev/sda"], ["smartctl", "-tlong", "/dev/sda"], ["smartctl", "-s", "off", "/dev/sda"],
    ["smartctl", "--te=long", "/dev/sda"], ["smartctl", "-l", "scterc,70,70", "/dev/sda"],
    ["smartctl", "-l", "sataphy,reset", "/dev/sda"], ["smartctl", "-X", "/dev/sda"],
    # an option's value taken for the subcommand
    ["systemctl", "-p", "status", "stop", "nginx.service"], ["systemctl", "--property", "show", "restart", "x"],
    ["systemctl", "-p", "--now", "stop", "x"], ["systemctl", "--", "stop", "x"], ["systemctl", "status", "--now", "x"],
    ["timedatectl", "-p", "show", "set-ntp", "false"], ["timedatectl", "set-time", "2020-01-01"],
    # subcommands with write forms
    ["ipmitool", "fru", "write", "0", "/tmp/fru.bin"], ["ipmitool", "sel", "delete", "1"], ["ipmitool", "sel", "clear"],
    ["ipmitool", "sensor", "thresh", "CPU1", "upper", "90", "95", "100"], ["ipmitool", "chassis", "power", "off"],
    ["ipmitool", "lan", "set", "1", "ipaddr", "10.0.0.1"], ["ipmitool", "mc", "reset", "cold"],
    ["ipmitool", "-I", "lanplus", "chassis", "bootdev", "pxe"],
    ["ethtool", "--reset", "eth0", "all"], ["ethtool", "-N", "eth0", "rx-flow-hash", "tcp4", "sdfn"],
    ["ethtool", "--features", "eth0", "gro", "off"], ["ethtool", "-s", "eth0", "speed", "100"],
    ["ethtool", "-K", "eth0", "tso", "off"], ["ethtool", "eth0", "speed", "100"],
    ["curl", "-c", "/tmp/jar", "https://x"], ["curl", "--dump-header", "/tmp/h", "https://x"],
    ["curl", "-D", "/tmp/h", "https://x"], ["curl", "-o", "/tmp/x", "https://x"], ["curl", "-o/tmp/x", "https://x"],
    ["curl", "--output=/dev/null", "https://x"], ["curl", "-sSo", "/tmp/x", "https://x"],
    ["curl", "--trace", "/tmp/t", "https://x"], ["curl", "-K", "/tmp/cfg", "https://x"],
    ["curl", "-w", "%output{/tmp/x}%{http_code}", "https://x"], ["curl", "-X", "POST", "https://x"],
    ["curl", "-T", "/etc/passwd", "https://x"], ["curl", "file:///etc/shadow"],
    ["dmesg", "--console-level", "1"], ["dmesg", "-n", "1"], ["dmesg", "-c"], ["dmesg", "-C"],
    ["ip", "route", "restore"], ["ip", "route", "save"], ["ip", "-batch", "/tmp/cmds"], ["ip", "link", "set", "eno1", "up"],
    ["ip", "addr", "add", "10.0.0.1/24", "dev", "eth0"], ["ip", "-force", "-batch", "x"], ["ip", "monitor"],
    # backup tools: no repository locks, no data downloads in a dry run
    ["restic", "check"], ["restic", "check", "--read-data-subset=5%"], ["restic", "snapshots"],
    ["restic", "dump", "--no-lock", "latest", "/etc/passwd"], ["restic", "restore", "latest", "--target", "/"],
    ["restic", "--password-command=sh", "snapshots", "--no-lock"], ["restic", "cat", "--no-lock", "masterkey"],
    ["borg", "list", "/repo"], ["borg", "check", "--bypass-lock", "/repo"], ["borg", "extract", "--dry-run", "/r::a"],
    ["borg", "--bypass-lock", "delete", "/repo::a"],
    # package managers and friends
    ["apt-get", "update"], ["apt-get", "dist-upgrade"], ["apt-get", "-y", "dist-upgrade"],
    ["apt-get", "-o", "APT::Update::Pre-Invoke::=touch /tmp/x", "check"], ["apt-get", "-s", "-o", "Dir::Etc=/tmp", "upgrade"],
    ["dpkg", "-i", "x.deb"], ["dpkg", "-s", "-i", "x.deb"], ["dpkg", "--configure", "-a"],
    ["needrestart", "-b", "-r", "a"], ["needrestart", "-r", "l"],
    ["rsync", "-a", "a/", "b/"], ["rsync", "-n", "-a", "a/", "host:b/"], ["rsync", "-n", "--log-file=/tmp/l", "a/", "b/"],
    ["rsync", "-n", "-e", "sh", "a/", "b/"], ["pg_restore", "-l", "-f", "/tmp/out", "/d.dump"],
    ["pg_restore", "-d", "db", "/d.dump"], ["mariadb-check", "--repair", "db"], ["mariadb-check", "--auto-repair", "-B", "db"],
    ["postqueue", "-f"], ["sfdisk", "/dev/sdb"], ["sgdisk", "/dev/sda", "-R", "/dev/sdb"], ["efibootmgr", "-c", "-d", "/dev/sda"],
    ["mdadm", "--manage", "/dev/md0", "--fail", "/dev/sdb1"], ["mdadm", "--detail", "--stop", "/dev/md0"],
    ["zpool", "import", "tank"], ["zpool", "events", "-c"], ["zpool", "scrub", "tank"], ["zpool", "-o", "status", "create"],
    ["zfs", "destroy", "tank/x"], ["storcli64", "/c0/fall", "del"], ["storcli64", "/c0", "show", "set"],
    ["storcli64", "/c0/e252/s1", "start", "locate"], ["journalctl", "--vacuum-time=1d"], ["journalctl", "--rotate"],
    ["journalctl", "-f"], ["udevadm", "trigger"], ["udevadm", "info", "--cleanup-db"], ["hwclock", "--systohc"],
    ["hwclock", "-w"], ["find", "/", "-delete"], ["find", "/", "-exec", "rm", "{}", ";"], ["find", "/", "-fprint", "/tmp/x"],
    ["blkid", "-c", "/tmp/cache"], ["mokutil", "--import", "x.der"], ["lspci", "-xxx"], ["ping", "-f", "host"],
    ["rm", "-rf", "/"], ["sh", "-c", "true"], ["touch", "/tmp/x"], [],
]

ALLOWED = [
    ["date", "+%s"], ["date", "-u", "-Iseconds"], ["hostname", "-f"], ["sort", "-n", "/etc/passwd"],
    ["uniq", "-c", "/etc/passwd"], ["dmidecode", "-t", "memory"], ["dmidecode", "-s", "system-uuid"], ["sensors", "-u"],
    ["smartctl", "-H", "/dev/sda"], ["smartctl", "-a", "--json=c", "/dev/sda"], ["smartctl", "-l", "xerror,error", "/dev/sda"],
    ["smartctl", "--log=selftest", "/dev/sda"], ["smartctl", "-i", "-d", "megaraid,0", "/dev/sda"],
    ["systemctl", "-p", "LoadState", "show", "nginx.service"], ["systemctl", "show", "-p", "ActiveState", "--value", "x"],
    ["systemctl", "is-active", "nginx.service"], ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
    ["timedatectl"], ["ipmitool", "fru", "print"], ["ipmitool", "sel", "elist"], ["ipmitool", "sensor"],
    ["ipmitool", "-I", "lanplus", "-H", "bmc", "chassis", "power", "status"], ["ethtool", "-i", "eth0"], ["ethtool", "eth0"],
    ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "https://x"], ["curl", "-fsS", "https://x/health"],
    ["dmesg", "-T", "--level=err,warn"], ["ip", "-br", "addr"], ["ip", "route", "show", "table", "all"],
    ["ip", "-j", "link", "show", "dev", "eno1"], ["ip", "route", "get", "1.1.1.1"],
    ["restic", "snapshots", "--no-lock", "--json"], ["restic", "--no-lock", "ls", "latest", "/srv"],
    ["restic", "-r", "/repo", "--password-file", "/pw", "--no-lock", "--no-cache", "ls", "--json", "latest"],
    ["borg", "list", "--bypass-lock", "--short", "/repo"], ["borg", "--bypass-lock", "info", "--json", "/repo::a"],
    ["apt-get", "check"], ["apt-get", "-s", "dist-upgrade"],
    ["apt-get", "-s", "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=", "-V", "dist-upgrade"],
    ["dpkg", "--audit"], ["dpkg", "-s", "grub-efi-amd64"], ["apt-mark", "showhold"], ["needrestart", "-b", "-r", "l"],
    ["rsync", "-n", "-aHAX", "--numeric-ids", "--delete", "-i", "a/", "b/"], ["pg_restore", "-l", "/d.dump"],
    ["mariadb-check", "--databases", "restore_check"], ["postqueue", "-p"], ["sfdisk", "--json", "/dev/sda"],
    ["sgdisk", "-p", "/dev/sda"], ["efibootmgr", "-v"], ["mdadm", "--detail", "/dev/md0"], ["mdadm", "-Ds"],
    ["zpool", "import"], ["zpool", "import", "-d", "/dev/disk/by-id"], ["zpool", "status", "-x"],
    ["storcli64", "/c0/eall/sall", "show"], ["journalctl", "-k", "-b", "--no-pager", "-o", "cat"],
    ["journalctl", "-u", "dovecot.service", "--since=-1h"], ["udevadm", "info", "-q", "property", "/sys/class/net/eno1"],
    ["hwclock", "--show"], ["find", "/srv", "-type", "f", "-newer", "/x", "-print0"], ["lspci", "-nnk"],
    ["grep", "-rs", "--include=ce_count", ".", "/sys/devices/system/edac/mc"], ["df", "--output=avail", "-BM", "/var"],
    ["/usr/sbin/mdadm", "--examine", "/dev/sdb1"], ["test", "-d", "/srv"], ["sha256sum", "/etc/hostname"],
    ["doveadm", "-c", "/etc/dovecot/dovecot.conf", "mailbox", "status", "-A", "messages", "INBOX"],
    ["doveadm", "mailbox", "status", "-u", "alice", "messages", "INBOX"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=[" ".join(a) or "empty" for a in REFUSED])
def test_refused(argv):
    ok, why = argv_read_only(argv)
    assert not ok, f"{argv} passed as read-only"
    assert why


@pytest.mark.parametrize("argv", ALLOWED, ids=[" ".join(a) for a in ALLOWED])
def test_allowed(argv):
    ok, why = argv_read_only(argv)
    assert ok, why


def test_value_is_never_taken_for_the_subcommand():
    ok, why = argv_read_only(["systemctl", "-p", "status", "stop", "nginx.service"])
    assert not ok and "'stop'" in why
    ok, why = argv_read_only(["timedatectl", "-p", "show", "set-ntp", "false"])
    assert not ok and "'set-ntp'" in why


def test_actions_module_uses_the_same_list():
    assert A.argv_read_only is argv_read_only


def _shipped_probe_argvs():
    out = []
    for f in sorted(RUNBOOKS.glob("*.toml")):
        for s in tomllib.loads(f.read_text())["steps"]:
            for key in ("check", "verify", "apply", "undo"):
                spec = s.get(key)
                if spec and spec.get("action") == "probe":
                    out.append((f.stem, s["id"], spec["argv"]))
    return out


@pytest.mark.parametrize("rb,sid,argv", _shipped_probe_argvs(), ids=lambda x: x if isinstance(x, str) else None)
def test_every_shipped_probe_is_read_only(rb, sid, argv):
    ok, why = argv_read_only(argv)
    assert ok, f"{rb} {sid}: {why}"


def test_a_write_disguised_as_a_probe_is_a_load_error():
    text = ('id = "t"\ntitle = "t"\n[[steps]]\nid = "S"\ntitle = "s"\n'
            'verify = { action = "probe", argv = ["uniq", "/etc/hostname", "/tmp/created-by-a-dry-run"] }\n')
    with pytest.raises(rbm.RunbookError, match="not a read-only command"):
        rbm.from_mapping(tomllib.loads(text), "t.toml")


@pytest.mark.parametrize("path", sorted(RUNBOOKS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_runbook_still_dry_runs(path, tmp_path):
    """Each shipped runbook plans without error; every argv that reaches the host is read-only."""
    from agent.recovery.executor import Executor, NullUI
    from tests.unit.recovery.support import ScriptedRunner, host

    def fn(argv):
        ok, why = argv_read_only(argv)
        assert ok, f"{path.stem}: {argv} reached the host in a dry run: {why}"
        return 1, ""
    runner = ScriptedRunner(fn)
    rb = rbm.load(path)
    params = {n: p.example or p.default for n, p in rb.params.items() if p.required}
    ex = Executor(rb, host(tmp_path / "root", runner), params={k: v for k, v in params.items() if v},
                  ui=NullUI(), live_baseline=lambda: {})
    items = ex.plan()
    errors = [(i.step.id, i.detail) for i in items if i.status == "error" and "baseline" not in i.detail]
    assert not errors
