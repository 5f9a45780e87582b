"""A genome's update `u` as a plain function of its inputs, for plots and analysis.

The compiled rule (`optevo.compile`) runs `u` inside an optimizer, deriving `v_hat`, `s_hat`
and `lam_hat` from its state. To draw `u` as a surface over two inputs, or to test whether a
decay function factors out of it, the inputs must be set directly: here every operand is a
function of five *variables* (`g`, `v` = v_hat, `s` = s_hat, `lam` = lam_hat, `w`) given as
tensors, and each decay function is a value (or a tensor of values, one per time step)
multiplied into its connection, as the compiler does.

What has no pointwise meaning is fixed as follows (docs/interpretations.md):
- the state-holding operations take their value at the first step they run, from zero state:
  `ema(x) = x`, `delta(x) = x`, `runmax(x) = max(x, 0)`;
- `drop(x, p)` is its expectation, `x`;
- `norm(x)` treats every point as a parameter tensor of its own: `x / max(1, |x|)`;
- the raw EMAs behind `agg_*` and `dir` equal their bias-corrected values (late in a run).

A genome of the extended space is evaluated with its constants (eps, the quasi-hyperbolic
weights, beta_dir); its weight decay acts beside `u`, not in it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, cast

import torch
from torch import Tensor

from optevo.space.decay import DecayGenome
from optevo.space.genes import QH_WEIGHT
from optevo.space.genome import Genome
from optevo.space.graph import fold_graph, parse_hidden
from optevo.space.ops import AGG_BETAS, OPERATIONS, QH_MIX, WEIGHT_SCALES, operation_fn

VARIABLES: tuple[str, ...] = ("g", "v", "s", "lam", "w")
"""The inputs every operand derives from: g, v_hat, s_hat, lam_hat and the weight w."""

VARIABLE_LATEX: dict[str, str] = {
    "g": "g",
    "v": r"\hat{v}",
    "s": r"\hat{s}",
    "lam": r"\hat{\lambda}",
    "w": "w",
}

OPERAND_VARIABLES: dict[str, tuple[str, ...]] = {
    "g": ("g",),
    "g2": ("g",),
    "g3": ("g",),
    "v": ("v",),
    "s": ("s",),
    "lam": ("lam",),
    "one": (),
    "two": (),
    "w6": ("w",),
    "w5": ("w",),
    "w4": ("w",),
    "w3": ("w",),
    "sign_g": ("g",),
    "sign_v": ("v",),
    "qh_g": ("g", "v"),
    "qh_g2": ("g", "s"),
    "qh_g3": ("g", "lam"),
    "agg_g": ("g", "v"),
    "agg_g2": ("g", "s"),
    "agg_g3": ("g", "lam"),
    "dir": ("g", "v"),
}

_POWER_OF = {"g": 1, "g2": 2, "g3": 3}
_EMA_OF = {"v": "v", "s": "s", "lam": "lam"}


def operand_value(name: str, x: Mapping[str, Tensor], genome: Genome | None = None) -> Tensor:
    """The operand `name` from the variables `x` (broadcast against each other), with the
    constants of `genome` (default: the paper's values)."""
    g = x["g"]
    if name in _POWER_OF:
        return g ** _POWER_OF[name]
    if name in _EMA_OF:
        return x[name]
    if name == "one":
        return torch.ones_like(g)
    if name == "two":
        return torch.full_like(g, 2.0)
    if name in WEIGHT_SCALES:
        return WEIGHT_SCALES[name] * x["w"]
    if name == "sign_g":
        return torch.sign(g)
    if name == "sign_v":
        return torch.sign(x["v"])
    if name in QH_MIX:
        mix, power, ema = QH_MIX[name]
        if genome is not None:
            mix = genome.constant(QH_WEIGHT[name])
        return mix * g ** _POWER_OF[power] + (1.0 - mix) * x[ema]
    if name == "dir":
        beta = 0.9 if genome is None else genome.constant("beta_dir")
        return beta * x["v"] + (1.0 - beta) * g
    if name in AGG_BETAS:
        betas, power, ema = AGG_BETAS[name]
        return (sum(betas) / len(betas)) * x[ema] - g ** _POWER_OF[power]
    raise KeyError(f"unknown operand {name!r}")


def _apply(op: str, args: list[Tensor], eps: float) -> Tensor:
    row = OPERATIONS[op]
    if row.state == "runmax":
        return torch.clamp(args[0], min=0.0)
    if row.state is not None:  # ema, delta: their first step from zero state
        return args[0]
    if op.startswith("drop"):
        return args[0]
    if op == "norm":
        return args[0] / torch.clamp(torch.abs(args[0]), min=1.0)
    return operation_fn(op, eps)(*args)


def update(
    genome: Genome,
    variables: Mapping[str, Tensor | float],
    decays: Mapping[DecayGenome, Tensor | float] | Callable[[DecayGenome], Tensor | float],
) -> Tensor:
    """`u` (sign flip applied) at the given variables and decay values, in float64.

    `variables` maps each of `VARIABLES` the genome reads to a tensor or number (missing ones
    are 0); `decays` gives each decay function's value, as a mapping or a function. All
    values broadcast against each other."""
    tensors = {
        k: torch.as_tensor(v, dtype=torch.float64) for k, v in variables.items() if k in VARIABLES
    }
    shape = torch.broadcast_shapes(*(t.shape for t in tensors.values())) if tensors else ()
    x = {k: tensors.get(k, torch.zeros(())).expand(shape) for k in VARIABLES}
    lookup = decays if callable(decays) else decays.__getitem__

    def leaf(ref: str) -> Tensor:
        return operand_value(ref, x, genome)

    def apply(op: str, args: list[Tensor]) -> Tensor:
        return _apply(op, args, genome.constant("eps"))

    def decayed(d: Any, value: Tensor) -> Tensor:
        return value * torch.as_tensor(lookup(d), dtype=torch.float64)

    u = fold_graph(genome.hidden, genome.output, leaf, apply, decayed)
    return cast(Tensor, -u if genome.flipped else u)


def variable_uses(genome: Genome) -> Counter[str]:
    """How often the active graph reads each variable (through its operands)."""
    uses: Counter[str] = Counter()
    for name in genome.active_names():
        for ref in genome.node(name).inputs:
            if parse_hidden(ref) is None:
                uses.update(OPERAND_VARIABLES[ref])
    return uses


def main_variables(genome: Genome) -> tuple[str, str]:
    """The two variables a surface of `u` is drawn over: the most read ones (ties in the
    order of `VARIABLES`), padded with `g`/`v` when the genome reads fewer than two."""
    uses = variable_uses(genome)
    ranked = sorted((v for v in VARIABLES if uses[v]), key=lambda v: -uses[v])
    for filler in VARIABLES:
        if len(ranked) >= 2:
            break
        if filler not in ranked:
            ranked.append(filler)
    return ranked[0], ranked[1]
