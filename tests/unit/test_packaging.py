"""The wheel carries the mixin generator, the shipped alert rules, the man pages and the generated
mixin (hatch shared-data), so `pip install .` gives an operator `agent alerts` and `man agent`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def test_wheel_installs_man_pages_mixin_and_alerts(tmp_path):
    import hatchling  # noqa: F401 - the build backend, in the test extra: a missing one is a setup error
    src = tmp_path / "src"  # a copy without the (large) fixture trees, as the sdist has it
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "tests", "__pycache__"))
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    (wheel,) = (tmp_path / "dist").glob("hwagent-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/")[0] for n in names if n.endswith(".data/data/share/man/man1/agent.1"))
    for want in ("agent/mixin/alerts.py", "agent/mixin/dashboards.py", "agent/data/alerts.yml",
                 f"{data}/data/share/man/man1/agent.1", f"{data}/data/share/man/man5/agent-config.5",
                 f"{data}/data/share/hwagent/mixin/prometheus_alerts.yml",
                 f"{data}/data/share/hwagent/mixin/dashboards/hwagent-fleet.json"):
        assert want in names, want
    assert not any(n.startswith("tools/") for n in names), "the doc generator stays out of the runtime package"


# the generator's functions: config example and reference (tools/configdoc.py), reference pages
# (tools/docgen.py), man pages (tools/mangen.py); the runtime needs none of them
GENERATOR_FUNCTIONS = {"example_toml", "reference_markdown", "toml_value", "_toml_value", "reference", "config_md",
                       "metrics_md", "rules_md", "cli_md", "alerts_md", "findings_pages", "rule_entries", "agent_1",
                       "agent_config_5"}


def test_the_runtime_package_carries_no_doc_generator():
    """agent/ (the wheel's runtime) neither defines the generator's functions nor imports tools/; before,
    agent/config.py carried the example config and reference table generators."""
    import ast  # noqa: PLC0415 - only this test parses sources

    found = []
    for path in sorted((ROOT / "agent").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in GENERATOR_FUNCTIONS:
                found.append(f"{path.relative_to(ROOT)}: def {node.name}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tools":
                found.append(f"{path.relative_to(ROOT)}: from {node.module} import")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tools" for a in node.names):
                found.append(f"{path.relative_to(ROOT)}: import tools")
    assert found == []
    import tools.configdoc  # noqa: PLC0415 - the generator keeps them
    import tools.docgen  # noqa: PLC0415
    import tools.mangen  # noqa: PLC0415

    defined = {n for m in (tools.configdoc, tools.docgen, tools.mangen) for n in vars(m)}
    assert GENERATOR_FUNCTIONS - {"_toml_value"} <= defined
