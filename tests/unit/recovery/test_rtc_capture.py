"""The hardware clock in the baseline: read from the kernel's RTC class in sysfs (no wait for a
clock tick, no util-linux-extra), ``hwclock --show`` only when the RTC keeps local time or sysfs
has no RTC."""

from __future__ import annotations

import time

from agent.baseline.capture import capture_time
from agent.host import Host, HostPaths
from tests.unit.recovery.support import ScriptedRunner

NOW = 1_796_500_000.0


def _host(tmp_path, calls_out):
    def fn(argv):
        if argv[0] == "hwclock":
            # NOW + 1.5 s in util-linux 2.38's form
            return 0, time.strftime("%Y-%m-%d %H:%M:%S.500000+00:00\n", time.gmtime(NOW + 1))
        return 0, "yes\n"
    runner = ScriptedRunner(fn)
    calls_out.append(runner)
    return Host(paths=HostPaths(rootfs=str(tmp_path)), runner=runner, clock=lambda: NOW)


def _rtc(tmp_path, name, since_epoch, hctosys):
    d = tmp_path / "sys/class/rtc" / name
    d.mkdir(parents=True)
    (d / "since_epoch").write_text(f"{since_epoch}\n")
    (d / "hctosys").write_text(f"{hctosys}\n")


def test_the_system_rtc_is_read_from_sysfs(tmp_path):
    _rtc(tmp_path, "rtc0", int(NOW) + 3 * 3600, 0)  # another RTC (an IPMI or EC one), not the system clock's
    _rtc(tmp_path, "rtc1", int(NOW) - 2, 1)
    runners: list = []
    t = capture_time(_host(tmp_path, runners))
    assert t["rtc_offset_seconds"] == -2.0 and t["source"]["path"] == "/sys/class/rtc/rtc1/since_epoch"
    assert not [c for c in runners[0].calls if c[0] == "hwclock"]


def test_hwclock_when_the_rtc_keeps_local_time_or_sysfs_has_none(tmp_path):
    runners: list = []
    t = capture_time(_host(tmp_path, runners))  # no /sys/class/rtc
    assert t["rtc_offset_seconds"] == 1.5 and t["source"]["argv"] == ["hwclock", "--show"]
    _rtc(tmp_path, "rtc0", int(NOW), 1)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/adjtime").write_text("0.0 0 0.0\n0\nLOCAL\n")  # since_epoch would be local time taken as UTC
    t = capture_time(_host(tmp_path, runners))
    assert t["source"]["argv"] == ["hwclock", "--show"] and t["rtc_offset_seconds"] == 1.5
