"""Independent references for the schedules of SPEC 1, 4 and 7.3, written from the SPEC with
numpy/scipy and shared by the tests (nothing here imports optevo)."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

EPS = 1e-7


def dtanh(x):
    return 1.0 - np.tanh(x) ** 2


def dsoft(x):
    return 1.0 / (1.0 + np.abs(x))


def softsign(x):
    return x / (1.0 + np.abs(x))


def one_cycle_ref(T: int, W: int, H: int) -> np.ndarray:
    """SPEC 4, as a factor of the peak: t/W, then 1 for H steps, then a cosine towards 0."""
    out = []
    for t in range(T):
        if t < W:
            out.append(t / W)
        elif t < W + H:
            out.append(1.0)
        else:
            out.append(0.5 * (1.0 + math.cos(math.pi * (t - W - H) / (T - W - H))))
    return np.array(out)


def momentum_ref(T: int, W: int, H: int) -> np.ndarray:
    """SPEC 1: 0.95 - 0.10*k/(W-1) over k < W, 0.85 in the hold, then
    0.85 + 0.10*(k-W-H)/(T-W-H-1); a ramp of a single step is its first end (as linspace)."""
    out = []
    for k in range(T):
        if k < W:
            out.append(0.95 - 0.10 * k / (W - 1) if W > 1 else 0.95)
        elif k < W + H:
            out.append(0.85)
        else:
            n = T - W - H
            out.append(0.85 + 0.10 * (k - W - H) / (n - 1) if n > 1 else 0.85)
    return np.array(out)


def lr_factor_ref(name: str, T: int) -> np.ndarray:
    """SPEC 7.3 with the decay schedules of SPEC 2, t = 0..T-1; 1e-7 at t = 0."""
    t = np.arange(T, dtype=np.float64)
    lin_inc = t / T
    lin_dec = 1.0 - t / T
    cos_inc = 0.5 * (1.0 - np.cos(np.pi * t / T))
    cyc_cos_inc = 0.5 * (1.0 - np.cos(2.0 * np.pi * t / T))
    lin_inc_restart = np.mod(2.0 * t, T) / T
    cos_inc_restart = 0.5 * (1.0 - np.cos(np.pi * lin_inc_restart))
    exp_dec = 0.01 ** (t / T)
    exp_inc = 1.0 - 0.01 ** (t / T)
    b = 0.95 * (1.0 - (t + 1.0) / T)
    demon_inc_prime = (0.95 - b) / (0.05 + b)

    with np.errstate(divide="ignore"):  # LR8 at t = 0 (replaced below)
        value = {
            "LR1": special.erfc(special.erfc(cos_inc)) / dtanh(cos_inc_restart),
            "LR2": special.erfc(special.erfc(cos_inc)) / (dtanh(cos_inc_restart) * dtanh(cos_inc)),
            "LR3": np.arctan(lin_inc) / (dtanh(lin_inc_restart) * np.sqrt(dsoft(demon_inc_prime))),
            "LR4": special.expit(lin_inc) ** 2 / special.expit(2.0 * softsign(lin_dec)),
            "LR5": 1.0 / np.sqrt(special.erf(exp_dec)),
            "LR6": np.arctan(lin_inc) * special.erfc(cyc_cos_inc) / np.sqrt(dsoft(cyc_cos_inc)),
            "LR7": 1.0 / np.sqrt(dsoft(lin_inc_restart)),
            "LR8": 1.0 / (np.sqrt(softsign(np.arctan(exp_inc))) + EPS),
            "LR9": np.tanh(np.maximum(lin_inc_restart, cyc_cos_inc)),
        }[name]
    value = np.array(value, dtype=np.float64)
    value[0] = 1e-7
    return value
