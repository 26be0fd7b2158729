"""Fault scenarios of the VM suite: how each fault is injected and what the agent must report.

An :class:`Expect` names a rule family by regular expression (the exact ids belong to the
capability that implements the rule), the component and the allowed severities. A scenario
runs when the installed agent registers the collectors it needs and at least one rule matching
one of its expectations; every expectation whose rule is registered must then be met, the others
are reported as pending. So a scenario starts to count as soon as its capability lands, and the
suite never fails for a capability that does not exist yet.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable

from tests.vm.machine import BAD_SECTOR, RP1_BDF, Machine


@dataclass(frozen=True)
class Expect:
    rule: str  # regex over rule ids (fullmatch)
    component: str  # regex over the finding's component (fullmatch)
    severities: tuple[str, ...]
    collectors: tuple[str, ...]  # collectors that feed the rule (all needed)
    text: str = ""  # regex the finding's JSON must contain (device, sensor, bank...), optional

    def rules_in(self, registered: set[str]) -> list[str]:
        return sorted(r for r in registered if re.fullmatch(self.rule, r))

    def missing(self, image) -> str | None:
        """Why this expectation cannot be checked with the installed agent, or None."""
        cols = [c for c in self.collectors if c not in image.collectors]
        if cols:
            return f"collector {', '.join(cols)} not registered"
        if not self.rules_in(image.rule_ids):
            return f"no rule matching {self.rule} registered"
        return None

    def matches(self, finding: dict) -> bool:
        import json  # noqa: PLC0415

        return (re.fullmatch(self.rule, finding.get("rule", "")) is not None
                and re.fullmatch(self.component, finding.get("component", "")) is not None
                and finding.get("severity") in self.severities
                and (not self.text or re.search(self.text, json.dumps(finding)) is not None))


@dataclass(frozen=True)
class Metric:
    name: str  # must be in the installed agent's catalogue, else this check is pending
    expr: str  # PromQL that returns a non-empty vector once the fault is seen


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Callable[[Machine], None]
    expect: tuple[Expect, ...]
    metrics: tuple[Metric, ...] = ()
    bad_sector: bool = False
    needs_correctable_aer: bool = False
    timeout: float = 60.0  # injection -> finding (generous: the 2-core host may be busy)
    # also run `agent status --json` in the guest (after the latency is taken: a Python start under TCG, 5-20 s)
    check_cli: bool = True
    setup: Callable[[Machine], None] | None = None
    # latency counts from the end of the injection when it sends several faults spaced apart
    # (the expected findings need the last one), else from its start
    latency_from_end: bool = False
    note: str = ""
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- injections
def mce_corrected(m: Machine) -> None:
    # bank 1 status VAL|EN|MISCV|ADDRV, MCACOD 0x9f (memory read), address, misc (physical address, lsb 6);
    # two of them: storm rules are leaky buckets (the guest config sets capacity 1). 1.5 s apart: the
    # kernel polls the banks every second (check_interval), and a second error in the same bank
    # before the poll overwrites the first (status gets OVER, one record)
    m.qmp.hmp("mce 0 1 0x9c0000000000009f 0 0x1234000 0x86")
    time.sleep(1.5)
    m.qmp.hmp("mce 0 1 0x9c0000000000009f 0 0x1234040 0x86")


def mce_uncorrected(m: Machine) -> None:
    # SRAO: VAL|UC|EN|MISCV|ADDRV|S, MCACOD 0xc0 (memory scrub); broadcast (-b) like Intel hardware,
    # mcg_status RIPV|MCIP: the kernel logs it and runs memory_failure() on the page
    m.qmp.hmp("mce -b 0 9 0xbd000000000000c0 0x5 0x30000000 0x86")


def mce_fatal(m: Machine) -> None:
    # PCC (processor context corrupt): "Kernel panic - not syncing: Fatal machine check"
    m.qmp.hmp("mce -b 0 1 0xbe00000000000000 0x7 0 0")


def aer_corrected(m: Machine) -> None:
    # only ports can be targets (qemu's nvme has no AER capability); rp1 is the NVMe's root port.
    # Two messages 0.5 s apart, like mce_corrected
    m.qmp.hmp("pcie_aer_inject_error rp1 RCVR")
    time.sleep(0.5)
    m.qmp.hmp("pcie_aer_inject_error rp1 RCVR")


def aer_uncorrected(m: Machine) -> None:
    m.qmp.hmp("pcie_aer_inject_error rp1 COMP_TIME")


def nvme_critical_warning(m: Machine) -> None:
    # SMART critical warning byte: bit0 spare below threshold, bit1 temperature, bit2 reliability degraded
    m.qmp.cmd("qom-set", path="/machine/peripheral/nvme0", property="smart_critical_warning", value=7)


def disk_io_error(m: Machine) -> None:
    # blkdebug fails every read of BAD_SECTOR on both disks; read it the way a scrub would
    for dev in ("/dev/sda", "/dev/nvme0n1"):
        m.sh(f"dd if={dev} of=/dev/null bs=512 skip={BAD_SECTOR} count=8 iflag=direct", timeout=180, check=False)


def ipmi_overtemp(m: Machine) -> None:
    m.set_sensor("cpu_temp", 97)  # upper critical is 95 degC


def ipmi_fan_failure(m: Machine) -> None:
    m.set_sensor("fan1", 2)  # 100 RPM, below lower non-recoverable (200)


def raid_setup(m: Machine) -> None:
    # recorded in mdadm.conf in the same breath, as an administrator does (else the readiness rule
    # recovery.mdadm_conf_mismatch warns, rightly, that the initramfs would not assemble it)
    m.sh("mdadm --create /dev/md0 --level=1 --raid-devices=2 --metadata=1.2 --assume-clean --run --force "
         "/dev/nvme0n1 /dev/sda && mkdir -p /etc/mdadm && mdadm --detail --scan >> /etc/mdadm/mdadm.conf", timeout=120)
    m.sh("cat /proc/mdstat")


def raid_fail_member(m: Machine) -> None:
    m.sh("mdadm /dev/md0 --fail /dev/sda", timeout=60)


KLOG = ("kernel_log",)

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("mce-corrected", mce_corrected,
             # MCACOD 0x9f is a memory read error: the agent may file it under memory
             (Expect(r"cpu\.machine_check_corrected", r"cpu.*|memory.*", ("warning",), KLOG),
              Expect(r"cpu\.machine_check_storm", r"cpu.*|memory.*", ("warning",), KLOG)),
             (Metric("hwagent_kernel_events_total", 'hwagent_kernel_events_total{class=~"mce.*"} > 0'),),
             latency_from_end=True),
    Scenario("mce-uncorrected", mce_uncorrected,
             (Expect(r"cpu\.machine_check_uncorrected", r"cpu.*|memory.*", ("critical",), KLOG),
              # memory_failure() takes the page offline: meminfo HardwareCorrupted (system collector)
              Expect(r"memory\.hardware_corrupted", r"memory.*", ("warning", "critical"), ("system",))),
             (Metric("hwagent_memory_hardware_corrupted_bytes", "hwagent_memory_hardware_corrupted_bytes > 0"),
              Metric("hwagent_kernel_events_total", 'hwagent_kernel_events_total{class=~"mce.*"} > 0'))),
    Scenario("aer-corrected", aer_corrected,
             # sysfs counters (aer collector) and the kernel log; the guest config makes two messages a storm
             (Expect(r"pcie\.aer_(correctable|rootport)_rate", r"pcie.*", ("warning",), ("aer",), text=re.escape(RP1_BDF)),
              Expect(r"pcie\.aer_corrected_log_storm", r"pcie.*", ("warning",), KLOG, text=re.escape(RP1_BDF))),
             (Metric("hwagent_pcie_aer_errors_total", 'hwagent_pcie_aer_errors_total{severity=~"correct.*"} > 0'),),
             needs_correctable_aer=True, latency_from_end=True),
    Scenario("aer-uncorrected", aer_uncorrected,
             # Completion Timeout is non-fatal: a warning (fatal would be critical)
             (Expect(r"pcie\.aer_uncorrectable", r"pcie.*", ("warning",), ("aer",), text=re.escape(RP1_BDF)),
              Expect(r"pcie\.aer_uncorrected_logged", r"pcie.*", ("warning",), KLOG, text=re.escape(RP1_BDF))),
             (Metric("hwagent_pcie_aer_errors_total", 'hwagent_pcie_aer_errors_total{severity=~"non.?fatal"} > 0'),)),
    Scenario("nvme-critical-warning", nvme_critical_warning,
             # the NVMe composite temperature alarm (hwmon) and the SMART critical warning itself
             (Expect(r"board\.sensor_alarm", r"disk:.*", ("warning",), ("hwmon",), text=r"temp1"),
              Expect(r"disk\.nvme_critical_warning", r"disk:.*", ("critical",), ("smart",))),
             (Metric("hwagent_hwmon_alarm", 'hwagent_hwmon_alarm{chip=~".*nvme.*"} == 1'),)),
    Scenario("disk-io-error", disk_io_error,
             # qemu's I/O errors change no SMART counter and no NVMe error log: only the kernel log sees them
             (Expect(r"disk\.io_errors", r"disk:.*", ("warning", "critical"), KLOG),),
             (Metric("hwagent_kernel_events_total", 'hwagent_kernel_events_total{class=~"block.*"} > 0'),),
             bad_sector=True),
    Scenario("ipmi-overtemp", ipmi_overtemp,
             (Expect(r"board\.ipmi_sensor", r"board|cpu", ("critical",), ("ipmi",), text=r"(?i)cpu1.?temp"),),
             (Metric("hwagent_ipmi_temperature_celsius", "hwagent_ipmi_temperature_celsius >= 97"),)),
    Scenario("ipmi-fan-failure", ipmi_fan_failure,
             (Expect(r"board\.ipmi_sensor", r"board", ("critical",), ("ipmi",), text=r"(?i)fan1"),),
             (Metric("hwagent_ipmi_fan_rpm", "hwagent_ipmi_fan_rpm <= 100"),)),
    Scenario("raid1-member-failed", raid_fail_member,
             (Expect(r"raid\.degraded", r"raid.*|md.*", ("critical",), ("mdraid",), text=r"md0|md127"),
              Expect(r"raid\.member_failed", r"raid.*|md.*|disk.*", ("warning", "critical"), ("mdraid",), text=r"sda")),
             (Metric("hwagent_md_degraded", "hwagent_md_degraded > 0"),),
             setup=raid_setup),
)}

# the fatal MCE scenario needs a reboot and is its own test (test_fatal_mce_previous_boot)
FATAL_MCE = Scenario(
    "mce-fatal", mce_fatal,
    (Expect(r"board\.previous_boot_mce_panic", r"board", ("critical",), KLOG),),
    timeout=180)  # from the start of the reboot: boot + agent start + reading pstore


def wait_for(fn, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    return None
