"""A compiled rule together with its run's schedules: from a gradient to a weight change.

`ScheduledRule` is what every trainer of optevo steps with: the drop-in optimizer (one flat
vector per parameter bucket), the integrity check and the batched trainer (rows = copies,
each with its own peak learning rate).

The schedules of a run are tables over its T steps. They are read a window of `WINDOW` steps
at a time, each window computed by the same vectorised code as the whole table (the values
are the same), so a run of 10^12 steps costs no more memory than one of 10^3.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from optevo.compile import CompiledRule, compile_genome
from optevo.program import State, Workspace
from optevo.schedules import check_schedule, lr_table, momentum_cycle
from optevo.space.decay import DecayGenome
from optevo.space.genome import Genome
from optevo.space.ops import OpContext

CONSTANT_MOMENTUM = 0.9
"""mu for momentum-type genomes when the learning rate is not scheduled by optevo."""

WINDOW = 4096
"""Steps of a schedule computed at a time (a multiple of every SIMD width, so the values of
a window are those of the whole table)."""


class StepTable:
    """The values of one schedule at k = 0..T-1, computed a window at a time.

    `window(start, stop)` returns the values at steps start..stop-1 (float64). `table[k]` is
    a Python float; `len(table)` is T.
    """

    def __init__(
        self, total_steps: int, window: Callable[[int, int], np.ndarray], size: int = WINDOW
    ) -> None:
        self.total_steps = total_steps
        self._window = window
        self._size = size
        self._start = self._stop = 0
        self._values: list[float] = []

    def __len__(self) -> int:
        return self.total_steps

    def __getitem__(self, k: int) -> float:
        if not self._start <= k < self._stop:
            if not 0 <= k < self.total_steps:
                raise IndexError(f"step {k} outside 0..{self.total_steps - 1}")
            self._start = k - k % self._size
            self._stop = min(self._start + self._size, self.total_steps)
            self._values = self._window(self._start, self._stop).tolist()
        return self._values[k - self._start]


def _constant(value: float) -> Callable[[int, int], np.ndarray]:
    return lambda start, stop: np.full(stop - start, value)


def _decay_window(decay: DecayGenome, T: int) -> Callable[[int, int], np.ndarray]:
    if T <= WINDOW:  # the whole table, shared with other runs of this length
        return lambda start, stop: decay.table(T)[start:stop]
    return functools.partial(decay.window, T)


@dataclass(frozen=True)
class ScheduledRule:
    """A genome's update rule with the schedules of one run of `total_steps` steps.

    `lr_factors[k]` multiplies the peak learning rate at step k (SPEC 4, times an LR factor
    of SPEC 7.3 when `schedule` names one); `mus[k]` is the momentum coefficient; `decays[j][k]`
    the j-th decay function. Past the end (k >= T) scheduled learning rates are 0 and every
    other schedule holds its value at T-1.
    """

    rule: CompiledRule
    total_steps: int
    schedule: str
    lr_factors: StepTable
    mus: StepTable
    decays: tuple[StepTable, ...]

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
        check_schedule(schedule, total_steps, warmup_steps, hold_steps)
        rule = compile_genome(genome)
        T, W, H = total_steps, warmup_steps, hold_steps
        lr = StepTable(T, _lr_window(schedule, T, W, H))
        if momentum is not None:
            mus = StepTable(T, _constant(float(momentum)))
        elif schedule == "constant":
            mus = StepTable(T, _constant(CONSTANT_MOMENTUM))
        else:
            mus = StepTable(T, _mu_window(T, W, H))
        decays = tuple(StepTable(T, _decay_window(d, T)) for d in rule.decays)
        return cls(rule, T, schedule, lr, mus, decays)

    @property
    def genome(self) -> Genome:
        return self.rule.genome

    def init_state(self, like: Tensor) -> State:
        return self.rule.init_state(like)

    def workspace(self, like: Tensor) -> Workspace:
        """Buffers for `delta` on values shaped like `like`, to reuse at every step."""
        return self.rule.delta_program.workspace(like)

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
        workspace: Workspace | None = None,
    ) -> Tensor:
        """The change of the weights at step k; advances the state in place.

        `peak_lr` is a float, or a tensor broadcasting over the rows of `g` (one learning
        rate per copy). `g`, `w` and the state have the layout (..., N). With a `workspace`
        (from `self.workspace`) nothing of that size is allocated and the result lives in the
        workspace (or is the momentum buffer) until the next call.
        """
        i = min(k, self.total_steps - 1)
        decays = [d[i] for d in self.decays]
        lr = peak_lr * self.lr_factor(k)
        return self.rule.delta(g, state, k, decays, lr, self.mus[i], w, ctx, workspace)

    def step_values(self, k: int) -> list[float]:
        """The per-step scalars of step k for `delta_static` (see `Workspace.bind_static`)."""
        i = min(k, self.total_steps - 1)
        decays = [d[i] for d in self.decays]
        return self.rule.delta_program.step_values(k, decays, self.lr_factor(k), self.mus[i])

    def delta_static(
        self,
        g: Tensor,
        state: State,
        workspace: Workspace,
        w: Tensor | None = None,
        ctx: OpContext | None = None,
    ) -> Tensor:
        """`delta` with the step's scalars read from the tensors bound to `workspace`
        (written beforehand from `step_values(k)`): the form a CUDA graph captures once and
        replays at every step. Same values as `delta(g, state, k, peak, ...)`."""
        return self.rule.delta_program.run_static(g, w, ctx or OpContext(), state, workspace)


def _lr_window(schedule: str, T: int, W: int, H: int) -> Callable[[int, int], np.ndarray]:
    if T <= WINDOW:  # short runs (the integrity check) share their table
        return lambda start, stop: _short_table("lr", schedule, T, W, H)[start:stop]
    return lambda start, stop: lr_table(schedule, T, W, H, start=start, stop=stop)


def _mu_window(T: int, W: int, H: int) -> Callable[[int, int], np.ndarray]:
    if T <= WINDOW:
        return lambda start, stop: _short_table("mu", "", T, W, H)[start:stop]
    return lambda start, stop: momentum_cycle(T, W, H, start=start, stop=stop)


@functools.lru_cache(maxsize=64)
def _short_table(kind: str, schedule: str, T: int, W: int, H: int) -> np.ndarray:
    out = lr_table(schedule, T, W, H) if kind == "lr" else momentum_cycle(T, W, H)
    out.setflags(write=False)
    return out
