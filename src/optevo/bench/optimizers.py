"""The optimizers a bench compares: named ones of the library, or the best genomes of a run."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from optevo import library
from optevo.optim.evolved import EvolvedOptimizer
from optevo.space.genome import Genome


@functools.cache
def _adam_hash() -> str:
    return library.genome("Adam").canonical_hash()


@dataclass(frozen=True)
class OptimizerSpec:
    """A row of the bench table: a genome with its learning-rate schedule.

    `adam_schedule` marks Adam under a discovered schedule (LR1-LR9): the paper ran their
    learning-rate test for two thirds of the training instead of one third.
    """

    label: str
    genome: Genome
    schedule: str = "one_cycle"

    @property
    def genome_hash(self) -> str:
        return self.genome.canonical_hash()

    @property
    def adam_schedule(self) -> bool:
        return self.schedule != "one_cycle" and self.genome_hash == _adam_hash()

    def build(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        total_steps: int,
        warmup_steps: int,
        hold_steps: int,
        seed: int = 0,
    ) -> EvolvedOptimizer:
        return EvolvedOptimizer(
            params,
            self.genome,
            lr,
            total_steps,
            warmup_steps,
            hold_steps,
            self.schedule,
            seed=seed,
        )


def named(names: Iterable[str]) -> list[OptimizerSpec]:
    """Specs for library names ("Adam", "Opt6", "LR3", ...); unknown names raise KeyError."""
    specs = []
    for name in names:
        entry = library.get(name)
        specs.append(OptimizerSpec(name, entry.genome, entry.lr_schedule or "one_cycle"))
    return specs


def from_run(run_dir: str | Path, top: int) -> list[OptimizerSpec]:
    """The best `top` distinct genomes of a search run's leaderboard, labelled by rank and
    hash ("#1 3fa2c1d0e9")."""
    from optevo.search.api import read_summary

    if top < 1:
        raise ValueError(f"--top must be at least 1, got {top}")
    summary = read_summary(run_dir)
    specs = []
    for rank, standing in enumerate(summary.leaderboard[:top], 1):
        ev = standing.evaluation
        specs.append(
            OptimizerSpec(f"#{rank} {ev.canonical_hash[:10]}", ev.genome, ev.request.schedule)
        )
    if not specs:
        raise ValueError(f"{run_dir}: the run has no evaluated genome yet")
    return specs
