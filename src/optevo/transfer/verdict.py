"""Wins, losses and ties: a candidate against a baseline on one task, paired by seed (the one
statement of the verdict; `optevo validate`, the bench, the search's final verdict and the
ablation all use it).

The tasks pair seeds: at seed s every optimizer starts from the same initial weights and sees
the same batches (`optevo.tasks.tensor`), so the comparison uses the per-seed differences
d_s = x_s(candidate) - x_s(baseline) over the n seeds both finished:

    mean d = (1/n) sum d_s,  SE = sd(d) / sqrt(n)   (sd with n - 1),  t = mean d / SE

The verdict is the paired t-test at n - 1 degrees of freedom, two-sided, at level `alpha`
(default `ALPHA` = 0.05): the candidate **wins** when p < alpha and the mean difference is in
the metric's good direction (up for accuracy, down for a loss), **loses** when p < alpha and
it is in the bad one, and **ties** otherwise. Fewer than two paired seeds give no verdict
("n/a"). Every comparison carries its effect size: the mean difference with its
(1 - alpha) confidence interval, mean d ± t_{1-alpha/2, n-1} SE.

With 3 seeds (2 degrees of freedom) the 95% critical value of t is 4.30: the rule used before
(win or loss beyond 2 SE, `legacy_verdict`) called differences of 2.0-4.3 SE, which the test
does not, about one in six times for two optimizers that are the same. `equivalent` is the
test for a claim of "the same": two one-sided tests (TOST) within a tolerance ± delta.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["win", "loss", "tie", "n/a"]
ALPHA = 0.05
"""The verdict's level: a win or loss needs a two-sided p below it."""
LEGACY_SE_FACTOR = 2.0
"""The rule used before the t-test (`legacy_verdict`): a difference beyond this many SE."""


def _student_t() -> Any:
    from scipy.stats import t

    return t


@dataclass(frozen=True)
class Comparison:
    """Candidate minus baseline on one task: the mean paired difference `diff` (metric units,
    sign as measured), its standard error `se`, the number of paired seeds `n`, the verdict,
    and the test behind it: the t statistic (None when SE is 0), its two-sided p-value and the
    (1 - alpha) confidence interval `ci` of the mean difference."""

    diff: float | None
    se: float | None
    n: int
    verdict: Verdict
    t: float | None = None
    p: float | None = None
    ci: tuple[float, float] | None = None
    alpha: float = ALPHA

    @property
    def df(self) -> int:
        """The test's degrees of freedom, n - 1."""
        return max(0, self.n - 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "diff": self.diff,
            "se": self.se,
            "n": self.n,
            "verdict": self.verdict,
            "t": self.t,
            "p": self.p,
            "ci": None if self.ci is None else list(self.ci),
            "alpha": self.alpha,
        }


def paired_diffs(
    candidate: Mapping[int, float | None], baseline: Mapping[int, float | None]
) -> list[float]:
    """candidate - baseline at each seed both have a finite value for, in seed order."""
    diffs = []
    for seed in sorted(set(candidate) & set(baseline)):
        c, b = candidate[seed], baseline[seed]
        if c is not None and b is not None and math.isfinite(c) and math.isfinite(b):
            diffs.append(c - b)
    return diffs


def _mean_se(diffs: Sequence[float]) -> tuple[float, float]:
    n = len(diffs)
    mean = math.fsum(diffs) / n
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    return mean, sd / math.sqrt(n)


