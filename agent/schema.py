"""The composition root of the configuration: the one place that lists what a config file of
``agent`` and ``hwstatus`` may hold, by explicit imports (no module names in strings, no
"import it if it is there").

The core sections come with the loader; the collectors (:data:`agent.collectors.COLLECTORS`), the
rules (:data:`agent.rules.RULES`) and the sections of the recovery capability and the status
service are added here. Programs load their config through these functions; the loader itself
(:mod:`agent.config`) imports none of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from agent import config as loader
from agent.collectors import COLLECTORS
from agent.config_types import Config, ConfigError  # noqa: F401 - the error callers catch
from agent.recovery.settings import SECTIONS as RECOVERY_SECTIONS
from agent.rules import RULES
from hwstatus.config import SECTIONS as STATUSPAGE_SECTIONS

SCHEMA = loader.Schema.build(collectors=COLLECTORS, rules=RULES,
                             sections={**RECOVERY_SECTIONS, **STATUSPAGE_SECTIONS})


def load(path: str | Path | None, *, required: bool = False) -> Config:
    return loader.load(path, SCHEMA, required=required)


def from_mapping(data: Mapping[str, Any], source: str | None = None) -> Config:
    return loader.from_mapping(data, SCHEMA, source)


def defaults() -> Config:
    return loader.defaults(SCHEMA)


def ordered_sections() -> list[tuple[str, type]]:
    return SCHEMA.ordered_sections()


def documented_fields() -> list[tuple[str, str, Any, str]]:
    return loader.documented_fields(SCHEMA)

