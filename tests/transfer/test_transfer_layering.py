"""The layers around the transfer protocol import only downwards (issue 28, items 1-3): every
import statement of the source, function-level ones included, read statically.

Bottom up: optim (with `optim.spec`) -> tasks -> transfer -> fitness -> simplify, validate,
bench -> search -> report -> cli. And no circle between packages anywhere in `optevo`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import optevo

SRC = Path(optevo.__file__).parent

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "optim": ("tasks", "transfer", "fitness", "bench", "validate", "search", "simplify"),
    "tasks": ("transfer", "fitness", "bench", "validate", "search", "simplify", "report", "cli"),
    "transfer": ("fitness", "bench", "validate", "search", "simplify", "report", "cli"),
    "fitness": ("bench", "validate", "search", "simplify", "report", "cli"),
    "simplify": ("bench", "validate", "search", "report", "cli"),
    "bench": ("validate", "search", "simplify", "report", "cli"),
    "validate": ("bench", "search", "simplify", "report", "cli"),
}
"""Each package and the packages it must not import (not even inside a function)."""


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("optevo.")}


def _graph() -> dict[str, dict[str, list[str]]]:
    """package -> imported package -> the files that import it."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if len(rel.parts) == 1 and rel.name == "__init__.py":
            continue
        pkg = rel.parts[0].removesuffix(".py")
        edges = graph.setdefault(pkg, {})
        for module in _imports(path):
            other = _package(module)
            if other and other != pkg:
                edges.setdefault(other, []).append(str(rel))
    return graph


def test_no_package_imports_a_layer_above_it() -> None:
    graph = _graph()
    wrong = [
        f"{pkg} imports {other} ({', '.join(sorted(set(files)))})"
        for pkg, banned in FORBIDDEN.items()
        for other, files in graph.get(pkg, {}).items()
        if other in banned
    ]
    assert wrong == []


def test_no_circle_between_packages() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for other in graph.get(node, {}):
            if state.get(other) == 1:
                return [*stack[stack.index(other) :], other]
            if other not in state:
                circle = visit(other)
                if circle:
                    return circle
        stack.pop()
        state[node] = 2
        return None

    for pkg in sorted(graph):
        if pkg not in state:
            circle = visit(pkg)
            assert circle is None, " -> ".join(circle)
