"""The base of the named optimizer classes of `optevo.optim.named`: a library entry's genome
and learning-rate factor behind `EvolvedOptimizer`'s arguments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from torch import Tensor

from optevo import library
from optevo.optim.evolved import EvolvedOptimizer


class NamedOptimizer(EvolvedOptimizer):
    """An optimizer of the library by name: its genome, and its learning-rate factor as the
    default schedule. Arguments as for `EvolvedOptimizer`, without `genome`."""

    library_name: ClassVar[str]
    """The library entry (`optevo.library.get(library_name)`)."""

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        total_steps: int,
        warmup_steps: int = 0,
        hold_steps: int = 0,
        schedule: str | None = None,
        weight_decay: float = 0.0,
        momentum: float | None = None,
        seed: int = 0,
    ) -> None:
        entry = library.get(self.library_name)
        super().__init__(
            params,
            entry.genome,
            lr,
            total_steps,
            warmup_steps,
            hold_steps,
            schedule or entry.lr_schedule or "one_cycle",
            weight_decay,
            momentum,
            seed,
        )
