"""The space is the bottom layer: none of its modules imports a layer above it.

Checked twice: at run time (importing every module of `optevo.space` in a fresh interpreter
loads none of the layers above) and statically (no import statement in the space's source,
function-level ones included, names one).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import optevo.space

ABOVE = (
    "optevo.search",
    "optevo.fitness",
    "optevo.evaluate",
    "optevo.train",
    "optevo.packing",
    "optevo.integrity",
    "optevo.optim",
    "optevo.compile",
    "optevo.scheduled",
    "optevo.library",
    "optevo.cli",
)
"""Packages and modules that build on the space; the space may import none of them."""

SPACE_DIR = Path(optevo.space.__file__).parent


def _is_above(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in ABOVE)


@pytest.mark.subprocess
def test_importing_every_space_module_loads_no_layer_above() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import optevo.space\n"
        "for info in pkgutil.walk_packages(optevo.space.__path__, 'optevo.space.'):\n"
        "    importlib.import_module(info.name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('optevo'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = done.stdout.split()
    assert "optevo.space.genome" in loaded and "optevo.space.config" in loaded
    assert [m for m in loaded if _is_above(m)] == []


def _imported_names(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) of every import in `source`, a module of `package`, at any depth
    (function-level ones too), relative ones resolved; `importlib.import_module("...")`
    and `__import__("...")` with a literal name count as imports."""
    parts = package.split(".")
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{module}" if module else base
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and _literal_import(node) is not None:
            found.append((node.lineno, _literal_import(node) or ""))
    return found


def _literal_import(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not call.args:
        return None
    first = call.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def _package_of(path: Path) -> str:
    return ".".join(("optevo", *path.relative_to(SPACE_DIR.parent).parent.parts))


def test_no_import_statement_in_the_space_names_a_layer_above() -> None:
    sources = sorted(SPACE_DIR.rglob("*.py"))
    assert SPACE_DIR / "genome.py" in sources
    bad = [
        f"{path.relative_to(SPACE_DIR.parent)}:{line}: {module}"
        for path in sources
        for line, module in _imported_names(path.read_text(), _package_of(path))
        if _is_above(module)
    ]
    assert bad == []


def test_the_static_check_sees_function_level_relative_and_dynamic_imports() -> None:
    source = (
        "import importlib\n"
        "def f():\n"
        "    from optevo.search.candidates import random_genome\n"
        "    from ..optim import create\n"
        "    from . import genome\n"
        "    import optevo.integrity\n"
        "    importlib.import_module('optevo.fitness')\n"
    )
    names = {module for _, module in _imported_names(source, "optevo.space")}
    assert {
        "optevo.search.candidates",
        "optevo.optim",
        "optevo.space.genome",
        "optevo.integrity",
        "optevo.fitness",
    } <= names
    assert all(_is_above(m) for m in names - {"importlib", "optevo.space", "optevo.space.genome"})
