"""Learning-rate and momentum schedules: the base one-cycle schedule (SPEC 4), the cycled
momentum coefficient (SPEC 1) and the discovered learning-rate factors LR1-LR9 (SPEC 7.3).

All are tables over the steps k = 0..T-1 in float64. `start`/`stop` compute only the steps
start..stop-1 of the same table, value for value (a long run reads its schedules a window at a
time instead of holding T values).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from optevo.space.ops import EPS, SCHEDULES

LR_FACTOR_AT_ZERO = 1e-7
"""SPEC 7.3: a learning-rate factor's value at step 0 (never exactly zero)."""


def _check_steps(total_steps: int, warmup_steps: int, hold_steps: int) -> None:
    for name, value in (
        ("total_steps", total_steps),
        ("warmup_steps", warmup_steps),
        ("hold_steps", hold_steps),
    ):
        if not isinstance(value, int | np.integer) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be at least 1, got {total_steps}")
    if warmup_steps < 0 or hold_steps < 0:
        raise ValueError("warmup_steps and hold_steps must be >= 0")
    if warmup_steps + hold_steps > total_steps:
        raise ValueError(
            f"warmup_steps + hold_steps ({warmup_steps} + {hold_steps}) exceed total_steps "
            f"({total_steps})"
        )


def _window(total_steps: int, start: int, stop: int | None) -> tuple[int, int]:
    stop = total_steps if stop is None else stop
    if not 0 <= start <= stop <= total_steps:
        raise ValueError(f"steps {start}..{stop} are outside 0..{total_steps}")
    return start, stop


