"""The schedules of `optevo.schedules` against independent implementations of the SPEC.

- `one_cycle` (SPEC 4) and `momentum_cycle` (SPEC 1) against loops over the SPEC's formulas
  and against values derived by hand;
- `lr_factor` (LR1-LR9, SPEC 7.3) against numpy / scipy.special, for T in {10, 100, 1000},
  plus a few values simplified by hand; the value at step 0 is 1e-7 and no factor is ever 0.

Everything here is float64 on both sides: the only differences are rounding (a few ulp through
a handful of special functions), so the tolerance is rtol = 1e-12. That still catches an eps
of 1e-7 added to a divisor of size <= 1 (a relative change >= 1e-7).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.spec_reference import lr_factor_ref, momentum_ref, one_cycle_ref
from optevo import schedules

EPS = 1e-7
RTOL = 1e-12
LR_NAMES = [f"LR{i}" for i in range(1, 10)]
TS = [10, 100, 1000]


# ---------------------------------------------------------------------------------------------
# References
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# one_cycle
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("T", "W", "H"),
    [(10, 0, 0), (10, 1, 0), (35, 6, 0), (35, 6, 4), (100, 5, 10), (100, 0, 0),
     (1000, 50, 0), (1000, 0, 200), (16_000, 800, 0), (96_000, 6_400, 12_800), (20, 5, 15)],
)  # fmt: skip
def test_one_cycle_matches_spec(T, W, H):
    got = schedules.one_cycle(T, W, H)
    assert got.shape == (T,)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, one_cycle_ref(T, W, H), rtol=RTOL, atol=1e-15)
    assert got.min() >= 0.0
    assert got.max() <= 1.0


def test_one_cycle_hand_values():
    # SPEC 3's integrity schedule: T = 35, W = 6, no hold; the cosine spans T - W = 29 steps.
    f = schedules.one_cycle(35, 6, 0)
    assert f[0] == 0.0  # lr(0) = 0: the first step moves nothing
    assert f[3] == pytest.approx(0.5, rel=1e-15)  # 3/6
    assert f[5] == pytest.approx(5 / 6, rel=1e-15)
    assert f[6] == pytest.approx(1.0, rel=1e-15)  # cos(0): the peak, right after warm-up
    # k = 20: 0.5 * (1 + cos(pi * 14/29)), and pi/2 - 14 pi/29 = pi/58.
    assert f[20] == pytest.approx(0.5 * (1.0 + math.sin(math.pi / 58)), rel=1e-13)
    assert f[20] == pytest.approx(0.527069, abs=1e-6)
    # k = 34 (the last step): 0.5 * (1 + cos(28 pi/29)) = 0.5 * (1 - cos(pi/29)) = sin(pi/58)^2.
    assert f[34] == pytest.approx(math.sin(math.pi / 58) ** 2, rel=1e-12)
    assert f[34] == pytest.approx(0.0029311, abs=1e-7)
    assert f[34] > 0.0  # the schedule approaches 0 but the last step still moves

    # With a hold of 4: 1 over k = 6..9, the cosine starts at k = 10 over 25 steps.
    f = schedules.one_cycle(35, 6, 4)
    np.testing.assert_array_equal(f[6:11], 1.0)
    assert f[34] == pytest.approx(math.sin(math.pi / 50) ** 2, rel=1e-12)

    # No warm-up: the first step is at the peak.
    f = schedules.one_cycle(100, 0, 0)
    assert f[0] == 1.0
    assert f[50] == pytest.approx(0.5, rel=1e-14)  # 0.5 * (1 + cos(pi/2))


# ---------------------------------------------------------------------------------------------
# momentum_cycle
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("T", "W", "H"),
    [(10, 0, 0), (10, 1, 0), (10, 2, 0), (35, 6, 0), (35, 6, 4), (100, 5, 10), (100, 0, 0),
     (1000, 50, 0), (96_000, 6_400, 12_800), (20, 5, 14)],
)  # fmt: skip
def test_momentum_cycle_matches_spec(T, W, H):
    got = schedules.momentum_cycle(T, W, H)
    assert got.shape == (T,)
    np.testing.assert_allclose(got, momentum_ref(T, W, H), rtol=RTOL, atol=1e-15)
    assert got.min() >= 0.85 - 1e-15
    assert got.max() <= 0.95 + 1e-15


def test_momentum_cycle_endpoints():
    mu = schedules.momentum_cycle(35, 6, 0)
    assert mu[0] == pytest.approx(0.95, abs=1e-15)  # both ends of each ramp are included
    assert mu[3] == pytest.approx(0.95 - 0.10 * 3 / 5, abs=1e-15)
    assert mu[5] == pytest.approx(0.85, abs=1e-15)
    assert mu[6] == pytest.approx(0.85, abs=1e-15)  # the rising ramp starts at 0.85 again
    assert mu[20] == pytest.approx(0.90, abs=1e-15)  # 0.85 + 0.10 * 14/28
    assert mu[34] == pytest.approx(0.95, abs=1e-15)

    mu = schedules.momentum_cycle(100, 5, 10)
    assert mu[0] == pytest.approx(0.95, abs=1e-15)
    assert mu[4] == pytest.approx(0.85, abs=1e-15)
    np.testing.assert_allclose(mu[5:15], 0.85, atol=1e-15)
    assert mu[15] == pytest.approx(0.85, abs=1e-15)
    assert mu[57] == pytest.approx(0.90, abs=1e-15)  # 0.85 + 0.10 * 42/84
    assert mu[99] == pytest.approx(0.95, abs=1e-15)

    mu = schedules.momentum_cycle(100, 0, 0)  # no warm-up: only the rising ramp
    assert mu[0] == pytest.approx(0.85, abs=1e-15)
    assert mu[99] == pytest.approx(0.95, abs=1e-15)
    assert np.all(np.diff(mu) > 0)


# ---------------------------------------------------------------------------------------------
# LR1-LR9
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("T", TS)
@pytest.mark.parametrize("name", LR_NAMES)
def test_lr_factor_matches_spec(name, T):
    got = schedules.lr_factor(name, T)
    assert got.shape == (T,)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, lr_factor_ref(name, T), rtol=RTOL, atol=0.0)


@pytest.mark.parametrize("T", TS)
@pytest.mark.parametrize("name", LR_NAMES)
def test_lr_factor_first_value_and_never_zero(name, T):
    got = schedules.lr_factor(name, T)
    assert got[0] == 1e-7
    assert np.all(np.isfinite(got))
    assert np.all(got != 0.0)
    assert np.all(got > 0.0)


def test_lr_factor_hand_values():
    # LR7 = sqrt(1 + lin_inc_restart); T = 10: lin_inc_restart(3) = 6/10, (5) = 10 mod 10 = 0.
    f = schedules.lr_factor("LR7", 10)
    assert f[3] == pytest.approx(math.sqrt(1.6), rel=1e-14)
    assert f[5] == pytest.approx(1.0, rel=1e-14)
    # LR9 at t = T/2: cyc_cos_inc = 0.5 * (1 - cos(pi)) = 1 >= lin_inc_restart = 0.
    assert schedules.lr_factor("LR9", 10)[5] == pytest.approx(math.tanh(1.0), rel=1e-14)
    # LR5 at t = T/2: exp_dec = 0.01^0.5 = 0.1.
    assert schedules.lr_factor("LR5", 10)[5] == pytest.approx(
        1.0 / math.sqrt(math.erf(0.1)), rel=1e-13
    )
    # LR8 at t = T/2: exp_inc = 0.9, softsign(atan(0.9)) = a / (1 + a).
    a = math.atan(0.9)
    assert schedules.lr_factor("LR8", 100)[50] == pytest.approx(
        1.0 / (math.sqrt(a / (1.0 + a)) + EPS), rel=1e-13
    )
    # LR3 at the last step: b = 0, demon_inc' = 0.95 / 0.05 = 19, dsoft = 1/20;
    # lin_inc = 0.9, lin_inc_restart = (18 mod 10)/10 = 0.8.
    expected = math.atan(0.9) / ((1.0 - math.tanh(0.8) ** 2) * math.sqrt(1.0 / 20.0))
    assert schedules.lr_factor("LR3", 10)[9] == pytest.approx(expected, rel=1e-13)
    # LR1 at t = T/2: cos_inc = 0.5, cos_inc_restart = 0.5 * (1 - cos(0)) = 0.
    expected = math.erfc(math.erfc(0.5)) / (1.0 - math.tanh(0.0) ** 2)
    assert schedules.lr_factor("LR1", 10)[5] == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(
    ("schedule", "T", "W", "H"),
    [("LR1", 100, 5, 10), ("LR3", 100, 0, 0), ("LR8", 35, 6, 0), ("one_cycle", 100, 5, 10)],
)
def test_lr_table_is_base_times_factor(schedule, T, W, H):
    want = one_cycle_ref(T, W, H)
    if schedule != "one_cycle":
        want = want * lr_factor_ref(schedule, T)
    np.testing.assert_allclose(schedules.lr_table(schedule, T, W, H), want, rtol=RTOL, atol=1e-300)


def test_lr_table_constant():
    np.testing.assert_array_equal(schedules.lr_table("constant", 50, 5, 10), np.ones(50))


def test_unknown_factor_is_rejected():
    with pytest.raises(ValueError):
        schedules.lr_factor("LR10", 100)
