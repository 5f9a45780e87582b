"""Wins and losses: a candidate against a baseline on one task, paired by seed.

The tasks pair seeds: at seed s every optimizer starts from the same initial weights and sees
the same batches (`optevo.tasks.tensor`), so the comparison uses the per-seed differences
d_s = x_s(candidate) - x_s(baseline) over the seeds both finished:

    mean d = (1/n) sum d_s,  SE = sd(d) / sqrt(n)   (sd with n - 1)

The candidate **wins** when it is better by more than 2 standard errors (mean d > 2 SE for a
metric to maximise, mean d < -2 SE for one to minimise), **loses** when it is worse by more
than 2 SE, and **ties** otherwise. Fewer than two paired seeds give no verdict. Pairing removes
the variance that the seed puts into both runs alike (initial weights, batch order), so it
tells apart differences that two independent means of 3 seeds could not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Verdict = Literal["win", "loss", "tie", "n/a"]
SE_FACTOR = 2.0
"""A difference counts beyond this many standard errors."""


@dataclass(frozen=True)
class Comparison:
    """Candidate minus baseline on one task: the mean paired difference (metric units, sign
    as measured), its standard error, the number of paired seeds and the verdict."""

    diff: float | None
    se: float | None
    n: int
    verdict: Verdict

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(
    candidate: Mapping[int, float | None],
    baseline: Mapping[int, float | None],
    higher_is_better: bool,
) -> Comparison:
    """The paired comparison of two optimizers' metrics by seed (seeds missing, or without a
    finite metric, on either side are left out)."""
    diffs = []
    for seed in sorted(set(candidate) & set(baseline)):
        c, b = candidate[seed], baseline[seed]
        if c is not None and b is not None and math.isfinite(c) and math.isfinite(b):
            diffs.append(c - b)
    n = len(diffs)
    if n < 2:
        return Comparison(math.fsum(diffs) / n if n else None, None, n, "n/a")
    mean = math.fsum(diffs) / n
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    se = sd / math.sqrt(n)
    better = mean if higher_is_better else -mean
    verdict: Verdict = "tie"
    if better > SE_FACTOR * se:
        verdict = "win"
    elif better < -SE_FACTOR * se:
        verdict = "loss"
    return Comparison(mean, se, n, verdict)


def mean_ranks(means: Mapping[str, float | None], higher_is_better: bool) -> dict[str, float]:
    """Each optimizer's rank by its mean on one task (1 = best; ties share the average rank;
    no mean ranks last)."""
    def key(name: str) -> float:
        m = means[name]
        if m is None or not math.isfinite(m):
            return math.inf
        return -m if higher_is_better else m

    order = sorted(means, key=key)
    ranks: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and key(order[j + 1]) == key(order[i]):
            j += 1
        for name in order[i : j + 1]:
            ranks[name] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def tally(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """Wins, losses and ties among `verdicts` (n/a left out)."""
    return {kind: sum(v == kind for v in verdicts) for kind in ("win", "loss", "tie")}


__all__ = ["SE_FACTOR", "Comparison", "Verdict", "compare", "mean_ranks", "tally"]
