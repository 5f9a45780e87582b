"""`import optevo.optim` stays light: no sympy, plotting, config or CLI libraries.

Each check runs in a fresh interpreter, so what the test process already imported does not
hide what `optevo.optim` itself loads.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

pytestmark = pytest.mark.subprocess

HEAVY = ("sympy", "matplotlib", "sklearn", "pydantic", "typer", "rich", "yaml")
"""Packages an optimizer user should not pay for (nor any of their submodules)."""

_PRELUDE = f"""
import json, sys

HEAVY = {HEAVY!r}


def heavy() -> list[str]:
    return sorted({{m.split(".")[0] for m in sys.modules}} & set(HEAVY))
"""


def _run(body: str) -> dict[str, Any]:
    """Run `body` after the prelude in a fresh interpreter; it prints one JSON object."""
    code = _PRELUDE + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _torch_baseline() -> list[str]:
    """What a plain torch optimizer loads of HEAVY when built and stepped: torch 2.x builds
    `torch._dynamo` (which imports sympy) on the first `add_param_group` of any optimizer."""
    return _run(
        """
        import torch

        model = torch.nn.Linear(4, 2)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        model(torch.randn(8, 4)).square().mean().backward()
        opt.step()
        opt.zero_grad()
        print(json.dumps({"used": heavy()}))
        """
    )["used"]


def test_import_and_step_load_none_of_the_heavy_packages() -> None:
    got = _run(
        """
        import optevo.optim
        from optevo.optim import EvolvedOptimizer, Opt6

        after_import = heavy()

        import torch
        from optevo import library
        from optevo.space.symbolic import sp

        model = torch.nn.Linear(4, 2)
        opts = [
            Opt6(model.parameters(), lr=1e-3, total_steps=10),
            optevo.optim.create("Opt4", model.parameters(), lr=1e-3, total_steps=10),
            EvolvedOptimizer(model.parameters(), library.genome("Opt6"), 1e-3, 10),
        ]
        for opt in opts:
            model(torch.randn(8, 4)).square().mean().backward()
            opt.step()
            opt.zero_grad()
        library.genome("Opt6").canonical_hash()
        print(json.dumps({
            "import": after_import,
            "used": heavy(),
            "sympy_names_used": sorted(vars(sp)),
            "space_config": "optevo.space.config" in sys.modules,
        }))
        """
    )
    assert got["import"] == [], f"`import optevo.optim` loaded {got['import']}"
    assert not got["space_config"], "optevo.space.config was imported"
    # optevo itself never looked anything up on the lazy sympy...
    assert got["sympy_names_used"] == []
    # ...and building and stepping loads nothing heavy that a plain torch optimizer doesn't.
    extra = sorted(set(got["used"]) - set(_torch_baseline()))
    assert extra == [], f"optevo optimizers loaded {extra} beyond what torch.optim.Adam does"


def test_rendering_an_equation_loads_sympy() -> None:
    got = _run(
        """
        from optevo import library

        genome = library.genome("Opt6")
        before = heavy()
        latex = genome.to_latex()
        print(json.dumps({"before": before, "after": heavy(), "latex": latex}))
        """
    )
    assert "sympy" not in got["before"]
    assert "sympy" in got["after"]
    assert got["latex"].startswith("u = ")
