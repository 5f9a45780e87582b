"""Learning-rate and momentum schedules: the base one-cycle schedule (SPEC 4), the cycled
momentum coefficient (SPEC 1) and the discovered learning-rate factors LR1-LR9 (SPEC 7.3).

All are tables over the steps k = 0..T-1, computed once per run in float64.
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


def one_cycle(total_steps: int, warmup_steps: int = 0, hold_steps: int = 0) -> np.ndarray:
    """SPEC 4: linear warm-up from 0, hold at 1, cosine decay towards 0 (factor of the peak)."""
    _check_steps(total_steps, warmup_steps, hold_steps)
    T, W, H = total_steps, warmup_steps, hold_steps
    k = np.arange(T, dtype=np.float64)
    out = np.empty(T)
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
) -> np.ndarray:
    """SPEC 1: mu cycled opposite to the learning rate, both ends included in each ramp."""
    _check_steps(total_steps, warmup_steps, hold_steps)
    T, W, H = total_steps, warmup_steps, hold_steps
    return np.concatenate(
        [
            np.linspace(high, low, W),
            np.full(H, low),
            np.linspace(low, high, T - W - H),
        ]
    )


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
SCHEDULE_NAMES: tuple[str, ...] = ("one_cycle", "constant", *LR_SCHEDULES)


def lr_factor(name: str, total_steps: int) -> np.ndarray:
    """The factor LRk of SPEC 7.3 at k = 0..T-1; its value at step 0 is 1e-7."""
    if name not in _LR:
        raise ValueError(f"unknown learning-rate schedule {name!r}; known: {LR_SCHEDULES}")
    _check_steps(total_steps, 0, 0)
    t = torch.arange(total_steps, dtype=torch.float64)
    out = _LR[name](t, total_steps).numpy().copy()
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
    schedule: str, total_steps: int, warmup_steps: int = 0, hold_steps: int = 0
) -> np.ndarray:
    """Factor of the peak learning rate at each step for a named schedule.

    "one_cycle" is SPEC 4's base schedule, "LR1".."LR9" multiply it by their factor, and
    "constant" is 1 throughout (the learning rate is left to the user).
    """
    if schedule == "constant":
        _check_steps(total_steps, warmup_steps, hold_steps)
        return np.ones(total_steps)
    if schedule == "one_cycle":
        return one_cycle(total_steps, warmup_steps, hold_steps)
    if schedule in _LR:
        return one_cycle(total_steps, warmup_steps, hold_steps) * lr_factor(schedule, total_steps)
    raise ValueError(f"unknown schedule {schedule!r}; known: {SCHEDULE_NAMES}")
