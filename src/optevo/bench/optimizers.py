"""The optimizers a bench compares: named ones of the library, the best genomes of a run, or
any torch optimizer built by a factory (`OptimizerSpec.of_factory`: Lion, in `optevo validate`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from optevo import library
from optevo.optim.evolved import EvolvedOptimizer
from optevo.space.genome import Genome


@functools.cache
def _adam_hash() -> str:
    return library.genome("Adam").canonical_hash()


Params = Iterable[Tensor] | Iterable[dict[str, Any]]
OptimizerFactory = Callable[[Params, float, int, int, int, int], torch.optim.Optimizer]
"""(params, peak lr, total_steps, warmup_steps, hold_steps, seed) -> a torch optimizer that
follows optevo's convention: the peak learning rate under the one-cycle schedule over the whole
run (linear warm-up, hold, cosine decay)."""


@dataclass(frozen=True)
class OptimizerSpec:
    """A row of the bench table: a genome with its learning-rate schedule (and decoupled weight
    decay, as `EvolvedOptimizer` applies it: `w <- w - lr_t * weight_decay * w`), or a factory of
    any torch optimizer (`of_factory`) identified by `ident`.

    `adam_schedule` marks Adam under a discovered schedule (LR1-LR9): the paper ran their
    learning-rate test for two thirds of the training instead of one third.
    """

    label: str
    genome: Genome | None
    schedule: str = "one_cycle"
    weight_decay: float = 0.0
    factory: OptimizerFactory | None = field(default=None, compare=False, repr=False)
    ident: str = ""

    def __post_init__(self) -> None:
        if (self.genome is None) == (self.factory is None):
            raise ValueError(f"{self.label}: give a genome or a factory, not both or neither")
        if self.factory is not None and not self.ident:
            raise ValueError(f"{self.label}: a factory needs an ident (its name in results)")
        if not self.weight_decay >= 0:
            raise ValueError(f"{self.label}: weight decay must be >= 0, got {self.weight_decay}")

    @classmethod
    def of_factory(
        cls, label: str, factory: OptimizerFactory, ident: str, schedule: str = "one_cycle"
    ) -> OptimizerSpec:
        """A spec building any torch optimizer; `ident` names it in stored results (include
        its hyperparameters: "lion(b1=0.9,b2=0.99,wd=0)")."""
        return cls(label, None, schedule, factory=factory, ident=ident)

    @property
    def genome_hash(self) -> str:
        """What identifies the optimizer in stored results: the genome's canonical hash
        (`+wd=<value>` with weight decay), or a factory's `ident`."""
        if self.genome is None:
            return self.ident
        digest = self.genome.canonical_hash()
        return digest if self.weight_decay == 0 else f"{digest}+wd={self.weight_decay:g}"

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
    ) -> torch.optim.Optimizer:
        if self.factory is not None:
            return self.factory(params, lr, total_steps, warmup_steps, hold_steps, seed)
        assert self.genome is not None
        return EvolvedOptimizer(
            params,
            self.genome,
            lr,
            total_steps,
            warmup_steps,
            hold_steps,
            self.schedule,
            weight_decay=self.weight_decay,
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
