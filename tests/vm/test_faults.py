"""End to end on a real kernel: inject a hardware fault into a qemu guest running the agent and
check that (1) the agent reports the right finding, (2) Prometheus has the series, (3) the shipped
alert fires, (4) the healthy baseline had no finding. One guest per test; see tests/vm/README.md.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from agent.mixin.alerts import alert_name  # the alert a finding fires (rule family x severity)
from tests.vm.scenarios import FATAL_MCE, SCENARIOS, Expect, Scenario, wait_for

pytestmark = pytest.mark.vm


def _plan(sc: Scenario, image, qemu) -> list[Expect]:
    """The scenario's expectations; every capability it names must be in the installed agent."""
    missing = [f"{e.rule}: {e.missing(image)}" for e in sc.expect if e.missing(image) is not None]
    missing += [f"metric {mt.name} not in the catalogue" for mt in sc.metrics if mt.name not in image.metrics]
    assert not missing, f"{sc.name}: the installed agent lacks " + "; ".join(missing)
    if sc.needs_correctable_aer and not qemu.delivers_correctable_aer:
        pytest.skip(f"{sc.name}: {qemu.version_line} never sends ERR_COR (fixed in qemu 8.0); "
                    "let the suite fetch the backports qemu (HWAGENT_VM_QEMU=auto)")
    return list(sc.expect)


def _readiness_info(f: dict) -> bool:
    """A fresh guest is a healthy host that nobody prepared for a board swap yet: the readiness rules
    (component `recovery`) say so at severity info, and only those are expected before injection."""
    return f.get("component") == "recovery" and f.get("severity") == "info"


def _assert_baseline(m, prom) -> None:
    st = m.status()
    assert st is not None, "agent stopped answering"
    hardware = [f for f in st["findings"] if not _readiness_info(f)]
    assert hardware == [], f"healthy baseline has findings: {json.dumps(hardware, indent=1)}"
    assert not [c for c, v in st["collectors"].items() if not v["ok"]], f"collectors failing: {st['collectors']}"
    active = prom.query("hwagent_finding_active == 1")
    assert [a for a in active if not _readiness_info(a["metric"])] == [], active
    firing = [a for a in prom.alerts() if a["state"] == "firing" and "rule" in a["labels"]]
    assert firing == [], f"alerts firing on the healthy baseline: {firing}"


def _wait_findings(m, expects: list[Expect], timeout: float) -> dict[int, dict]:
    """Poll /status.json until every expectation has a finding; {index: finding}."""
    got: dict[int, dict] = {}

    def poll():
        st = m.status() or {"findings": []}
        for i, e in enumerate(expects):
            if i not in got:
                f = next((f for f in st["findings"] if e.matches(f)), None)
                if f is not None:
                    got[i] = dict(f, _seen=time.monotonic())
        return len(got) == len(expects)

    if not wait_for(poll, timeout):
        st = m.status()
        raise AssertionError(
            f"within {timeout:.0f}s after injection the agent reported {len(got)}/{len(expects)} expected findings; "
            f"missing: {[e for i, e in enumerate(expects) if i not in got]}; "
            f"findings now: {json.dumps((st or {}).get('findings'), indent=1)}")
    return got


def _check_prometheus(sc: Scenario, image, prom, findings: list[dict], t_inject: float, timeout: float = 60) -> dict:
    times: dict[str, float] = {}
    for f in findings:
        # the series carries the component class ("disk" for "disk:<id>") and the device
        comp = f["component"].split(":", 1)[0]
        sel = (f'hwagent_finding_active{{rule="{f["rule"]}",component="{comp}",device="{f["device"]}",'
               f'severity="{f["severity"]}"}} == 1')
        prom.wait(sel, lambda s=sel: prom.query(s), timeout)
        times.setdefault("prometheus_metric_s", time.monotonic() - t_inject)
        alertname = alert_name(f["rule"], f["severity"])
        if alertname:
            def firing(rule=f["rule"], name=alertname, dev=f["device"]):
                return [a for a in prom.alerts() if a["state"] == "firing" and a["labels"].get("alertname") == name
                        and a["labels"].get("rule") == rule and a["labels"].get("device") == dev]
            alerts = prom.wait(f"alert {alertname} firing for rule {f['rule']}", firing, timeout)
            assert alerts[0]["labels"].get("component") == comp
            times.setdefault("alert_firing_s", time.monotonic() - t_inject)
    for mt in sc.metrics:
        if mt.name in image.metrics:
            prom.wait(mt.expr, lambda e=mt.expr: prom.query(e), timeout)
    return times


