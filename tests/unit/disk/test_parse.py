"""smartctl JSON/text -> SmartDevice: vendor encodings, implausible values, missing sections."""

from __future__ import annotations

import copy

import pytest

from agent.collectors.smart_parse import ParseError, decode_count, parse_duration_hours, parse_json, text_to_doc
from agent.model.disk import decode_exit_status, decode_nvme_warning

from .conftest import LAB, corpus_doc
from .helpers import NOW


def _ata(**attrs) -> dict:
    """A minimal ATA document with the given attribute rows (id -> (raw value, raw string))."""
    table = [{"id": i, "name": f"A{i}", "value": 100, "worst": 100, "thresh": 10, "when_failed": "",
              "flags": {"prefailure": i in (1, 5, 7)}, "raw": {"value": v, "string": s}}
             for i, (v, s) in ((int(k[1:]), val) for k, val in attrs.items())]
    return {"json_format_version": [1, 0], "smartctl": {"version": [7, 3], "exit_status": 0},
            "device": {"name": "/dev/sda", "type": "sat", "protocol": "ATA"},
            "model_name": "WDC WD40EFRX", "serial_number": "S1", "smart_status": {"passed": True},
            "ata_smart_attributes": {"table": table}}


def test_exit_bits_decoded():
    assert decode_exit_status(216) == ("disk_failing", "prefail_below_threshold", "error_log_has_records",
                                       "selftest_log_has_errors")
    assert decode_exit_status(0) == ()
    assert decode_exit_status(2) == ("open_failed",)
    assert decode_nvme_warning(0x07) == ("spare_below_threshold", "temperature_above_or_below_threshold",
                                         "reliability_degraded")
    assert decode_nvme_warning(0x10) == ("volatile_memory_backup_failed",)


def test_seagate_packed_188_and_error_rates():
    # 188 raw 17,180,131,332 = 0x4_0004_0004: three counters 4, 4, 4 -> the low word
    assert decode_count(188, 17_180_131_332, "17180131332", seagate=True) == 4
    assert decode_count(1, 123_456_789, "123456789", seagate=True) is None  # error rate: no count
    assert decode_count(7, 4_295_032_833, "4295032833", seagate=True) is None
    assert decode_count(188, 10, "10", seagate=False) == 10
    # smartctl's own decoded strings
    assert decode_count(194, 0x2D0014002D, "45 (Min/Max 20/45)", seagate=False) == 45
    assert decode_count(9, 0x1234, "12345h+34m+56.789s", seagate=False) == 12345
    # a count attribute packed by a vendor we do not know: low word, not 4 billion
    assert decode_count(199, 0x0001_0000_0003, "4294967299", seagate=False) == 3


def test_power_on_string():
    assert parse_duration_hours("12h+34m") == pytest.approx(12 + 34 / 60)
    assert parse_duration_hours("40123h+05m+17.250s") == pytest.approx(40123 + 5 / 60 + 17.25 / 3600)
    assert parse_duration_hours("1234") is None
    doc = _ata(a9=(0x2AB, "683h+12m+04.500s"))
    d = parse_json(doc, device="sda", path="/dev/sda", now=NOW)
    assert d.power_on_seconds == 683 * 3600


def test_seagate_drive_detection_in_parse():
    doc = _ata(a188=(17_180_131_332, "17180131332"))
    doc["model_name"] = "ST8000NM0055-1RM112"
    d = parse_json(doc, device="sda", path="/dev/sda", now=NOW)
    assert d.attribute(188).count == 4
    assert d.attribute(188).raw == 17_180_131_332  # exported as reported


def test_implausible_temperature_and_negative_counters_rejected():
    doc = corpus_doc("sce-nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json")
    doc = copy.deepcopy(doc)
    doc["temperature"] = {"current": 65535}
    doc["nvme_smart_health_information_log"]["temperature"] = 65535
    doc["nvme_smart_health_information_log"]["media_errors"] = -5
    d = parse_json(doc, device="nvme0", path="/dev/nvme0", now=NOW)
    assert d.fresh
    assert d.temperature_celsius is None
    assert d.nvme.media_errors is None
    assert any("65535" in r and "nvme0" in r for r in d.rejected)
    assert any("media_errors -5" in r for r in d.rejected)
    assert d.nvme.critical_warning == 0x10  # the rest is kept


def test_missing_sections_and_unknown_fields():
    doc = {"json_format_version": [1, 0], "smartctl": {"exit_status": 0}, "smart_status": {"passed": True},
           "some_future_section": {"x": [1, 2]}, "temperature": "hot", "power_on_time": {"hours": "many"},
           "ata_smart_attributes": {"table": [None, "junk", {"id": 5}, {"id": 999, "raw": {"value": 1}}]}}
    d = parse_json(doc, device="sdx", path="/dev/sdx", now=NOW)
    assert d.fresh and d.smart_passed is True
    assert d.temperature_celsius is None and d.power_on_seconds is None
    assert [a.id for a in d.ata_attributes] == [5]
    assert d.attribute(5).count is None and d.attribute(5).value is None
    assert d.stable_id == "path:/dev/sdx"


