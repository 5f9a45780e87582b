"""Packaging that fits each user (issue 28 item 9): `pip install optevo` needs only torch and
numpy for the optimizers; the search, CLI, reports and bench are the `search` extra, and the
command line without it says so in one line.

"Not installed" is simulated in a fresh interpreter by blocking the extra's modules
(`sys.modules[name] = None` makes their import raise ModuleNotFoundError), so the test needs no
network and no second environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from optevo.command import SEARCH_EXTRA

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.subprocess


def _project() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project: dict[str, object] = data["project"]
    return project


def _name(requirement: str) -> str:
    for stop in "<>=[; ":
        requirement = requirement.split(stop)[0]
    return requirement


def test_the_core_needs_torch_and_numpy_alone() -> None:
    project = _project()
    assert sorted(_name(r) for r in project["dependencies"]) == ["numpy", "torch"]  # type: ignore[union-attr]
    extras = project["optional-dependencies"]
    assert isinstance(extras, dict)
    assert {"search", "ray", "all", "dev"} <= set(extras)
    search = {_name(r) for r in extras["search"]}
    assert {"pydantic", "typer", "rich", "matplotlib", "scikit-learn", "sympy"} <= search
    # every package of the extra is one the command's message knows by its module name
    modules = {"pyyaml": "yaml", "scikit-learn": "sklearn", "pillow": "PIL"}
    assert {modules.get(p, p) for p in search} == SEARCH_EXTRA
    assert project["scripts"] == {"optevo": "optevo.command:main"}  # type: ignore[comparison-overlap]


def _run(body: str) -> subprocess.CompletedProcess[str]:
    # sympy stays: torch itself requires it (torch._dynamo loads it when an optimizer is built)
    blocked = sorted(SEARCH_EXTRA - {"sympy"})
    block = f"import sys\nfor _m in {blocked!r}:\n    sys.modules[_m] = None\n"
    code = block + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def test_a_named_optimizer_trains_without_the_search_extra() -> None:
    done = _run((ROOT / "scripts" / "drop_in_check.py").read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["last"] < 0.01 * out["first"]


def test_the_command_names_the_missing_extra_in_one_line() -> None:
    done = _run("from optevo.command import main\nmain()\n")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'optevo[search]'" in lines[0]
    assert "Traceback" not in done.stderr
