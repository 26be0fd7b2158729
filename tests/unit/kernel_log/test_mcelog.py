"""mcelog's decoded log as a source: blocks become MCE events, read once after a cursor."""

from __future__ import annotations

import shutil
from pathlib import Path

from agent.collectors.mcelog import McelogReader
from agent.model import Severity
from agent.state.store import Store
from tests.unit.kernel_log.test_collector import Clock, make_collector, make_root, split

LOG = Path(__file__).resolve().parents[2] / "fixtures" / "mcelog" / "mcelog.log"
NOW = 1_764_003_600.0


def test_blocks_become_events():
    evs, cur = McelogReader(LOG).read({}, NOW)
    got = [(e.cls, e.severity, e.component, e.device, e.detail.get("bank"), e.time) for e in evs]
    assert got == [("mce.corrected", Severity.INFO, "cpu", "socket0", 0, 1415087019.0),
                   ("mce.fatal", Severity.CRITICAL, "memory", "socket1", 7, 1415090000.0)]
    assert evs[1].detail["address"] == "0x1b8b2e2000" and cur["offset"] == LOG.stat().st_size


def test_partial_block_waits_and_the_cursor_survives_restarts_and_rotation(tmp_path):
    root = make_root(tmp_path, kmsg="")
    log = root / "var" / "log" / "mcelog"
    log.parent.mkdir(parents=True)
    text = LOG.read_text()
    cut = text.index("STATUS be00")
    log.write_text(text[:cut])  # mcelog is writing the second block
    store = Store(tmp_path / "s.db")
    clock = Clock(NOW)
    col = make_collector(root, store, clock=clock)
    evs, _, _ = split(col.collect())
    assert [e.cls for e in evs] == ["mce.corrected"]
    log.write_text(text)
    clock.t += 5
    evs, _, _ = split(col.collect())
    assert [e.cls for e in evs] == ["mce.fatal"]
    col.close()
    col = make_collector(root, store, clock=clock)  # restart: nothing again
    assert split(col.collect())[0] == []
    rotated = log.with_suffix(".1")
    shutil.move(log, rotated)
    first = text[:text.index("Hardware event", 10)]
    log.write_text(first.replace("TIME 1415087019", "TIME 1415099999"))  # logrotate: a new file, a new record
    clock.t += 5
    evs, _, _ = split(col.collect())
    assert [(e.cls, e.time) for e in evs] == [("mce.corrected", 1415099999.0)]
    col.close()
