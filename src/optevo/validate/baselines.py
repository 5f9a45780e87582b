"""The baselines every validation includes, and each optimizer kind's starting learning-rate
grid.

- Adam: the library's Adam genome, one-cycle schedule, no weight decay.
- AdamW: the same with decoupled weight decay 0.01 (torch.optim.AdamW's default), applied as
  AdamW does: `w <- w - lr_t * 0.01 * w`, scaled by the scheduled rate lr_t.
- Lion (Chen et al. 2023): `optevo.optim.lion.Lion`, beta1 = 0.9, beta2 = 0.99, no weight
  decay, under the same one-cycle schedule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from optevo import library
from optevo.bench.lrtest import PAPER_GRID
from optevo.bench.optimizers import OptimizerSpec
from optevo.optim.lion import Lion

BASELINE_NAMES: tuple[str, ...] = ("Adam", "AdamW", "Lion")
ADAMW_WEIGHT_DECAY = 0.01
LION_BETAS = (0.9, 0.99)
LION_WEIGHT_DECAY = 0.0
LION_IDENT = f"lion(b1={LION_BETAS[0]:g},b2={LION_BETAS[1]:g},wd={LION_WEIGHT_DECAY:g})"
"""Lion's identity in stored results (a factory has no genome hash)."""

ADAM_GRID: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)
"""Adam and AdamW start here (the suites' reference rates lie in 1e-3..3e-2)."""
LION_GRID: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5)
"""Lion takes steps of size lr in every coordinate: its rates are 3-10x below Adam's."""


def _lion(
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    lr: float,
    total_steps: int,
    warmup_steps: int,
    hold_steps: int,
    seed: int,
) -> torch.optim.Optimizer:
    return Lion(
        params,
        lr,
        total_steps,
        warmup_steps,
        hold_steps,
        betas=LION_BETAS,
        weight_decay=LION_WEIGHT_DECAY,
    )


def baseline(name: str) -> OptimizerSpec:
    """The baseline `name` (one of `BASELINE_NAMES`); KeyError otherwise."""
    if name == "Adam":
        return OptimizerSpec("Adam", library.genome("Adam"))
    if name == "AdamW":
        return OptimizerSpec("AdamW", library.genome("Adam"), weight_decay=ADAMW_WEIGHT_DECAY)
    if name == "Lion":
        return OptimizerSpec.of_factory("Lion", _lion, LION_IDENT)
    raise KeyError(f"unknown baseline {name!r}; known: {', '.join(BASELINE_NAMES)}")


def baselines() -> list[OptimizerSpec]:
    """Adam, AdamW and Lion."""
    return [baseline(name) for name in BASELINE_NAMES]


def is_baseline(spec: OptimizerSpec) -> bool:
    """Whether `spec` is one of the baselines (same label and the same optimizer)."""
    return spec.label in BASELINE_NAMES and spec.genome_hash == baseline(spec.label).genome_hash


def default_grid(spec: OptimizerSpec) -> tuple[float, ...]:
    """The starting grid of `spec`'s learning-rate test: Adam's genome (with or without weight
    decay) under the one-cycle schedule `ADAM_GRID`, Lion `LION_GRID`, anything else the
    paper's 7 decades (an unknown rule's scale is unknown). Every test extends its grid past
    an edge winner, so a start only saves runs; it does not bound the choice."""
    if spec.factory is not None:
        return LION_GRID if spec.genome_hash == LION_IDENT else PAPER_GRID
    assert spec.genome is not None
    adam = library.genome("Adam").canonical_hash()
    if spec.schedule == "one_cycle" and spec.genome.canonical_hash() == adam:
        return ADAM_GRID
    return PAPER_GRID


__all__ = [
    "ADAMW_WEIGHT_DECAY",
    "ADAM_GRID",
    "BASELINE_NAMES",
    "LION_BETAS",
    "LION_GRID",
    "LION_IDENT",
    "LION_WEIGHT_DECAY",
    "baseline",
    "baselines",
    "default_grid",
    "is_baseline",
]
