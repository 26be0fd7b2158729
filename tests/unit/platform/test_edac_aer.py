"""EDAC and AER collectors on synthetic sysfs trees in the kernel's exact layouts."""

from __future__ import annotations

import pytest

from agent.collectors.aer import AerCollector, AerParseError, parse_aer_table
from agent.collectors.base import NoData, run_collector
from agent.collectors.edac import EdacCollector, channel_of
from agent.model.platform import AerCounters, EdacController, EdacDimm

MC = "sys/devices/system/edac/mc"


def edac_skx(fs, mc=0, dimms=None, ce=0, ue=0, noinfo=0):
    """skx_edac / i10nm layout: mcN/dimmX with dimm_label, dimm_location, dimm_ce_count, dimm_ue_count."""
    base = f"{MC}/mc{mc}"
    fs.write(f"{base}/mc_name", f"Skylake Socket#{mc} IMC#0\n")
    fs.write(f"{base}/size_mb", "65536\n")
    fs.write(f"{base}/seconds_since_reset", "7200\n")
    fs.write(f"{base}/ce_count", f"{ce}\n")
    fs.write(f"{base}/ue_count", f"{ue}\n")
    fs.write(f"{base}/ce_noinfo_count", f"{noinfo}\n")
    fs.write(f"{base}/ue_noinfo_count", "0\n")
    fs.write(f"{base}/reset_counters", "")
    for i, (chan, slot, dce, due) in enumerate(dimms or []):
        d = f"{base}/dimm{i}"
        fs.write(f"{d}/dimm_label", f"CPU_SrcID#{mc}_MC#0_Chan#{chan}_DIMM#{slot}\n")
        # the kernel prints each layer as "<name> <n> " (trailing space)
        fs.write(f"{d}/dimm_location", f"channel {chan} slot {slot} \n")
        fs.write(f"{d}/dimm_ce_count", f"{dce}\n")
        fs.write(f"{d}/dimm_ue_count", f"{due}\n")
        fs.write(f"{d}/size", "16384\n")


def test_edac_dimm_layout(make_host, fakesys):
    edac_skx(fakesys, 0, [(0, 0, 5, 0), (1, 0, 0, 0), (2, 0, 7, 1)], ce=12, ue=1)
    out = EdacCollector(make_host(fakesys.root)).collect()
    mc = next(r for r in out if isinstance(r, EdacController))
    assert (mc.controller, mc.mc_name, mc.ce_count, mc.ue_count, mc.ce_noinfo_count, mc.seconds_since_reset) == \
        ("mc0", "Skylake Socket#0 IMC#0", 12, 1, 0, 7200)
    assert mc.size_bytes == 65536 * 2**20
    dimms = [r for r in out if isinstance(r, EdacDimm)]
    assert [(d.dimm, d.label, d.location, d.channel, d.ce_count, d.ue_count) for d in dimms] == [
        ("dimm0", "CPU_SrcID#0_MC#0_Chan#0_DIMM#0", "channel 0 slot 0", "0", 5, 0),
        ("dimm1", "CPU_SrcID#0_MC#0_Chan#1_DIMM#0", "channel 1 slot 0", "1", 0, 0),
        ("dimm2", "CPU_SrcID#0_MC#0_Chan#2_DIMM#0", "channel 2 slot 0", "2", 7, 1),
    ]
    assert dimms[0].subject == "CPU_SrcID#0_MC#0_Chan#0_DIMM#0"


def test_edac_legacy_csrow_layout(make_host, fakesys):
    """amd64_edac / i5000 legacy: csrowX/chY_ce_count and chY_dimm_label; chY_ue_count absent."""
    base = f"{MC}/mc0"
    fakesys.write(f"{base}/ce_count", "9\n")
    fakesys.write(f"{base}/ue_count", "0\n")
    fakesys.write(f"{base}/ce_noinfo_count", "0\n")
    for row, counts in ((0, (4, 0)), (1, (0, 5))):
        for ch, n in enumerate(counts):
            fakesys.write(f"{base}/csrow{row}/ch{ch}_ce_count", f"{n}\n")
            fakesys.write(f"{base}/csrow{row}/ch{ch}_dimm_label", f"mc#0csrow#{row}channel#{ch}\n")
        fakesys.write(f"{base}/csrow{row}/ce_count", f"{sum(counts)}\n")
    out = EdacCollector(make_host(fakesys.root)).collect()
    dimms = [r for r in out if isinstance(r, EdacDimm)]
    assert [(d.dimm, d.layout, d.channel, d.ce_count, d.ue_count, d.label) for d in dimms] == [
        ("csrow0_ch0", "csrow", "0", 4, None, "mc#0csrow#0channel#0"),
        ("csrow0_ch1", "csrow", "1", 0, None, "mc#0csrow#0channel#1"),
        ("csrow1_ch0", "csrow", "0", 0, None, "mc#0csrow#1channel#0"),
        ("csrow1_ch1", "csrow", "1", 5, None, "mc#0csrow#1channel#1"),
    ]