def paired_test(
    diffs: Sequence[float], higher_is_better: bool = True, alpha: float = ALPHA
) -> Comparison:
    """The verdict on paired differences `diffs` (candidate - baseline, one per seed): the
    two-sided paired t-test at len(diffs) - 1 degrees of freedom, at level `alpha`."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    n = len(diffs)
    if n < 2:
        return Comparison(math.fsum(diffs) / n if n else None, None, n, "n/a", alpha=alpha)
    mean, se = _mean_se(diffs)
    student = _student_t()
    if se == 0:
        # Every seed moved by the same amount: no noise to test against.
        t_stat = None
        p = 1.0 if mean == 0 else 0.0
        ci = (mean, mean)
    else:
        t_stat = mean / se
        p = float(2 * student.sf(abs(t_stat), n - 1))
        half = float(student.ppf(1 - alpha / 2, n - 1)) * se
        ci = (mean - half, mean + half)
    better = mean if higher_is_better else -mean
    verdict: Verdict = "tie"
    if p < alpha and better > 0:
        verdict = "win"
    elif p < alpha and better < 0:
        verdict = "loss"
    return Comparison(mean, se, n, verdict, t_stat, p, ci, alpha)


def compare(
    candidate: Mapping[int, float | None],
    baseline: Mapping[int, float | None],
    higher_is_better: bool,
    alpha: float = ALPHA,
) -> Comparison:
    """The paired comparison of two optimizers' metrics by seed (seeds missing, or without a
    finite metric, on either side are left out): `paired_test` of their differences."""
    return paired_test(paired_diffs(candidate, baseline), higher_is_better, alpha)


def legacy_verdict(
    diff: float | None, se: float | None, n: int, higher_is_better: bool
) -> Verdict:
    """The verdict of the rule used before the t-test: win / loss when the mean paired
    difference is beyond `LEGACY_SE_FACTOR` standard errors in the good / bad direction, tie
    otherwise, n/a below 2 seeds (for re-tabulating stored results beside the new rule)."""
    if n < 2 or diff is None or se is None:
        return "n/a"
    better = diff if higher_is_better else -diff
    if better > LEGACY_SE_FACTOR * se:
        return "win"
    if better < -LEGACY_SE_FACTOR * se:
        return "loss"
    return "tie"


@dataclass(frozen=True)
class Equivalence:
    """The TOST of "candidate and baseline are the same within ± delta": `p` is the larger of
    the two one-sided tests' p-values, `equivalent` whether it is below alpha (the
    (1 - 2 alpha) confidence interval `ci` of the mean difference lies inside ± delta)."""

    diff: float | None
    se: float | None
    n: int
    delta: float
    p: float | None
    ci: tuple[float, float] | None
    equivalent: bool
    alpha: float = ALPHA


def equivalence_test(
    diffs: Sequence[float], delta: float, alpha: float = ALPHA
) -> Equivalence:
    """Two one-sided t-tests (Schuirmann's TOST) at n - 1 degrees of freedom on paired
    differences `diffs`: H0 mean <= -delta and H0 mean >= delta, each at level `alpha`."""
    if not delta > 0:
        raise ValueError(f"the equivalence margin delta must be > 0, got {delta}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha}")
    n = len(diffs)
    if n < 2:
        mean = math.fsum(diffs) / n if n else None
        return Equivalence(mean, None, n, delta, None, None, False, alpha)
    mean, se = _mean_se(diffs)
    if se == 0:
        inside = -delta < mean < delta
        return Equivalence(mean, se, n, delta, 0.0 if inside else 1.0, (mean, mean), inside, alpha)
    student = _student_t()
    p_low = float(student.sf((mean + delta) / se, n - 1))  # H0: mean <= -delta
    p_high = float(student.cdf((mean - delta) / se, n - 1))  # H0: mean >= delta
    p = max(p_low, p_high)
    half = float(student.ppf(1 - alpha, n - 1)) * se
    return Equivalence(mean, se, n, delta, p, (mean - half, mean + half), p < alpha, alpha)


def equivalent(
    candidate: Mapping[int, float | None],
    baseline: Mapping[int, float | None],
    delta: float,
    alpha: float = ALPHA,
) -> Equivalence:
    """Whether two optimizers' metrics, paired by seed, are the same within ± `delta` (metric
    units): `equivalence_test` of their differences."""
    return equivalence_test(paired_diffs(candidate, baseline), delta, alpha)


def rule_text(alpha: float = ALPHA) -> str:
    """The verdict's rule in one sentence, for captions."""
    level = round(100 * (1 - alpha), 6)
    return (
        f"win / loss: the two-sided paired t-test at n - 1 degrees of freedom rejects 'no "
        f"difference' at level alpha = {alpha:g} (p < {alpha:g}), the sign of the mean "
        f"difference says which; tie otherwise; n/a with fewer than 2 paired seeds; "
        f"effects are the mean paired difference [{level:g}% confidence interval]"
    )


def format_effect(c: Comparison | Mapping[str, Any], digits: int = 2) -> str:
    """`+0.012 [-0.003, +0.027]`: the mean difference and its confidence interval ("n/a"
    without one); a stored comparison (`Comparison.as_dict`) works too."""
    d = c.as_dict() if isinstance(c, Comparison) else c
    if d.get("diff") is None:
        return "n/a"
    text = f"{d['diff']:+.{digits}g}"
    ci = d.get("ci")
    if ci is not None:
        text += f" [{ci[0]:+.{digits}g}, {ci[1]:+.{digits}g}]"
    return text


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


__all__ = [
    "ALPHA",
    "LEGACY_SE_FACTOR",
    "Comparison",
    "Equivalence",
    "Verdict",
    "compare",
    "equivalence_test",
    "equivalent",
    "format_effect",
    "legacy_verdict",
    "mean_ranks",
    "paired_diffs",
    "paired_test",
    "rule_text",
    "tally",
]
