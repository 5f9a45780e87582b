"""The verdict (`optevo.transfer.verdict`): the paired t-test at n - 1 degrees of freedom,
the effect's confidence interval and the equivalence test (TOST), against numbers worked out
by hand (t quantiles from a table: t_0.975 = 4.3027 at 2 df, 2.7764 at 4 df, t_0.95 = 2.1318 at
4 df)."""

from __future__ import annotations

import math

import pytest

from optevo.transfer.verdict import (
    compare,
    equivalence_test,
    equivalent,
    format_effect,
    legacy_verdict,
    mean_ranks,
    paired_test,
    rule_text,
    tally,
)


def test_three_seeds_within_the_t_test_tie_where_two_standard_errors_won() -> None:
    cand = {0: 0.90, 1: 0.80, 2: 0.85}
    base = {0: 0.89, 1: 0.78, 2: 0.82}
    # d = 0.01, 0.02, 0.03: mean 0.02, sd 0.01, SE 0.01 / sqrt(3) = 0.005774, t = 3.464 at
    # 2 degrees of freedom: two-sided p = 0.0742 > 0.05 -> a tie. 95% CI: 0.02 -+ 4.3027 x
    # 0.005774 = [-0.00484, 0.04484] (it holds 0).
    c = compare(cand, base, higher_is_better=True)
    assert c.n == 3 and c.df == 2
    assert c.diff == pytest.approx(0.02)
    assert c.se == pytest.approx(0.005774, abs=1e-6)
    assert c.t == pytest.approx(3.464, abs=1e-3)
    assert c.p == pytest.approx(0.0742, abs=1e-4)
    assert c.ci == pytest.approx((-0.00484, 0.04484), abs=1e-5)
    assert c.verdict == "tie"
    # The rule used before (beyond 2 SE: 0.02 > 0.01155) called it a win.
    assert legacy_verdict(c.diff, c.se, c.n, True) == "win"
    # At alpha = 0.1 the same numbers are a win (p = 0.0742 < 0.1).
    assert compare(cand, base, True, alpha=0.1).verdict == "win"


def test_five_seeds_win_and_lose_by_the_direction() -> None:
    # d = 0.01, 0.02, 0.03, 0.015, 0.025: mean 0.02, sum of squares 2.5e-4, sd = sqrt(2.5e-4
    # / 4) = 0.007906, SE = 0.003536, t = 5.657 at 4 degrees of freedom: p = 0.0048 -> a win.
    # 95% CI: 0.02 -+ 2.7764 x 0.003536 = [0.01018, 0.02982].
    diffs = [0.01, 0.02, 0.03, 0.015, 0.025]
    c = paired_test(diffs)
    assert c.n == 5 and c.df == 4
    assert c.se == pytest.approx(0.003536, abs=1e-6)
    assert c.t == pytest.approx(5.657, abs=1e-3)
    assert c.p == pytest.approx(0.0048, abs=1e-4)
    assert c.ci == pytest.approx((0.01018, 0.02982), abs=1e-5)
    assert c.verdict == "win"
    # The same numbers for a metric to minimise (a loss): the candidate is worse.
    assert paired_test(diffs, higher_is_better=False).verdict == "loss"
    assert paired_test([-d for d in diffs]).verdict == "loss"
    assert paired_test([-d for d in diffs], higher_is_better=False).verdict == "win"
    assert format_effect(c) == "+0.02 [+0.01, +0.03]"
    assert format_effect(c, 3) == "+0.02 [+0.0102, +0.0298]"


def test_pairing_decides_and_an_exact_offset_is_significant() -> None:
    # d = 0.05, -0.01, 0.02: mean 0.02, sd 0.03, SE 0.01732, t = 1.155: p = 0.37, a tie.
    c = compare({0: 1.05, 1: 0.99, 2: 1.02}, {0: 1.0, 1: 1.0, 2: 1.0}, True)
    assert c.verdict == "tie" and c.se == pytest.approx(0.03 / math.sqrt(3))
    assert c.p == pytest.approx(0.368, abs=1e-3)
    # A baseline whose seeds move with the candidate's: every d is 0.02, SE 0 -> a win.
    paired = compare({0: 1.05, 1: 0.99, 2: 1.02}, {0: 1.03, 1: 0.97, 2: 1.0}, True)
    assert paired.verdict == "win" and paired.se == pytest.approx(0.0, abs=1e-12)
    assert paired.t is None and paired.p == 0.0 and paired.ci == pytest.approx((0.02, 0.02))
    same = compare({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}, True)
    assert same.verdict == "tie" and same.p == 1.0


def test_only_seeds_both_finished_are_paired() -> None:
    c = compare({0: 1.0, 1: 2.0, 2: None, 3: 5.0}, {0: 0.5, 1: 1.5, 2: 1.0}, True)
    assert c.n == 2 and c.diff == pytest.approx(0.5)  # seeds 0 and 1 only
    one = compare({0: 1.0}, {0: 0.0}, True)
    assert one.verdict == "n/a" and one.n == 1 and one.se is None and one.p is None
    assert compare({}, {}, True).verdict == "n/a"
    assert compare({0: math.nan, 1: 1.0}, {0: 1.0, 1: 1.0}, True).n == 1
    with pytest.raises(ValueError, match="alpha"):
        paired_test([0.1, 0.2], alpha=1.5)


def test_equivalence_within_a_margin_by_two_one_sided_tests() -> None:
    # d = 0.001, -0.002, 0.0005, 0, 0.001: mean 1e-4, sum of squares 6.2e-6, sd = 0.001245,
    # SE = 0.0005568 (4 degrees of freedom).
    diffs = [0.001, -0.002, 0.0005, 0.0, 0.001]
    # Margin 0.001: t = (1e-4 + 0.001) / SE = 1.976 (p 0.0597) and (1e-4 - 0.001) / SE =
    # -1.616 (p 0.0907): the larger p is 0.0907 > 0.05, not shown equivalent.
    e = equivalence_test(diffs, 0.001)
    assert e.p == pytest.approx(0.0907, abs=1e-4) and not e.equivalent
    # Its 90% CI: 1e-4 -+ 2.1318 x 0.0005568 = [-0.001087, 0.001287], beyond ± 0.001.
    assert e.ci == pytest.approx((-0.001087, 0.001287), abs=1e-6)
    # Margin 0.01: both t beyond 17, equivalent.
    wide = equivalence_test(diffs, 0.01)
    assert wide.equivalent and wide.p is not None and wide.p < 1e-4
    # A clear difference is never "the same", and two seeds' worth of one value is no test.
    assert not equivalence_test([0.02, 0.03, 0.025], 0.01).equivalent
    assert not equivalent({0: 1.0}, {0: 1.0}, 0.1).equivalent
    with pytest.raises(ValueError, match="delta"):
        equivalence_test(diffs, 0.0)


def test_the_rule_is_stated_with_its_level() -> None:
    assert "alpha = 0.05" in rule_text() and "n - 1 degrees of freedom" in rule_text()
    assert "alpha = 0.1" in rule_text(0.1) and "90% confidence interval" in rule_text(0.1)


def test_ranks_respect_the_direction_and_share_ties() -> None:
    means = {"a": 0.5, "b": 0.7, "c": 0.7, "d": None}
    assert mean_ranks(means, True) == {"b": 1.5, "c": 1.5, "a": 3.0, "d": 4.0}
    assert mean_ranks(means, False) == {"a": 1.0, "b": 2.5, "c": 2.5, "d": 4.0}
    assert tally(["win", "win", "loss", "tie", "n/a"]) == {"win": 2, "loss": 1, "tie": 1}
