"""system: boot time, uptime, load, memory and HardwareCorrupted from {procfs}; host inventory
(DMI board/BIOS/chassis, CPU model) through agent.collectors.inventory.

Memory and boot time come from meminfo and /proc/stat; psutil (with its procfs pointed at the host
root) only where it knows better: "available" memory on kernels without a usable MemAvailable, boot
time without a btime line. A current kernel never needs it, so the daemon does not import it. HardwareCorrupted (poisoned pages taken offline after memory
errors) and the load average are read from the host's own procfs files.
"""

from __future__ import annotations

from agent.collectors.base import BaseCollector, NoData
from agent.collectors.inventory import read_inventory
from agent.host import ReadError, parse_float
from agent.model import Reading, SystemReading


def meminfo_is_plain(total: int | None, avail: int | None) -> bool:
    """Does meminfo's own MemAvailable answer the question? Then psutil's ``virtual_memory``
    would return exactly MemTotal and MemAvailable (psutil/_pslinux.py: it computes "available"
    itself only when the kernel (< 3.14) lacks the field or reports 0, and clamps a value below 0
    or above the total), and the daemon need not load psutil (~1 MB of resident memory) for it."""
    return total is not None and avail is not None and 0 < avail <= total


def parse_meminfo(text: str) -> dict[str, int]:
    """meminfo lines ``Key:   1234 kB`` -> bytes (lines without unit are page counts, kept raw)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        try:
            val = int(parts[0])
        except ValueError:
            continue
        if len(parts) > 1 and parts[1] == "kB":
            val *= 1024
        out[key.strip()] = val
    return out


class SystemCollector(BaseCollector):
    name = "system"
    default_interval = 30.0
    default_timeout = 5.0
    description = "boot time, uptime, load, memory, HardwareCorrupted, host inventory (DMI, CPU model)"

    def collect(self) -> list[Reading]:
        proc = self.host.path("proc")
        try:
            stat = self.host.read_file(proc / "stat", 1 << 20)
        except ReadError as err:
            raise NoData(f"procfs not readable: {err}") from None
        btime = None
        for line in stat.splitlines():
            if line.startswith("btime "):
                btime = float(line.split()[1])
                break
        mem = {}
        try:
            mem = parse_meminfo(self.host.read_file(proc / "meminfo"))
        except ReadError as err:
            self.problem(str(err))
        if btime is None:
            try:
                btime = float(self.host.psutil_call("boot_time"))
            except Exception as err:  # noqa: BLE001
                self.problem(f"boot time: {err}")
                btime = 0.0
        up = None
        up_text = self.host.read_text(proc / "uptime")
        if up_text:
            up = parse_float(up_text.split()[0])
        if up is None:
            up = max(0.0, self.host.now() - btime)
        load: list[float | None] = [None, None, None]
        la = self.host.read_text(proc / "loadavg")
        if la:
            parts = la.split()
            load = [parse_float(p) for p in parts[:3]] + [None] * (3 - len(parts[:3]))
        cpus = None
        try:
            cpus = sum(1 for line in stat.splitlines() if line.startswith("cpu") and line[3:4].isdigit()) or None
        except Exception:  # noqa: BLE001
            cpus = None
        release = self.host.read_text(proc / "sys" / "kernel" / "osrelease")
        total = mem.get("MemTotal")
        avail = mem.get("MemAvailable")
        if not meminfo_is_plain(total, avail):
            try:  # psutil computes "available" correctly on kernels without MemAvailable
                vm = self.host.psutil_call("virtual_memory")
                total, avail = int(vm.total), int(vm.available)
            except Exception as err:  # noqa: BLE001 - fall back to our own meminfo parse
                self.problem(f"psutil virtual_memory: {err}")
        out: list[Reading] = [SystemReading(
            boot_time_seconds=btime,
            uptime_seconds=up,
            load1=load[0], load5=load[1], load15=load[2],
            memory_total_bytes=total,
            memory_available_bytes=avail,
            hardware_corrupted_bytes=mem.get("HardwareCorrupted"),
            cpu_count=cpus,
            kernel_release=release,
        )]
        try:
            inventory = read_inventory(self.host)
        except Exception as err:  # noqa: BLE001 - the inventory must never cost the memory readings
            self.problem(f"host inventory (DMI, cpuinfo): {err}")
            inventory = None
        if inventory is not None:
            out.append(inventory)
        return out