def one_cycle(
    total_steps: int,
    warmup_steps: int = 0,
    hold_steps: int = 0,
    *,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """SPEC 4: linear warm-up from 0, hold at 1, cosine decay towards 0 (factor of the peak)."""
    _check_steps(total_steps, warmup_steps, hold_steps)
    T, W, H = total_steps, warmup_steps, hold_steps
    start, stop = _window(T, start, stop)
    k = np.arange(start, stop, dtype=np.float64)
    out = np.empty(stop - start)
    warm = k < W
    out[warm] = k[warm] / W if W else 0.0
    hold = (k >= W) & (k < W + H)
    out[hold] = 1.0
    rest = k >= W + H
    out[rest] = 0.5 * (1.0 + np.cos(math.pi * (k[rest] - W - H) / (T - W - H)))
    return out


def momentum_cycle(
    total_steps: int,
    warmup_steps: int = 0,
    hold_steps: int = 0,
    high: float = 0.95,
    low: float = 0.85,
    *,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """SPEC 1: mu cycled opposite to the learning rate, both ends included in each ramp
    (`np.linspace(high, low, W)`, H times `low`, `np.linspace(low, high, T - W - H)`)."""
    _check_steps(total_steps, warmup_steps, hold_steps)
    T, W, H = total_steps, warmup_steps, hold_steps
    start, stop = _window(T, start, stop)
    parts = ((high, low, 0, W), (low, low, W, W + H), (low, high, W + H, T))
    return np.concatenate(
        [
            _linspace(a, b, hi - lo, max(start, lo) - lo, min(stop, hi) - lo)
            for a, b, lo, hi in parts
            if max(start, lo) < min(stop, hi)
        ]
        or [np.empty(0)]
    )


def _linspace(a: float, b: float, num: int, i0: int, i1: int) -> np.ndarray:
    """Elements i0..i1-1 of `np.linspace(a, b, num)`, computed as numpy computes them."""
    y = np.arange(i0, i1, dtype=np.float64)
    if num > 1:
        step = np.subtract(b, a, dtype=np.float64) / (num - 1)
        if step == 0:
            y /= num - 1
            y *= np.subtract(b, a, dtype=np.float64)
        else:
            y *= step
    else:
        y *= np.subtract(b, a, dtype=np.float64)
    y += a
    if num > 1 and i1 == num:
        y[-1] = b
    return y


# --------------------------------------------------------------------------------------------
# LR1-LR9 (SPEC 7.3): factors multiplied with the base schedule.
# --------------------------------------------------------------------------------------------


def _dtanh(x: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(x) ** 2


def _dsoft(x: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.abs(x))


def _softsign(x: torch.Tensor) -> torch.Tensor:
    return x / (1.0 + torch.abs(x))


def _demon_inc_prime(t: torch.Tensor, T: int) -> torch.Tensor:
    b = 0.95 * (1.0 - (t + 1.0) / T)
    return (0.95 - b) / (0.05 + b)


_S = SCHEDULES
_LR: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {
    "LR1": lambda t, T: (
        torch.erfc(torch.erfc(_S["cos_inc"](t, T))) / _dtanh(_S["cos_inc_restart"](t, T))
    ),
    "LR2": lambda t, T: (
        torch.erfc(torch.erfc(_S["cos_inc"](t, T)))
        / (_dtanh(_S["cos_inc_restart"](t, T)) * _dtanh(_S["cos_inc"](t, T)))
    ),
    "LR3": lambda t, T: (
        torch.atan(_S["lin_inc"](t, T))
        / (_dtanh(_S["lin_inc_restart"](t, T)) * torch.sqrt(_dsoft(_demon_inc_prime(t, T))))
    ),
    "LR4": lambda t, T: (
        torch.sigmoid(_S["lin_inc"](t, T)) ** 2
        / torch.sigmoid(2.0 * _softsign(_S["lin_dec"](t, T)))
    ),
    "LR5": lambda t, T: 1.0 / torch.sqrt(torch.erf(_S["exp_dec"](t, T))),
    "LR6": lambda t, T: (
        torch.atan(_S["lin_inc"](t, T))
        * torch.erfc(_S["cyc_cos_inc"](t, T))
        / torch.sqrt(_dsoft(_S["cyc_cos_inc"](t, T)))
    ),
    "LR7": lambda t, T: 1.0 / torch.sqrt(_dsoft(_S["lin_inc_restart"](t, T))),
    "LR8": lambda t, T: 1.0 / (torch.sqrt(_softsign(torch.atan(_S["exp_inc"](t, T)))) + EPS),
    "LR9": lambda t, T: torch.tanh(
        torch.maximum(_S["lin_inc_restart"](t, T), _S["cyc_cos_inc"](t, T))
    ),
}
LR_SCHEDULES: tuple[str, ...] = tuple(_LR)
BASE_SCHEDULE = "one_cycle"
"""SPEC 4's base schedule: the schedule of every genome that names no learning-rate factor."""
SCHEDULE_NAMES: tuple[str, ...] = (BASE_SCHEDULE, "constant", *LR_SCHEDULES)


def lr_factor(
    name: str, total_steps: int, *, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """The factor LRk of SPEC 7.3 at k = 0..T-1; its value at step 0 is 1e-7."""
    if name not in _LR:
        raise ValueError(f"unknown learning-rate schedule {name!r}; known: {LR_SCHEDULES}")
    _check_steps(total_steps, 0, 0)
    start, stop = _window(total_steps, start, stop)
    t = torch.arange(start, stop, dtype=torch.float64)
    out = _LR[name](t, total_steps).numpy().copy()
    if start == 0 and stop > 0:
        out[0] = LR_FACTOR_AT_ZERO
    return out


def check_schedule(
    schedule: str, total_steps: int, warmup_steps: int = 0, hold_steps: int = 0
) -> None:
    """Raise the error `lr_table` would for these arguments, without building the table."""
    if schedule not in SCHEDULE_NAMES:
        raise ValueError(f"unknown schedule {schedule!r}; known: {SCHEDULE_NAMES}")
    _check_steps(total_steps, warmup_steps, hold_steps)


def lr_table(
    schedule: str,
    total_steps: int,
    warmup_steps: int = 0,
    hold_steps: int = 0,
    *,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Factor of the peak learning rate at each step for a named schedule.

    "one_cycle" is SPEC 4's base schedule, "LR1".."LR9" multiply it by their factor, and
    "constant" is 1 throughout (the learning rate is left to the user).
    """
    check_schedule(schedule, total_steps, warmup_steps, hold_steps)
    start, stop = _window(total_steps, start, stop)
    if schedule == "constant":
        return np.ones(stop - start)
    base = one_cycle(total_steps, warmup_steps, hold_steps, start=start, stop=stop)
    if schedule == "one_cycle":
        return base
    factor: np.ndarray = lr_factor(schedule, total_steps, start=start, stop=stop)
    out: np.ndarray = base * factor
    return out
