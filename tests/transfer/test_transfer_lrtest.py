"""The learning-rate test: grid, edge extension, ties, failures, fine-tuning's half / 5x."""

from __future__ import annotations

import math

import pytest

from optevo.transfer.lrtest import PAPER_GRID, lr_test, norm_lr, pick_best


def peaked(best: float, width: float = 1.0):
    """A score that peaks at `best` (log scale) and records the rates asked for."""
    asked: list[float] = []

    def score(lr: float) -> float:
        asked.append(lr)
        return 1.0 - abs(math.log10(lr) - math.log10(best)) / 20 / width

    return score, asked


def test_winner_inside_the_grid_needs_no_extension() -> None:
    score, asked = peaked(1e-3)
    result = lr_test(score)
    assert result.winner == 1e-3
    assert result.extended == () and not result.on_edge
    assert sorted(asked) == sorted(PAPER_GRID)  # each rate once, nothing else


def test_top_edge_winner_extends_upwards_until_inside() -> None:
    score, asked = peaked(1000.0)
    result = lr_test(score)
    # 10 wins the grid -> 100 -> 1000 -> 10000 is worse: 1000 is inside.
    assert result.extended == (100.0, 1000.0, 10000.0)
    assert result.winner == 1000.0
    assert asked[len(PAPER_GRID) :] == [100.0, 1000.0, 10000.0]
    assert not result.on_edge


def test_bottom_edge_winner_extends_downwards() -> None:
    score, _ = peaked(1e-7)
    result = lr_test(score)
    assert result.extended == (1e-6, 1e-7, 1e-8)
    assert result.winner == 1e-7
    assert set(result.scores) == {norm_lr(x) for x in (*PAPER_GRID, 1e-6, 1e-7, 1e-8)}


def test_extension_stops_at_the_cap_and_says_so() -> None:
    result = lr_test(lambda lr: lr, max_extensions=3)  # bigger is always better
    assert result.extended == (100.0, 1000.0, 10000.0)
    assert result.winner == 10000.0 and result.on_edge


def test_divergence_above_the_edge_keeps_the_edge_winner() -> None:
    # Opt6 under the quick preset: 10 is best, 100 diverges.
    def score(lr: float) -> float | None:
        return None if lr > 10 else 0.5 + 0.01 * math.log10(lr)

    result = lr_test(score)
    assert result.extended == (100.0,)
    assert result.scores[100.0] is None
    assert result.winner == 10.0 and not result.on_edge


def test_every_rate_failing_gives_no_winner() -> None:
    result = lr_test(lambda lr: math.nan)
    assert result.winner is None and result.extended == ()


def test_ties_go_to_the_middle_of_the_grid_not_the_edge() -> None:
    # Chance-level accuracy everywhere: no reason to walk the grid outwards.
    result = lr_test(lambda lr: 0.1)
    assert result.winner == 0.01 and result.extended == ()
    assert pick_best({10.0: 0.5, 0.001: 0.5, 1e-5: 0.2}, True) == 0.001


def test_perplexity_lower_is_better() -> None:
    result = lr_test(lambda lr: 60 + abs(math.log10(lr) + 2) * 5, higher_is_better=False)
    assert result.winner == 0.01


def test_finetuning_also_tries_half_and_five_times_the_winner() -> None:
    score, asked = peaked(0.3)
    result = lr_test(score, finetune=True)
    # The grid picks 0.1 (nearer 0.3 than 1 is on a log scale), then 0.05 and 0.5 are tried.
    assert result.finetuned == (0.05, 0.5)
    assert asked[-2:] == [0.05, 0.5]
    assert result.winner == 0.5


def test_finetuning_keeps_the_winner_when_neighbours_are_worse() -> None:
    score, _ = peaked(0.01)
    result = lr_test(score, finetune=True)
    assert result.winner == 0.01 and result.finetuned == (0.005, 0.05)


def test_rates_are_normalised_so_extension_hits_grid_points() -> None:
    assert norm_lr(0.1 / 10) == 0.01
    assert norm_lr(1e-5 / 10) == 1e-6


def test_bad_grid_is_refused() -> None:
    with pytest.raises(ValueError):
        lr_test(lambda lr: 1.0, grid=(0.1, -1.0))


def test_the_fair_rule_refines_at_half_decades_around_the_winner() -> None:
    score, asked = peaked(0.3)
    result = lr_test(score, refine=True)
    # The grid picks 0.1; then 0.1 x sqrt(10) = 0.316 and 0.1 / sqrt(10) = 0.0316 are tried,
    # and 0.316 (nearest 0.3) wins.
    up, down = norm_lr(0.1 * math.sqrt(10)), norm_lr(0.1 / math.sqrt(10))
    assert (up, down) == (0.316227766017, 0.0316227766017)
    assert result.refined == (up, down) and asked[-2:] == [up, down]
    assert result.winner == up
    # Neighbours worse: the grid's winner stays; a refined rate that fails does not win.
    kept = lr_test(peaked(1e-3)[0], refine=True)
    assert kept.winner == 1e-3 and len(kept.refined) == 2
    failing = lr_test(lambda lr: None if lr > 0.2 else 1 - abs(math.log10(lr) + 1), refine=True)
    assert failing.scores[up] is None and failing.winner == 0.1
    # Refinement comes before fine-tuning's half / five times.
    both = lr_test(peaked(0.3)[0], refine=True, finetune=True)
    assert both.finetuned == (norm_lr(up / 2), norm_lr(up * 5))
