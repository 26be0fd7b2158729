from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent import schema as cm
from agent.schema import ConfigError, from_mapping, load

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "systemd" / "config.example.toml"


def test_empty_and_missing_default_config_are_valid(tmp_path, monkeypatch):
    from agent import config as loader

    monkeypatch.setattr(loader, "DEFAULT_CONFIG_PATH", str(tmp_path / "nope.toml"))
    cfg = load(None)
    assert cfg.exporter.listen == ":10067" and cfg.state.dir == "/var/lib/hwagent"
    (tmp_path / "empty.toml").write_text("")
    assert load(tmp_path / "empty.toml").host.root == "/"


@pytest.mark.parametrize("text,key,msg", [
    ('[exporter]\nlisten = 9100\n', "exporter.listen", "expected a string"),
    ('[exporter]\nlisen = ":1"\n', "exporter.lisen", "unknown key"),
    ('[bogus]\nx = 1\n', "bogus", "unknown section"),
    ('[collectors.hwmon]\ninterval_seconds = "fast"\n', "collectors.hwmon.interval_seconds", "expected a number"),
    ('[collectors.hwmon]\ninterval_seconds = 0\n', "collectors.hwmon.interval_seconds", "must be between 0.05 and"),
    ('[collectors.hwmon]\nchips = "x"\n', "collectors.hwmon.chips", "unknown key"),
    ('[collectors.nosuch]\nenabled = true\n', "collectors.nosuch", "unknown collector"),
    ('[rules."board.nosuch"]\nx = 1\n', 'rules."board.nosuch"', "unknown rule id"),
    ('[rules."board.fan_stopped"]\nstoped_rpm = 1\n', 'rules."board.fan_stopped".stoped_rpm', "unknown parameter"),
    ('[rules."board.voltage_out_of_range"]\ntolerance_ratio = "x"\n', 'rules."board.voltage_out_of_range".tolerance_ratio', "expected"),
    ('[rules."board.fan_stopped".devices."nct/fan1"]\nstopped_rpm = true\n', 'rules."board.fan_stopped".devices."nct/fan1".stopped_rpm', "expected"),
    ('[daemon]\nworkers = 2.5\n', "daemon.workers", "expected an integer"),
    ('[host\nroot = "/"\n', "(syntax)", ""),
])
def test_errors_name_the_key_path(tmp_path, text, key, msg):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load(p)
    assert exc.value.key == key
    assert msg in str(exc.value) and str(p) in str(exc.value)


def test_explicit_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml")


def test_rule_params_and_device_overrides():
    cfg = from_mapping({"rules": {"board.fan_stopped": {"stopped_rpm": 100, "devices": {"a/fan1": {"stopped_rpm": 5}}}}})
    rc = cfg.rule("board.fan_stopped")
    assert rc.params == {"stopped_rpm": 100} and rc.devices == {"a/fan1": {"stopped_rpm": 5}}


def test_example_config_is_valid_and_shows_every_field():
    """systemd/config.example.toml loads, and every documented key appears in it."""
    text = EXAMPLE.read_text()
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line for line in text.splitlines())
    cfg = cm.load(EXAMPLE)
    assert cfg.exporter.listen
    for section, key, _default, doc in cm.documented_fields():
        assert doc, f"{section}.{key} has no doc"
        assert re.search(rf"^\[{re.escape(section)}\]", uncommented, re.M), f"[{section}] missing from example"
        assert re.search(rf"^#?\s*{re.escape(key)}\s*=", text, re.M), f"{section}.{key} missing from example"


def test_reference_documents_every_field():
    ref = (ROOT / "docs" / "reference" / "config.md").read_text()
    for section, key, _default, _doc in cm.documented_fields():
        assert f"`{section}.{key}`" in ref, f"docs/reference/config.md lacks `{section}.{key}`"


def test_the_loader_validates_against_the_registries_it_is_given():
    """The loader imports no registry: a schema with one collector knows that one only."""
    from agent import config as loader
    from agent.collectors.hwmon import HwmonCollector

    only_hwmon = loader.Schema.build(collectors=[HwmonCollector])
    cfg = loader.from_mapping({"collectors": {"hwmon": {"exclude_chips": "^nct"}}}, only_hwmon)
    assert cfg.collector("hwmon").options == {"exclude_chips": "^nct"}
    with pytest.raises(ConfigError, match=r"collectors\.smart: unknown collector \(known: hwmon\)"):
        loader.from_mapping({"collectors": {"smart": {}}}, only_hwmon)
    with pytest.raises(ConfigError, match=r"recovery: unknown section"):
        loader.from_mapping({"recovery": {}}, only_hwmon)  # a capability's section only when it is passed in
    with pytest.raises(ValueError, match="taken: host"):
        loader.Schema.build(sections={"host": dict})


def test_check_value_refuses_an_unresolved_annotation():
    """No eval() of annotation strings: build_dataclass resolves them with typing.get_type_hints."""
    from agent.config_types import check_value

    with pytest.raises(TypeError, match="unresolved annotation"):
        check_value("x", "int", 1)
    assert check_value("x", int | None, None) is None and check_value("x", tuple[str, ...], ["a"]) == ("a",)
