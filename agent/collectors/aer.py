"""aer: PCIe Advanced Error Reporting counters from {sysfs}/bus/pci/devices/*/aer_dev_*.

Kernel format (drivers/pci/pcie/aer.c, 4.19+): ``aer_dev_correctable``, ``aer_dev_nonfatal`` and
``aer_dev_fatal`` print one ``<Name> <count>`` line per named error bit, ``dev_*_errs_bit[N]
<count>`` for unnamed bits that counted something, and a ``TOTAL_ERR_COR|NONFATAL|FATAL <n>``
line. Root ports (and RC event collectors) add ``aer_rootport_total_err_cor|fatal|nonfatal``:
error messages received from anything below them. Counters reset on reboot. They are readable
without root and not rate-limited, unlike the AER lines in the kernel log.

Each device's upstream root port is resolved from its device path
(``/sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0`` -> ``0000:00:01.0``), so rules can see
several devices behind one port failing together.
"""

from __future__ import annotations

import re

from agent.collectors.base import BaseCollector, NoData
from agent.host import parse_int
from agent.model import Reading
from agent.model.platform import AerCounters

BDF = re.compile(r"^[0-9a-fA-F]{4,}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
_BIT = re.compile(r"^dev_\w+_errs_bit\[(\d+)\]$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

FILES = (("correctable", "aer_dev_correctable", "TOTAL_ERR_COR"),
         ("nonfatal", "aer_dev_nonfatal", "TOTAL_ERR_NONFATAL"),
         ("fatal", "aer_dev_fatal", "TOTAL_ERR_FATAL"))


class AerParseError(ValueError):
    """An aer_dev_* file is not in the kernel's format; the message names the line."""


def parse_aer_table(text: str, total_key: str) -> tuple[dict[str, int], int | None]:
    """Parse one aer_dev_* file into ({bit name: count}, total).

    Unnamed bits become ``bit<N>``. A line that is not ``<name> <unsigned int>`` raises
    :class:`AerParseError` naming the line, so garbage is reported, never half-read.
    """
    bits: dict[str, int] = {}
    total: int | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdecimal():
            raise AerParseError(f"unexpected line {line[:60]!r}")
        name, count = parts[0], int(parts[1])
        if name.startswith("TOTAL_"):
            if name == total_key:
                total = count
            continue
        m = _BIT.match(name)
        if m:
            name = f"bit{m.group(1)}"
        elif not _NAME.match(name):
            raise AerParseError(f"unexpected error name {name[:40]!r}")
        bits[name] = count
    return bits, total


class AerCollector(BaseCollector):
    name = "aer"
    default_interval = 60.0
    default_timeout = 10.0
    description = "PCIe AER error counters per device and root-port totals"

    def collect(self) -> list[Reading]:
        base = self.host.path("sys", "bus", "pci", "devices")
        devices = [e for e in self.host.listdir(base) if BDF.match(e)]
        if not devices:
            raise NoData(f"no PCI devices under {self.host.host_path(base)}")
        out: list[Reading] = []
        for dev in devices:
            d = base / dev
            if not self.host.exists(d / "aer_dev_correctable"):
                continue  # not AER-capable, or a kernel before 4.19
            r = self._device(dev, d)
            if r is not None:
                out.append(r)
        if not out:
            raise NoData("no PCIe device exposes AER statistics (aer_dev_correctable): "
                         "no AER capability, AER owned by firmware, or a kernel before 4.19")
        return out

    def _chain(self, d) -> list[str]:
        """PCI addresses from the host bridge down to the device, from the resolved path."""
        real = self.host.realpath(d)
        return [p for p in real.parts if BDF.match(p)]

    def _device(self, dev: str, d) -> AerCounters | None:
        tables: dict[str, dict[str, int]] = {}
        totals: dict[str, int | None] = {}
        for kind, fname, total_key in FILES:
            p = d / fname
            if not self.host.exists(p):
                tables[kind], totals[kind] = {}, None
                continue
            try:
                text = self.host.read_bytes(p, 8192).decode("ascii", "replace")
                tables[kind], totals[kind] = parse_aer_table(text, total_key)
            except AerParseError as err:
                self.problem(f"{self.host.host_path(p)}: {err}; device skipped")
                return None
            except Exception as err:  # noqa: BLE001 - ReadError and friends: skip the device
                self.problem(f"{self.host.host_path(p)}: {err}; device skipped")
                return None
        rp = {}
        for kind in ("cor", "nonfatal", "fatal"):
            p = d / f"aer_rootport_total_err_{kind}"
            rp[kind] = parse_int(self.host.read_text(p, 64)) if self.host.exists(p) else None
        is_rp = rp["cor"] is not None or rp["fatal"] is not None or rp["nonfatal"] is not None
        chain = self._chain(d)
        if is_rp:
            root = dev
        elif len(chain) > 1 and chain[-1] == dev:
            root = chain[0]
        else:
            root = None  # root-complex integrated endpoint, or an unresolvable path
        vendor = self.host.read_text(d / "vendor", 16)
        device_id = self.host.read_text(d / "device", 16)
        vd = None
        if vendor and device_id:
            vd = f"{vendor.lower().removeprefix('0x')}:{device_id.lower().removeprefix('0x')}"
        drv = None
        if self.host.exists(d / "driver"):
            drv = self.host.realpath(d / "driver").name or None
        return AerCounters(
            device=dev, root_port=root, is_root_port=is_rp,
            correctable=tables["correctable"], nonfatal=tables["nonfatal"], fatal=tables["fatal"],
            total_correctable=totals["correctable"], total_nonfatal=totals["nonfatal"], total_fatal=totals["fatal"],
            rootport_total_correctable=rp["cor"], rootport_total_nonfatal=rp["nonfatal"],
            rootport_total_fatal=rp["fatal"], vendor_device=vd, driver=drv,
        )
