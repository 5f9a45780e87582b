"""Plots and the analysis behind them: which decay functions factor out (the paper's
Figures 3-6), the effective schedule against SPEC 7.3's tables, the pointwise update against
the compiler, and the images themselves (non-empty, different for different schedules)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from typer.testing import CliRunner

from optevo import library
from optevo.cli import app
from optevo.compile import compile_genome
from optevo.report import plots
from optevo.report.pointwise import main_variables, update
from optevo.report.schedules import decay_roles, effective_schedule
from optevo.report.subjects import SubjectError, named, resolve
from optevo.schedules import lr_table
from optevo.search.store import RunStore
from optevo.space.ops import EPS, schedule_table

runner = CliRunner()
T, W, H = 96_000, 6_400, 12_800


# ----------------------------------------------------------------------------------------------
# Analysis
# ----------------------------------------------------------------------------------------------


def test_decay_roles_match_the_paper() -> None:
    """Appendix A: Opt4, Opt7/8 and Opt10 have internal decay functions (Figure 6); Opt6's
    factors out (with LR1 it is LR2, SPEC 7.2), as does Opt9's erfc(exp_dec)."""
    roles = {n: [r.factors_out for r in decay_roles(library.genome(n))] for n in library.names()}
    for name in ("Opt4", "Opt7", "Opt8", "Opt10", "PowerSign-ld", "AddSign-ld"):
        assert roles[name] == [False], name
    for name in ("Opt6", "Opt9"):
        assert roles[name] == [True], name
    for name in ("Adam", "SGD", "Opt1", "Opt5", "A1", "LR3", "Opt61", "Opt101"):
        assert roles[name] == [], name


def test_effective_schedules_against_spec_tables() -> None:
    steps = effective_schedule(library.genome("Adam"), "one_cycle", T, W, H).steps
    assert steps[0] == 0 and steps[-1] == T - 1 and len(steps) <= 1500
    base = lr_table("one_cycle", T, W, H)[steps]
    adam = effective_schedule(library.genome("Adam"), "one_cycle", T, W, H)
    np.testing.assert_array_equal(adam.lr, base)
    np.testing.assert_array_equal(adam.base, base)
    # Opt6 = LR1 times 1/(1 - tanh(cos_inc)^2) factored out of its divisor = LR2 (SPEC 7.2).
    opt6 = effective_schedule(library.genome("Opt6"), "LR1", T, W, H)
    np.testing.assert_allclose(opt6.lr, lr_table("LR2", T, W, H)[steps], rtol=1e-5, atol=1e-9)
    # Opt9's erfc(exp_dec) multiplies the update.
    opt9 = effective_schedule(library.genome("Opt9"), "one_cycle", T, W, H)
    erfc = torch.erfc(schedule_table("exp_dec", T)).numpy()[steps]
    np.testing.assert_allclose(opt9.lr, base * erfc, rtol=1e-6, atol=1e-12)
    # LR5 on Adam, normalised: its peak is 1 and lies after the warm-up.
    lr5 = effective_schedule(library.genome("Adam"), "LR5", T, W, H).normalised()
    assert lr5.max() == pytest.approx(1.0) and lr5.min() >= 0.0
    assert steps[int(np.argmax(lr5))] > W


@pytest.mark.parametrize(
    "name", [n for n in library.names() if not re.search("agg|drop|norm", str(library.genome(n)))]
)
def test_pointwise_update_equals_the_compiled_rule_at_the_first_step(name: str) -> None:
    """At step 0 from zero state the compiler's v_hat = g, s_hat = g^2, lam_hat = g^3 and the
    state-holding operations return their first value: the pointwise update must agree."""
    genome = library.genome(name)
    rule = compile_genome(genome)
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(1, 200, generator=gen, dtype=torch.float64)
    w = torch.randn(1, 200, generator=gen, dtype=torch.float64)
    decays = [float(v) for v in np.linspace(0.2, 0.9, len(rule.decays))]
    compiled = rule.update(g.clone(), rule.init_state(g), 0, decays, w=w.clone())
    values = dict(zip(rule.decays, decays, strict=True))
    pointwise = update(genome, {"g": g, "v": g, "s": g**2, "lam": g**3, "w": w}, values)
    torch.testing.assert_close(pointwise, compiled, rtol=1e-10, atol=1e-12)


def test_adam_surface_is_v_over_sqrt_s() -> None:
    subject = named("Adam")
    assert main_variables(subject.genome) == ("v", "s")
    grid = plots.surface(subject, points=11)
    assert (grid.x, grid.y) == ("v", "s") and grid.U.shape == (11, 11)
    np.testing.assert_allclose(grid.U, grid.X / (np.sqrt(np.abs(grid.Y)) + EPS), rtol=1e-12)
    assert grid.fixed == {}
    other = plots.surface(named("Opt3"), x="w", y="lam", x_range=(-1e5, 1e5), points=9)
    assert other.X.min() == -1e5 and set(other.fixed) == {"g", "v"}
    with pytest.raises(ValueError, match="unknown variable"):
        plots.surface(subject, x="m")
    with pytest.raises(ValueError, match="must differ"):
        plots.surface(subject, x="g", y="g")


