"""Issue 27 G1: a ~500-byte genome whose decay function nests `dtanh` seven deep made sympy
work for minutes (its automatic evaluation grows about 4x per level), so `show --format latex`,
the Python export and the report hung. Typesetting now stops at `TYPESET_SECONDS` with a plain
"too large to typeset" form; ordinary genomes typeset as before."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import torch
from typer.testing import CliRunner

from optevo import library
from optevo.cli import app
from optevo.export import python_source, write_python
from optevo.report.equations import latex_lines
from optevo.space.genome import Genome
from optevo.space.render import TYPESET_SECONDS, typeset_time_limit


def hostile(depth: int = 7) -> Genome:
    hidden = [{"op": "dtanh", "inputs": ["cos_inc"]}]
    hidden += [{"op": "dtanh", "inputs": [f"h{i - 1}"]} for i in range(1, depth)]
    decay = {"hidden": hidden, "output": {"op": "dtanh", "inputs": [f"h{depth - 1}"]}}
    return Genome.from_dict(
        {
            "schema": "optevo.genome/1",
            "momentum": "none",
            "flipped": False,
            "hidden": [{"op": "identity", "inputs": ["g"], "decays": [decay]}],
            "output": {"op": "identity", "inputs": ["h0"]},
        }
    )


def test_the_cap_stops_a_slow_block_and_leaves_no_timer() -> None:
    import signal

    start = time.perf_counter()
    stopped = False
    try:
        with typeset_time_limit(0.2):
            while True:
                sum(range(1000))
    except BaseException as exc:  # TooLargeToTypeset is a BaseException by design
        stopped = type(exc).__name__ == "TooLargeToTypeset"
    assert stopped and time.perf_counter() - start < 5
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0  # the timer is gone
    with typeset_time_limit(0.5):  # a fast block is untouched
        assert sum(range(10)) == 45


def test_a_genome_too_slow_to_typeset_gets_the_plain_form(tmp_path: Path) -> None:
    g = hostile()
    assert len(json.dumps(g.to_dict())) < 600  # a small file
    start = time.perf_counter()
    latex = g.to_latex()
    assert time.perf_counter() - start < TYPESET_SECONDS + 10
    assert latex.startswith(r"u = \text{too large to typeset}")
    assert r"\text{momentum: none}" in latex
    # the report's equation lines and the export's docstring use the same capped form
    assert latex_lines(g)[0] == r"u = \text{too large to typeset}"
    source = python_source(g, "Hostile")
    assert "too large to typeset" in source
    path = tmp_path / "hostile.py"
    write_python(path, source)
    spec = importlib.util.spec_from_file_location("hostile", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    w = torch.nn.Parameter(torch.ones(3))
    opt = module.Hostile([w], lr=0.1, total_steps=10)
    w.grad = torch.full((3,), 0.5)
    opt.step()
    assert torch.isfinite(w).all() and not torch.equal(w.detach(), torch.ones(3))


def test_show_latex_of_the_hostile_genome_finishes(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(hostile().to_json())
    start = time.perf_counter()
    result = CliRunner().invoke(app, ["show", str(path), "--format", "latex"])
    assert result.exit_code == 0, result.output
    assert "too large to typeset" in result.output
    assert time.perf_counter() - start < TYPESET_SECONDS + 15


def test_ordinary_genomes_typeset_in_full() -> None:
    for name in ("Adam", "Opt6", "LR6"):
        latex = library.genome(name).to_latex()
        assert "too large" not in latex and latex.startswith("u = ")
    assert r"\sqrt" in library.genome("Adam").to_latex()
