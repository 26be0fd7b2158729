"""``services_restore`` (MB-25): restart exactly the units the baseline names that do not run as
before; nothing else, and a refusal is reported with systemctl's words."""

from __future__ import annotations

from agent.host import Host, HostPaths
from agent.recovery import actions as A
from agent.recovery.action_base import ActionContext
from agent.recovery.actions_services import restart_plan
from agent.runner import CommandResult
from tests.unit.recovery.support import ScriptedRunner


def sock(port, unit, proto="tcp", addr="0.0.0.0"):
    return {"proto": proto, "address": addr, "port": port, "unit": unit}


BEFORE = {"software": {"services_enabled": ["dovecot.service", "nginx.service", "postfix.service", "ssh.service"]},
          "listening": {"sockets": [sock(22, "ssh.service"), sock(80, "nginx.service"), sock(993, "dovecot.service"),
                                    sock(25, "postfix@-.service"), sock(40000, "chrony.service", proto="udp")]}}


def now(*ports):
    return {"software": BEFORE["software"],
            "listening": {"sockets": [s for s in BEFORE["listening"]["sockets"] if s["port"] in ports]}}


def test_the_plan_names_failed_baseline_units_and_silent_sockets_only():
    units, broken = restart_plan(BEFORE, now(22, 80, 25), ["dovecot.service", "colord.service"])
    assert (units, broken) == (["dovecot.service"], ["dovecot.service"])  # colord: not in the baseline
    units, broken = restart_plan(BEFORE, now(22, 993), [])
    assert (units, broken) == (["nginx.service", "postfix@-.service"], [])
    # an ephemeral UDP port of the baseline is a client port, never a reason to restart anything
    assert restart_plan(BEFORE, now(22, 80, 993, 25), []) == ([], [])


def _ctx(tmp_path, runner, live):
    host = Host(paths=HostPaths(rootfs=str(tmp_path)), runner=runner)
    return ActionContext(host, timeout=30, dry_run=False, operator="t", baseline=BEFORE, live_baseline=lambda: live)


def test_a_failed_unit_is_reset_then_restarted(tmp_path):
    runner = ScriptedRunner(lambda argv: (0, "dovecot.service loaded failed failed Dovecot IMAP/POP3 email server\n"
                                          if argv[1] == "list-units" else ""))
    out = A.ACTIONS["services_restore"]().run({}, _ctx(tmp_path, runner, now(22, 80, 25)))
    assert out.passed and out.detail == "restarted dovecot.service"
    assert runner.calls[1:] == [("systemctl", "reset-failed", "dovecot.service"),
                                ("systemctl", "restart", "dovecot.service")]


def test_a_refused_restart_fails_with_systemctls_words(tmp_path):
    def fn(argv):
        if argv[1] == "restart":
            return CommandResult(argv, 1, b"", b"Job for nginx.service failed because the control process exited "
                                               b"with error code.\n", 0.0, None)
        return 0, ""
    out = A.ACTIONS["services_restore"]().run({}, _ctx(tmp_path, ScriptedRunner(fn), now(22, 993, 25)))
    assert not out.passed and out.detail == ("restart nginx.service: Job for nginx.service failed because the control "
                                             "process exited with error code.")


def test_nothing_to_restart_is_a_failure_that_says_so(tmp_path):
    runner = ScriptedRunner(lambda argv: (0, "colord.service loaded failed failed Manage color profiles\n"))
    out = A.ACTIONS["services_restore"]().run({}, _ctx(tmp_path, runner, now(22, 80, 993, 25)))
    assert not out.passed and "failed now: colord.service (not in the baseline)" in out.detail
    assert runner.calls == [("systemctl", "list-units", "--state=failed", "--no-legend", "--plain")]


def test_unreadable_sockets_now_fail_with_the_commands_own_words():
    """The live capture's ss failed: the comparison says which command and why (its stderr), never
    that the sockets are gone."""
    from agent.recovery.services import compare_listening
    failed = {"listening": {"sockets": [], "source": {"argv": ["ss", "-tulnpH"], "rc": 1, "error": None,
                                                      "stderr": "Cannot open netlink socket: Operation not permitted"}}}
    problems, _, _ = compare_listening(BEFORE, failed)
    assert problems == ["listening sockets unreadable: rc 1, Cannot open netlink socket: Operation not permitted "
                        "(ss -tulnpH)"]
    missing = {"listening": {"sockets": [], "source": {"argv": ["ss", "-tulnpH", "--cgroup"], "rc": None,
                                                       "error": "ss: not found"}}}
    assert compare_listening(BEFORE, missing)[0] == ["listening sockets unreadable: ss: not found (ss -tulnpH --cgroup)"]
