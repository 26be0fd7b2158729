"""Generate the synthetic host scenarios in tests/fixtures/hosts/synthetic-*/tree.

The layouts follow real kernels: a Nuvoton NCT6779 Super I/O (platform device nct6775.2592,
driver nct6775: no voltage labels, limits from the BIOS), Intel coretemp (platform coretemp.0),
an ACPI thermal zone and per-CPU thermal_throttle counters. Values are set to show one fault per
scenario. Run: python -m tests.support.make_synthetic   (then review `git diff`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.fakesys import FakeSys

HOSTS = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"


def base(fs: FakeSys, *, fan2: int = 1150, in1: int = 1016, vbat: int = 3216, in4: int = 3312,
         temp2_fault: int = 0) -> None:
    fs.proc_basics(boot_id="5f1c7a2e-3b2d-4c6e-9f0a-1b2c3d4e5f60")
    fs.hwmon_chip(0, "acpitz", "virtual/thermal/thermal_zone0", {"temp1_input": 27800, "temp1_crit": 105000})
    fs.hwmon_chip(1, "coretemp", "platform/coretemp.0", {
        "temp1_label": "Package id 0", "temp1_input": 46000, "temp1_max": 80000, "temp1_crit": 100000,
        "temp1_crit_alarm": 0,
        "temp2_label": "Core 0", "temp2_input": 44000, "temp2_max": 80000, "temp2_crit": 100000, "temp2_crit_alarm": 0,
        "temp3_label": "Core 1", "temp3_input": 45000, "temp3_max": 80000, "temp3_crit": 100000, "temp3_crit_alarm": 0,
    })
    fs.hwmon_chip(2, "nct6779", "platform/nct6775.2592", {
        # voltages in mV as the driver reports them (no labels from nct6775; sensors.conf adds them)
        "in0_input": 880, "in0_min": 600, "in0_max": 1488, "in0_alarm": 0,
        "in1_input": in1, "in1_min": 952, "in1_max": 1104, "in1_alarm": 0,  # +12V through a 1:12 divider
        "in2_input": 3344, "in2_min": 2976, "in2_max": 3632, "in2_alarm": 0,  # AVCC
        "in3_input": 3328, "in3_min": 2976, "in3_max": 3632, "in3_alarm": 0,  # +3.3V
        "in4_input": in4, "in4_min": 3136, "in4_max": 3472, "in4_alarm": 0,
        "in7_input": 3424, "in7_min": 2976, "in7_max": 3632, "in7_alarm": 0,  # 3VSB
        "in8_input": vbat, "in8_label": "VBAT", "in8_alarm": 0,
        "fan1_input": 0, "fan1_min": 0, "fan1_alarm": 0,  # empty header: 0 RPM, undriven
        "fan2_input": fan2, "fan2_min": 300, "fan2_alarm": 0,  # CPU fan
        "fan3_input": 812, "fan3_min": 0, "fan3_alarm": 0,
        "temp1_label": "SYSTIN", "temp1_input": 33000, "temp1_max": 80000, "temp1_alarm": 0,
        "temp2_label": "CPUTIN", "temp2_input": 41500, "temp2_max": 80000, "temp2_alarm": 0, "temp2_fault": temp2_fault,
        "temp3_label": "AUXTIN0", "temp3_input": 96000, "temp3_max": 0, "temp3_alarm": 0,  # floating input, no limit
        "intrusion0_alarm": 0,
        "pwm1": 0, "pwm2": 153, "pwm3": 96,
    })
    # a PMBus power supply and a humidity sensor, as found on server boards
    fs.hwmon_chip(3, "pmbus", "platform/i2c-0/0-0058", {
        "in1_label": "vin", "in1_input": 229500, "in1_min": 180000, "in1_max": 264000,
        "curr1_label": "iin", "curr1_input": 812, "curr1_max": 6000,
        "power1_label": "pin", "power1_input": 186000000,
        "energy1_input": 512300000000,
        "temp1_input": 31000, "temp1_max": 70000, "temp1_crit": 85000,
        "fan1_input": 7800, "fan1_fault": 0,
    })
    fs.hwmon_chip(4, "sht3x", "platform/i2c-1/1-0044", {"temp1_input": 24500, "humidity1_input": 41250})
    # DMI as drivers/firmware/dmi-id.c exposes it (serials mode 0400 on a real host)
    for name, value in DMI.items():
        fs.write(f"sys/class/dmi/id/{name}", value + "\n")
    fs.write("proc/cpuinfo", "".join(
        f"processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 158\n"
        f"model name\t: Intel(R) Xeon(R) E-2236 CPU @ 3.40GHz\nstepping\t: 10\n\n" for n in (0, 1)))
    fs.write("sys/class/thermal/thermal_zone0/type", "acpitz\n")
    fs.write("sys/class/thermal/thermal_zone0/temp", "27800\n")
    fs.write("sys/class/thermal/thermal_zone0/trip_point_0_type", "critical\n")
    fs.write("sys/class/thermal/thermal_zone0/trip_point_0_temp", "105000\n")
    for cpu in (0, 1):
        d = f"sys/devices/system/cpu/cpu{cpu}/thermal_throttle"
        fs.write(f"{d}/core_throttle_count", "0\n")
        fs.write(f"{d}/core_throttle_max_time_ms", "0\n")
        fs.write(f"{d}/core_throttle_total_time_ms", "0\n")
        fs.write(f"{d}/package_throttle_count", "0\n")
        fs.write(f"{d}/package_throttle_max_time_ms", "0\n")
        fs.write(f"{d}/package_throttle_total_time_ms", "0\n")


DMI = {
    "board_vendor": "ASRockRack", "board_name": "E3C246D4U2-2T", "board_version": "",
    "bios_vendor": "American Megatrends Inc.", "bios_version": "L2.02G", "bios_date": "05/25/2021",
    "sys_vendor": "To Be Filled By O.E.M.", "product_name": "To Be Filled By O.E.M.",
    "product_version": "To Be Filled By O.E.M.", "chassis_vendor": "To Be Filled By O.E.M.", "chassis_type": "23",
    "board_serial": "SYN0000000001", "product_serial": "To Be Filled By O.E.M.", "chassis_serial": "",
    "product_uuid": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
}


SCENARIOS = {
    "synthetic-healthy": {},
    "synthetic-fan-stopped": {"fan2": 0},
    "synthetic-voltage": {"in1": 908, "in4": 2950, "vbat": 2410, "temp2_fault": 1},
}


def main() -> None:
    for name, kw in SCENARIOS.items():
        tree = HOSTS / name / "tree"
        if tree.exists():
            shutil.rmtree(tree)
        base(FakeSys(tree), **kw)
        (HOSTS / name / "SOURCE").write_text(
            f"Synthetic scenario generated by tests/support/make_synthetic.py ({name}: {kw or 'healthy'}).\n"
            "Layout modelled on a Nuvoton NCT6779 (nct6775 driver), Intel coretemp and an ACPI thermal zone\n"
            "on Linux 6.1; values chosen to show one fault. Not a capture.\n")


if __name__ == "__main__":
    main()
