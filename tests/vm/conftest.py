"""Fixtures of the VM suite (``-m vm``): the cached guest image, one guest and one Prometheus per test.

Everything here is skipped with a reason (never failed) when the host cannot run it: not root,
a Debian package missing and not installable, no kernel image. Failures of the guest itself (no
boot, agent silent, scenario timeout) fail the test with the serial console and the agent log.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import pytest

LATENCIES: list[dict] = []
REHEARSALS: list[dict] = []  # the rehearsal's stages and figures (tests/vm/test_rehearsal.py), for the summary


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    # tests/run.sh runs the failed tests once more; it reads their ids from this file
    failed_file = os.environ.get("HWAGENT_VM_FAILED_FILE")
    if failed_file and rep.failed:
        with open(failed_file, "a") as fh:
            fh.write(item.nodeid + "\n")


def environment_problem(why: str) -> None:
    """The host cannot run the suite: skip, or fail where the suite is required (CI sets
    HWAGENT_VM_REQUIRED=1 so that a silently skipped VM suite cannot pass as green)."""
    if os.environ.get("HWAGENT_VM_REQUIRED") == "1":
        pytest.fail(f"VM suite required (HWAGENT_VM_REQUIRED=1) but cannot run: {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def vm_env():
    """(image, qemu) or skip: host packages, guest image (cached), qemu flavour."""
    from tests.vm.image import build, ensure_host_packages  # noqa: PLC0415
    from tests.vm.machine import Qemu  # noqa: PLC0415

    if os.geteuid() != 0:
        environment_problem("the VM suite needs root (debootstrap, chroot, apt-get)")
    why = ensure_host_packages()
    if why:
        environment_problem(f"VM suite host requirements: {why}")
    t0 = time.monotonic()
    image = build()
    qemu = Qemu.choose()
    print(f"\nguest image ready in {time.monotonic() - t0:.1f} s: {image.info} ; {qemu.version_line}")
    return image, qemu


@pytest.fixture
def machine(vm_env, request):
    """Factory: machine(bad_sector=False, swap_bay=False) -> a started guest with the agent answering."""
    from tests.vm.machine import BAD_SECTOR, Machine  # noqa: PLC0415

    image, qemu = vm_env
    made: list[Machine] = []

    def _make(bad_sector: bool = False, swap_bay: bool = False) -> Machine:
        workdir = Path(tempfile.mkdtemp(prefix="hwagent-vm-"))
        m = Machine(image, qemu, workdir, bad_sector=BAD_SECTOR if bad_sector else None, swap_bay=swap_bay)
        made.append(m)
        m.start()
        m.wait_agent()
        return m

    yield _make
    failed = any(getattr(request.node, f"rep_{w}", None) is not None and getattr(request.node, f"rep_{w}").failed
                 for w in ("setup", "call"))
    for m in made:
        if failed:
            print(f"\n===== guest diagnostics ({m.dir})\n{m.diagnostics()}")
        m.cleanup()


@pytest.fixture
def prometheus(request):
    """Factory: prometheus(machine) -> a running Prometheus scraping that guest's agent."""
    from tests.vm.prom import Prometheus  # noqa: PLC0415

    made: list[Prometheus] = []

    def _make(m) -> Prometheus:
        p = Prometheus(Path(tempfile.mkdtemp(prefix="hwagent-prom-")), f"127.0.0.1:{m.port}")
        made.append(p)
        p.start()
        p.wait("scrape target up", p.targets_up, 90)
        return p

    yield _make
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for p in made:
        if failed:
            print(f"\n===== prometheus log\n{p.log_tail()}")
        p.cleanup()


@pytest.fixture
def latency():
    def _record(scenario: str, **values) -> None:
        LATENCIES.append({"scenario": scenario, **values})
    return _record


# the rehearsal's headline figures (issue 15), printed in the summary so a passing CI run shows them too
REHEARSAL_HEADLINE = ("rehearsal_wall_s", "new_board_first_boot_to_served_s", "typed_answers", "typed", "manual_steps",
                      "off_runbook_fixes", "false_done_count", "found_by", "death_to_incident_s", "death_to_mail_s",
                      "notices_per_subscriber", "incident_downtime_s", "real_downtime_s", "availability_downtime_s",
                      "availability_percent", "served_gaps_after_back")


@pytest.fixture
def rehearsal_summary():
    """rehearsal_summary(table, figures): the rehearsal's stages and figures for the terminal summary."""
    def _record(table: str, figures: dict) -> None:
        REHEARSALS.append({"table": table, "figures": figures})
    return _record


def pytest_terminal_summary(terminalreporter):
    tr = terminalreporter
    for day in REHEARSALS:
        tr.section("VM suite: the rehearsal of the whole day")
        tr.write_line(day["table"])
        for key in REHEARSAL_HEADLINE:
            if key in day["figures"]:
                tr.write_line(f"{key}: {json.dumps(day['figures'][key], default=str)}")
    if not LATENCIES:
        return
    tr.section("VM suite: detection latency (seconds after injection)")
    cols = ("scenario", "rule", "agent_s", "prometheus_metric_s", "alert_firing_s", "boot_s")
    tr.write_line("  ".join(f"{c:<24}" if i < 2 else f"{c:>19}" for i, c in enumerate(cols)))
    for row in LATENCIES:
        cells = []
        for i, c in enumerate(cols):
            v = row.get(c, "")
            v = f"{v:.2f}" if isinstance(v, float) else str(v)
            cells.append(f"{v:<24}" if i < 2 else f"{v:>19}")
        extra = [f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k not in cols]
        tr.write_line("  ".join(cells) + ("  " + " ".join(extra) if extra else ""))
    from tests.vm.image import cache_dir  # noqa: PLC0415

    out = cache_dir() / "latency-last-run.json"
    out.write_text(json.dumps(LATENCIES, indent=1))
    tr.write_line(f"(also in {out})")
