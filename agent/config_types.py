"""Configuration types: the sections, the collector and rule tables, and the value checks.

A leaf module (standard library and :mod:`agent.config_ranges` only): collectors, rules, the
daemon and the other capabilities import their config types from here, and the loader
(:mod:`agent.config`) gets the registries it validates against passed in by the program that
loads the file (:mod:`agent.schema`), so no import cycle runs through the configuration.

Every key has a default, so an empty file (or no file) is valid. Unknown keys and wrong types are
errors that name the full key path (``collectors.hwmon.interval_seconds: expected a number, got
'fast'``). Sections are declared once as dataclasses whose fields carry a ``doc`` in their
metadata; the config reference and the example config are generated from them.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from agent.config_ranges import numeric_range

DEFAULT_CONFIG_PATH = "/etc/hwagent/config.toml"
DEFAULT_PORT = 10067  # outside the exhausted 9100-9999 exporter range, see README
DEFAULT_LISTEN = f":{DEFAULT_PORT}"


class ConfigError(Exception):
    """An invalid configuration; the message names the key path."""

    def __init__(self, key: str, message: str, source: str | None = None):
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{key}: {message}")
        self.key = key
        self.source = source


def doc(text: str, default: Any = dataclasses.MISSING, *, factory: Any = dataclasses.MISSING, example: Any = None):
    """A dataclass field with documentation (and an optional example for the sample config)."""
    meta = {"doc": text}
    if example is not None:
        meta["example"] = example
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class HostConfig:
    root: str = doc("Root of the host filesystem (`--path.rootfs`); a container mounts the host at /host.", "/")
    sysfs: str = doc("sysfs mount point, default `{root}/sys` (`--path.sysfs`).", "")
    procfs: str = doc("procfs mount point, default `{root}/proc` (`--path.procfs`).", "")
    devfs: str = doc("devfs mount point, default `{root}/dev` (`--path.devfs`).", "")
    runfs: str = doc("/run mount point, default `{root}/run` (`--path.runfs`).", "")
    smartctl: str = doc("smartctl executable; a bare name is searched in PATH and the sbin directories.", "smartctl")
    ipmitool: str = doc("ipmitool executable.", "ipmitool")


@dataclass(frozen=True)
class ExporterConfig:
    listen: str = doc("Address of the /metrics endpoint (`--web.listen-address`), `host:port` or `:port`.", DEFAULT_LISTEN)
    process_metrics: bool = doc("Also export the agent's own process_* metrics.", False)
    web_config_file: str = doc("exporter-toolkit style web config (YAML: tls_server_config, basic_auth_users with "
                               "bcrypt hashes, http_server_config.headers) for /metrics and /status.json "
                               "(`--web.config.file`).", "")


@dataclass(frozen=True)
class StateConfig:
    dir: str = doc("State directory: SQLite store (acks, findings, history), run records (`--state-dir`).", "/var/lib/hwagent")


@dataclass(frozen=True)
class DaemonConfig:
    workers: int = doc("Threads that run collectors; a hung collector occupies one until its timeout.", 4)
    watchdog: bool = doc("Feed the systemd watchdog (WATCHDOG=1) when WatchdogSec is set.", True)


@dataclass(frozen=True)
class CollectorConfig:
    enabled: bool = doc("Run this collector (`--collector.NAME` / `--no-collector.NAME`).", True)
    interval_seconds: float = doc("Seconds between runs (default depends on the collector).", 0.0)
    timeout_seconds: float = doc("A run that takes longer is marked failed with error=timeout.", 0.0)
    options: Mapping[str, Any] = field(default_factory=dict)  # collector-specific keys


@dataclass(frozen=True)
class RuleConfig:
    enabled: bool = True
    params: Mapping[str, Any] = field(default_factory=dict)
    devices: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # device/subject -> params


@dataclass(frozen=True)
class Config:
    sections: Mapping[str, Any]
    collectors: Mapping[str, CollectorConfig]
    rules: Mapping[str, RuleConfig]
    source: str | None = None

    @property
    def host(self) -> HostConfig:
        return self.sections["host"]

    @property
    def exporter(self) -> ExporterConfig:
        return self.sections["exporter"]

    @property
    def state(self) -> StateConfig:
        return self.sections["state"]

    @property
    def daemon(self) -> DaemonConfig:
        return self.sections["daemon"]

    def section(self, name: str) -> Any:
        return self.sections[name]

    def collector(self, name: str) -> CollectorConfig:
        return self.collectors.get(name) or CollectorConfig()

    def rule(self, rule_id: str) -> RuleConfig:
        return self.rules.get(rule_id) or RuleConfig()

    def replace(self, **changes: Any) -> "Config":
        """Override top-level section fields: ``cfg.replace(host={"root": "/x"})``."""
        sections = dict(self.sections)
        for sec, values in changes.items():
            sections[sec] = dataclasses.replace(sections[sec], **values)
        return dataclasses.replace(self, sections=sections)

    def with_collectors(self, enabled: Mapping[str, bool]) -> "Config":
        cols = dict(self.collectors)
        for name, on in enabled.items():
            cols[name] = dataclasses.replace(cols.get(name) or CollectorConfig(), enabled=on)
        return dataclasses.replace(self, collectors=cols)


# ---- numeric ranges (the table is in agent/config_ranges.py) ----------------------------------
# NaN and infinity are refused everywhere: TOML has `nan` and `inf`, and an interval of nan ran a
# collector once and never again, 1e-9 took a core, retention_days = -1 wiped the history.
def _check_number(key: str, value: float, source: str | None) -> None:
    if value != value or value in (math.inf, -math.inf):
        raise ConfigError(key, f"must be a finite number, got {value!r}", source)
    rng = numeric_range(key)
    if rng is not None and not (rng[0] <= value <= rng[1]):
        raise ConfigError(key, f"must be between {rng[0]:g} and {rng[1]:g}, got {value!r}", source)


# ---- type checking ---------------------------------------------------------------------------

def check_value(key: str, tp: Any, value: Any, source: str | None = None) -> Any:
    """Validate one value against a (simple) annotation; returns the converted value."""
    if isinstance(tp, str):  # annotations are resolved by build_dataclass (typing.get_type_hints)
        raise TypeError(f"{key}: unresolved annotation {tp!r}")
    if tp is Any:
        return value
    for scalar, check in _SCALARS:
        if tp is scalar:
            return check(key, value, source)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _check_union(key, tp, value, source)
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, list):
            raise ConfigError(key, f"expected a list, got {value!r}", source)
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        return tuple(check_value(f"{key}[{i}]", inner, v, source) for i, v in enumerate(value))
    if origin in (dict, Mapping, typing.Mapping) or tp in (dict,):
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {value!r}", source)
        args = typing.get_args(tp)
        inner = args[1] if len(args) == 2 else Any
        return {k: check_value(f"{key}.{k}", inner, v, source) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a dataclass type (never an instance here)
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {value!r}", source)
        return build_dataclass(tp, value, key, source)
    return value


def _check_union(key: str, tp: Any, value: Any, source: str | None) -> Any:
    """``A | B | None``: the first alternative the value passes as (None only where allowed)."""
    for alt in typing.get_args(tp):
        if alt is type(None):
            if value is None:
                return None
            continue
        try:
            return check_value(key, alt, value, source)
        except ConfigError:
            continue
    raise ConfigError(key, f"unexpected value {value!r}", source)


def _check_bool(key: str, value: Any, source: str | None) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(key, f"expected a boolean (true/false), got {value!r}", source)
    return value


def _check_int(key: str, value: Any, source: str | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected an integer, got {value!r}", source)
    _check_number(key, value, source)
    return value


def _check_float(key: str, value: Any, source: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"expected a number, got {value!r}", source)
    try:
        value = float(value)
    except OverflowError:  # an integer beyond a double
        raise ConfigError(key, f"must be a finite number, got {value!r}", source) from None
    _check_number(key, value, source)
    return value


def _check_str(key: str, value: Any, source: str | None) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {value!r}", source)
    return value


def _check_regex(key: str, value: Any, source: str | None) -> str:
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string (a regular expression), got {value!r}", source)
    compile_regex(key, value, source)
    return value


def build_dataclass(cls: type, data: Mapping[str, Any], prefix: str, source: str | None = None) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "options"}
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(path, f"unknown key (known: {known})", source)
        kwargs[key] = check_value(path, hints[key], value, source)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(prefix, str(exc), source) from None


# ---- regular expressions and device filters ----------------------------------------------------

class Regex(str):
    """Option type: a regular expression (Python ``re`` syntax, matched with ``search``), compiled
    when the config is loaded so that ``include_chips = "("`` is refused by `agent config check`
    with the key and the regex error, never by a collector run."""


def compile_regex(key: str, pattern: str, source: str | None = None) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(key, f"invalid regular expression {pattern!r}: {exc}", source) from None
    except (RecursionError, OverflowError, MemoryError):  # a pathological nesting depth
        raise ConfigError(key, f"invalid regular expression {pattern!r}: too complex", source) from None


# the option types check_value recognises by identity, and their checks
_SCALARS: tuple[tuple[type, Callable[[str, Any, str | None], Any]], ...] = (
    (Regex, _check_regex), (bool, _check_bool), (int, _check_int), (float, _check_float), (str, _check_str))


@dataclass(frozen=True)
class DeviceFilter:
    """Which devices (chips, sensors, disks, arrays) a collector reads: an include regex or an
    exclude regex, never both (node_exporter's ``*-include``/``*-exclude`` flag pairs), compiled
    once. A device is described by one or more names (``/dev/sda`` and ``/dev/sda -d sat``); the
    include matches when any name matches, the exclude skips when any name matches."""

    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any], include_key: str, exclude_key: str, prefix: str = "",
                     source: str | None = None) -> "DeviceFilter":
        """Build from a collector's option values; raises :class:`ConfigError` naming the key."""
        inc, exc = options.get(include_key) or "", options.get(exclude_key) or ""
        where = f"{prefix}." if prefix else ""
        if inc and exc:
            raise ConfigError(f"{where}{exclude_key}", f"{include_key} and {exclude_key} are mutually exclusive "
                              "(an include reads only what matches; set one of them)", source)
        return cls(include=compile_regex(f"{where}{include_key}", inc, source) if inc else None,
                   exclude=compile_regex(f"{where}{exclude_key}", exc, source) if exc else None)

    def allows(self, *names: str | None) -> bool:
        present = [n for n in names if n]
        if self.include is not None:
            return any(self.include.search(n) for n in present)
        if self.exclude is not None:
            return not any(self.exclude.search(n) for n in present)
        return True
