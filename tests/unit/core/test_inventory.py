"""Host inventory (hwagent_host_info / hwagent_host_serial_info) from DMI and /proc/cpuinfo."""

from __future__ import annotations

from agent.collectors.inventory import cpu_model, read_inventory
from agent.collectors.system import SystemCollector
from agent.exporter.collector import collect_samples
from agent.host import Host, HostPaths
from agent.model import HostInventory, Snapshot
from tests.support.fakesys import FakeSys

ARM_CPUINFO = "processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\nCPU part\t: 0xd0c\n\nHardware\t: Ampere Altra\n"


def host_with(tmp_path, files: dict[str, str]) -> Host:
    fs = FakeSys(tmp_path)
    fs.proc_basics()
    for rel, text in files.items():
        fs.write(rel, text)
    return Host(paths=HostPaths(rootfs=str(tmp_path)))


def test_cpu_model_x86_arm_and_missing():
    assert cpu_model("processor\t: 0\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\n") \
        == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
    assert cpu_model(ARM_CPUINFO) == "Ampere Altra"
    assert cpu_model("processor\t: 0\nmodel\t\t: 85\n") == ""  # a bare model number is no model name
    assert cpu_model(None) == "" and cpu_model("") == ""


def test_identity_and_serials_are_apart_and_cleaned(tmp_path):
    d = "sys/class/dmi/id/"
    host = host_with(tmp_path, {d + "board_vendor": "Supermicro\n", d + "board_name": "X11DPi-N(T)\n",
                                d + "board_serial": "ZM19AS000123\n", d + "chassis_type": "17\n",
                                d + "bios_version": "3.4\x00\x00\n", d + "product_name": "  SYS-6029P \t TR \n"})
    inv = read_inventory(host)
    ident, serials = dict(inv.identity), dict(inv.serials)
    assert ident["board_vendor"] == "Supermicro" and ident["board_name"] == "X11DPi-N(T)"
    assert ident["chassis_type"] == "main server chassis"
    assert ident["bios_version"] == "3.4" and ident["product_name"] == "SYS-6029P TR"
    assert ident["bios_date"] == ""  # missing file: empty, not an error
    assert "board_serial" not in ident and serials["board_serial"] == "ZM19AS000123"
    assert not any("ZM19AS000123" in v for v in ident.values())


def test_no_dmi_and_no_cpuinfo_gives_no_reading(tmp_path):
    assert read_inventory(host_with(tmp_path, {})) is None


def test_unknown_chassis_code_kept_and_long_values_bounded(tmp_path):
    d = "sys/class/dmi/id/"
    inv = read_inventory(host_with(tmp_path, {d + "chassis_type": "99\n", d + "board_name": "B" * 5000}))
    ident = dict(inv.identity)
    assert ident["chassis_type"] == "99" and len(ident["board_name"]) == 128


def test_system_collector_exports_host_info(tmp_path):
    d = "sys/class/dmi/id/"
    host = host_with(tmp_path, {d + "board_vendor": "Dell Inc.\n", d + "board_name": "0JP31P\n",
                                d + "product_serial": "7XK1ABC\n", "proc/cpuinfo": ARM_CPUINFO})
    readings = SystemCollector(host).collect()
    inv = [r for r in readings if isinstance(r, HostInventory)]
    assert len(inv) == 1
    from dataclasses import replace
    from types import MappingProxyType

    snap = replace(Snapshot.empty(), readings=MappingProxyType({"system": tuple(readings)}))
    samples = collect_samples(snap)
    (info_labels, value), = samples["hwagent_host_info"]
    assert value == 1 and info_labels["board_vendor"] == "Dell Inc." and info_labels["cpu_model"] == "Ampere Altra"
    (serial_labels, _), = samples["hwagent_host_serial_info"]
    assert serial_labels["product_serial"] == "7XK1ABC"


def test_broken_inventory_costs_nothing_else(tmp_path, monkeypatch):
    from agent.collectors import system
    from agent.model import SystemReading

    def boom(host):
        raise OSError("dmi: Input/output error")

    monkeypatch.setattr(system, "read_inventory", boom)
    col = SystemCollector(host_with(tmp_path, {}))
    readings = col.collect()
    assert [type(r) for r in readings] == [SystemReading]
    assert any("host inventory" in m and "Input/output error" in m for m in col._problems)
