"""Disk families: catalogued names and labels, identity only on the info series, no stale values."""

from __future__ import annotations

import json
from dataclasses import replace

from prometheus_client import CollectorRegistry, generate_latest

from agent.collectors.smart_parse import parse_json
from agent.exporter.catalog import METRICS, METRICS_BY_NAME
from agent.exporter.collector import SnapshotCollector, collect_samples
from agent.model import Snapshot
from agent.model.disk import SelfTest

from .conftest import CORPUS, NOW

DISK_METRICS = [m.name for m in METRICS if m.section == "disk"]


def snap_of(*devices):
    return Snapshot(time=NOW, boot_id="b", readings={"smart": tuple(devices)}, statuses={})


def corpus_devices():
    out = []
    for i, p in enumerate(sorted(CORPUS.glob("sce-*.json"))):
        d = parse_json(json.loads(p.read_text()), device=f"d{i}", path=f"/dev/d{i}", now=NOW)
        out.append(replace(d, baseline={k: v - 1 for k, v in d.counters().items()}) if d.fresh else d)
    # the corpus captures were taken without the self-test log: one device carries a log
    out[0] = replace(out[0], self_tests=(SelfTest("short", "Completed without error", True, 0, 100),))
    # and one shares its identity with another disk of the host (kept apart by path)
    out[1] = replace(out[1], shared_identity_path="/dev/d1")
    return out


def test_every_disk_family_is_exercised_by_the_corpus_and_labels_match():
    samples = collect_samples(snap_of(*corpus_devices()))
    for name in DISK_METRICS:
        assert samples.get(name), f"{name} never emitted"
        spec = METRICS_BY_NAME[name]
        for labels, _v in samples[name]:
            assert tuple(labels) == spec.labels, name
            if spec.type != "info":
                assert "serial" not in labels and "wwn" not in labels


def test_info_and_attribute_table():
    d = parse_json(json.loads((CORPUS / "sce-ST3500418AS_12.json").read_text()), device="sda", path="/dev/sda",
                   now=NOW)
    d = replace(d, by_id="wwn-0x5000c500499602d2")
    s = collect_samples(snap_of(d))
    (info, v), = s["hwagent_disk_info"]
    assert v == 1 and info == {"device": "sda", "model": "ST3500418AS", "serial": d.serial, "wwn": "0x5000c500499602d2",
                               "firmware": d.firmware, "interface": "ata", "by_id": "wwn-0x5000c500499602d2"}
    raw = {(lab["attribute_id"], lab["attribute"]): val for lab, val in s["hwagent_smart_attribute_raw"]}
    assert raw[("5", "Reallocated_Sector_Ct")] == 304
    assert s["hwagent_disk_reallocated_sectors"] == [({"device": "sda"}, 304.0)]
    states = {lab["state"]: val for lab, val in s["hwagent_disk_read_status"]}
    assert states["ok"] == 1 and sum(states.values()) == 1


def test_unreadable_device_exports_state_not_stale_values():
    d = parse_json(json.loads((CORPUS / "sce-ST3500418AS_12.json").read_text()), device="sda", path="/dev/sda",
                   now=NOW)
    stale = replace(d, read_status="timeout", read_time=None, message="sda: timeout", last_success=NOW - 3600)
    s = collect_samples(snap_of(stale))
    assert {lab["state"] for lab, v in s["hwagent_disk_read_status"] if v == 1} == {"timeout"}
    assert s["hwagent_disk_last_success_timestamp_seconds"] == [({"device": "sda"}, NOW - 3600)]
    for name in ("hwagent_disk_temperature_celsius", "hwagent_smart_attribute_raw", "hwagent_disk_reallocated_sectors",
                 "hwagent_disk_smart_passed"):
        assert name not in s


def test_nvme_warning_state_set_and_render():
    d = parse_json(json.loads((CORPUS / "sce-nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json").read_text()),
                   device="nvme0", path="/dev/nvme0", now=NOW)
    s = collect_samples(snap_of(d))
    bits = {lab["state"]: v for lab, v in s["hwagent_disk_nvme_critical_warning"]}
    assert bits["volatile_memory_backup_failed"] == 1 and sum(bits.values()) == 1 and len(bits) == 6
    reg = CollectorRegistry()
    reg.register(SnapshotCollector(lambda: snap_of(d)))
    text = generate_latest(reg).decode()
    assert 'hwagent_disk_nvme_critical_warning{device="nvme0",state="volatile_memory_backup_failed"} 1.0' in text
