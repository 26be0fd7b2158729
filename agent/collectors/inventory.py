"""Host inventory: board, BIOS, system, chassis (DMI from {sysfs}/class/dmi/id) and CPU model.

Read by the system collector and exported as ``hwagent_host_info`` (model identity, safe to
aggregate a fleet by) and ``hwagent_host_serial_info`` (serial numbers and UUID, kept apart so
an operator can drop them at scrape time). The kernel exposes the SMBIOS strings as files
(drivers/firmware/dmi-id.c); the serial files are readable by root only (mode 0400), so without
root the serial series carries empty values. Chassis type codes are SMBIOS 3.x table 17
(DMTF DSP0134, System Enclosure or Chassis Types).
"""

from __future__ import annotations

from agent.host import Host
from agent.model import HostInventory

# label -> file under /sys/class/dmi/id (labels follow node_exporter's node_dmi_info)
IDENTITY_FILES = (
    ("board_vendor", "board_vendor"), ("board_name", "board_name"), ("board_version", "board_version"),
    ("bios_vendor", "bios_vendor"), ("bios_version", "bios_version"), ("bios_date", "bios_date"),
    ("system_vendor", "sys_vendor"), ("product_name", "product_name"), ("product_version", "product_version"),
    ("chassis_vendor", "chassis_vendor"), ("chassis_type", "chassis_type"),
)
SERIAL_FILES = (
    ("board_serial", "board_serial"), ("product_serial", "product_serial"),
    ("chassis_serial", "chassis_serial"), ("product_uuid", "product_uuid"),
)
CHASSIS_TYPES = {
    "1": "other", "2": "unknown", "3": "desktop", "4": "low-profile desktop", "6": "mini tower", "7": "tower",
    "8": "portable", "9": "laptop", "10": "notebook", "13": "all in one", "17": "main server chassis",
    "22": "rack mount chassis", "23": "rack mount chassis", "24": "sealed-case pc", "25": "multi-system chassis",
    "28": "blade", "29": "blade enclosure", "35": "mini pc", "36": "stick pc",
}
MAX_VALUE = 128


def clean(value: str | None) -> str:
    """Printable, single-line, bounded; firmware fills unused fields with junk or NULs."""
    if not value:
        return ""
    text = "".join(ch if ch.isprintable() else " " for ch in value).strip()
    return " ".join(text.split())[:MAX_VALUE]


def cpu_model(cpuinfo: str | None) -> str:
    """First ``model name`` (x86, s390) or ``Model``/``Hardware``/``cpu`` (ARM, POWER) of /proc/cpuinfo."""
    if not cpuinfo:
        return ""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, val = line.partition(":")
        key = key.strip().lower()
        if sep and key in ("model name", "model", "hardware", "cpu") and key not in found and val.strip():
            found[key] = val
    for key in ("model name", "hardware", "cpu", "model"):
        if key in found and not (key == "model" and found[key].strip().isdigit()):
            return clean(found[key])
    return ""


def read_inventory(host: Host) -> HostInventory | None:
    """None when the host shows neither DMI nor a CPU model (containers without /sys/class/dmi)."""
    base = ("sys", "class", "dmi", "id")
    identity = {label: clean(host.read_text(host.path(*base, name), 4096)) for label, name in IDENTITY_FILES}
    identity["chassis_type"] = CHASSIS_TYPES.get(identity["chassis_type"], identity["chassis_type"])
    identity["cpu_model"] = cpu_model(host.read_text(host.path("proc", "cpuinfo"), 1 << 20))
    serials = {label: clean(host.read_text(host.path(*base, name), 4096)) for label, name in SERIAL_FILES}
    if not any(identity.values()) and not any(serials.values()):
        return None
    return HostInventory(identity=tuple(identity.items()), serials=tuple(serials.items()))
