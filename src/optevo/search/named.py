"""A search run's best genomes as optimizers to validate or bench: `from_run`.

    from optevo.search.named import from_run
    specs = from_run("runs/mine", top=3)   # OptimizerSpecs, for optevo.validate / optevo.bench

(`optevo bench` and `optevo validate` take genomes, never run stores: reading a run is the
search layer's job.)
"""

from __future__ import annotations

from pathlib import Path

from optevo.optim.spec import OptimizerSpec


def from_run(run_dir: str | Path, top: int) -> list[OptimizerSpec]:
    """The best `top` distinct genomes of a search run, labelled by rank and hash ("#1
    3fa2c1d0e9"): in the order of its final re-evaluation over fresh seeds when it has one
    (the found genomes, not the baselines nor the simplified forms), else of its search."""
    from optevo.search.api import read_summary

    if top < 1:
        raise ValueError(f"--top must be at least 1, got {top}")
    summary = read_summary(run_dir)
    found = [
        s
        for s in summary.final
        if s.evaluation.key.startswith("final/top") and not s.evaluation.key.endswith("simplified")
    ]
    board = found if found else summary.leaderboard
    specs = []
    for rank, standing in enumerate(board[:top], 1):
        ev = standing.evaluation
        specs.append(
            OptimizerSpec(f"#{rank} {ev.canonical_hash[:10]}", ev.genome, ev.request.schedule)
        )
    if not specs:
        raise ValueError(f"{run_dir}: the run has no evaluated genome yet")
    return specs


__all__ = ["from_run"]
