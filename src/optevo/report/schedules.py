"""Which decay functions of a genome act as a learning-rate schedule, and the effective
schedule they make with the base one (the paper's Figures 3-6).

SPEC 2: a decay function whose value flows through distributive operations only "can be
factored out next to the learning rate". Rather than reasoning over the graph, this is
tested on the update itself: a set of decay functions factors out when changing their values
scales `u` by the same ratio at every input (64 random points, relative spread below 1e-3).
Opt6's `1 - tanh(cos_inc)^2` in the divisor factors out (as 1/d: together with LR1 it is
LR2); Opt4's `atan(demon_dec)` inside a clip does not, and is an internal decay function.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from optevo.report.pointwise import update
from optevo.schedules import check_schedule, lr_table
from optevo.space.decay import DecayGenome
from optevo.space.genome import Genome

PAPER_STEPS = 96_000
PAPER_WARMUP = 6_400
PAPER_HOLD = 12_800
"""The transfer schedule of the paper's Appendix A figures (SPEC 4, 7.5)."""

RTOL = 1e-3
_PROBES = (0.3, 0.7)


@dataclass(frozen=True)
class DecayRole:
    """A decay function of a genome, named `d{index}` as in `Genome.equation()`, and whether
    it factors out of the update (a learning-rate factor) or acts inside it."""

    index: int
    decay: DecayGenome
    factors_out: bool

    @property
    def label(self) -> str:
        return f"d{self.index}"

    @property
    def role(self) -> str:
        return "learning-rate factor" if self.factors_out else "internal"


@dataclass(frozen=True)
class EffectiveSchedule:
    """The learning-rate factor at `steps`: `base` is the one-cycle schedule alone, `lr` the
    genome's schedule (its LRk factor) times the decay functions that factor out."""

    steps: np.ndarray
    base: np.ndarray
    lr: np.ndarray
    factored: tuple[DecayRole, ...]

    def normalised(self) -> np.ndarray:
        """`lr` scaled into [0, 1] by its largest finite value (the paper's Figures 3-5)."""
        return normalise(self.lr)


