"""os-updates: free space from params.min_free_mb, the upgrade preview from recorded `apt-get -s`
output (removals highlighted), the reboot check without needrestart, the upgrade never killed."""

from __future__ import annotations

from pathlib import Path

from agent.recovery import actions_updates as D
from agent.recovery import longrun
from agent.recovery import runbook as rbm
from agent.recovery.executor import Executor, NullUI
from tests.unit.recovery.support import ScriptedRunner, host

ROOT = Path(__file__).resolve().parents[3]
FIX = ROOT / "tests" / "fixtures" / "recovery"
BOOK = ROOT / "runbooks" / "os-updates.toml"


def test_parse_recorded_simulations():
    up = D.parse_apt_simulation((FIX / "apt-get-s-dist-upgrade.txt").read_text())
    assert len(up["upgrade"]) == 86 and not up["remove"] and not up["new"]
    assert "base-files 12.4+deb12u11 -> 12.4+deb12u15" in up["upgrade"]
    rm = D.parse_apt_simulation((FIX / "apt-get-s-install-remove.txt").read_text())
    assert rm["remove"] == ["yq", "jq"] and rm["new"] == ["postfix 3.7.11-0+deb12u1"]


def _runner(sim: str, uname: str = "6.1.0-28-amd64", locks: str = ""):
    def fn(argv):
        if argv[:2] == ("apt-get", "-s"):
            return 0, (FIX / sim).read_text()
        if argv[0] == "uname":
            return 0, uname + "\n"
        if argv[0] == "lslocks":
            return 0, locks
        if argv[0] == "timedatectl":
            return 0, "yes\n"
        return 0, ""
    return ScriptedRunner(fn)


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "boot").mkdir(parents=True)
    for v in ("6.1.0-9-amd64", "6.1.0-27-amd64", "6.1.0-28-amd64"):
        (root / "boot" / f"vmlinuz-{v}").write_text("")
    (root / "var").mkdir()
    return root


def test_dry_run_shows_the_preview_with_removals_and_uses_min_free_mb(tmp_path):
    root = _tree(tmp_path)
    rb = rbm.load(BOOK)
    items = {i.step.id: i for i in Executor(rb, host(root, _runner("apt-get-s-install-remove.txt")),
                                           ui=NullUI(), live_baseline=lambda: {}).plan()}
    assert items["U-03c"].status == "ok"
    assert "1 new, 2 REMOVAL(S): yq, jq" in items["U-03c"].detail
    assert items["U-01b"].status == "ok"  # 500 MiB default on the test file system
    big = Executor(rb, host(root, _runner("apt-get-s-install-remove.txt")), ui=NullUI(),
                   params={"min_free_mb": "999999999"}, live_baseline=lambda: {}).plan()
    u01b = next(i for i in big if i.step.id == "U-01b")
    assert u01b.status == "failing" and "needs 999999999" in u01b.detail


def test_dpkg_lock_held_by_unattended_upgrades_is_waited_for(tmp_path):
    root = _tree(tmp_path)
    held = "unattended-upgr /var/lib/dpkg/lock-frontend\n"
    items = {i.step.id: i for i in Executor(rbm.load(BOOK), host(root, _runner("apt-get-s-dist-upgrade.txt", locks=held)),
                                           ui=NullUI(), live_baseline=lambda: {}).plan()}
    assert items["U-01c"].status == "failing" and "/var/lib/dpkg/lock" in items["U-01c"].detail
    assert rbm.load(BOOK).step("U-01c").until["deadline_seconds"] == 3600


def test_reboot_check_without_needrestart(tmp_path):
    root = _tree(tmp_path)
    rb = rbm.load(BOOK)

    def u06(uname):
        items = Executor(rb, host(root, _runner("apt-get-s-dist-upgrade.txt", uname=uname)), ui=NullUI(),
                         live_baseline=lambda: {}).plan()
        return next(i for i in items if i.step.id == "U-06")
    assert u06("6.1.0-28-amd64").status == "already_done"  # newest (28 > 27 > 9, not string order)
    item = u06("6.1.0-27-amd64")
    assert item.status == "would_run" and "newest installed 6.1.0-28-amd64" in item.results[0]["detail"]
    (root / "run").mkdir()
    (root / "run" / "reboot-required").write_text("*** System restart required ***\n")
    (root / "run" / "reboot-required.pkgs").write_text("libc6\n")
    item = u06("6.1.0-28-amd64")
    assert item.status == "would_run" and "/run/reboot-required exists (libc6)" in item.results[0]["detail"]


def test_the_upgrade_steps_are_never_killed():
    rb = rbm.load(BOOK)
    assert longrun.never_killed(rb.step("U-04")) and longrun.never_killed(rb.step("U-01d"))
    assert not longrun.never_killed(rb.step("U-03a"))
    assert rb.step("U-04").confirm["pattern"] == "^upgrade$"
    manual = [s.id for s in rb.steps if s.kind == "manual"]
    assert manual == ["U-06"]  # one confirmation before the upgrade (U-04's), the reboot is the only manual step


def test_new_runbooks_are_show_able(monkeypatch):
    from click.testing import CliRunner

    from agent.cli import cli

    monkeypatch.delenv("HWAGENT_RUNBOOKS_DIR", raising=False)
    for name, expect in (("restore-drill", "RD-03 · Restore the newest snapshot"), ("os-updates", "U-03c · Preview"),
                         ("data-restore", "D-05p3 · PostgreSQL: restore the dump"),
                         ("config-restore", "CR-01 · etckeeper")):
        r = CliRunner().invoke(cli, ["recover", "show", name], catch_exceptions=False)
        assert r.exit_code == 0 and expect in r.output, r.output[:500]
