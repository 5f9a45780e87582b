"""The import contract (issue 28 item 6).

The layers are declared once, in `pyproject.toml`'s `[tool.importlinter]` (bottom up: config
and jsonio; space; compile, data, models and their siblings; optim, integrity, export; tasks;
transfer; fitness; simplify, validate, bench; search; report; cli). `make lint` runs
`lint-imports` on it, and so does the first test here. The second reads every import statement
of the source, function-level ones included, and finds no circle between packages, which the
layers alone do not forbid among the siblings of one layer.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import optevo

SRC = Path(optevo.__file__).parent

ROOT = SRC.parent.parent


def _package(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2:
        return ""
    name = parts[1]  # `from optevo import Genome` names no package: keep real ones only
    return name if (SRC / name).is_dir() or (SRC / f"{name}.py").is_file() else ""


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


@pytest.mark.subprocess
def test_import_contract_is_kept() -> None:
    beside = Path(sys.executable).parent / "lint-imports"
    lint_imports = str(beside) if beside.is_file() else shutil.which("lint-imports")
    assert lint_imports, "lint-imports is missing: install the dev extra (pip install -e '.[dev]')"
    done = subprocess.run(
        [lint_imports, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


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
