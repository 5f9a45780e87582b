"""The noise-aware pass and the ablation: edits scored with a fitness on paired seeds.

The rule keeps the optimizer: an edit is kept when the edited genome is *equivalent* to the
current one within ± `tolerance` (default 0.005 of fitness), by two one-sided paired t-tests
(TOST) at n - 1 degrees of freedom, level `alpha` (0.05) each: the 90% confidence interval of
the mean paired difference (edited minus current, seed by seed, the same seeds for both) lies
inside ± tolerance. It needs at least 3 seeds. A substitution (a subtree replaced by a
different, non-constant operand) is not scored at all unless its values match the subtree's
on a fixed stream (`simplify.probe`); deletions (a node routed through one of its own
inputs, an operation made identity, a subtree replaced by a constant, a decay function or
the momentum type removed) are always scored. An edit that is better beyond noise (the paired
t-test, two-sided at `alpha`, says "win") is a different optimizer: it is kept only with
`improve`, and reported apart. (Before issue 27 the rule was one-sided, "not below -2 standard
errors nor below -tolerance": it kept improvements and substitutions as if they were
simplifications.) Among the edits the one whose result is smallest and passes is kept (edits
are tried smallest result first, deletions before substitutions of equal size), then the
search starts again from the edited genome, until no edit passes or the evaluation budget is
spent.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from optevo.simplify.edits import Edit, candidate_edits, cost, part_removals, size
from optevo.simplify.exact import exact_pass
from optevo.simplify.probe import VALUE_RTOL, substitution_matches
from optevo.space.genome import Genome
from optevo.transfer.verdict import ALPHA, equivalence_test, paired_test


class Scorer(Protocol):
    """A fitness on one seed (higher is better; a rejected candidate scores 0)."""

    def score(self, genome: Genome, seed: int) -> float: ...


MIN_SEEDS = 3
"""The fewest paired seeds the noise-aware pass accepts (the TOST at 2 degrees of freedom)."""


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

    def verdict(
        self, tolerance: float = 0.005, improve: bool = False, alpha: float = ALPHA
    ) -> str | None:
        """"equivalent" (the TOST within ± tolerance), "improved" (with `improve`: the paired
        t-test finds the edit better), or None (not kept)."""
        if len(self.diffs) < MIN_SEEDS:
            raise ValueError(
                f"the equivalence test needs at least {MIN_SEEDS} paired seeds, got "
                f"{len(self.diffs)}"
            )
        if equivalence_test(self.diffs, tolerance, alpha).equivalent:
            return "equivalent"
        if improve and paired_test(self.diffs, True, alpha).verdict == "win":
            return "improved"
        return None

    def kept(self, tolerance: float = 0.005, improve: bool = False, alpha: float = ALPHA) -> bool:
        """Whether the edit is kept (`verdict` is not None)."""
        return self.verdict(tolerance, improve, alpha) is not None


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
    how: str = "equivalent"
    """"equivalent" (within ± tolerance, the TOST) or "improved" (better, with `improve`)."""


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
    refused: list[str] = field(default_factory=list)
    """Substitutions not scored because their values do not match the subtree's
    (`simplify.probe`), as "<genome equation>: <edit>"."""

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
    improve: bool = False,
    value_rtol: float = VALUE_RTOL,
) -> SimplifyResult:
    """The exact pass, then (with `noisy`) the noise-aware pass on `seeds` (at least 3): an
    edit is kept when equivalent within ± `tolerance` (or, with `improve`, better). A
    substitution (a subtree replaced by a different operand) is scored only when its values
    match the subtree's within `value_rtol` (`simplify.probe`)."""
    if noisy and len(seeds) < MIN_SEEDS:
        raise ValueError(
            f"the noise-aware pass needs at least {MIN_SEEDS} seeds (its equivalence test)"
        )
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
                if not substitution_matches(current, edit, value_rtol):
                    refused = f"{current.equation()}: {edit.description}"
                    if refused not in result.refused:
                        result.refused.append(refused)
                    continue
                diff = paired(counting, current, edit.genome, seeds)
                how = diff.verdict(tolerance, improve)
                if how is not None:
                    current = exact_pass(edit.genome, horizon).genome
                    result.steps.append(
                        Step(edit.description, diff.mean, diff.se, size(current), how)
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