def _check_cli(m, findings: list[dict]) -> None:
    """`agent status --json` inside the guest (the CLI asks the daemon) shows the same findings."""
    out = m.sh("agent status --json 2>/dev/null; true", timeout=120)
    data = json.loads(out[out.index("{"):])
    keys = {(f["rule"], f["component"], f["severity"]) for f in data["findings"]}
    for f in findings:
        assert (f["rule"], f["component"], f["severity"]) in keys, f"`agent status --json` lacks {f['rule']}: {data['findings']}"


def run_scenario(sc: Scenario, vm_env, machine, prometheus, latency, m=None) -> None:
    image, qemu = vm_env
    expects = _plan(sc, image, qemu)
    m = m or machine(bad_sector=sc.bad_sector)
    if sc.setup:
        sc.setup(m)
        time.sleep(3)  # let every collector run at least once on the new state
    prom = prometheus(m)
    _assert_baseline(m, prom)
    t_inject = time.monotonic()
    sc.inject(m)
    if sc.latency_from_end:
        t_inject = time.monotonic()
    got = _wait_findings(m, expects, sc.timeout)
    agent_s = max(f["_seen"] for f in got.values()) - t_inject
    # kernel-log-fed findings alone (the <= 2 s target): the tail wakes the collector at once
    klog = [got[i]["_seen"] - t_inject for i, e in enumerate(expects) if "kernel_log" in e.collectors]
    extra = {"kernel_log_s": max(klog)} if klog else {}
    findings = [got[i] for i in sorted(got)]
    times = _check_prometheus(sc, image, prom, findings, t_inject)
    if sc.check_cli:
        _check_cli(m, findings)
    latency(sc.name, rule=",".join(f["rule"] for f in findings), agent_s=agent_s, boot_s=m.boot_seconds,
            **extra, **times)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fault_scenario(name, vm_env, machine, prometheus, latency):
    run_scenario(SCENARIOS[name], vm_env, machine, prometheus, latency)


def test_fatal_mce_previous_boot(vm_env, machine, prometheus, latency):
    """A fatal machine check panics the guest; after the reboot the agent reports it (state disk + pstore)."""
    sc = FATAL_MCE
    image, qemu = vm_env
    expects = _plan(sc, image, qemu)
    m = machine()
    prom = prometheus(m)
    _assert_baseline(m, prom)
    sc.inject(m)
    m.wait_serial(r"Kernel panic - not syncing: Fatal machine check", 30)
    assert m.wait_exit(60) is not None  # panic=-1 reboots at once, -no-reboot turns that into an exit
    m.stop()
    t_boot = time.monotonic()
    m.start()
    m.wait_agent()
    pstore = m.sh("for f in /sys/fs/pstore/*; do echo \"== $f\"; cat \"$f\"; done", check=False)
    assert re.search(r"Fatal machine check", pstore), f"no panic record in pstore (acpi-erst): {pstore[-2000:]}"
    got = _wait_findings(m, expects, sc.timeout)
    findings = [got[i] for i in sorted(got)]
    times = _check_prometheus(sc, image, prom, findings, t_boot, timeout=120)
    latency(sc.name, rule=",".join(f["rule"] for f in findings),
            agent_s=max(f["_seen"] for f in got.values()) - t_boot, boot_s=m.boot_seconds, **times)


def test_restart_does_not_double_count(vm_env, machine, prometheus, latency):
    """Kernel events seen before an agent restart are not counted again after it."""
    image, qemu = vm_env
    assert "kernel_log" in image.collectors, f"kernel_log not registered (has {', '.join(image.collectors)})"
    assert "events" in image.commands, "`agent events` missing from the installed agent"
    m = machine()
    SCENARIOS["mce-corrected"].inject(m)  # two corrected machine checks

    def events():
        out = m.sh("agent events --json 2>/dev/null", timeout=120, check=False)
        start = min([i for i in (out.find("["), out.find("{")) if i >= 0], default=-1)
        data = json.loads(out[start:]) if start >= 0 else []
        return data.get("events", data) if isinstance(data, dict) else data

    def total():
        text = m.http("/metrics").decode()
        return sum(float(v) for v in re.findall(r"^hwagent_kernel_events_total\{[^}]*\} (\S+)$", text, re.M))

    # wait on the cheap HTTP metric first; each `agent events` is a Python start under TCG
    total_before = wait_for(lambda: total() >= 1 and total(), 90, interval=0.5)
    assert total_before, f"hwagent_kernel_events_total stayed {total()} after two corrected MCEs"
    before = wait_for(lambda: (lambda e: e if len(e) >= 1 else None)(events()), 90, interval=2)
    assert before, f"`agent events --json` lists no event: {events()}"
    m.sh("/hwagent-vm/agent-service.sh restart", timeout=60)
    m.wait_agent()
    time.sleep(4)  # a few collection cycles after the restart
    after = events()
    assert len(after) == len(before), f"events before restart {len(before)}, after {len(after)}:\n{json.dumps(after, indent=1)}"
    assert total() <= total_before, f"hwagent_kernel_events_total grew across the restart ({total_before} -> {total()})"


