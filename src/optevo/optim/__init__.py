"""Drop-in PyTorch optimizers: any genome (`EvolvedOptimizer`) and the paper's named ones.

    from optevo.optim import Opt6
    opt = Opt6(model.parameters(), lr=1e-3, total_steps=10_000, warmup_steps=500)

`create(name, ...)` builds any named optimizer (`NAMES`); a named optimizer is a genome plus,
where the paper found one, its learning-rate factor (Opt4 = its genome + LR1), and `create`
applies both.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import Tensor

from optevo import library
from optevo.optim.evolved import EvolvedOptimizer
from optevo.optim.named import (
    A1,
    A2,
    A3,
    A4,
    A5,
    Opt1,
    Opt2,
    Opt3,
    Opt4,
    Opt5,
    Opt6,
    Opt7,
    Opt8,
    Opt9,
    Opt10,
)
from optevo.optim.named_base import NamedOptimizer

NAMES: tuple[str, ...] = library.names()
"""Every named optimizer: baselines, Opt1-Opt10 with their ablations, A1-A5, LR1-LR9, and
the extended space's AdamW and Lion (genomes with constants; `create("AdamW", ...)`)."""


def create(
    name: str,
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    lr: float | None = None,
    total_steps: int | None = None,
    warmup_steps: int = 0,
    hold_steps: int = 0,
    **kwargs: Any,
) -> EvolvedOptimizer:
    """The named optimizer `name` (see `NAMES`) over `params`.

    `lr` is the peak learning rate; when omitted, the optimizer's recommended one
    (`optevo.library.recommended_lr(name)`, measured by `optevo bench`) is used.
    Its learning-rate factor, if it has one, becomes the schedule (e.g. Opt4 -> "LR1");
    `schedule=...` in `kwargs` overrides it. Other keyword arguments go to
    `EvolvedOptimizer` (weight_decay, momentum, seed).
    """
    entry = library.get(name)
    if total_steps is None:
        raise TypeError("create() needs total_steps (the length of the run in steps)")
    if lr is None:
        recommended = library.recommended_lr(name)
        if recommended is None:
            raise ValueError(f"{name} has no recommended learning rate yet: pass lr=")
        lr = recommended.lr
    kwargs.setdefault("schedule", entry.lr_schedule or "one_cycle")
    return EvolvedOptimizer(
        params, entry.genome, lr, total_steps, warmup_steps, hold_steps, **kwargs
    )



__all__ = [
    "A1",
    "A2",
    "A3",
    "A4",
    "A5",
    "NAMES",
    "EvolvedOptimizer",
    "NamedOptimizer",
    "Opt1",
    "Opt2",
    "Opt3",
    "Opt4",
    "Opt5",
    "Opt6",
    "Opt7",
    "Opt8",
    "Opt9",
    "Opt10",
    "create",
]
