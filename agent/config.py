"""Configuration: one TOML file read with stdlib ``tomllib`` into frozen dataclasses.

Every key has a default, so an empty file (or no file) is valid. Unknown keys and wrong types are
errors that name the full key path (``collectors.hwmon.interval_seconds: expected a number, got
'fast'``). Sections are declared once as dataclasses whose fields carry a ``doc`` in their
metadata; the README config reference and the example config are checked against them.

Collector sections (``[collectors.NAME]``) take the common keys of :class:`CollectorConfig` plus
the options the collector class declares in ``options``. Rule sections (``[rules."RULE.ID"]``)
take ``enabled``, the rule's own parameters, and per-device overrides in
``[rules."RULE.ID".devices."DEVICE"]``.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

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


# Top-level sections: name -> dataclass. Other capabilities register theirs here (one line each).
SECTIONS: dict[str, type] = {
    "host": HostConfig,
    "exporter": ExporterConfig,
    "state": StateConfig,
    "daemon": DaemonConfig,
}


CORE_SECTIONS = ("host", "exporter", "state", "daemon")


def ordered_sections() -> list[tuple[str, type]]:
    """Sections in a stable order for generated docs: the core ones, then the others by name
    (import order, which decides dict order, differs between programs and test runs)."""
    _register_optional_sections()
    rest = sorted(n for n in SECTIONS if n not in CORE_SECTIONS)
    return [(n, SECTIONS[n]) for n in (*CORE_SECTIONS, *rest)]


def register_section(name: str, cls: type) -> type:
    SECTIONS[name] = cls
    return cls


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

def _type_name(tp: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def check_value(key: str, tp: Any, value: Any, source: str | None = None) -> Any:
    """Validate one value against a (simple) annotation; returns the converted value."""
    if isinstance(tp, str):
        tp = eval(tp, {**vars(typing), **vars(types), "Mapping": Mapping, "Any": Any})  # noqa: S307 - our own annotations
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for alt in typing.get_args(tp):
            if alt is type(None):
                if value is None:
                    return None
                continue
            try:
                return check_value(key, alt, value, source)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(key, f"unexpected value {value!r}", source)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected a boolean (true/false), got {value!r}", source)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {value!r}", source)
        _check_number(key, value, source)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(key, f"expected a number, got {value!r}", source)
        try:
            value = float(value)
        except OverflowError:  # an integer beyond a double
            raise ConfigError(key, f"must be a finite number, got {value!r}", source) from None
        _check_number(key, value, source)
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {value!r}", source)
        return value
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
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {value!r}", source)
        return build_dataclass(tp, value, key, source)
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


# ---- collectors and rules --------------------------------------------------------------------

def _collector_table(name: str, data: Mapping[str, Any], source: str | None) -> CollectorConfig:
    from agent.collectors import COLLECTORS_BY_NAME  # noqa: PLC0415 - avoid import cycle

    prefix = f"collectors.{name}"
    cls = COLLECTORS_BY_NAME.get(name)
    if cls is None:
        raise ConfigError(prefix, f"unknown collector (known: {', '.join(COLLECTORS_BY_NAME)})", source)
    if not isinstance(data, dict):
        raise ConfigError(prefix, "expected a table", source)
    common = {k: v for k, v in data.items() if k in ("enabled", "interval_seconds", "timeout_seconds")}
    rest = {k: v for k, v in data.items() if k not in common}
    base = build_dataclass(CollectorConfig, common, prefix, source)
    if "enabled" not in common:  # a table that only sets options keeps the collector's default
        base = dataclasses.replace(base, enabled=cls.default_enabled)
    declared = getattr(cls, "options", {})
    options = {}
    for key, value in rest.items():
        if key not in declared:
            known = ", ".join(sorted(["enabled", "interval_seconds", "timeout_seconds", *declared]))
            raise ConfigError(f"{prefix}.{key}", f"unknown key (known: {known})", source)
        tp = declared[key][0]
        options[key] = check_value(f"{prefix}.{key}", tp, value, source)
    for key, value in (("interval_seconds", base.interval_seconds), ("timeout_seconds", base.timeout_seconds)):
        if key in common and value <= 0:
            raise ConfigError(f"{prefix}.{key}", f"must be > 0, got {value}", source)
    return dataclasses.replace(base, options=options)


def _param_value(path: str, default: Any, value: Any, source: str | None) -> Any:
    if isinstance(default, bool):
        return check_value(path, bool, value, source)
    if isinstance(default, (int, float)):
        return check_value(path, float if isinstance(default, float) else (int | float), value, source)
    if isinstance(default, str):
        return check_value(path, str, value, source)
    if isinstance(default, (list, tuple)):
        return check_value(path, list, value, source)
    return value


def _rule_table(rule_id: str, data: Mapping[str, Any], source: str | None) -> RuleConfig:
    from agent.rules import RULES_BY_ID  # noqa: PLC0415 - avoid import cycle

    prefix = f'rules."{rule_id}"'
    meta = RULES_BY_ID.get(rule_id)
    if meta is None:
        raise ConfigError(prefix, "unknown rule id (see `agent rules` for the list)", source)
    if not isinstance(data, dict):
        raise ConfigError(prefix, "expected a table", source)
    defaults = meta.defaults
    enabled = True
    params: dict[str, Any] = {}
    devices: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        path = f"{prefix}.{key}"
        if key == "enabled":
            enabled = check_value(path, bool, value, source)
        elif key == "devices":
            if not isinstance(value, dict):
                raise ConfigError(path, "expected a table of device tables", source)
            for dev, overrides in value.items():
                dpath = f'{path}."{dev}"'
                if not isinstance(overrides, dict):
                    raise ConfigError(dpath, "expected a table", source)
                devices[dev] = {}
                for pk, pv in overrides.items():
                    if pk == "enabled":
                        devices[dev][pk] = check_value(f"{dpath}.{pk}", bool, pv, source)
                        continue
                    if pk not in defaults:
                        raise ConfigError(f"{dpath}.{pk}", f"unknown parameter (known: enabled, {', '.join(defaults)})", source)
                    devices[dev][pk] = _param_value(f"{dpath}.{pk}", defaults[pk], pv, source)
        elif key in defaults:
            params[key] = _param_value(path, defaults[key], value, source)
        else:
            known = ", ".join(["enabled", "devices", *defaults])
            raise ConfigError(path, f"unknown parameter (known: {known})", source)
    return RuleConfig(enabled=enabled, params=params, devices=devices)


# ---- loading ---------------------------------------------------------------------------------

def from_mapping(data: Mapping[str, Any], source: str | None = None) -> Config:
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(name, "expected a table", source)
        sections[name] = build_dataclass(cls, raw, name, source)
    collectors: dict[str, CollectorConfig] = {}
    rules: dict[str, RuleConfig] = {}
    for key, value in data.items():
        if key in SECTIONS:
            continue
        if key == "collectors":
            if not isinstance(value, dict):
                raise ConfigError(key, "expected a table", source)
            for cname, ctable in value.items():
                collectors[cname] = _collector_table(cname, ctable, source)
        elif key == "rules":
            if not isinstance(value, dict):
                raise ConfigError(key, "expected a table", source)
            for rid, rtable in value.items():
                rules[rid] = _rule_table(rid, rtable, source)
        else:
            known = ", ".join(sorted([*SECTIONS, "collectors", "rules"]))
            raise ConfigError(key, f"unknown section (known: {known})", source)
    return Config(sections=sections, collectors=collectors, rules=rules, source=source)


def load(path: str | Path | None, *, required: bool = False) -> Config:
    """Load a config file. A missing default file gives the defaults; a missing explicit file,
    a TOML syntax error or an invalid key raises :class:`ConfigError`."""
    _register_optional_sections()
    if path is None:
        p = Path(DEFAULT_CONFIG_PATH)
        if not p.exists():
            return from_mapping({}, None)
    else:
        p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        if required or path is not None:
            raise ConfigError("(file)", "no such file", str(p)) from None
        return from_mapping({}, None)
    except OSError as exc:
        raise ConfigError("(file)", exc.strerror or str(exc), str(p)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("(file)", "not UTF-8 text", str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", str(exc), str(p)) from None
    return from_mapping(data, str(p))


def defaults() -> Config:
    _register_optional_sections()
    return from_mapping({}, None)


def _register_optional_sections() -> None:
    """Import modules that register config sections of other capabilities."""
    import importlib  # noqa: PLC0415

    for mod in OPTIONAL_SECTION_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a capability not installed in this build
            if exc.name != mod:
                raise


# Modules that call register_section() at import time (one line per capability).
OPTIONAL_SECTION_MODULES: list[str] = ["hwstatus.config", "agent.recovery.settings"]


def documented_fields() -> list[tuple[str, str, Any, str]]:
    """(section, key, default, doc) for every top-level section field (README / example check)."""
    out = []
    for name, cls in ordered_sections():
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out.append((name, f.name, default, f.metadata.get("doc", "")))
    return out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{}" if not v else "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if v is None:
        return '""'
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def example_toml() -> str:
    """The example config: every key with its default, documented, commented out."""
    from agent.collectors import COLLECTORS  # noqa: PLC0415
    from agent.rules import RULES  # noqa: PLC0415

    _register_optional_sections()
    out = ["# hwagent configuration (/etc/hwagent/config.toml). Every key is optional; the values",
           "# shown are the defaults. Generated by `python tools/generate.py`; keep in sync.", ""]
    for name, cls in ordered_sections():
        out.append(f"[{name}]")
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out.append(f"# {f.metadata.get('doc', '')}")
            out.append(f"# {f.name} = {_toml_value(f.metadata.get('example', default))}")
        out.append("")
    out.append("# Collectors: enabled, interval_seconds, timeout_seconds, plus their own keys.")
    for cls in COLLECTORS:
        out.append(f"[collectors.{cls.name}]")
        out.append(f"# {cls.description}")
        out.append(f"# enabled = {_toml_value(cls.default_enabled)}")
        out.append(f"# interval_seconds = {_toml_value(float(cls.default_interval))}")
        out.append(f"# timeout_seconds = {_toml_value(float(cls.default_timeout))}")
        for key, (_tp, default, docu) in getattr(cls, "options", {}).items():
            out.append(f"# {docu}")
            out.append(f"# {key} = {_toml_value(default)}")
        out.append("")
    out.append("# Rules: thresholds per rule id, `enabled`, and per-device overrides in")
    out.append('# [rules."RULE.ID".devices."DEVICE"] (DEVICE as shown by `agent status`).')
    for meta in RULES:
        if not meta.defaults:
            continue
        out.append(f'[rules."{meta.id}"]')
        for key, default in meta.defaults.items():
            if key in meta.param_docs:
                out.append(f"# {meta.param_docs[key]}")
            out.append(f"# {key} = {_toml_value(default)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def reference_markdown() -> str:
    """README config reference table, generated from the declarations."""
    from agent.collectors import COLLECTORS  # noqa: PLC0415

    _register_optional_sections()
    lines = ["| key | default | meaning |", "|---|---|---|"]
    for name, cls in ordered_sections():
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            lines.append(f"| `{name}.{f.name}` | `{_toml_value(default)}` | {f.metadata.get('doc', '').replace('|', '/')} |")
    for cls in COLLECTORS:
        lines.append(f"| `collectors.{cls.name}.enabled` / `interval_seconds` / `timeout_seconds` | "
                     f"`{_toml_value(cls.default_enabled)}` / `{cls.default_interval:g}` / `{cls.default_timeout:g}` | {cls.description} |")
        for key, (_tp, default, docu) in getattr(cls, "options", {}).items():
            lines.append(f"| `collectors.{cls.name}.{key}` | `{_toml_value(default)}` | {docu.replace('|', '/')} |")
    return "\n".join(lines)
