"""edac: memory-controller error counters from {sysfs}/devices/system/edac/mc.

Per controller ``mcN/{ce_count,ue_count,ce_noinfo_count,ue_noinfo_count,seconds_since_reset}``;
per DIMM in both layouts the kernel uses: the per-DIMM one (``dimmX/`` or ``rankX/`` with
``dimm_label``, ``dimm_location``, ``dimm_ce_count``, ``dimm_ue_count``; sb/skx/i10nm/amd64 on
current kernels) and the legacy csrow one (``csrowX/chY_ce_count``, ``chY_ue_count`` (often
absent), ``chY_dimm_label``). When both exist the per-DIMM layout wins, since csrow counters are
derived from the same events. ``reset_counters`` is write-only and never touched.

An empty ``edac/mc`` (firmware-first platforms, where errors arrive as GHES records in the
kernel log, or no EDAC driver loaded) is "no data", not an error.
"""

from __future__ import annotations

import re

from agent.collectors.base import BaseCollector, NoData
from agent.host import parse_int
from agent.model import Reading
from agent.model.platform import EdacController, EdacDimm

_MC = re.compile(r"^mc(\d+)$")
_DIMM = re.compile(r"^(dimm|rank)(\d+)$")
_CSROW = re.compile(r"^csrow(\d+)$")
_CH_CE = re.compile(r"^ch(\d+)_ce_count$")
# channel from a location ("channel 1 slot 0") or from a label in the vendors' usual spellings
_LOC_CHANNEL = re.compile(r"\bchannel\s+(\d+)", re.IGNORECASE)
_LABEL_CHANNEL = re.compile(r"(?:Chan|Channel|channel)#?(\d+)")
_LOC_BRANCH = re.compile(r"\bbranch\s+(\d+)", re.IGNORECASE)
_LOC_SPACES = re.compile(r"\s+")


def channel_of(location: str | None, label: str | None) -> str | None:
    """The channel within a controller: from dimm_location, else from a labelled slot name."""
    if location:
        m = _LOC_CHANNEL.search(location)
        if m:
            # a branch (FB-DIMM controllers) is part of the channel's identity: "branch 1 channel 0"
            b = _LOC_BRANCH.search(location)
            return f"{b.group(1)}.{m.group(1)}" if b else m.group(1)
    if label:
        m = _LABEL_CHANNEL.search(label)
        if m:
            return m.group(1)
    return None


class EdacCollector(BaseCollector):
    name = "edac"
    default_interval = 60.0
    default_timeout = 10.0
    description = "EDAC memory controller and per-DIMM corrected/uncorrected error counters"

    def _count(self, path, what: str) -> int | None:
        """A counter file; absent -> None; garbage -> None with a problem naming the file."""
        if not self.host.exists(path):
            return None
        text = self.host.read_text(path, 64)
        v = parse_int(text)
        if v is None or v < 0:
            self.problem(f"{self.host.host_path(path)}: not a counter ({(text or '')[:20]!r}); {what} skipped")
            return None
        return v

    def _label(self, path) -> str | None:
        text = self.host.read_text(path, 256)
        if text is None:
            return None
        text = text.strip()
        return text or None

    def collect(self) -> list[Reading]:
        base = self.host.path("sys", "devices", "system", "edac", "mc")
        mcs = sorted((int(m.group(1)), e) for e in self.host.listdir(base) if (m := _MC.match(e)))
        if not mcs:
            raise NoData(f"no EDAC memory controllers under {self.host.host_path(base)} "
                         "(no EDAC driver, or firmware-first error reporting)")
        out: list[Reading] = []
        for _n, mc in mcs:
            d = base / mc
            size_mb = parse_int(self.host.read_text(d / "size_mb", 64))
            out.append(EdacController(
                controller=mc,
                mc_name=self._label(d / "mc_name"),
                size_bytes=size_mb * 1024 * 1024 if size_mb is not None and size_mb >= 0 else None,
                ce_count=self._count(d / "ce_count", "ce_count"),
                ue_count=self._count(d / "ue_count", "ue_count"),
                ce_noinfo_count=self._count(d / "ce_noinfo_count", "ce_noinfo_count"),
                ue_noinfo_count=self._count(d / "ue_noinfo_count", "ue_noinfo_count"),
                seconds_since_reset=parse_int(self.host.read_text(d / "seconds_since_reset", 64)),
            ))
            entries = self.host.listdir(d)
            dimms = sorted(((m.group(1), int(m.group(2)), e) for e in entries if (m := _DIMM.match(e))),
                           key=lambda t: (t[0], t[1]))
            if dimms:
                for layout, _i, e in dimms:
                    out.append(self._dimm(mc, d / e, layout, e))
            else:
                for _i, e in sorted((int(m.group(1)), e) for e in entries if (m := _CSROW.match(e))):
                    out.extend(self._csrow(mc, d / e, e))
        return out

    def _dimm(self, mc: str, d, layout: str, name: str) -> EdacDimm:
        label = self._label(d / "dimm_label")
        loc = self._label(d / "dimm_location")
        loc = _LOC_SPACES.sub(" ", loc).strip() if loc else None
        return EdacDimm(
            controller=mc, dimm=name, layout=layout, label=label, location=loc,
            channel=channel_of(loc, label),
            ce_count=self._count(d / "dimm_ce_count", f"{mc}/{name} ce"),
            ue_count=self._count(d / "dimm_ue_count", f"{mc}/{name} ue"),
        )

    def _csrow(self, mc: str, d, csrow: str) -> list[EdacDimm]:
        out = []
        n = csrow[len("csrow"):]
        for e in sorted(self.host.listdir(d)):
            m = _CH_CE.match(e)
            if not m:
                continue
            ch = m.group(1)
            label = self._label(d / f"ch{ch}_dimm_label")
            out.append(EdacDimm(
                controller=mc, dimm=f"{csrow}_ch{ch}", layout="csrow", label=label,
                location=f"csrow {n} channel {ch}", channel=ch,
                ce_count=self._count(d / e, f"{mc}/{csrow} ch{ch} ce"),
                ue_count=self._count(d / f"ch{ch}_ue_count", f"{mc}/{csrow} ch{ch} ue"),
            ))
        return out
