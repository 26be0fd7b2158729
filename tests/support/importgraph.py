"""The import graph of a set of Python packages, read from their source with ``ast``.

Every ``import`` statement counts wherever it stands (module level, inside a function, a method,
a ``try`` block), because a lazy import that closes a cycle still fails at run time when the two
modules are first used in the other order. Imports under ``if TYPE_CHECKING:`` are left out: they
never execute.

An edge goes to the module an import names: ``from agent.config import Config`` -> ``agent.config``;
``from agent.collectors import hwmon`` -> ``agent.collectors.hwmon`` when that is a module, else
``agent.collectors``. Parent packages are not added as edges (the usual convention of import
graph tools), so a package ``__init__`` that lists its submodules is not a cycle with each of them.
"""

from __future__ import annotations

import ast
from pathlib import Path


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """module name -> file for every .py file of ``packages`` under ``root``."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Import nodes of ``tree``, skipping ``if TYPE_CHECKING:`` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def build_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """module -> the modules (of ``packages``) it imports."""
    files = module_files(root, packages)
    graph: dict[str, set[str]] = {m: set() for m in files}

    def known(name: str) -> str | None:
        while name:  # `import agent.x.y.Name`-style spellings: the longest known module
            if name in files:
                return name
            name = name.rpartition(".")[0]
        return None

    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = _resolve(module, is_package, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in files else base)
            for t in targets:
                k = known(t)
                if k is not None and k != module:
                    graph[module].add(k)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Components of more than one module (each holds at least one cycle), Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0

    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return sorted(out)


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest cycle inside a component, as a path that starts and ends at the same module."""
    members = set(component)
    best: list[str] = []
    for start in component:
        prev: dict[str, str] = {}
        frontier = [start]
        seen = {start}
        found = None
        while frontier and found is None:
            nxt = []
            for node in frontier:
                for child in sorted(graph[node] & members):
                    if child == start:
                        found = node
                        break
                    if child not in seen:
                        seen.add(child)
                        prev[child] = node
                        nxt.append(child)
                if found is not None:
                    break
            frontier = nxt
        if found is None:
            continue
        path = [found]
        while path[-1] != start:
            path.append(prev[path[-1]])
        cycle = [*reversed(path), start]
        if not best or len(cycle) < len(best):
            best = cycle
    return best


def elementary_cycle_count(graph: dict[str, set[str]], limit: int = 100_000) -> int:
    """Number of elementary cycles (Johnson-style enumeration, capped at ``limit``)."""
    count = 0
    nodes = sorted(graph)
    order = {n: i for i, n in enumerate(nodes)}
    for s in nodes:
        # cycles whose smallest node is s
        stack = [(s, iter(sorted(c for c in graph[s] if order[c] >= order[s])))]
        path = {s}
        while stack:
            node, it = stack[-1]
            advanced = False
            for child in it:
                if child == s:
                    count += 1
                    if count >= limit:
                        return count
                elif child not in path:
                    path.add(child)
                    stack.append((child, iter(sorted(c for c in graph[child] if order[c] >= order[s]))))
                    advanced = True
                    break
            if not advanced:
                stack.pop()
                path.discard(node)
    return count
