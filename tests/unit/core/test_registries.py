"""The explicit registries are complete: every command module's COMMANDS is on the `agent` group,
and every module that declares config SECTIONS is in the schema (agent/schema.py). Both used to be
found through module names in strings; now a forgotten line fails here."""

from __future__ import annotations

import ast
import dataclasses
import importlib
from pathlib import Path

from agent.cli import _register, cli
from agent.schema import SCHEMA

ROOT = Path(__file__).resolve().parents[3]


def _modules_assigning(name: str, packages=("agent", "hwstatus")) -> list[str]:
    out = []
    for pkg in packages:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in tree.body:
                targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    out.append(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return out


def test_every_command_module_is_registered():
    _register()  # the commands are imported lazily (agent run loads no other command's module)
    modules = _modules_assigning("COMMANDS", ("agent",))
    assert "agent.cli.recover" in modules and len(modules) >= 8
    for mod in modules:
        for cmd in importlib.import_module(mod).COMMANDS:
            assert cli.commands.get(cmd.name) is cmd, f"{mod}: command {cmd.name!r} is not added in agent/cli/__init__.py"


def test_every_config_section_is_in_the_schema():
    modules = [m for m in _modules_assigning("SECTIONS")  # (other tables share the name: zfs's pool sections)
               if all(isinstance(c, type) and dataclasses.is_dataclass(c) for c in importlib.import_module(m).SECTIONS.values())]
    assert {"agent.recovery.settings", "hwstatus.config"} <= set(modules)
    for mod in modules:
        for name, cls in importlib.import_module(mod).SECTIONS.items():
            assert SCHEMA.sections.get(name) is cls, f"{mod}: section [{name}] is not added in agent/schema.py"
    assert set(SCHEMA.sections) == {"host", "exporter", "state", "daemon", "recovery", "notify", "statuspage"}
