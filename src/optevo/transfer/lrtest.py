"""The learning-rate test of the transfer protocol (SPEC 7.5), as a pure function of a scorer.

Each optimizer's peak learning rate is picked from the paper's grid by training a fraction of
the run at each rate. When the winner lies on the edge of the grid the grid grows on that side
(one decade at a time) until the winner has a worse neighbour on both sides: several of the
paper's optimizers want rates far above Adam's. With `refine` (the fair rule) the
test then tries the half-decades around the winner (x sqrt(10) and / sqrt(10)) and keeps the
best of the three. Fine-tuning tasks then also try half and five times the winner and keep the
best of the three.

Each optimizer kind starts from its own grid (`default_grid`): Adam and AdamW from
`ADAM_GRID`, Lion from `LION_GRID`, anything else from the paper's `PAPER_GRID`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from optevo.optim.spec import OptimizerSpec, is_adam, is_lion

PAPER_GRID: tuple[float, ...] = (10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5)
"""SPEC 7.5's peak learning rates (the one copy of the paper's grid)."""
ADAM_GRID: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)
"""Adam and AdamW start here (the suites' reference rates lie in 1e-3..3e-2)."""
LION_GRID: tuple[float, ...] = (1e-2, 1e-3, 1e-4, 1e-5)
"""Lion takes steps of size lr in every coordinate: its rates are 3-10x below Adam's."""
HALF_DECADE = math.sqrt(10.0)
"""The fair rule's refinement step: the rates x sqrt(10) and / sqrt(10) around the winner."""

MAX_EXTENSIONS = 6
"""At most this many decades are added on one side (10 -> 1e7, 1e-5 -> 1e-11)."""


LR_RANGE: tuple[float, float] = (1e-12, 1e6)
"""The learning rates a starting grid may hold. Below, a rate trains nothing (1e-320 is a
denormal); above, float32 arithmetic overflows (1e300 cannot even become a tensor). Past an
edge winner the test may still extend a grid by `MAX_EXTENSIONS` decades."""


def check_grid(grid: Sequence[float]) -> tuple[float, ...]:
    """`grid` as a tuple when it is a usable starting grid; else ValueError naming the rate."""
    if not grid:
        raise ValueError("the grid is empty: give at least one learning rate")
    low, high = LR_RANGE
    for x in grid:
        if not (isinstance(x, int | float) and math.isfinite(x) and low <= x <= high):
            raise ValueError(
                f"learning rate {x!r} is outside {low:g}..{high:g} (a grid needs positive, "
                "finite rates in that range)"
            )
    return tuple(float(x) for x in grid)


def norm_lr(lr: float) -> float:
    """A learning rate rounded to 12 significant digits, so 0.1/10 and 0.01 are one key."""
    return float(f"{lr:.12g}")


def goodness(metric: float | None, higher_is_better: bool) -> float:
    """The metric as "larger is better"; a missing or non-finite one is the worst possible."""
    if metric is None or not math.isfinite(metric):
        return -math.inf
    return metric if higher_is_better else -metric


def pick_best(
    scores: dict[float, float | None], higher_is_better: bool, centre: float = 1e-2
) -> float | None:
    """The learning rate with the best score; ties go to the rate nearest `centre` on a log
    scale (so a run of equally failed rates does not drag the grid outwards). None when every
    run failed."""
    ranked = [(goodness(m, higher_is_better), lr) for lr, m in scores.items()]
    best = max((g for g, _ in ranked), default=-math.inf)
    if best == -math.inf:
        return None
    tied = [lr for g, lr in ranked if g == best]
    return min(tied, key=lambda lr: (abs(math.log10(lr) - math.log10(centre)), lr))


@dataclass(frozen=True)
class LrTestResult:
    """The outcome of one learning-rate test.

    Attributes:
        winner: the chosen peak learning rate (None when every run failed).
        scores: every rate tried and its metric (None = diverged).
        extended: rates added beyond the starting grid, in the order they were tried.
        finetuned: the half / five-times rates tried around the grid's winner.
        on_edge: the winner still lies on the grid's edge (the extension cap was reached).
        refined: the half-decade rates tried around the grid's winner (`refine`).
    """

    winner: float | None
    scores: dict[float, float | None]
    extended: tuple[float, ...] = ()
    finetuned: tuple[float, ...] = ()
    on_edge: bool = False
    refined: tuple[float, ...] = ()


def lr_test(
    score: Callable[[float], float | None],
    grid: Iterable[float] = PAPER_GRID,
    higher_is_better: bool = True,
    finetune: bool = False,
    factor: float = 10.0,
    max_extensions: int = MAX_EXTENSIONS,
    refine: bool = False,
) -> LrTestResult:
    """Run the learning-rate test with `score(lr)` (the metric after the test's training).

    1. Score every rate of `grid`.
    2. While the best rate is the largest (smallest) one tried, score `factor` times (one
       `factor`-th of) it, at most `max_extensions` times per side.
    3. With `refine`, also score the winner times and over `HALF_DECADE`; the best of the
       three wins (ties: the grid's winner).
    4. With `finetune`, also score half and five times the winner; the best of the three wins.
    """
    scores: dict[float, float | None] = {}

    def tried(lr: float) -> float:
        lr = norm_lr(lr)
        if lr not in scores:
            scores[lr] = score(lr)
        return lr

    rates = sorted({norm_lr(lr) for lr in grid})
    if not rates or any(not (lr > 0 and math.isfinite(lr)) for lr in rates):
        raise ValueError("the learning-rate grid needs positive, finite rates")
    for lr in sorted(rates, reverse=True):
        tried(lr)
    extended: list[float] = []
    up = down = 0
    on_edge = False
    while True:
        best = pick_best(scores, higher_is_better)
        if best is None:
            return LrTestResult(None, dict(scores), tuple(extended))
        if len(scores) == 1:
            break
        if best == max(scores):
            if up >= max_extensions:
                on_edge = True
                break
            up += 1
            extended.append(tried(best * factor))
        elif best == min(scores):
            if down >= max_extensions:
                on_edge = True
                break
            down += 1
            extended.append(tried(best / factor))
        else:
            break
    winner = pick_best(scores, higher_is_better)
    assert winner is not None
    refined: tuple[float, ...] = ()
    if refine:
        refined = (tried(winner * HALF_DECADE), tried(winner / HALF_DECADE))
        winner = _best_of(scores, (winner, *refined), higher_is_better)
    finetuned: tuple[float, ...] = ()
    if finetune:
        finetuned = (tried(winner / 2), tried(winner * 5))
        winner = _best_of(scores, (winner, *finetuned), higher_is_better)
    return LrTestResult(winner, dict(scores), tuple(extended), finetuned, on_edge, refined)


def _best_of(
    scores: dict[float, float | None], rates: tuple[float, ...], higher_is_better: bool
) -> float:
    """The best of `rates` (the first one, a winner that scored, on ties)."""
    trio = {lr: scores[lr] for lr in rates}
    best = pick_best(trio, higher_is_better, centre=rates[0])
    assert best is not None
    return best


def default_grid(spec: OptimizerSpec) -> tuple[float, ...]:
    """The starting grid of `spec`'s learning-rate test: Adam's genome (with or without weight
    decay) under the one-cycle schedule `ADAM_GRID`, Lion `LION_GRID`, anything else the
    paper's 7 decades (an unknown rule's scale is unknown). Every test extends its grid past
    an edge winner, so a start only saves runs; it does not bound the choice."""
    if is_lion(spec):
        return LION_GRID
    if is_adam(spec):
        return ADAM_GRID
    return PAPER_GRID


__all__ = [
    "ADAM_GRID",
    "HALF_DECADE",
    "LION_GRID",
    "LR_RANGE",
    "MAX_EXTENSIONS",
    "PAPER_GRID",
    "LrTestResult",
    "check_grid",
    "default_grid",
    "goodness",
    "lr_test",
    "norm_lr",
    "pick_best",
]
