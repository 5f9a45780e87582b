"""The integrity check (SPEC 3): a cheap shifted-sphere test that rejects degenerate optimizers.

Six peak learning rates times two signs of the update are twelve independent runs; they run
as one batched computation, the runs being the rows of one (12, 5) matrix.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from pydantic import Field, model_validator

from optevo.config import Float, Int, StrictModel
from optevo.scheduled import ScheduledRule
from optevo.schedules import lr_table
from optevo.space.genome import Genome
from optevo.space.ops import OpContext


class SphereConfig(StrictModel):
    """The shifted-sphere problem and its pass threshold (SPEC 3 defaults)."""

    x0: tuple[Float, ...] = (1.1, 0.9, 1.1, 0.9, 1.0)
    shift: tuple[Float, ...] = (0.5, 1.5, -0.3, -1.2, 0.75)
    steps: Int = Field(35, ge=1)
    warmup_steps: Int = Field(6, ge=0)
    hold_steps: Int = Field(0, ge=0)
    learning_rates: tuple[Float, ...] = (1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5)
    threshold: Float = 3.5
    seed: Int = 0

    @model_validator(mode="after")
    def _shapes(self) -> SphereConfig:
        if len(self.x0) != len(self.shift) or not self.x0:
            raise ValueError("x0 and shift must be non-empty and of equal length")
        if not self.learning_rates or any(
            not (lr > 0 and math.isfinite(lr)) for lr in self.learning_rates
        ):
            raise ValueError("learning_rates must be positive and finite")
        return self


DEFAULT_SPHERE = SphereConfig()


@dataclass(frozen=True)
class IntegrityResult:
    """Outcome of the check.

    `passed`: some run ended below the threshold. `flipped`: it passed only with the sign of
    the update reversed. `best_loss`: the lowest final loss of the runs of the sign that
    decided (NaN when no run ended finite). `final_losses`: all twelve final losses, rows =
    learning rates, columns = (as is, flipped).
    """

    passed: bool
    flipped: bool
    best_loss: float
    final_losses: tuple[tuple[float, float], ...]


def sphere_loss(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """f(x) = sum_i (x_i - b_i)^2 over the last dimension."""
    return ((x - shift) ** 2).sum(dim=-1)


def check(genome: Genome, config: SphereConfig = DEFAULT_SPHERE) -> IntegrityResult:
    """Run SPEC 3's check on the genome's update as written (its own `flipped` is ignored).

    A genome's constants take part (its rule is compiled with them); its weight decay, if
    any, decays the weights of every run, the flipped ones too (only the update's sign is
    flipped)."""
    scheduled = ScheduledRule.create(
        _unflipped(genome), config.steps, config.warmup_steps, config.hold_steps
    )
    rule, sphere = scheduled.rule, _sphere(config)
    with torch.inference_mode():
        x = sphere.x0.clone()
        g = torch.empty_like(x)
        state = rule.init_state(x)
        workspace = scheduled.workspace(x)
        ctx = OpContext(generator=torch.Generator().manual_seed(config.seed))
        for k in range(config.steps):
            torch.mul(x, sphere.two, out=g).sub_(sphere.two_shift)  # g = 2 x - 2 b
            decays = [d[k] for d in scheduled.decays]
            lr, mu = sphere.lrs[k], scheduled.mus[k]
            x.add_(rule.delta(g, state, k, decays, lr, mu, x, ctx, workspace))
        final = sphere_loss(x, sphere.shift)
        final = torch.where(torch.isfinite(final), final, math.inf)
    n_lr = len(config.learning_rates)
    values = final.tolist()
    as_is, flipped = values[:n_lr], values[n_lr:]
    losses = tuple(zip(as_is, flipped, strict=True))
    best_as_is, best_flipped = min(as_is), min(flipped)
    if best_as_is < config.threshold:
        return IntegrityResult(True, False, best_as_is, losses)
    if best_flipped < config.threshold:
        return IntegrityResult(True, True, best_flipped, losses)
    best = min(best_as_is, best_flipped)
    return IntegrityResult(False, False, best if math.isfinite(best) else math.nan, losses)


@dataclass(frozen=True)
class _Sphere:
    """The tensors of one sphere configuration, shared by every check (never written)."""

    x0: torch.Tensor  # (2n, d): one row per run
    shift: torch.Tensor
    two_shift: torch.Tensor
    two: torch.Tensor
    lrs: tuple[torch.Tensor, ...]  # per step: the (2n, 1) learning rates of the runs


@functools.lru_cache(maxsize=16)
def _sphere(config: SphereConfig) -> _Sphere:
    dtype = torch.float32
    n_lr = len(config.learning_rates)
    shift = torch.tensor(config.shift, dtype=dtype)
    # Rows 0..n-1 use the update as is, rows n..2n-1 the flipped update: a negative learning
    # rate on a row is the same as flipping its update's sign.
    peaks = torch.tensor(config.learning_rates, dtype=dtype)
    peak_signed = torch.cat([peaks, -peaks]).unsqueeze(1)
    factors = lr_table("one_cycle", config.steps, config.warmup_steps, config.hold_steps)
    return _Sphere(
        x0=torch.tensor(config.x0, dtype=dtype).repeat(2 * n_lr, 1),
        shift=shift,
        two_shift=2.0 * shift,
        two=torch.tensor(2.0, dtype=dtype),
        lrs=tuple(peak_signed * f for f in factors.tolist()),
    )


def _unflipped(genome: Genome) -> Genome:
    return genome.with_flipped(False)  # constants kept
