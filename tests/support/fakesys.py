"""Build small synthetic host trees in tmp_path for edge cases (missing _crit, garbage values,
vanished chips). Real captured trees live in tests/fixtures/hosts/<scenario>/tree/."""

from __future__ import annotations

import os
from pathlib import Path


class FakeSys:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def write(self, rel: str, content: str | bytes, mode: int | None = None) -> Path:
        p = self.root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def link(self, rel: str, target: str) -> Path:
        p = self.root / rel.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)
        return p

    def hwmon_chip(self, index: int, name: str, device: str, sensors: dict[str, str | int]) -> Path:
        """A chip as the kernel lays it out: /sys/devices/<device>/hwmon/hwmonN, a class link,
        a `device` link to the parent, a `name` file and the sensor attribute files."""
        devdir = f"sys/devices/{device}"
        chip = f"{devdir}/hwmon/hwmon{index}"
        self.write(f"{chip}/name", name + "\n")
        (self.root / devdir).mkdir(parents=True, exist_ok=True)
        self.link(f"{chip}/device", "../..")
        self.link(f"sys/class/hwmon/hwmon{index}", f"../../devices/{device}/hwmon/hwmon{index}")
        for attr, value in sensors.items():
            self.write(f"{chip}/{attr}", f"{value}\n")
        return self.root / chip

    def proc_basics(self, boot_id: str = "00000000-0000-4000-8000-000000000001", meminfo: str | None = None) -> None:
        self.write("proc/sys/kernel/random/boot_id", boot_id + "\n")
        self.write("proc/sys/kernel/hostname", "testhost\n")
        self.write("proc/sys/kernel/osrelease", "6.1.0-test-amd64\n")
        self.write("proc/stat", "cpu  1 2 3 4 5 6 7 0 0 0\ncpu0 1 2 3 4 5 6 7 0 0 0\nbtime 1764000000\n")
        self.write("proc/uptime", "3600.00 7000.00\n")
        self.write("proc/loadavg", "0.10 0.20 0.30 1/100 1234\n")
        self.write("proc/meminfo", meminfo or (
            "MemTotal:        8000000 kB\nMemFree:         4000000 kB\nMemAvailable:    6000000 kB\n"
            "Buffers:          100000 kB\nCached:          1000000 kB\nHardwareCorrupted:     0 kB\n"))
