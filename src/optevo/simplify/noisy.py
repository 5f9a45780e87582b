"""The noise-aware pass and the ablation: edits scored with a fitness on paired seeds.

The rule: an edit is kept when the paired mean difference of the fitness (edited
minus current, seed by seed, the same seeds for both) is not below -2 standard errors of
that mean, nor below -`tolerance` (default 0.005: with a handful of seeds the standard error
is itself noisy, and one seed where the current genome fails its screen makes it so large
that an edit losing 0.96 on the other two would pass the first test alone). Among the edits,
the one whose result is smallest and passes is kept (edits are tried smallest result first,
so the first that passes is it), then the search starts again from the edited genome, until
no edit passes or the evaluation budget is spent.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from optevo.simplify.edits import Edit, candidate_edits, cost, part_removals, size
from optevo.simplify.exact import exact_pass
from optevo.space.genome import Genome


class Scorer(Protocol):
    """A fitness on one seed (higher is better; a rejected candidate scores 0)."""

    def score(self, genome: Genome, seed: int) -> float: ...


class BudgetSpentError(Exception):
    """The evaluation budget ran out (what was found so far is kept)."""


@dataclass
class Paired:
    """Paired differences of an edit against the current genome over the seeds."""

    diffs: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.diffs)

    @property
    def se(self) -> float:
        if len(self.diffs) < 2:
            return 0.0
        return statistics.stdev(self.diffs) / math.sqrt(len(self.diffs))

    def kept(self, tolerance: float = 0.005) -> bool:
        """The acceptance rule: mean difference not below -2 standard errors, nor below
        -tolerance."""
        return self.mean >= -2.0 * self.se and self.mean >= -tolerance


class Counting:
    """A scorer that counts fresh evaluations and stops at `budget` (None: no limit)."""

    def __init__(
        self,
        scorer: Scorer,
        budget: int | None = None,
        on_score: Callable[[int], None] | None = None,
    ) -> None:
        self.scorer = scorer
        self.budget = budget
        self.calls = 0
        self.on_score = on_score
        self._memo: dict[tuple[str, int], float] = {}

    def score(self, genome: Genome, seed: int) -> float:
        key = (genome.canonical_hash(), seed)
        if key not in self._memo:
            if self.budget is not None and self.calls >= self.budget:
                raise BudgetSpentError
            self._memo[key] = float(self.scorer.score(genome, seed))
            self.calls += 1
            if self.on_score is not None:
                self.on_score(self.calls)
        return self._memo[key]


def paired(scorer: Scorer, base: Genome, other: Genome, seeds: Sequence[int]) -> Paired:
    return Paired(tuple(scorer.score(other, s) - scorer.score(base, s) for s in seeds))


@dataclass
class Step:
    """One kept edit and its paired difference."""

    description: str
    mean: float
    se: float
    size: int


@dataclass
class SimplifyResult:
    original: Genome
    genome: Genome
    exact_applied: tuple[str, ...]
    steps: list[Step] = field(default_factory=list)
    evaluations: int = 0
    budget_spent: bool = False
    exact_complete: bool = True
    """False when the exact pass stopped at its time limit (`EXACT_SECONDS`)."""

    @property
    def size_before(self) -> int:
        return size(self.original)

    @property
    def size_after(self) -> int:
        return size(self.genome)


def simplify(
    genome: Genome,
    scorer: Scorer,
    seeds: Sequence[int],
    horizon: int = 1000,
    max_evaluations: int | None = None,
    on_score: Callable[[int], None] | None = None,
    noisy: bool = True,
    tolerance: float = 0.005,
) -> SimplifyResult:
    """The exact pass, then (with `noisy`) the noise-aware pass on `seeds` (at least 2)."""
    if noisy and len(seeds) < 2:
        raise ValueError("the noise-aware pass needs at least 2 seeds (a standard error)")
    exact = exact_pass(genome, horizon)
    result = SimplifyResult(genome, exact.genome, exact.applied, exact_complete=exact.complete)
    if not noisy:
        return result
    counting = Counting(scorer, max_evaluations, on_score)
    current = exact.genome
    try:
        progress = True
        while progress:
            progress = False
            for edit in candidate_edits(current):
                if cost(edit.genome) >= cost(current):
                    continue
                diff = paired(counting, current, edit.genome, seeds)
                if diff.kept(tolerance):
                    current = exact_pass(edit.genome, horizon).genome
                    result.steps.append(
                        Step(edit.description, diff.mean, diff.se, size(current))
                    )
                    progress = True
                    break
    except BudgetSpentError:
        result.budget_spent = True
    result.genome = current
    result.evaluations = counting.calls
    return result


@dataclass(frozen=True)
class AblationRow:
    part: str
    kind: str
    mean: float
    se: float
    values: tuple[float, ...]


def ablate(
    genome: Genome,
    scorer: Scorer,
    seeds: Sequence[int],
    extra: Sequence[tuple[str, Scorer]] = (),
    on_score: Callable[[int], None] | None = None,
) -> tuple[tuple[float, ...], list[AblationRow]]:
    """Each part removed alone (`part_removals`), scored on `seeds` against the genome: the
    fitness change (mean of paired differences) and its standard error. `extra`: parts that
    are not genome edits (e.g. the schedule), as (name, scorer of the genome without it)."""
    counting = Counting(scorer, None, on_score)
    base = tuple(counting.score(genome, s) for s in seeds)
    rows = []
    parts: list[Edit] = part_removals(genome)
    for part in parts:
        diff = paired(counting, genome, part.genome, seeds)
        rows.append(AblationRow(part.description, part.kind, diff.mean, diff.se, diff.diffs))
    for name, other in extra:
        values = tuple(other.score(genome, s) for s in seeds)
        diff = Paired(tuple(v - b for v, b in zip(values, base, strict=True)))
        rows.append(AblationRow(name, "schedule", diff.mean, diff.se, diff.diffs))
    return base, rows
