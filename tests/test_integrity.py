"""The integrity check (SPEC 3) against a hand-written sphere run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from optevo import Genome, Node, library
from optevo.integrity import SphereConfig, check

X0 = np.array([1.1, 0.9, 1.1, 0.9, 1.0])
B = np.array([0.5, 1.5, -0.3, -1.2, 0.75])


def sgd_sphere(lr_peak: float, sign: float = 1.0, T: int = 35, W: int = 6) -> float:
    """SGD on the shifted sphere with SPEC 4's schedule, written out by hand."""
    x = X0.copy()
    for k in range(T):
        factor = k / W if k < W else 0.5 * (1 + math.cos(math.pi * (k - W) / (T - W)))
        x = x - lr_peak * factor * sign * 2 * (x - B)
    return float(((x - B) ** 2).sum())


def unary_genome(op: str, operand: str) -> Genome:
    return Genome((Node(op, (operand,)),), Node("identity", ("h0",)))


def test_initial_loss_matches_spec() -> None:
    assert float(((X0 - B) ** 2).sum()) == pytest.approx(7.1525)


def test_sgd_passes_with_hand_computed_losses() -> None:
    result = check(library.genome("SGD"))
    assert result.passed and not result.flipped
    lrs = SphereConfig().learning_rates
    expected = [sgd_sphere(lr) for lr in lrs]
    got = [as_is for as_is, _ in result.final_losses]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    expected_flipped = [sgd_sphere(lr, -1.0) for lr in lrs]
    got_flipped = [f for _, f in result.final_losses]
    np.testing.assert_allclose(got_flipped, expected_flipped, rtol=1e-4)
    assert result.best_loss == pytest.approx(min(expected), abs=1e-6)


def test_adam_passes() -> None:
    result = check(library.genome("Adam"))
    assert result.passed and not result.flipped and result.best_loss < 3.5


def test_negative_gradient_passes_as_flipped() -> None:
    result = check(unary_genome("neg", "g"))
    assert result.passed and result.flipped
    assert result.best_loss == pytest.approx(
        min(sgd_sphere(lr) for lr in SphereConfig().learning_rates), abs=1e-6
    )


def test_constant_update_fails() -> None:
    result = check(unary_genome("identity", "one"))
    assert not result.passed
    # u = 1 moves every coordinate alike: the best reachable loss is the spread of x0 - b.
    spread = float((((X0 - B) - (X0 - B).mean()) ** 2).sum())
    assert result.best_loss >= spread - 1e-5


def test_nan_producing_update_fails() -> None:
    # ln(|0| + eps) of a zero operand... use 1/(g - g) style blow-up: exp(exp(exp(g2))).
    g = Genome(
        (Node("exp", ("g2",)), Node("exp", ("h0",)), Node("exp", ("h1",))), Node("mul", ("h2", "g"))
    )
    result = check(g)
    assert not result.passed
    assert all(not math.isfinite(a) or a >= 3.5 for a, _ in result.final_losses)


def test_check_ignores_the_genomes_own_flip_flag() -> None:
    plain = unary_genome("neg", "g")
    flagged = Genome(plain.hidden, plain.output, flipped=True)
    assert check(plain) == check(flagged)


def test_threshold_is_configurable() -> None:
    assert not check(library.genome("SGD"), SphereConfig(threshold=0.0)).passed