def test_smart_support_as_bare_bool_and_missing_status_is_unknown():
    doc = _ata(a5=(0, "0"))
    doc["smart_support"] = True
    del doc["smart_status"]
    d = parse_json(doc, device="sda", path="/dev/sda", now=NOW)
    assert d.smart_available is True and d.smart_enabled is True
    assert d.smart_passed is None  # unknown, never "failed"


def test_not_smartctl_json():
    with pytest.raises(ParseError):
        parse_json({"hello": 1}, device="sda", path="/dev/sda")
    with pytest.raises(ParseError):
        parse_json([1, 2], device="sda", path="/dev/sda")


def test_standby_capture_is_not_data():
    d = parse_json(corpus_doc("sce-standby-sdc.json"), device="sdc", path="/dev/sdc", now=NOW)
    assert d.read_status == "standby" and d.power_state == "standby"
    assert d.smart_passed is None and d.read_time is None


def test_identity_keys():
    d = parse_json(corpus_doc("sce-ST3500418AS_12.json"), device="sda", path="/dev/sda", now=NOW)
    assert d.wwn == "0x5000c500499602d2" and d.stable_id == d.wwn
    # SCSI 6.7/7.0 captures name vendor/product, newer ones scsi_vendor/scsi_product
    s = parse_json(corpus_doc("sce-SEAGATE_ST373453LC_26.json"), device="sdb", path="/dev/sdb", now=NOW)
    assert s.protocol == "SCSI" and s.model and "ST373453LC" in s.model
    assert s.scsi.grown_defects == 260 and s.scsi.write_uncorrected == 535


def test_nvme_units():
    d = parse_json(corpus_doc("sce-nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"), device="nvme0",
                   path="/dev/nvme0", now=NOW)
    raw = corpus_doc("sce-nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json")["nvme_smart_health_information_log"]
    assert d.nvme.data_units_written_bytes == raw["data_units_written"] * 512_000
    assert d.nvme.available_spare_ratio == raw["available_spare"] / 100
    assert d.power_on_seconds == raw["power_on_hours"] * 3600


def _lab(scenario: str, name: str) -> tuple[str, int]:
    lines = (LAB / scenario / name).read_text().splitlines()
    assert lines[0].startswith("# smartctl -x") and lines[1].startswith("# rc=")
    return "\n".join(lines[2:]), int(lines[1].split("=", 1)[1])


def test_lab_text_nvme_critical_warning():
    text, rc = _lab("nvme-critical-warning", "after-smartctl-nvme0.txt")
    d = parse_json(text_to_doc(text, rc=rc, path="/dev/nvme0"), device="nvme0", path="/dev/nvme0", now=NOW,
                   backend="text")
    assert rc == 8 and d.exit_bits == ("disk_failing",)
    assert d.protocol == "NVMe" and d.smart_passed is False
    assert d.nvme.critical_warning == 0x07 and d.temperature_warning_celsius == 70.0
    assert d.serial == "LABNVME0001"


def test_lab_text_sata_brief_attributes():
    text, rc = _lab("nvme-critical-warning", "after-smartctl-sda.txt")
    d = parse_json(text_to_doc(text, rc=rc, path="/dev/sda"), device="sda", path="/dev/sda", now=NOW)
    assert d.protocol == "ATA" and d.smart_passed is True
    assert rc == 4 and d.exit_bits == ("smart_command_failed",)  # log directory read failed
    assert [a.id for a in d.ata_attributes] == [1, 3, 4, 5, 9, 12, 190]
    assert d.attribute(190).count == 31 and d.temperature_celsius == 31.0
    assert d.attribute(5).prefailure and d.ata_error_count == 0


def test_text_garbage():
    with pytest.raises(ParseError):
        text_to_doc("<html>proxy error</html>")


def test_drive_temperature_limits_from_each_smartctl_generation():
    base = corpus_doc("sce-INTEL_SSDPE2KX080T8_1.json")
    doc = copy.deepcopy(base)
    doc["nvme_composite_temperature_threshold"] = {"warning": 70, "critical": 80}
    d = parse_json(doc, device="nvme0", path="/dev/nvme0", now=NOW)
    assert (d.temperature_warning_celsius, d.temperature_critical_celsius) == (70.0, 80.0)
    doc = copy.deepcopy(base)
    doc["temperature"] = {"current": 54, "op_limit_max": 100, "critical_limit_max": 110}  # 7.4 layout
    d = parse_json(doc, device="nvme0", path="/dev/nvme0", now=NOW)
    assert (d.temperature_warning_celsius, d.temperature_critical_celsius) == (100.0, 110.0)
    ata = _ata(a5=(0, "0"))
    ata["ata_sct_status"] = {"temperature": {"current": 40, "op_limit_max": 60, "limit_max": 70}}
    d = parse_json(ata, device="sda", path="/dev/sda", now=NOW)
    assert (d.temperature_warning_celsius, d.temperature_critical_celsius) == (60.0, 70.0)
    scsi = parse_json(corpus_doc("sce-HITACHI_H109060SESUN600G_9.json"), device="sdb", path="/dev/sdb", now=NOW)
    assert scsi.temperature_critical_celsius == corpus_doc("sce-HITACHI_H109060SESUN600G_9.json")["temperature"].get(
        "drive_trip")
