"""Every numeric config key has a finite range; bad values are load errors naming the key."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing

import pytest

from agent import schema as cm
from agent.config_ranges import NUMERIC_RANGES, numeric_range


def numeric_keys() -> list[str]:
    out = []
    for name, cls in cm.ordered_sections():
        hints = typing.get_type_hints(cls)
        out += [f"{name}.{f.name}" for f in dataclasses.fields(cls) if hints[f.name] in (int, float)]
    from agent.collectors import COLLECTORS_BY_NAME

    for n, cls in COLLECTORS_BY_NAME.items():
        out += [f"collectors.{n}.interval_seconds", f"collectors.{n}.timeout_seconds"]
        out += [f"collectors.{n}.{k}" for k, (tp, _d, _doc) in cls.options.items() if tp in (int, float)]
    return out


def test_every_numeric_key_has_a_finite_range_holding_its_default():
    missing = [k for k in numeric_keys() if numeric_range(k) is None]
    assert not missing, f"add these to agent/config_ranges.py: {missing}"
    for lo, hi in NUMERIC_RANGES.values():
        assert lo <= hi and hi < float("inf")


def _load(tmp_path, text):
    p = tmp_path / "c.toml"
    p.write_text(text)
    return cm.load(p, required=True)


@pytest.mark.parametrize("text,key", [
    ("[collectors.hwmon]\ninterval_seconds = nan\n", "collectors.hwmon.interval_seconds"),
    ("[collectors.hwmon]\ninterval_seconds = inf\n", "collectors.hwmon.interval_seconds"),
    ("[collectors.hwmon]\ninterval_seconds = 1e-9\n", "collectors.hwmon.interval_seconds"),
    ("[collectors.hwmon]\ntimeout_seconds = inf\n", "collectors.hwmon.timeout_seconds"),
    ("[collectors.kernel_log]\nretention_days = -1\n", "collectors.kernel_log.retention_days"),
    ("[collectors.ipmi]\ncommand_timeout_seconds = nan\n", "collectors.ipmi.command_timeout_seconds"),
    ("[collectors.ipmi]\ncommand_timeout_seconds = -1\n", "collectors.ipmi.command_timeout_seconds"),
    ("[collectors.smart]\ncommand_timeout_seconds = inf\n", "collectors.smart.command_timeout_seconds"),
    ("[collectors.smart]\nselftest_long_weekday = 7\n", "collectors.smart.selftest_long_weekday"),
    ("[daemon]\nworkers = 0\n", "daemon.workers"),
    ("[collectors.smart]\nforget_seconds = 1e400\n", "collectors.smart.forget_seconds"),
])
def test_out_of_range_values_name_the_key(tmp_path, text, key):
    with pytest.raises(cm.ConfigError) as exc:
        _load(tmp_path, text)
    assert exc.value.key == key


@pytest.mark.parametrize("key", sorted(NUMERIC_RANGES))
def test_range_boundaries(tmp_path, key):
    """Each bound is accepted; one step outside is refused."""
    lo, hi = NUMERIC_RANGES[key]
    section, *rest = key.split(".")
    if section == "collectors":
        name = rest[0] if rest[0] != "*" else "hwmon"
        table, k = f"collectors.{name}", rest[1]
    else:
        table, k = section, rest[0]
    from agent.collectors import COLLECTORS_BY_NAME

    is_int = False
    cname = table.split(".")[1] if section == "collectors" else ""
    if section == "collectors" and k not in ("interval_seconds", "timeout_seconds") \
            and k not in getattr(COLLECTORS_BY_NAME.get(cname), "options", {}):
        pytest.fail(f"config_ranges names {key}, which is not an option of collector {cname}")
    if section == "collectors" and k in getattr(COLLECTORS_BY_NAME.get(cname), "options", {}):
        is_int = COLLECTORS_BY_NAME[table.split(".")[1]].options[k][0] is int
    elif section != "collectors":
        try:
            cls = dict(cm.ordered_sections())[section]
        except KeyError:
            pytest.fail(f"config_ranges names {key}, but section [{section}] is not registered")
        is_int = typing.get_type_hints(cls)[k] is int
    fmt = (lambda v: str(int(v))) if is_int else (lambda v: repr(float(v)))
    step = 1 if is_int else max(abs(lo), abs(hi), 1) * 1e-6
    _load(tmp_path, f"[{table}]\n{k} = {fmt(lo)}\n")
    _load(tmp_path, f"[{table}]\n{k} = {fmt(hi)}\n")
    with pytest.raises(cm.ConfigError, match=k):
        _load(tmp_path, f"[{table}]\n{k} = {fmt(lo - step)}\n")
    with pytest.raises(cm.ConfigError, match=k):
        _load(tmp_path, f"[{table}]\n{k} = {fmt(hi + step)}\n")


def test_rule_parameters_must_be_finite(tmp_path):
    from agent.rules import RULES_BY_ID

    rule, param = next((r, p) for r, m in RULES_BY_ID.items() for p, d in m.defaults.items()
                       if isinstance(d, float) and not isinstance(d, bool))
    with pytest.raises(cm.ConfigError, match=param):
        _load(tmp_path, f'[rules."{rule}"]\n{param} = nan\n')


def agent(*args, tmp_path):
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)


def test_invalid_smart_option_fails_config_check_and_run(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('[collectors.smart]\nstandby_mode = "sometimes"\n')
    res = agent("--config", str(conf), "config", "check", tmp_path=tmp_path)
    assert res.returncode == 2 and "collectors.smart.standby_mode" in res.stderr
    res = agent("--config", str(conf), "run", "--web.listen-address", "127.0.0.1:0", "--state-dir",
                str(tmp_path / "st"), "--path.rootfs", str(tmp_path), tmp_path=tmp_path)
    assert res.returncode != 0 and "collectors.smart.standby_mode" in res.stderr  # old: exit 0, no smart


def test_inf_timeout_is_a_config_error_not_overflow(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("[collectors.hwmon]\ntimeout_seconds = inf\n")
    res = agent("--config", str(conf), "config", "check", tmp_path=tmp_path)
    assert res.returncode == 2 and "collectors.hwmon.timeout_seconds: must be a finite number" in res.stderr


def test_config_show_redacts_secrets(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text('[notify]\ntoken = "s3cr3t-notify"\n[statuspage]\ntoken = "s3cr3t-page"\n')
    res = agent("--config", str(conf), "config", "show", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "s3cr3t" not in res.stdout
    data = json.loads(res.stdout)
    assert data["notify"]["token"] == "<redacted>" and data["statuspage"]["token"] == "<redacted>"
    assert data["notify"].get("token_file", "") == ""  # paths are not secrets
