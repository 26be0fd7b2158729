"""The import graph of ``agent`` and ``hwstatus`` has no cycles.

Read from the source with ``ast`` (tests/support/importgraph.py): module-level and function-level
imports both count, because a lazy import that closes a cycle still breaks when the two modules
are first used the other way round. The config loader gets its registries passed in; the config
types are a leaf that imports nothing of the collectors or rules.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.importgraph import build_graph, elementary_cycle_count, shortest_cycle, strongly_connected

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("agent", "hwstatus")


def _graph():
    return build_graph(ROOT, PACKAGES)


def test_no_import_cycles():
    graph = _graph()
    cycles = [" -> ".join(shortest_cycle(graph, comp)) for comp in strongly_connected(graph)]
    assert not cycles, "import cycles (break each by moving the shared part down, or passing it in):\n  " + \
        "\n  ".join(cycles)
    assert elementary_cycle_count(graph) == 0


def test_config_types_are_a_leaf():
    graph = _graph()
    assert graph["agent.config_types"] <= {"agent.config_ranges"}
    assert graph["agent.config_ranges"] == set()
    # the loader knows no collector, rule or capability: they are passed in (agent.schema)
    assert not {m for m in graph["agent.config"] if m.startswith(("agent.collectors", "agent.rules", "agent.recovery",
                                                                   "hwstatus"))}
    for module, deps in graph.items():  # what the schema lists imports the types, never the loader
        if module.startswith(("agent.collectors", "agent.rules", "hwstatus", "agent.recovery")) and module != "hwstatus.cli":
            assert "agent.config" not in deps and "agent.schema" not in deps, module


def test_the_checker_finds_a_lazy_cycle_and_names_it(tmp_path):
    """The checker itself: a function-level import that closes a loop is a cycle; an import
    under TYPE_CHECKING is not (it never runs); relative imports resolve."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from .c import g\n    return g\n")
    (pkg / "c.py").write_text("def g():\n    import pkg.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (pkg / "e.py").write_text("from . import d\n")
    graph = build_graph(tmp_path, ("pkg",))
    assert graph["pkg.b"] == {"pkg.c"} and graph["pkg.c"] == {"pkg.a"}
    assert graph["pkg.d"] == set() and graph["pkg.e"] == {"pkg.d"}
    comps = strongly_connected(graph)
    assert comps == [["pkg.a", "pkg.b", "pkg.c"]]
    assert shortest_cycle(graph, comps[0]) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert elementary_cycle_count(graph) == 1
