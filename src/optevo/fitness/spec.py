"""What one training run of the surrogate is: its budget, stop rules and device (`TrainSpec`),
and what one model copy in it is (`CopySpec`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from optevo.data import Augment
from optevo.space.genome import Genome

Layout = Literal["auto", "sequential", "packed"]
"""How a run's copies are laid out: "sequential" (one model after another, each with its own
`EvolvedOptimizer`), "packed" (all copies as one batched model) or "auto" (packed on CUDA,
sequential elsewhere)."""

LAYOUTS: tuple[str, ...] = ("auto", "sequential", "packed")


@dataclass(frozen=True)
class StopRule:
    """Stop a run whose epoch training accuracy is below `min_train_acc` at an epoch end at or
    after `from_step` (only at the first such epoch end when `once`)."""

    from_step: int
    min_train_acc: float
    once: bool = False

    def applies(self, step: int, epoch_steps: int) -> bool:
        if step < self.from_step:
            return False
        return not self.once or step - epoch_steps < self.from_step


@dataclass(frozen=True)
class TrainSpec:
    """One training run of the surrogate (shared by all K copies)."""

    base: int
    total_steps: int
    max_steps: int | None = None
    warmup_steps: int = 0
    hold_steps: int = 0
    schedule: str = "one_cycle"
    batch_size: int = 128
    epoch_steps: int = 200
    validate: bool = True
    stop_rules: tuple[StopRule, ...] = ()
    augment: Augment = field(default_factory=Augment)
    dropout: float = 0.2
    seed: int = 0
    device: str = "cpu"
    channels_last: bool = True
    amp: bool = False
    eval_batch_size: int = 1000
    cuda_graphs: bool = False

    @property
    def steps(self) -> int:
        return self.total_steps if self.max_steps is None else min(self.max_steps, self.total_steps)


@dataclass(frozen=True)
class CopySpec:
    """One copy of a packed run: its update rule, peak learning rate, seed and schedule
    (None: the run's `TrainSpec.schedule`)."""

    genome: Genome
    lr: float
    seed: int
    schedule: str | None = None


def resolve_device(device: str) -> str:
    """`auto` is "cuda" when CUDA is available, else "cpu"; any other device as given."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def autocast(spec: TrainSpec, device: str, cache: bool = True) -> torch.autocast:
    """bf16 autocast when `spec.amp`. No cast cache inside a CUDA graph (its casts must be
    redone at every replay)."""
    return torch.autocast(
        device_type=device.split(":")[0],
        dtype=torch.bfloat16,
        enabled=spec.amp,
        cache_enabled=cache,
    )
