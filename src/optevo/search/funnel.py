"""The funnel (multi-fidelity search): rungs of growing cost inside the search.

Rung 0 is the search stage itself (`RunConfig.fitness`). Every batch a strategy hands to the
run is evaluated there first; then, rung after rung, the batch's candidates that rank in the
top `keep` fraction of *every* result at the rung below so far in the run (this batch's
included) are evaluated again at the next rung (`rung-1`, `rung-2`, ...: its own fitness and
seeds). That is asynchronous successive halving (ASHA, Li et al. 2020): with one batch it is
successive halving of that batch; later batches must beat the run's record, not only each
other, so a small batch (a particle's screen redraw) cannot push a poor candidate up.

What the strategy gets back for a candidate is its evaluation at the highest rung it reached,
and an evaluation ranks first by that rung (`Evaluation.rank_key`): a promoted candidate
stands above every one that was not. The rule keeps its record in memory: a resumed run
replays the strategy, which asks for the same batches in the same order, so the record and
every promotion are rebuilt exactly as the uninterrupted run made them (the results come
back from the store, nothing is trained twice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

from pydantic import Field

from optevo.config import Float, Int, StrictModel
from optevo.fitness.config import FitnessConfig, SingleTaskFitness

MAX_RUNGS = 8

RankKey = tuple[int, float, float]


class FunnelRung(StrictModel):
    """One rung past the search stage. `fitness`: its protocol, written as overrides of the
    run's `fitness` (e.g. `{task_scale: 1.0}` over a search fitness at `task_scale: 0.3`, or
    another `tasks` list); `keep`: the fraction of the rung below promoted to it; `seeds`:
    training seeds per candidate here, fresh ones (not the seeds it was promoted on, so a
    lucky seed below does not carry it: the winner's curse), the same for every candidate
    at the rung (paired)."""

    fitness: FitnessConfig = SingleTaskFitness()
    keep: Float = Field(0.5, gt=0, le=1)
    seeds: Int = Field(1, ge=1, le=100)


class FunnelConfig(StrictModel):
    """The rungs past the search stage, cheapest first (see the module)."""

    rungs: Annotated[tuple[FunnelRung, ...], Field(min_length=1, max_length=MAX_RUNGS)]

    def describe(self) -> str:
        """One line per rung, e.g. "rung 1: top 25%, 1 fresh seed, <its fitness>"."""
        return "; ".join(
            f"rung {i}: top {r.keep:.0%}, {r.seeds} fresh seed{'s' if r.seeds > 1 else ''}, "
            f"{r.fitness.describe()}"
            for i, r in enumerate(self.rungs, 1)
        )


class Ladder:
    """The promotion record of one run (see the module): every result seen at each rung."""

    def __init__(self, rungs: int) -> None:
        self._seen: list[list[RankKey | None]] = [[] for _ in range(rungs)]

    def promote(self, rung: int, keep: float, keys: Sequence[RankKey | None]) -> list[int]:
        """Indices into `keys` (this batch's results at rung `rung - 1`; None = no fitness)
        promoted to `rung`: those whose place among every result at rung `rung - 1` so far
        (ties: the earlier first) is within the top `keep` fraction, rounded up."""
        record = self._seen[rung - 1]
        start = len(record)
        record.extend(keys)
        places = sorted(
            (i for i, k in enumerate(record) if k is not None),
            key=lambda i: (_negated(record[i]), i),
        )
        quota = promoted_count(len(record), keep)
        top = set(places[:quota])
        return [j for j in range(len(keys)) if start + j in top]


def promoted_count(entrants: int, keep: float) -> int:
    """How many of `entrants` results a rung keeps: keep x entrants, rounded up."""
    return min(entrants, math.ceil(keep * entrants - 1e-9))


def _negated(key: RankKey | None) -> tuple[float, ...]:
    assert key is not None
    return tuple(-float(x) for x in key)