def test_edac_garbage_and_absent(make_host, fakesys):
    edac_skx(fakesys, 0, [(0, 0, 3, 0)], ce=3)
    fakesys.write(f"{MC}/mc0/ue_count", "\x00\xffgarbage\n")
    fakesys.write(f"{MC}/mc0/dimm0/dimm_ce_count", "-4\n")
    out, st = run_collector(EdacCollector(make_host(fakesys.root)), None)
    assert st.ok and st.skipped_entries == 2
    assert any("ue_count" in m and "/sys/devices/system/edac/mc/mc0/ue_count" in m for m in st.messages)
    mc = next(r for r in out if isinstance(r, EdacController))
    d = next(r for r in out if isinstance(r, EdacDimm))
    assert mc.ue_count is None and d.ce_count is None and mc.ce_count == 3


def test_edac_empty_mc_dir_is_no_data(make_host, fakesys):
    fakesys.write(f"{MC}/power/control", "auto\n")  # what a firmware-first guest shows (lab capture)
    with pytest.raises(NoData, match="firmware-first"):
        EdacCollector(make_host(fakesys.root)).collect()


@pytest.mark.parametrize("loc,label,want", [
    ("channel 1 slot 0", None, "1"), ("branch 1 channel 0 slot 1", None, "1.0"), ("csrow 2 channel 1", None, "1"),
    (None, "CPU_SrcID#0_Ha#0_Chan#3_DIMM#0", "3"), (None, "CPU#0Channel#2_DIMM#0", "2"), (None, "DIMM_A1", None),
])
def test_channel_of(loc, label, want):
    assert channel_of(loc, label) == want


# ---- AER ---------------------------------------------------------------------------------------

COR = ("RxErr", None, None, None, None, None, "BadTLP", "BadDLLP", "Rollover", None, None, None, "Timeout",
       "NonFatalErr", "CorrIntErr", "HeaderOF")
UNCOR = ("Undefined", None, None, None, "DLP", "SDES", None, None, None, None, None, None, "TLP", "FCP", "CmpltTO",
         "CmpltAbrt", "UnxCmplt", "RxOF", "MalfTLP", "ECRC", "UnsupReq", "ACSViol", "UncorrIntErr", "BlockedTLP",
         "AtomicOpBlocked", "TLPBlockedErr", "PoisonTLPBlocked")


def aer_text(names, counts: dict[int, int], total_name: str, total: int, array: str) -> str:
    """Render an aer_dev_* file exactly as drivers/pci/pcie/aer.c does: a line per named bit,
    '<array>_bit[N] <n>' for unnamed bits with a count, then TOTAL_<name>."""
    lines = []
    for i in range(32):
        name = names[i] if i < len(names) else None
        if name:
            lines.append(f"{name} {counts.get(i, 0)}")
        elif counts.get(i):
            lines.append(f"{array}_bit[{i}] {counts[i]}")
    lines.append(f"TOTAL_{total_name} {total}")
    return "\n".join(lines) + "\n"


def pci_dev(fs, path: str, cor=None, nonfatal=None, fatal=None, rootport=None, driver=None):
    """A device under /sys/devices/<path> with the /sys/bus/pci/devices link."""
    bdf = path.rsplit("/", 1)[-1]
    d = f"sys/devices/{path}"
    cor = cor or {}
    fs.write(f"{d}/aer_dev_correctable", aer_text(COR, cor, "ERR_COR", sum(cor.values()), "dev_cor_errs"))
    nf = nonfatal or {}
    fs.write(f"{d}/aer_dev_nonfatal", aer_text(UNCOR, nf, "ERR_NONFATAL", sum(nf.values()), "dev_nonfatal_errs"))
    fa = fatal or {}
    fs.write(f"{d}/aer_dev_fatal", aer_text(UNCOR, fa, "ERR_FATAL", sum(fa.values()), "dev_fatal_errs"))
    fs.write(f"{d}/vendor", "0x8086\n")
    fs.write(f"{d}/device", "0x2030\n")
    if rootport is not None:
        for k, v in zip(("cor", "nonfatal", "fatal"), rootport, strict=True):
            fs.write(f"{d}/aer_rootport_total_err_{k}", f"{v}\n")
    if driver:
        fs.write(f"sys/bus/pci/drivers/{driver}/.keep", "")
        depth = path.count("/") + 2
        fs.link(f"{d}/driver", "../" * depth + f"bus/pci/drivers/{driver}")
    fs.link(f"sys/bus/pci/devices/{bdf}", f"../../../devices/{path}")


