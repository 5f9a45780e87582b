"""The one table of the search space: operands, operations and decay schedules (SPEC 1-2).

Every operand, unary/binary operation and decay schedule is defined once here, with all that
is known about it: its arity, its torch function, its text and sympy forms, and in which part
of the search space it may appear. Sampling, validation, compiling, rendering and hashing all
read this table; adding an operation means adding one row.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optevo.space.symbolic import sp

EPS = 1e-7
"""The search space's epsilon (SPEC notation)."""


@functools.cache
def _eps() -> Any:
    """The symbol epsilon (built, and sympy imported, when first rendered)."""
    return sp.Symbol("epsilon")


@functools.cache
def _f(name: str, latex: str | None = None) -> Any:
    """An undefined sympy function that renders as `latex` (used where sympy has no builtin).

    Built once per name, when first rendered."""
    tex = latex if latex is not None else r"\operatorname{" + name.replace("_", r"\_") + "}"
    return type(
        name,
        (sp.Function,),
        {"_latex": lambda self, printer, exp=None: _call_tex(self, tex, printer, exp)},
    )


def _call_tex(expr: Any, tex: str, printer: Any, exp: str | None = None) -> str:
    """`tex(args)`; sympy passes `exp` when the call is raised to a power."""
    args = ", ".join(printer._print(a) for a in expr.args)
    call = rf"{tex}\left({args}\right)"
    return call if exp is None else rf"{call}^{{{exp}}}"


def _fsym(name: str, latex: str) -> Callable[..., Any]:
    """The symbolic form `name(args...)`, an undefined sympy function rendered as `latex`."""
    return lambda *args: _f(name, latex)(*args)


def _drop_sym(p: float) -> Callable[[Any], Any]:
    return _fsym(f"drop{p}", rf"\operatorname{{drop}}_{{{p}}}")


# --------------------------------------------------------------------------------------------
# Context handed to operations that need more than their inputs (dropout's RNG, per-tensor
# norms). It is built once per step by the compiler.
# --------------------------------------------------------------------------------------------


@dataclass
class OpContext:
    """Per-step information some operations need.

    `segments` lists the sizes of the parameter tensors laid side by side along the last
    dimension of every value (None: the last dimension is one parameter tensor), so that
    `norm` can take the L2 norm of each parameter tensor separately. `generator` feeds the
    dropout operations.
    """

    generator: torch.Generator | None = None
    segments: tuple[int, ...] | None = None


def _drop(p: float) -> Callable[[Tensor, OpContext], Tensor]:
    def drop(x: Tensor, ctx: OpContext) -> Tensor:
        keep = torch.rand(x.shape, generator=ctx.generator, device=x.device, dtype=x.dtype)
        return torch.where(
            keep >= p, x / (1.0 - p), torch.zeros((), dtype=x.dtype, device=x.device)
        )

    return drop


