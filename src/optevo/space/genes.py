"""Evolvable constants ("genes") of the extended search space: one table, and their values.

The paper's space fixes every constant of SPEC 1.1-1.3 (the EMA rates 0.9/0.99/0.999, eps, the
quasi-hyperbolic weights) and has no weight decay. The extended space makes them genes of the
genome, so that AdamW (beta_s = 0.999, eps = 1e-8, wd = 0.01) and Lion (beta_v = 0.99,
u = sign(dir)) are genomes of it, and a local search can tune them.

A genome holds only the constants that differ from their defaults (`Constants`), so one
optimizer has one form, and a genome of the paper's space holds none. Each row of `GENES` says
a constant's default, the range a genome may hold, and how a mutation moves it (`scale`):

- "beta": in log(1 - beta), so that 0.9 -> 0.99 -> 0.999 are equal steps;
- "log": in log(x) (eps);
- "logit": in logit(x) (the quasi-hyperbolic weights, in (0, 1));
- "wd": weight decay, 0 (off) or in log(wd); switched on log-uniformly, off with a probability.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optevo.space.limits import MAX_NAME_LENGTH, kind, quote

if TYPE_CHECKING:
    from optevo.space.config import SpaceConfig


@dataclass(frozen=True)
class Gene:
    """One evolvable constant: its default (the paper's value), the closed range [lo, hi] a
    genome may hold, how mutation moves it (`scale`), its LaTeX symbol and a description."""

    name: str
    default: float
    lo: float
    hi: float
    scale: str
    latex: str
    doc: str


BETA_MAX = 0.99999
"""The largest EMA rate a genome may hold (bias correction 1 - beta^(k+1) stays >= 1e-5)."""

_GENE_ROWS: tuple[Gene, ...] = (
    Gene("beta_v", 0.9, 0.0, BETA_MAX, "beta", r"\beta_{v}", "rate of v = EMA(g)"),
    Gene("beta_s", 0.99, 0.0, BETA_MAX, "beta", r"\beta_{s}", "rate of s = EMA(g^2)"),
    Gene("beta_lam", 0.999, 0.0, BETA_MAX, "beta", r"\beta_{\lambda}", "rate of lam = EMA(g^3)"),
    Gene(
        "beta_dir",
        0.9,
        0.0,
        BETA_MAX,
        "beta",
        r"\beta_{\mathrm{dir}}",
        "interpolation of dir = beta_dir v_raw + (1 - beta_dir) g (Lion's beta1)",
    ),
    Gene("eps", 1e-7, 1e-12, 1e-2, "log", r"\epsilon", "epsilon of ln, 1/x and x/y"),
    Gene("mix_g", 0.3, 1e-4, 1.0 - 1e-4, "logit", r"c_{g}", "weight of g in qh_g"),
    Gene("mix_g2", 0.05, 1e-4, 1.0 - 1e-4, "logit", r"c_{g^{2}}", "weight of g^2 in qh_g2"),
    Gene("mix_g3", 0.01, 1e-4, 1.0 - 1e-4, "logit", r"c_{g^{3}}", "weight of g^3 in qh_g3"),
    Gene(
        "wd",
        0.0,
        0.0,
        10.0,
        "wd",
        r"\mathrm{wd}",
        "decoupled weight decay, w <- w - lr_t wd w beside the step (as AdamW)",
    ),
)
GENES: dict[str, Gene] = {gene.name: gene for gene in _GENE_ROWS}
"""Every evolvable constant, in the order genomes list them."""

WD_MUTATION_RANGE = (1e-6, 1.0)
"""Where a mutation keeps a weight decay that is on (log scale; a genome may hold up to 10)."""

EMA_BETA: dict[str, str] = {"v": "beta_v", "s": "beta_s", "lam": "beta_lam"}
"""The gene holding the rate of each EMA behind the operands."""

QH_WEIGHT: dict[str, str] = {"qh_g": "mix_g", "qh_g2": "mix_g2", "qh_g3": "mix_g3"}
"""The gene holding the weight of the instantaneous term of each quasi-hyperbolic operand."""

EPS_OPERATIONS: frozenset[str] = frozenset({"log", "recip", "div"})
"""The update operations whose eps is the gene `eps` (SPEC 1.2/1.3)."""


def check_constant(name: object, value: object, where: str = "constants") -> float:
    """`value` as the float a genome holds for constant `name`; a ValueError naming the
    problem (unknown name, not a number, not finite, out of range) otherwise."""
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or name not in GENES:
        raise ValueError(f"{where}: unknown constant {quote(name)}; known: {', '.join(GENES)}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}.{name}: expected a number, got {kind(value)}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{where}.{name}: must be finite, got {x!r}")
    gene = GENES[name]
    if not gene.lo <= x <= gene.hi:
        raise ValueError(f"{where}.{name}: {x!r} is outside its range [{gene.lo!r}, {gene.hi!r}]")
    return x


class Constants(Mapping[str, float]):
    """The constants of a genome that differ from their defaults: immutable, hashable, in the
    order of `GENES`. Built from a mapping or (name, value) pairs, each checked by
    `check_constant`; a value equal to its default is dropped (one optimizer, one form)."""

    __slots__ = ("_items",)
    _items: tuple[tuple[str, float], ...]

    def __init__(self, values: Mapping[str, float] | Iterable[tuple[str, float]] = ()) -> None:
        pairs = values.items() if isinstance(values, Mapping) else values
        checked: dict[str, float] = {}
        for name, value in pairs:
            x = check_constant(name, value)
            if x != GENES[name].default:
                checked[name] = x + 0.0  # -0.0 -> 0.0
        self._items = tuple((n, checked[n]) for n in GENES if n in checked)

    def __getitem__(self, name: str) -> float:
        for n, x in self._items:
            if n == name:
                return x
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (n for n, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Constants):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"Constants({dict(self._items)!r})"

    def value(self, name: str) -> float:
        """The value of constant `name`: this genome's, else the default."""
        return self.get(name, GENES[name].default)

    def items_text(self, names: Iterable[str] | None = None, sep: str = ", ") -> str:
        """`name=value, ...` of the constants held (only those in `names`, if given), each
        value as Python's shortest round-tripping repr (stable across versions)."""
        keep = None if names is None else set(names)
        return sep.join(f"{n}={x!r}" for n, x in self._items if keep is None or n in keep)

    def replace(self, name: str, value: float) -> Constants:
        """These constants with `name` set to `value` (a default value removes it)."""
        return Constants({**dict(self._items), name: value})


NO_CONSTANTS = Constants()
"""A genome of the paper's space: every constant at its default."""


def latex_number(x: float) -> str:
    """`x` in LaTeX: 0.999, 10^{-8}, 3 \\cdot 10^{-5}."""
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return repr(x)
    mantissa, exponent = f"{x:.6e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = f"10^{{{int(exponent)}}}"
    return power if mantissa == "1" else rf"{mantissa} \cdot {power}"


# -- mutation ------------------------------------------------------------------------------------


def mutate_constant(
    rng: np.random.Generator, constants: Constants, names: tuple[str, ...], config: SpaceConfig
) -> Constants:
    """One of `names` (drawn uniformly) moved multiplicatively in its parameterisation (module
    docstring), with `config.constant_sigma` as the scale of the normal step; the result is
    clipped to the gene's range, so it always stays valid."""
    name = names[int(rng.integers(len(names)))]
    gene = GENES[name]
    x = constants.value(name)
    sigma = config.constant_sigma
    if gene.scale == "beta":
        new = 1.0 - (1.0 - x) * math.exp(sigma * rng.standard_normal())
    elif gene.scale == "log":
        new = x * math.exp(sigma * rng.standard_normal())
    elif gene.scale == "logit":
        p = min(max(x, gene.lo), gene.hi)
        new = _sigmoid(math.log(p / (1.0 - p)) + sigma * rng.standard_normal())
    else:
        new = _mutate_wd(rng, x, config)
    if new != 0.0 or gene.scale != "wd":
        new = min(max(new, gene.lo), gene.hi)
    return constants.replace(name, new)


def _mutate_wd(rng: np.random.Generator, wd: float, config: SpaceConfig) -> float:
    """Off -> on: log-uniform in `config.wd_on_range`; on -> off with `config.wd_off_p`;
    else a log-normal step kept in `WD_MUTATION_RANGE`."""
    if wd == 0.0:
        lo, hi = config.wd_on_range
        return math.exp(rng.uniform(math.log(lo), math.log(hi)))
    if rng.random() < config.wd_off_p:
        return 0.0
    new = wd * math.exp(config.constant_sigma * rng.standard_normal())
    return min(max(new, WD_MUTATION_RANGE[0]), WD_MUTATION_RANGE[1])


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