def _nvme_written_bytes(m) -> tuple[str, float] | None:
    """(device label, value) of the NVMe's hwagent_disk_written_bytes_total from the agent's /metrics."""
    text = m.http("/metrics").decode()
    for labels, value in re.findall(r"^hwagent_disk_written_bytes_total\{([^}]*)\} (\S+)$", text, re.M):
        dev = re.search(r'device="([^"]*)"', labels)
        if dev and "nvme" in dev.group(1):
            return dev.group(1), float(value)
    return None


def test_smart_attribute_change_between_reads(vm_env, machine, prometheus, latency):
    """The drive's own health log changes between two SMART reads: the host writes 64 MiB (data
    units written grow) and lowers the NVMe composite temperature threshold below the drive's
    temperature through Set Features (the controller then sets the temperature bit of the
    critical warning, as an overheating drive does). The agent must see both within one SMART
    cycle, and the finding must clear when the threshold is restored."""
    image, _qemu = vm_env
    assert "smart" in image.collectors and "disk.nvme_critical_warning" in image.rule_ids, \
        "smart collector or disk.nvme_critical_warning missing from the installed agent"
    from tests.vm.image import COLLECTOR_INTERVALS  # noqa: PLC0415

    interval = COLLECTOR_INTERVALS["smart"]
    m = machine()
    prom = prometheus(m)
    _assert_baseline(m, prom)
    first = wait_for(lambda: _nvme_written_bytes(m), 30)
    assert first, "no hwagent_disk_written_bytes_total series for the NVMe"
    dev, before = first
    default_thresh = m.sh("nvme get-feature /dev/nvme0 --feature-id=4 2>&1", check=False)
    t_inject = time.monotonic()
    m.sh("dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=64 oflag=direct status=none", timeout=180)
    m.sh("nvme set-feature /dev/nvme0 --feature-id=4 --value=0x140", timeout=60)  # over-temp threshold 320 K
    t_set = time.monotonic()
    expect = Expect(r"disk\.nvme_critical_warning", r"disk:.*", ("critical",), ("smart",), text=r"temperature")
    got = _wait_findings(m, [expect], 3 * interval + 30)
    finding = got[0]
    agent_s = finding["_seen"] - t_set
    # one SMART cycle (plus one smartctl run under emulation) from the change to the finding
    assert agent_s <= interval + 10, f"SMART change seen after {agent_s:.1f} s, collector interval {interval} s"
    assert finding.get("runbook") in (None, ""), "a temperature-only warning suggests no disk swap"
    grown = wait_for(lambda: (lambda v: v and v[1] >= before + 64 * 1024 * 1024 and v)(_nvme_written_bytes(m)),
                     3 * interval)
    assert grown, f"hwagent_disk_written_bytes_total stayed at {_nvme_written_bytes(m)} (before {before}) after 64 MiB"
    written_s = time.monotonic() - t_inject
    times = _check_prometheus(SCENARIO_SMART, image, prom, [finding], t_set)
    prom.wait("written bytes grew in Prometheus",
              lambda: prom.query(f'hwagent_disk_written_bytes_total{{device="{dev}"}} >= {before + 64 * 1024 * 1024}'), 60)
    # the drive recovers: restore the threshold, the bit clears, the finding goes with it
    m.sh("nvme set-feature /dev/nvme0 --feature-id=4 --value=0x157", timeout=60)  # 343 K, qemu's default
    t_clear = time.monotonic()

    def cleared():
        st = m.status()
        return st is not None and not [f for f in st["findings"] if f["rule"] == "disk.nvme_critical_warning"]
    assert wait_for(cleared, 3 * interval + 30), f"finding did not clear: {m.status()}"
    latency("smart-attribute-change", rule=finding["rule"], agent_s=agent_s, boot_s=m.boot_seconds,
            clear_s=time.monotonic() - t_clear, written_seen_s=written_s, **times)
    print(f"smart-attribute-change: threshold feature before: {default_thresh.strip()[:120]}")


SCENARIO_SMART = Scenario("smart-attribute-change", lambda m: None, ())
