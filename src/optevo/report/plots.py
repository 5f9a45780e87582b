"""Figures of genomes: the effective learning-rate schedule against the base one-cycle
schedule (the paper's Figures 3-5), the decay functions over a run (Figure 6) and the update
as a surface over two inputs (Figures 10-15). Plain matplotlib `Figure` objects (no pyplot
state, no display backend); PNG or SVG by the file's extension."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from optevo.report.pointwise import (
    VARIABLE_LATEX,
    VARIABLES,
    main_variables,
    update,
    variable_uses,
)
from optevo.report.schedules import (
    PAPER_HOLD,
    PAPER_STEPS,
    PAPER_WARMUP,
    decay_curves,
    effective_schedule,
)
from optevo.report.subjects import Subject

FORMATS: tuple[str, ...] = (".png", ".svg")

SURFACE_RANGES: dict[str, tuple[float, float]] = {
    "g": (-1.0, 1.0),
    "v": (-1.0, 1.0),
    "s": (0.0, 1.0),
    "lam": (-1.0, 1.0),
    "w": (-1.0, 1.0),
}
"""Default axis ranges of a surface (s_hat, a mean of squares, is not negative)."""

SURFACE_FIXED: dict[str, float] = {"g": 0.1, "v": 0.1, "s": 0.01, "lam": 0.001, "w": 0.1}
"""Values of the variables a surface is not drawn over (s_hat = g^2, lam_hat = g^3)."""

SURFACE_LIMIT = 1e300
"""The largest magnitude a surface's axes can span: matplotlib's 3-D axes overflow near the
largest float (values of u beyond it are left out of the figure, like non-finite ones)."""


def save(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write `fig` as PNG or SVG, by the extension of `path`."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path}: the file name must end in .png or .svg")
    fig.savefig(path, dpi=dpi, format=path.suffix.lower()[1:])
    return path


def _label(subject: Subject) -> str:
    return (
        subject.label
        if subject.schedule == "one_cycle"
        else f"{subject.label} ({subject.schedule})"
    )


def schedule_figure(
    subjects: Sequence[Subject],
    total_steps: int = PAPER_STEPS,
    warmup_steps: int = PAPER_WARMUP,
    hold_steps: int = PAPER_HOLD,
    normalised: bool = True,
) -> Figure:
    """Each subject's effective learning-rate factor (its schedule times the decay
    functions that factor out), normalised to [0, 1], over the base one-cycle schedule
    (dashed)."""
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    base = None
    for subject in subjects:
        eff = effective_schedule(
            subject.genome, subject.schedule, total_steps, warmup_steps, hold_steps
        )
        base = eff
        extra = " · ".join(r.label for r in eff.factored)
        label = _label(subject) + (f" × {extra}" if extra else "")
        ax.plot(eff.steps, eff.normalised() if normalised else eff.lr, label=label, lw=1.6)
    if base is not None:
        ax.plot(base.steps, base.base, "k--", lw=1.0, label="one cycle (base)")
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate / peak" + (" (normalised)" if normalised else ""))
    ax.set_title(f"Learning-rate schedule, T = {total_steps}, W = {warmup_steps}, H = {hold_steps}")
    ax.set_xlim(0, total_steps)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def decay_figure(subjects: Sequence[Subject], total_steps: int = PAPER_STEPS) -> Figure:
    """Every decay function of the subjects over a run: solid if internal, dashed if it
    factors out as a learning-rate factor. ValueError if none has one."""
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    drawn = 0
    for subject in subjects:
        steps, curves = decay_curves(subject.genome, total_steps)
        for role, values in curves:
            style = "--" if role.factors_out else "-"
            ax.plot(
                steps,
                values,
                style,
                lw=1.5,
                label=f"{subject.label} {role.label} = {role.decay} ({role.role})",
            )
            drawn += 1
    if not drawn:
        names = ", ".join(s.label for s in subjects)
        raise ValueError(f"{names}: no decay function on an active connection")
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlim(0, total_steps)
    ax.set_title(f"Decay functions, T = {total_steps}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


@dataclass(frozen=True)
class Surface:
    x: str
    y: str
    X: np.ndarray
    Y: np.ndarray
    U: np.ndarray
    fixed: dict[str, float]
    step: int
    total_steps: int


def surface(
    subject: Subject,
    x: str | None = None,
    y: str | None = None,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    fixed: Mapping[str, float] | None = None,
    at: float = 0.5,
    total_steps: int = PAPER_STEPS,
    points: int = 41,
) -> Surface:
    """u over a grid of two variables (default: the two the genome reads most), the others
    fixed, every decay function read at step `at * (T - 1)`."""
    order = (*main_variables(subject.genome), *VARIABLES)
    if x is None:
        x = next(v for v in order if v != y)
    if y is None:
        y = next(v for v in order if v != x)
    for name in (x, y, *(fixed or {})):
        if name not in VARIABLES:
            raise ValueError(f"unknown variable {name!r}; known: {', '.join(VARIABLES)}")
    if x == y:
        raise ValueError(f"the two axes must differ, got {x!r} twice")
    if not 0.0 <= at <= 1.0:
        raise ValueError(f"--at is a fraction of the run in [0, 1], got {at}")
    xr = x_range or SURFACE_RANGES[x]
    yr = y_range or SURFACE_RANGES[y]
    for name, (lo, hi) in ((x, xr), (y, yr)):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"range of {name} must be two finite numbers, low < high")
        if max(abs(lo), abs(hi)) > SURFACE_LIMIT:
            raise ValueError(
                f"range of {name}: {lo:g} to {hi:g} reaches beyond ±{SURFACE_LIMIT:g}, "
                "which cannot be drawn"
            )
    for name, value in (fixed or {}).items():
        if not math.isfinite(value):
            raise ValueError(f"fixed value of {name} must be a finite number, got {value}")
        if name in (x, y):
            raise ValueError(f"{name} is on an axis of the surface; it cannot also be fixed")
    values = {**SURFACE_FIXED, **(fixed or {})}
    gx = np.linspace(xr[0], xr[1], points)
    gy = np.linspace(yr[0], yr[1], points)
    X, Y = np.meshgrid(gx, gy)
    step = round(at * (total_steps - 1))
    inputs: dict[str, torch.Tensor | float] = {k: v for k, v in values.items() if k not in (x, y)}
    inputs[x] = torch.tensor(X)
    inputs[y] = torch.tensor(Y)
    u = update(subject.genome, inputs, lambda d: float(d.window(total_steps, step, step + 1)[0]))
    U = u.expand(X.shape).numpy().copy()
    uses = variable_uses(subject.genome)
    kept = {k: v for k, v in values.items() if k not in (x, y) and uses[k]}
    return Surface(x, y, X, Y, U, kept, step, total_steps)


def surface_figure(data: Surface, title: str) -> Figure:
    fig = Figure(figsize=(6.5, 5.0), layout="constrained")
    ax = fig.add_subplot(projection="3d")
    U = np.where(np.abs(data.U) <= SURFACE_LIMIT, data.U, np.nan)
    finite = U[np.isfinite(U)]
    note = ""
    if finite.size:
        lo, hi = np.percentile(finite, [1, 99])
        if hi - lo > 0 and (finite.min() < lo - (hi - lo) or finite.max() > hi + (hi - lo)):
            U = np.clip(U, lo, hi)  # a few extreme points (a division by ~eps) hide the rest
            note = " (clipped to 1st-99th percentile)"
    ax.plot_surface(data.X, data.Y, U, cmap="viridis", linewidth=0, antialiased=True)
    ax.set_xlabel(f"${VARIABLE_LATEX[data.x]}$")
    ax.set_ylabel(f"${VARIABLE_LATEX[data.y]}$")
    ax.set_zlabel("$u$")
    fixed = ", ".join(f"{k} = {v:g}" for k, v in data.fixed.items()) or "no other inputs"
    ax.set_title(f"{title}: u at step {data.step} of {data.total_steps}{note}\n{fixed}", fontsize=9)
    return fig