def normalise(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    top = float(np.max(np.abs(finite))) if finite.size else 0.0
    return values / top if top > 0 else values


@functools.lru_cache(maxsize=1)
def _sample_points(n: int = 64) -> dict[str, Tensor]:
    """Fixed random inputs: magnitudes log-uniform where eps does not blur a ratio, both
    signs (s_hat, a mean of squares, positive)."""
    rng = np.random.default_rng(20260101)

    def signed(lo: float, hi: float) -> Tensor:
        mag = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        return torch.tensor(mag * rng.choice([-1.0, 1.0], n), dtype=torch.float64)

    s = torch.tensor(np.exp(rng.uniform(np.log(0.01), np.log(1.0), n)), dtype=torch.float64)
    return {
        "g": signed(0.05, 2.0),
        "v": signed(0.05, 2.0),
        "s": s,
        "lam": signed(0.05, 2.0),
        "w": signed(0.1, 10.0),
    }


def _ratio(genome: Genome, values: Mapping[DecayGenome, float | Tensor]) -> Tensor | None:
    """u with `values` for the given decay functions (1 for the others) over u with all at
    1, at each sample point: NaN where both are 0 or either is not finite, inf where only
    the reference is 0 (the decay functions do not merely scale u there). None when fewer
    than half the points give a finite ratio."""
    x = _sample_points()
    ref = update(genome, x, lambda d: 1.0)
    got = update(genome, x, lambda d: values.get(d, 1.0))
    tiny = 1e-12
    finite = torch.isfinite(ref) & torch.isfinite(got)
    ref_zero = torch.abs(ref) <= tiny
    safe = torch.where(ref_zero, torch.ones_like(ref), ref)
    ratio = torch.where(
        ref_zero, torch.where(torch.abs(got) <= tiny, torch.nan, torch.inf), got / safe
    )
    ratio = torch.where(finite, ratio, torch.nan)
    if int(torch.isfinite(ratio).sum()) < ratio.numel() // 2:
        return None
    return ratio


def _constant(ratio: Tensor | None) -> bool:
    if ratio is None or bool(torch.isinf(ratio).any()):
        return False
    r = ratio[torch.isfinite(ratio)]
    if r.numel() == 0:
        return False
    mid = torch.median(r)
    return bool(torch.max(torch.abs(r - mid)) <= RTOL * max(float(torch.abs(mid)), 1e-12))


def _factors_out(genome: Genome, decays: list[DecayGenome]) -> bool:
    for probe in _PROBES:
        values = {d: probe + 0.05 * i for i, d in enumerate(decays)}
        if not _constant(_ratio(genome, values)):
            return False
    return True


@functools.lru_cache(maxsize=256)
def decay_roles(genome: Genome) -> tuple[DecayRole, ...]:
    """Each decay function of the active graph (in `Genome.decay_functions()` order) and
    whether it factors out. A set that factors out one by one but not together keeps the
    first ones that do."""
    decays = genome.decay_functions()
    single = [d for d in decays if _factors_out(genome, [d])]
    chosen: list[DecayGenome] = []
    for d in single:
        if _factors_out(genome, [*chosen, d]):
            chosen.append(d)
    return tuple(DecayRole(i + 1, d, d in chosen) for i, d in enumerate(decays))


def plot_steps(total_steps: int, points: int = 1500) -> np.ndarray:
    """At most `points` step indices spread over 0..T-1 (0 and T-1 included)."""
    return np.unique(np.linspace(0, total_steps - 1, min(points, total_steps)).round().astype(int))


def at_steps(window: Callable[[int, int], np.ndarray], steps: np.ndarray) -> np.ndarray:
    """The values of a table at `steps` (increasing, distinct) from `window(start, stop)`,
    which computes the steps start..stop-1 only: one call per run of consecutive steps, so
    the cost and memory follow the number of steps drawn, never the length of the run."""
    if len(steps) == 0:
        return np.empty(0)
    breaks = np.flatnonzero(np.diff(steps) != 1) + 1
    return np.concatenate(
        [np.asarray(window(int(run[0]), int(run[-1]) + 1)) for run in np.split(steps, breaks)]
    )


def decay_at(decay: DecayGenome, total_steps: int, steps: np.ndarray) -> np.ndarray:
    """A decay function's values at `steps` of a run of `total_steps` (sampled, not the whole
    table)."""
    return at_steps(lambda a, b: decay.window(total_steps, a, b), steps)


def effective_schedule(
    genome: Genome,
    schedule: str = "one_cycle",
    total_steps: int = PAPER_STEPS,
    warmup_steps: int = PAPER_WARMUP,
    hold_steps: int = PAPER_HOLD,
    points: int = 1500,
) -> EffectiveSchedule:
    """The genome's learning-rate factor over a run: its named schedule (`one_cycle` or
    LR1-LR9, SPEC 7.3) times the decay functions that factor out of its update, at `points`
    steps at most (bounded time and memory however long the run)."""
    check_schedule(schedule, total_steps, warmup_steps, hold_steps)
    steps = plot_steps(total_steps, points)

    def table(name: str) -> np.ndarray:
        return at_steps(
            lambda a, b: lr_table(name, total_steps, warmup_steps, hold_steps, start=a, stop=b),
            steps,
        )

    base = table("one_cycle")
    lr = base.copy() if schedule == "one_cycle" else table(schedule)
    factored = tuple(r for r in decay_roles(genome) if r.factors_out)
    if factored:
        lr = lr * decay_factor(genome, factored, total_steps, steps)
    return EffectiveSchedule(steps, base, lr, factored)


def decay_factor(
    genome: Genome, roles: tuple[DecayRole, ...], total_steps: int, steps: np.ndarray
) -> np.ndarray:
    """The factor the decay functions `roles` put on the update at each step (the median
    ratio over the sample points; non-finite where it is undefined)."""
    values = {
        r.decay: torch.tensor(decay_at(r.decay, total_steps, steps), dtype=torch.float64)[:, None]
        for r in roles
    }
    ratio = _ratio(genome, values)
    if ratio is None:
        return np.full(len(steps), np.nan)
    ratio = torch.where(torch.isfinite(ratio), ratio, torch.nan)
    return torch.nanmedian(ratio, dim=1).values.numpy()


def decay_curves(
    genome: Genome, total_steps: int = PAPER_STEPS, points: int = 1500
) -> tuple[np.ndarray, list[tuple[DecayRole, np.ndarray]]]:
    """Each decay function of the genome over the run (the paper's Figure 6), at `points`
    steps at most."""
    steps = plot_steps(total_steps, points)
    return steps, [(r, decay_at(r.decay, total_steps, steps)) for r in decay_roles(genome)]