# ----------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------


def ink(path: Path) -> tuple[np.ndarray, float]:
    """The image's pixels and the share of them that are not white."""
    pixels = imread(path)[..., :3]
    return pixels, float(np.mean(np.any(pixels < 0.95, axis=-1)))


def test_schedule_plots_are_drawn_and_differ_between_schedules(tmp_path: Path) -> None:
    a = plots.save(plots.schedule_figure([named("LR1")]), tmp_path / "lr1.png")
    b = plots.save(plots.schedule_figure([named("LR5")]), tmp_path / "lr5.png")
    pa, share_a = ink(a)
    pb, share_b = ink(b)
    assert pa.shape == pb.shape and pa.shape[0] > 300 and pa.shape[1] > 500
    assert share_a > 0.02 and share_b > 0.02
    differing = np.mean(np.any(np.abs(pa - pb) > 0.1, axis=-1))
    assert differing > 0.005  # the curves differ, not just a label
    # As SVG: the drawn paths differ too.
    sa = plots.save(plots.schedule_figure([named("LR1")]), tmp_path / "lr1.svg").read_text()
    sb = plots.save(plots.schedule_figure([named("LR5")]), tmp_path / "lr5.svg").read_text()
    paths_a = set(re.findall(r'<path d="([^"]+)"', sa))
    paths_b = set(re.findall(r'<path d="([^"]+)"', sb))
    assert paths_a and paths_b and paths_a != paths_b
    assert sa.lstrip().startswith("<?xml") and "<svg" in sa


def test_decay_and_surface_plots_are_drawn(tmp_path: Path) -> None:
    d = plots.save(plots.decay_figure([named("Opt4"), named("Opt10")]), tmp_path / "d.png")
    s = plots.save(plots.surface_figure(plots.surface(named("Opt7")), "Opt7"), tmp_path / "s.png")
    for path in (d, s):
        _, share = ink(path)
        assert share > 0.05, path
    with pytest.raises(ValueError, match="no decay function"):
        plots.decay_figure([named("Adam")])
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        plots.save(plots.decay_figure([named("Opt4")]), tmp_path / "d.pdf")


def test_plot_commands(tmp_path: Path, eliminated_run: Path) -> None:
    out = tmp_path / "fig3.png"
    result = runner.invoke(app, ["plot", "schedule", "Opt6", "LR3", "LR5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert ink(out)[1] > 0.02
    result = runner.invoke(
        app, ["plot", "decay", "Opt4", "Opt7", "Opt10", "-o", str(tmp_path / "f6.svg")]
    )
    assert result.exit_code == 0, result.output
    assert "<svg" in (tmp_path / "f6.svg").read_text()
    result = runner.invoke(
        app,
        [
            "plot",
            "surface",
            "Opt3",
            "--x",
            "w",
            "--y",
            "lam",
            "--x-range",
            "-1e5,1e5",
            "--fix",
            "g=0.01",
            "-o",
            str(tmp_path / "f12.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    # A run's genome by hash, with the schedule it was evaluated with.
    with RunStore.open(eliminated_run, lock=False) as store:
        ev = store.evaluations("search")[0]
    result = runner.invoke(
        app,
        [
            "plot",
            "surface",
            ev.canonical_hash[:8],
            "--run",
            str(eliminated_run),
            "-o",
            str(tmp_path / "h.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert resolve(ev.canonical_hash[:8], eliminated_run).genome == ev.genome

    out = tmp_path / "not-written.png"  # a new file: an existing one would need --force
    cases = [
        (["plot", "schedule", "Opt6", "-o", str(tmp_path / "x.pdf")], ".png or .svg"),
        (["plot", "schedule", "Opt66", "-o", str(out)], "not a named optimizer"),
        (["plot", "schedule", "opt6", "-o", str(out)], "did you mean Opt6"),
        (["plot", "schedule", "abcd12", "-o", str(out)], "give the run with --run"),
        (
            ["plot", "schedule", "abcd12", "--run", str(eliminated_run), "-o", str(out)],
            "no genome with hash abcd12",
        ),
        (["plot", "decay", "Adam", "-o", str(out)], "no decay function"),
        (["plot", "surface", "Adam", "--x", "q", "-o", str(out)], "unknown variable"),
        (["plot", "surface", "Adam", "--fix", "s", "-o", str(out)], "VARIABLE=NUMBER"),
        (["plot", "surface", "Adam", "--x-range", "1", "-o", str(out)], "LOW,HIGH"),
        (["plot", "schedule", "Opt6", "-o", str(tmp_path / "no" / "x.png")], "does not exist"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)
    assert not out.exists()
    with pytest.raises(SubjectError, match="hash"):
        resolve("zz")
