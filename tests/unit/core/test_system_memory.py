"""The system collector's memory readings: meminfo's own MemAvailable when the kernel gives a
usable one (psutil not loaded), psutil's computed "available" otherwise; equal to what psutil
returns for the same procfs in every case."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from agent.collectors.system import SystemCollector, meminfo_is_plain
from agent.host import Host, HostPaths
from agent.model import SystemReading

ROOT = Path(__file__).resolve().parents[3]
LAB = ROOT / "tests" / "fixtures" / "hosts" / "lab-healthy" / "tree"  # a real host's procfs
LAB_MEMINFO = (LAB / "proc" / "meminfo").read_text()


def host_with_meminfo(tmp_path: Path, meminfo: str) -> Host:
    shutil.copytree(LAB / "proc", tmp_path / "proc")
    (tmp_path / "proc" / "meminfo").write_text(meminfo)
    return Host(paths=HostPaths(rootfs=str(tmp_path)))


def memory(host: Host) -> tuple[int | None, int | None]:
    r = next(r for r in SystemCollector(host).collect() if isinstance(r, SystemReading))
    return r.memory_total_bytes, r.memory_available_bytes


def psutil_memory(host: Host) -> tuple[int, int]:
    old = psutil.PROCFS_PATH
    psutil.PROCFS_PATH = str(host.path("proc"))
    try:
        vm = psutil.virtual_memory()
    finally:
        psutil.PROCFS_PATH = old
    return vm.total, vm.available


def without(meminfo: str, key: str) -> str:
    return "".join(line for line in meminfo.splitlines(keepends=True) if not line.startswith(key + ":"))


def replaced(meminfo: str, key: str, kb: int) -> str:
    return "".join(f"{key}:  {kb} kB\n" if line.startswith(key + ":") else line for line in meminfo.splitlines(keepends=True))


def test_plain_meminfo_is_read_directly_and_psutil_agrees(tmp_path, monkeypatch):
    host = host_with_meminfo(tmp_path, LAB_MEMINFO)
    monkeypatch.setattr(host, "psutil_call", lambda *a: pytest.fail(f"psutil called: {a}"))
    got = memory(host)
    assert got == (1498016 * 1024, 1144092 * 1024)  # the lab host's MemTotal / MemAvailable
    assert got == psutil_memory(host)


@pytest.mark.parametrize("meminfo", [
    without(LAB_MEMINFO, "MemAvailable"),  # kernels before 3.14: psutil computes it from the zones
    replaced(LAB_MEMINFO, "MemAvailable", 0),  # reported as 0: psutil computes it too
    replaced(LAB_MEMINFO, "MemAvailable", 1498017),  # above MemTotal: psutil takes MemFree
], ids=["missing", "zero", "above-total"])
def test_unusable_memavailable_goes_through_psutil(tmp_path, meminfo):
    host = host_with_meminfo(tmp_path, meminfo)
    got = memory(host)
    assert got == psutil_memory(host)
    assert got[1] != 1144092 * 1024 and got[1] is not None and got[1] > 0


def test_plain_is_pinned_at_its_boundaries():
    assert meminfo_is_plain(100, 100) and meminfo_is_plain(100, 1)
    assert not meminfo_is_plain(100, 101) and not meminfo_is_plain(100, 0)
    assert not meminfo_is_plain(None, 50) and not meminfo_is_plain(100, None)


def test_a_collection_on_a_current_kernel_does_not_import_psutil():
    code = ("import sys\n"
            "from agent.collectors.system import SystemCollector\n"
            "from agent.host import Host, HostPaths\n"
            f"SystemCollector(Host(paths=HostPaths(rootfs={str(LAB)!r}))).collect()\n"
            "print('psutil' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False"]