def _norm(x: Tensor, ctx: OpContext) -> Tensor:
    # clip_by_norm(x, 1): x / max(1, ||x||) with the norm of each parameter tensor, which lie
    # side by side along the last dimension (ctx.segments), each row (copy) separately.
    def clip(part: Tensor) -> Tensor:
        clipped: Tensor = part / torch.linalg.vector_norm(part, dim=-1, keepdim=True).clamp(min=1.0)
        return clipped

    if ctx.segments is None or len(ctx.segments) <= 1:
        return clip(x)
    parts = torch.split(x, ctx.segments, dim=-1)  # type: ignore[arg-type]  # any int sequence
    return torch.cat([clip(p) for p in parts], dim=-1)


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One row of the operation table.

    `fn` takes the input tensors (and, when `needs_ctx`, an OpContext last). A state-holding
    operation's `fn` is not used directly: the compiler implements its state (`state` names
    the kind). `sym` builds the sympy form. `update`/`decay` say where in the search space
    the operation may appear; `extended` that it belongs to the extended space only (a
    genome may hold it, the paper's space never draws it).

    `text` is the readable form, a format template over the inputs `a` and `b`: `{a}` as is,
    `{a1}`/`{a2}`/`{a3}` in parentheses unless the input binds at least as tightly as a sum
    (1), a product (2) or an atom (3), `{A}` as its absolute value `|a|` (not doubled when
    `a` already is one). `prec` is how tightly the result binds (-1: as its input).

    `code` is the operation as torch code for the standalone export (`optevo.export`), a format
    template over the inputs: `{x}`/`{y}` as they are, `{X}`/`{Y}` parenthesised unless
    atomic, `{i}` the dropout's index among the genome's dropouts; None for the state-holding
    operations, which the export writes from their state kind.
    """

    name: str
    arity: int
    fn: Callable[..., Tensor]
    text: str
    sym: Callable[..., Any]
    update: bool = True
    decay: bool = False
    commutative: bool = False
    needs_ctx: bool = False
    state: str | None = None
    prec: int = 3
    extended: bool = False
    code: str | None = None


def _u(
    name: str, fn: Callable[..., Tensor], text: str, sym: Callable[..., Any], **kw: Any
) -> Operation:
    return Operation(name, 1, fn, text, sym, **kw)


def _b(
    name: str, fn: Callable[..., Tensor], text: str, sym: Callable[..., Any], **kw: Any
) -> Operation:
    return Operation(name, 2, fn, text, sym, **kw)


def _no_fn(*_: Any) -> Tensor:  # pragma: no cover - state ops are compiled specially
    raise RuntimeError("state-holding operations are implemented by the compiler")


_UNARY_ROWS: tuple[Operation, ...] = (
    # The 23 scalar unary operations of SPEC 1.2 (update) and the 13 of SPEC 2 (decay).
    _u("identity", lambda x: x, "{a}", lambda x: x, decay=True, prec=-1, code="{x}"),
    _u("neg", torch.neg, "-{a3}", lambda x: -x, prec=2, code="-{X}"),
    _u(
        "log",
        lambda x: torch.log(torch.abs(x) + EPS),
        "ln({A} + eps)",
        lambda x: sp.log(sp.Abs(x) + _eps()),
        code="torch.log(torch.abs({x}) + EPS)",
    ),
    _u(
        "sqrt",
        lambda x: torch.sqrt(torch.abs(x)),
        "sqrt({A})",
        lambda x: sp.sqrt(sp.Abs(x)),
        decay=True,
        code="torch.sqrt(torch.abs({x}))",
    ),
    _u("exp", torch.exp, "exp({a})", lambda x: sp.exp(x), code="torch.exp({x})"),
    _u("abs", torch.abs, "{A}", lambda x: sp.Abs(x), code="torch.abs({x})"),
    _u(
        "sigmoid",
        torch.sigmoid,
        "sigmoid({a})",
        lambda x: 1 / (1 + sp.exp(-x)),
        decay=True,
        code="torch.sigmoid({x})",
    ),
    _u(
        "recip1p",
        lambda x: 1.0 / (1.0 + torch.abs(x)),
        "1/(1 + {A})",
        lambda x: 1 / (1 + sp.Abs(x)),
        decay=True,
        prec=2,
        code="1.0 / (1.0 + torch.abs({x}))",
    ),
    _u(
        "softplus",
        torch.nn.functional.softplus,
        "softplus({a})",
        lambda x: sp.log(1 + sp.exp(x)),
        code="torch.nn.functional.softplus({x})",
    ),
    _u("erf", torch.erf, "erf({a})", lambda x: sp.erf(x), decay=True, code="torch.erf({x})"),
    _u("erfc", torch.erfc, "erfc({a})", lambda x: sp.erfc(x), decay=True, code="torch.erfc({x})"),
    _u("asinh", torch.asinh, "asinh({a})", lambda x: sp.asinh(x), code="torch.asinh({x})"),
    _u("tanh", torch.tanh, "tanh({a})", lambda x: sp.tanh(x), decay=True, code="torch.tanh({x})"),
    _u("atan", torch.atan, "atan({a})", lambda x: sp.atan(x), decay=True, code="torch.atan({x})"),
    _u(
        "recip",
        lambda x: 1.0 / (x + EPS),
        "1/({a} + eps)",
        lambda x: 1 / (x + _eps()),
        prec=2,
        code="1.0 / ({x} + EPS)",
    ),
    _u(
        "i1e",
        torch.special.i1e,
        "i1e({a})",
        _fsym("i1e", r"\operatorname{i1e}"),
        decay=True,
        code="torch.special.i1e({x})",
    ),
    _u("relu", torch.relu, "max({a}, 0)", lambda x: sp.Max(x, 0), code="torch.relu({x})"),
    _u(
        "min0",
        lambda x: torch.clamp(x, max=0.0),
        "min({a}, 0)",
        lambda x: sp.Min(x, 0),
        code="torch.clamp({x}, max=0.0)",
    ),
    _u(
        "drop0.5",
        _drop(0.5),
        "drop({a}, 0.5)",
        _drop_sym(0.5),
        needs_ctx=True,
        code="drop({x}, 0.5, noise[{i}])",
    ),
    _u(
        "drop0.3",
        _drop(0.3),
        "drop({a}, 0.3)",
        _drop_sym(0.3),
        needs_ctx=True,
        code="drop({x}, 0.3, noise[{i}])",
    ),
    _u(
        "drop0.1",
        _drop(0.1),
        "drop({a}, 0.1)",
        _drop_sym(0.1),
        needs_ctx=True,
        code="drop({x}, 0.1, noise[{i}])",
    ),
    _u(
        "norm",
        _norm,
        "norm({a})",
        _fsym("norm", r"\operatorname{norm}"),
        needs_ctx=True,
        code="clip_by_norm({x})",
    ),
    _u(
        "softsign",
        torch.nn.functional.softsign,
        "softsign({a})",
        lambda x: x / (1 + sp.Abs(x)),
        decay=True,
        code="torch.nn.functional.softsign({x})",
    ),
    # Decay-only unary operations (SPEC 2).
    _u(
        "square",
        torch.square,
        "{a3}^2",
        lambda x: x**2,
        update=False,
        decay=True,
        code="torch.square({x})",
    ),
    _u(
        "dtanh",
        lambda x: 1.0 - torch.tanh(x) ** 2,
        "1 - tanh({a})^2",
        lambda x: 1 - sp.tanh(x) ** 2,
        update=False,
        decay=True,
        prec=1,
        code="1.0 - torch.tanh({x}) ** 2",
    ),
    _u(
        "dsigmoid",
        lambda x: torch.sigmoid(x) * (1.0 - torch.sigmoid(x)),
        "sigmoid'({a})",
        lambda x: sp.exp(-x) / (1 + sp.exp(-x)) ** 2,
        update=False,
        decay=True,
        code="torch.sigmoid({x}) * (1.0 - torch.sigmoid({x}))",
    ),
    # The extended space only (Lion's sign of its update direction).
    _u(
        "sign", torch.sign, "sign({a})", lambda x: sp.sign(x), extended=True, code="torch.sign({x})"
    ),
    # State-holding unary operations (SPEC 1.2); the compiler implements their state.
    _u("ema", _no_fn, "ema({a})", _fsym("ema", r"\operatorname{ema}"), state="ema"),
    _u("delta", _no_fn, "delta({a})", _fsym("delta", r"\Delta"), state="delta"),
    _u("runmax", _no_fn, "runmax({a})", _fsym("runmax", r"\operatorname{runmax}"), state="runmax"),
)

_BINARY_ROWS: tuple[Operation, ...] = (
    # SPEC 1.3; the first seven are also the decay functions' binary operations (SPEC 2).
    _b(
        "add",
        torch.add,
        "{a1} + {b1}",
        lambda x, y: x + y,
        decay=True,
        commutative=True,
        prec=1,
        code="{X} + {Y}",
    ),
    _b("sub", torch.sub, "{a1} - {b2}", lambda x, y: x - y, decay=True, prec=1, code="{X} - {Y}"),
    _b(
        "mul",
        torch.mul,
        "{a2} * {b2}",
        lambda x, y: x * y,
        decay=True,
        commutative=True,
        prec=2,
        code="{X} * {Y}",
    ),
    _b(
        "max",
        torch.maximum,
        "max({a}, {b})",
        lambda x, y: sp.Max(x, y),
        decay=True,
        commutative=True,
        code="torch.maximum({x}, {y})",
    ),
    _b(
        "min",
        torch.minimum,
        "min({a}, {b})",
        lambda x, y: sp.Min(x, y),
        decay=True,
        commutative=True,
        code="torch.minimum({x}, {y})",
    ),
    _b(
        "div",
        lambda x, y: x / (y + EPS),
        "{a2} / ({b} + eps)",
        lambda x, y: x / (y + _eps()),
        decay=True,
        prec=2,
        code="{X} / ({y} + EPS)",
    ),
    _b(
        "div_sqrt1p",
        lambda x, y: x / torch.sqrt(1.0 + y * y),
        "{a2} / sqrt(1 + {b3}^2)",
        lambda x, y: x / sp.sqrt(1 + y**2),
        decay=True,
        prec=2,
        code="{X} / torch.sqrt(1.0 + {Y} * {Y})",
    ),
    _b(
        "clip",
        lambda x, y: torch.clamp(x, -torch.abs(y), torch.abs(y)),
        "clip({a}, ±{B})",
        lambda x, y: _f("clip", r"\operatorname{clip}")(x, -sp.Abs(y), sp.Abs(y)),
        code="torch.clamp({x}, -torch.abs({y}), torch.abs({y}))",
    ),
    _b(
        "mix",
        lambda x, y: 0.95 * x + 0.05 * y,
        "0.95*{a2} + 0.05*{b2}",
        lambda x, y: sp.Float(0.95) * x + sp.Float(0.05) * y,
        prec=1,
        code="0.95 * {X} + 0.05 * {Y}",
    ),
    _b(
        "pow",
        lambda x, y: torch.pow(torch.abs(x), y),
        "{A}^{b3}",
        lambda x, y: sp.Abs(x) ** y,
        code="torch.pow(torch.abs({x}), {y})",
    ),
)

_EPS_FORMS: dict[str, Callable[[float], Callable[..., Tensor]]] = {
    # The operations whose eps is a constant of the extended space, for any eps (the rows
    # above are these at the paper's EPS).
    "log": lambda eps: lambda x: torch.log(torch.abs(x) + eps),
    "recip": lambda eps: lambda x: 1.0 / (x + eps),
    "div": lambda eps: lambda x, y: x / (y + eps),
}


def operation_fn(name: str, eps: float = EPS) -> Callable[..., Tensor]:
    """The function of operation `name` with the search space's epsilon set to `eps` (the
    same torch calls as its row's `fn`, which is this at eps = EPS)."""
    if name in _EPS_FORMS and eps != EPS:
        return _EPS_FORMS[name](eps)
    return OPERATIONS[name].fn


UNARY: dict[str, Operation] = {op.name: op for op in _UNARY_ROWS}
BINARY: dict[str, Operation] = {op.name: op for op in _BINARY_ROWS}
OPERATIONS: dict[str, Operation] = {**UNARY, **BINARY}

UPDATE_UNARY: tuple[str, ...] = tuple(n for n, op in UNARY.items() if op.update and not op.extended)
"""The unary operations of the paper's update graphs (SPEC 1.2), in the order draws use."""
UPDATE_BINARY: tuple[str, ...] = tuple(
    n for n, op in BINARY.items() if op.update and not op.extended
)
EXTENDED_UNARY: tuple[str, ...] = tuple(n for n, op in UNARY.items() if op.update)
"""The paper's unary operations and the extended space's (a genome may hold any of these)."""
EXTENDED_BINARY: tuple[str, ...] = tuple(n for n, op in BINARY.items() if op.update)
DECAY_UNARY: tuple[str, ...] = tuple(n for n, op in UNARY.items() if op.decay)
DECAY_BINARY: tuple[str, ...] = tuple(n for n, op in BINARY.items() if op.decay)


# --------------------------------------------------------------------------------------------
# Operands of the weight-update graph (SPEC 1.1)
# --------------------------------------------------------------------------------------------

# Exponential moving averages behind the operands: name -> decay rate b of EMA_b(x).
EMA_RATES: dict[str, float] = {"v": 0.9, "s": 0.99, "lam": 0.999}
EMA_INPUT_POWER: dict[str, int] = {"v": 1, "s": 2, "lam": 3}


@dataclass(frozen=True)
class Operand:
    """A leaf of the weight-update graph.

    `needs` lists the optimizer state it reads (raw EMAs `v`, `s`, `lam`); `weight` says it
    reads the parameters. Its value is computed by the compiler. `latex` is its LaTeX form;
    `extended`: an operand of the extended space only.
    """

    name: str
    latex: str
    needs: tuple[str, ...] = ()
    weight: bool = False
    gradient: bool = True
    extended: bool = False


def _operand(
    name: str,
    latex: str,
    needs: tuple[str, ...] = (),
    weight: bool = False,
    gradient: bool = True,
    extended: bool = False,
) -> Operand:
    return Operand(name, latex, needs, weight, gradient, extended)


_OPERAND_ROWS: tuple[Operand, ...] = (
    _operand("g", "g"),
    _operand("g2", "g^{2}"),
    _operand("g3", "g^{3}"),
    _operand("v", r"\hat{v}", ("v",)),
    _operand("s", r"\hat{s}", ("s",)),
    _operand("lam", r"\hat{\lambda}", ("lam",)),
    _operand("one", "1", gradient=False),
    _operand("two", "2", gradient=False),
    _operand("w6", r"10^{-6} w", weight=True, gradient=False),
    _operand("w5", r"10^{-5} w", weight=True, gradient=False),
    _operand("w4", r"10^{-4} w", weight=True, gradient=False),
    _operand("w3", r"10^{-3} w", weight=True, gradient=False),
    _operand("sign_g", r"\operatorname{sign}(g)"),
    _operand("sign_v", r"\operatorname{sign}(\hat{v})", ("v",)),
    _operand("qh_g", r"\operatorname{qh}_{g}", ("v",)),
    _operand("qh_g2", r"\operatorname{qh}_{g^{2}}", ("s",)),
    _operand("qh_g3", r"\operatorname{qh}_{g^{3}}", ("lam",)),
    _operand("agg_g", r"\operatorname{agg}_{g}", ("v",)),
    _operand("agg_g2", r"\operatorname{agg}_{g^{2}}", ("s",)),
    _operand("agg_g3", r"\operatorname{agg}_{g^{3}}", ("lam",)),
    # The extended space: Lion's update direction, beta_dir * v_raw + (1 - beta_dir) * g with
    # v_raw the EMA of g as it was before this step (not bias-corrected).
    _operand("dir", r"\operatorname{dir}", ("v",), extended=True),
)
OPERANDS: dict[str, Operand] = {op.name: op for op in _OPERAND_ROWS}
"""Every operand a genome may read (the paper's and the extended space's)."""
PAPER_OPERANDS: tuple[str, ...] = tuple(n for n, op in OPERANDS.items() if not op.extended)
"""The 20 operands of SPEC 1.1, in the order draws use."""
EXTENDED_OPERANDS: tuple[str, ...] = tuple(OPERANDS)

WEIGHT_SCALES: dict[str, float] = {"w6": 1e-6, "w5": 1e-5, "w4": 1e-4, "w3": 1e-3}
QH_MIX: dict[str, tuple[float, str, str]] = {
    # operand -> (weight of the instantaneous term, power name, EMA name)
    "qh_g": (0.3, "g", "v"),
    "qh_g2": (0.05, "g2", "s"),
    "qh_g3": (0.01, "g3", "lam"),
}
AGG_BETAS: dict[str, tuple[tuple[float, ...], str, str]] = {
    # operand -> (betas averaged over, power name, raw EMA name)
    "agg_g": ((0.0, 0.9, 0.999), "g", "v"),
    "agg_g2": ((0.0, 0.99, 0.999), "g2", "s"),
    "agg_g3": ((0.0, 0.999, 0.9999), "g3", "lam"),
}
STATE_EMA_RATE = 0.95
"""Rate of the state-holding `ema` operation (SPEC 1.2)."""


# --------------------------------------------------------------------------------------------
# Decay schedules (SPEC 2): operands of the decay graphs, functions of t in [0, T).
# --------------------------------------------------------------------------------------------


def _demon(t: Tensor, T: int) -> Tensor:
    b = 0.95 * (1.0 - (t + 1.0) / T)
    return b / (0.05 + b)


SCHEDULES: dict[str, Callable[[Tensor, int], Tensor]] = {
    "lin_dec": lambda t, T: 1.0 - t / T,
    "lin_inc": lambda t, T: t / T,
    "cos_dec": lambda t, T: 0.5 * (1.0 + torch.cos(math.pi * t / T)),
    "cos_inc": lambda t, T: 0.5 * (1.0 - torch.cos(math.pi * t / T)),
    "cyc_cos_dec": lambda t, T: 0.5 * (1.0 + torch.cos(2.0 * math.pi * t / T)),
    "cyc_cos_inc": lambda t, T: 0.5 * (1.0 - torch.cos(2.0 * math.pi * t / T)),
    "cos_dec_restart": lambda t, T: (
        0.5 * (1.0 + torch.cos(math.pi * (torch.remainder(2 * t, T) / T)))
    ),
    "cos_inc_restart": lambda t, T: (
        0.5 * (1.0 - torch.cos(math.pi * (torch.remainder(2 * t, T) / T)))
    ),
    "lin_dec_restart": lambda t, T: 1.0 - torch.remainder(2 * t, T) / T,
    "lin_inc_restart": lambda t, T: torch.remainder(2 * t, T) / T,
    "exp_dec": lambda t, T: torch.pow(torch.tensor(0.01, dtype=t.dtype), t / T),
    "exp_inc": lambda t, T: 1.0 - torch.pow(torch.tensor(0.01, dtype=t.dtype), t / T),
    "demon_dec": _demon,
    "demon_inc": lambda t, T: 0.95 - _demon(t, T),
}
SCHEDULE_LATEX: dict[str, str] = {
    name: r"\operatorname{" + name.replace("_", r"\_") + "}(t)" for name in SCHEDULES
}


def schedule_table(name: str, T: int, start: int = 0, stop: int | None = None) -> Tensor:
    """The decay schedule `name` at t = 0..T-1 (float64), or at t = start..stop-1 only."""
    if T < 1:
        raise ValueError(f"T must be a positive number of steps, got {T}")
    t = torch.arange(start, T if stop is None else stop, dtype=torch.float64)
    return SCHEDULES[name](t, T)
