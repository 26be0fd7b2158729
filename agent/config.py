"""The configuration loader: one TOML file read with stdlib ``tomllib`` into the frozen types of
:mod:`agent.config_types`.

The loader imports no collector, rule or capability: what it validates against (the top-level
sections, the collector classes with their options, the rules with their parameters) comes in a
:class:`Schema` built by the program that loads the file (:mod:`agent.schema` for ``agent`` and
``hwstatus``), so the registries depend on the config types and never the other way round.

Collector sections (``[collectors.NAME]``) take the common keys of :class:`CollectorConfig` plus
the options the collector class declares in ``options``; a pair of include/exclude regexes it
declares in ``filters`` becomes one :class:`DeviceFilter` (checked here, at load). Rule sections
(``[rules."RULE.ID"]``) take ``enabled``, the rule's own parameters, and per-device overrides in
``[rules."RULE.ID".devices."DEVICE"]``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from agent.config_types import (DEFAULT_CONFIG_PATH, DEFAULT_LISTEN, DEFAULT_PORT, CollectorConfig, Config,  # noqa: F401
                                ConfigError, DaemonConfig, DeviceFilter, ExporterConfig, HostConfig, RuleConfig,
                                StateConfig, build_dataclass, check_value, doc)

# The sections every program has; capabilities add theirs through Schema(sections=...).
CORE_SECTIONS: dict[str, type] = {
    "host": HostConfig,
    "exporter": ExporterConfig,
    "state": StateConfig,
    "daemon": DaemonConfig,
}


@dataclass(frozen=True)
class Schema:
    """What a config file is validated against.

    ``sections``: top-level section name -> dataclass (the core ones are always there);
    ``collectors``: collector classes (``name``, ``default_enabled``, ``options``, ``filters``, ...);
    ``rules``: rule metadata (``id``, ``defaults``, ``param_docs``)."""

    sections: Mapping[str, type]
    collectors: tuple[Any, ...] = ()
    rules: tuple[Any, ...] = ()

    @classmethod
    def build(cls, *, collectors: Any = (), rules: Any = (), sections: Mapping[str, type] | None = None) -> "Schema":
        extra = dict(sections or {})
        clash = set(extra) & {*CORE_SECTIONS, "collectors", "rules"}
        if clash:
            raise ValueError(f"section name(s) taken: {', '.join(sorted(clash))}")
        return cls(sections={**CORE_SECTIONS, **extra}, collectors=tuple(collectors), rules=tuple(rules))

    @property
    def collectors_by_name(self) -> dict[str, Any]:
        return {c.name: c for c in self.collectors}

    @property
    def rules_by_id(self) -> dict[str, Any]:
        return {r.id: r for r in self.rules}

    def ordered_sections(self) -> list[tuple[str, type]]:
        """Sections in a stable order for generated docs: the core ones, then the others by name."""
        rest = sorted(n for n in self.sections if n not in CORE_SECTIONS)
        return [(n, self.sections[n]) for n in (*CORE_SECTIONS, *rest)]


# ---- collectors and rules --------------------------------------------------------------------

def _collector_table(schema: Schema, name: str, data: Mapping[str, Any], source: str | None) -> CollectorConfig:
    prefix = f"collectors.{name}"
    known_collectors = schema.collectors_by_name
    cls = known_collectors.get(name)
    if cls is None:
        raise ConfigError(prefix, f"unknown collector (known: {', '.join(known_collectors)})", source)
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
    for include_key, exclude_key in getattr(cls, "filters", {}).values():
        DeviceFilter.from_options(options, include_key, exclude_key, prefix, source)
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


def _rule_table(schema: Schema, rule_id: str, data: Mapping[str, Any], source: str | None) -> RuleConfig:
    prefix = f'rules."{rule_id}"'
    meta = schema.rules_by_id.get(rule_id)
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

def from_mapping(data: Mapping[str, Any], schema: Schema, source: str | None = None) -> Config:
    sections: dict[str, Any] = {}
    for name, cls in schema.sections.items():
        raw = data.get(name, {})
        if not isinstance(raw, dict):
            raise ConfigError(name, "expected a table", source)
        sections[name] = build_dataclass(cls, raw, name, source)
    collectors: dict[str, CollectorConfig] = {}
    rules: dict[str, RuleConfig] = {}
    for key, value in data.items():
        if key in schema.sections:
            continue
        if key == "collectors":
            if not isinstance(value, dict):
                raise ConfigError(key, "expected a table", source)
            for cname, ctable in value.items():
                collectors[cname] = _collector_table(schema, cname, ctable, source)
        elif key == "rules":
            if not isinstance(value, dict):
                raise ConfigError(key, "expected a table", source)
            for rid, rtable in value.items():
                rules[rid] = _rule_table(schema, rid, rtable, source)
        else:
            known = ", ".join(sorted([*schema.sections, "collectors", "rules"]))
            raise ConfigError(key, f"unknown section (known: {known})", source)
    return Config(sections=sections, collectors=collectors, rules=rules, source=source)


def load(path: str | Path | None, schema: Schema, *, required: bool = False) -> Config:
    """Load a config file. A missing default file gives the defaults; a missing explicit file,
    a TOML syntax error or an invalid key raises :class:`ConfigError`."""
    if path is None:
        p = Path(DEFAULT_CONFIG_PATH)
        if not p.exists():
            return from_mapping({}, schema, None)
    else:
        p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        if required or path is not None:
            raise ConfigError("(file)", "no such file", str(p)) from None
        return from_mapping({}, schema, None)
    except OSError as exc:
        raise ConfigError("(file)", exc.strerror or str(exc), str(p)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("(file)", "not UTF-8 text", str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(syntax)", str(exc), str(p)) from None
    return from_mapping(data, schema, str(p))


def defaults(schema: Schema) -> Config:
    return from_mapping({}, schema, None)


def documented_fields(schema: Schema) -> list[tuple[str, str, Any, str]]:
    """(section, key, default, doc) for every top-level section field (README / example check)."""
    out = []
    for name, cls in schema.ordered_sections():
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            out.append((name, f.name, default, f.metadata.get("doc", "")))
    return out