def test_aer_exact_kernel_format():
    text = aer_text(COR, {0: 3, 6: 1, 20: 2}, "ERR_COR", 5, "dev_cor_errs")
    assert "dev_cor_errs_bit[20] 2\n" in text
    bits, total = parse_aer_table(text, "TOTAL_ERR_COR")
    assert total == 5 and bits["RxErr"] == 3 and bits["BadTLP"] == 1 and bits["bit20"] == 2 and bits["Timeout"] == 0
    with pytest.raises(AerParseError):
        parse_aer_table("RxErr 1\nBadTLP lots\n", "TOTAL_ERR_COR")


def test_aer_root_port_resolution(make_host, fakesys):
    pci_dev(fakesys, "pci0000:00/0000:00:01.0", cor={0: 4}, rootport=(9, 0, 0), driver="pcieport")
    pci_dev(fakesys, "pci0000:00/0000:00:01.0/0000:01:00.0", cor={0: 3, 7: 2}, driver="nvme")
    pci_dev(fakesys, "pci0000:00/0000:00:01.0/0000:01:00.0/0000:02:00.0", nonfatal={14: 1})  # behind a switch
    pci_dev(fakesys, "pci0000:00/0000:00:1f.2")  # root-complex integrated endpoint
    fakesys.write("sys/devices/pci0000:00/0000:00:1f.3/vendor", "0x8086\n")  # no AER at all
    fakesys.link("sys/bus/pci/devices/0000:00:1f.3", "../../../devices/pci0000:00/0000:00:1f.3")
    out = {a.device: a for a in AerCollector(make_host(fakesys.root)).collect()}
    assert set(out) == {"0000:00:01.0", "0000:01:00.0", "0000:02:00.0", "0000:00:1f.2"}
    rp = out["0000:00:01.0"]
    assert rp.is_root_port and rp.root_port == "0000:00:01.0" and rp.rootport_total_correctable == 9
    assert rp.driver == "pcieport" and rp.vendor_device == "8086:2030"
    nv = out["0000:01:00.0"]
    assert (nv.root_port, nv.is_root_port, nv.total_correctable, nv.correctable["BadDLLP"], nv.driver) == \
        ("0000:00:01.0", False, 5, 2, "nvme")
    assert nv.rootport_total_correctable is None
    assert out["0000:02:00.0"].root_port == "0000:00:01.0" and out["0000:02:00.0"].total_nonfatal == 1
    assert out["0000:02:00.0"].nonfatal["CmpltTO"] == 1
    assert out["0000:00:1f.2"].root_port is None


def test_aer_garbage_skips_one_device(make_host, fakesys):
    pci_dev(fakesys, "pci0000:00/0000:00:01.0", rootport=(0, 0, 0))
    pci_dev(fakesys, "pci0000:00/0000:00:01.0/0000:01:00.0")
    fakesys.write("sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/aer_dev_fatal", b"\xff\xfe\x00junk 12 13\n")
    out, st = run_collector(AerCollector(make_host(fakesys.root)), None)
    assert st.ok and [a.device for a in out] == ["0000:00:01.0"]
    assert "0000:01:00.0/aer_dev_fatal" in st.messages[0]


def test_aer_absent_is_no_data(make_host, fakesys):
    with pytest.raises(NoData):
        AerCollector(make_host(fakesys.root)).collect()
    fakesys.write("sys/devices/pci0000:00/0000:00:1f.3/vendor", "0x8086\n")
    fakesys.link("sys/bus/pci/devices/0000:00:1f.3", "../../../devices/pci0000:00/0000:00:1f.3")
    with pytest.raises(NoData, match="AER"):
        AerCollector(make_host(fakesys.root)).collect()


def test_aer_reading_is_typed():
    a = AerCounters(device="0000:01:00.0", root_port=None, is_root_port=False, correctable={}, nonfatal={}, fatal={},
                    total_correctable=None, total_nonfatal=None, total_fatal=None)
    assert a.rootport_total_fatal is None
