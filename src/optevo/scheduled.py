"""A compiled rule together with its run's schedules: from a gradient to a weight change.

`ScheduledRule` is what every trainer of optevo steps with: the drop-in optimizer (one flat
vector per parameter bucket), the integrity check and the batched trainer (rows = copies,
each with its own peak learning rate).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from optevo.compile import CompiledRule, State, compile_genome, weight_delta
from optevo.schedules import lr_table, momentum_cycle
from optevo.space.genome import Genome
from optevo.space.ops import OpContext

CONSTANT_MOMENTUM = 0.9
"""mu for momentum-type genomes when the learning rate is not scheduled by optevo."""


@dataclass(frozen=True)
class ScheduledRule:
    """A genome's update rule with the tables of one run of `total_steps` steps.

    `lr_factors[k]` multiplies the peak learning rate at step k (SPEC 4, times an LR factor
    of SPEC 7.3 when `schedule` names one); `mus[k]` is the momentum coefficient; `decays[j][k]`
    the j-th decay function. Past the end (k >= T) scheduled learning rates are 0 and every
    other table holds its value at T-1.
    """

    rule: CompiledRule
    total_steps: int
    schedule: str
    lr_factors: tuple[float, ...]
    mus: tuple[float, ...]
    decays: tuple[tuple[float, ...], ...]

    @classmethod
    def create(
        cls,
        genome: Genome,
        total_steps: int,
        warmup_steps: int = 0,
        hold_steps: int = 0,
        schedule: str = "one_cycle",
        momentum: float | None = None,
    ) -> ScheduledRule:
        rule = compile_genome(genome)
        T = total_steps
        lr = lr_table(schedule, T, warmup_steps, hold_steps)
        if momentum is not None:
            mus = [float(momentum)] * T
        elif schedule == "constant":
            mus = [CONSTANT_MOMENTUM] * T
        else:
            mus = momentum_cycle(T, warmup_steps, hold_steps).tolist()
        decays = tuple(tuple(t) for t in rule.decay_tables(T))
        return cls(rule, T, schedule, tuple(lr.tolist()), tuple(mus), decays)

    @property
    def genome(self) -> Genome:
        return self.rule.genome

    def init_state(self, like: Tensor) -> State:
        return self.rule.init_state(like)

    def lr_factor(self, k: int) -> float:
        if k >= self.total_steps:
            return 1.0 if self.schedule == "constant" else 0.0
        return self.lr_factors[k]

    def delta(
        self,
        g: Tensor,
        state: State,
        k: int,
        peak_lr: float | Tensor,
        w: Tensor | None = None,
        ctx: OpContext | None = None,
    ) -> Tensor:
        """The change of the weights at step k; advances the state in place.

        `peak_lr` is a float, or a tensor broadcasting over the rows of `g` (one learning
        rate per copy). `g`, `w` and the state have the layout (..., N).
        """
        i = min(k, self.total_steps - 1)
        decays: Sequence[float] = [d[i] for d in self.decays]
        u = self.rule.update(g, state, k, decays, w, ctx)
        return weight_delta(
            u, state, peak_lr * self.lr_factor(k), self.mus[i], self.genome.momentum
        )
