"""Figures of a run: fitness over time per particle, fitness in evaluation order, and each
genome's score through the elimination rounds."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from optevo.fitness.config import FitnessConfig, SingleTaskFitness
from optevo.report.run_data import RunData

_FAILED_Y = -0.03
"""Where candidates without a fitness (rejected by the screen, errors) are drawn."""


def particles_figure(data: RunData) -> Figure | None:
    """Each particle's fitness at every time-step (line) and its children (dots); candidates
    without a fitness as crosses below 0. None for a run without particles."""
    if not data.trajectories:
        return None
    by_key = data.by_key
    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    colours = _colours(len(data.trajectories))
    children = [e for e in data.stage("search") if e.request.particle is not None]
    for i, (p, keys) in enumerate(sorted(data.trajectories.items())):
        colour = colours[i]
        mine = [e for e in children if e.request.particle == p]
        ok = [e for e in mine if e.fitness is not None]
        bad = [e for e in mine if e.fitness is None]
        ax.scatter(
            np.array([e.request.time_step for e in ok], dtype=float),
            np.array([e.fitness for e in ok], dtype=float),
            s=12,
            color=colour,
            alpha=0.4,
        )
        ax.scatter(
            np.array([e.request.time_step for e in bad], dtype=float),
            [_FAILED_Y] * len(bad),
            s=14,
            marker="x",
            color=colour,
            alpha=0.5,
        )
        path = [by_key.get(k) for k in keys]
        ts = [t for t, e in enumerate(path) if e is not None]
        ys = [
            np.nan if e is None or e.fitness is None else e.fitness for e in path if e is not None
        ]
        ax.plot(ts, ys, "-o", color=colour, lw=1.6, ms=4, label=f"particle {p}")
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_xlabel("time-step")
    ax.set_ylabel("fitness (best validation accuracy)")
    ax.set_title("Fitness over time per particle (line: the particle; dots: its children)")
    ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    ax.grid(alpha=0.3)
    if len(data.trajectories) <= 12:
        ax.legend(fontsize=7, ncol=2)
    return fig


def progress_figure(data: RunData) -> Figure | None:
    """Every search evaluation's fitness in the order they finished, with the best so far."""
    evs = data.stage("init", "search")
    if not evs:
        return None
    fig = Figure(figsize=(7.0, 3.6), layout="constrained")
    ax = fig.add_subplot()
    for stage, colour in (("init", "tab:gray"), ("search", "tab:blue")):
        idx = [i for i, e in enumerate(evs) if e.request.stage == stage and e.fitness is not None]
        fit = np.array([evs[i].fitness for i in idx], dtype=float)
        ax.scatter(idx, fit, s=10, color=colour, alpha=0.6, label=stage)
        bad = [i for i, e in enumerate(evs) if e.request.stage == stage and e.fitness is None]
        ax.scatter(bad, [_FAILED_Y] * len(bad), s=10, marker="x", color=colour, alpha=0.4)
    best, running = [], -np.inf
    for e in evs:
        if e.request.stage == "search" and e.fitness is not None:
            running = max(running, e.fitness)
        best.append(running if np.isfinite(running) else np.nan)
    ax.plot(range(len(evs)), best, color="tab:red", lw=1.4, label="best so far (search)")
    ax.set_xlabel("evaluation (in the order they finished)")
    ax.set_ylabel("fitness")
    ax.set_title("Every evaluation of the search (crosses: no fitness)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def _short(fitness: FitnessConfig) -> str:
    """A round's protocol in a tick label: its ConvNet base, or its tasks' scale."""
    if isinstance(fitness, SingleTaskFitness):
        return f"base {fitness.base}"
    return f"{fitness.task_scale:g}x tasks"


def elimination_figure(data: RunData) -> Figure | None:
    """Each genome's score in the search and in every elimination round it reached."""
    elim = data.elimination
    if elim is None or not elim.rounds or not elim.rounds[0].ranking:
        return None
    stages = ["search", *(f"round {r.number}\n{_short(r.fitness)}" for r in elim.rounds)]
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    first = elim.rounds[0]
    colours = _colours(len(first.entering))
    for i, entrant in enumerate(first.entering):
        ys = [entrant.fitness]
        for rnd in elim.rounds:
            ev = next((e for e in rnd.ranking if e.canonical_hash == entrant.canonical_hash), None)
            if ev is None:
                break
            ys.append(ev.fitness)
        ys = [np.nan if y is None else y for y in ys]
        ys_plot = np.array(ys, dtype=float)
        survived = len(ys) == len(stages) and elim.finished
        ax.plot(
            range(len(ys)),
            ys_plot,
            "-o",
            color=colours[i],
            lw=2.0 if survived else 0.9,
            ms=4,
            alpha=1.0 if survived else 0.5,
            label=entrant.canonical_hash[:10] if survived else None,
        )
    ax.set_xticks(range(len(stages)), stages, fontsize=8)
    ax.set_ylabel("fitness (mean over seeds in the rounds)")
    ax.set_title("Elimination: each genome through the rounds (bold: survivors)")
    ax.grid(alpha=0.3)
    if elim.finished:
        ax.legend(fontsize=7)
    return fig


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(i if n <= 10 else i / max(1, n - 1)) for i in range(n)]
