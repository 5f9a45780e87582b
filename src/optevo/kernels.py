"""The update operations of the search space, written into a buffer the caller owns.

`ops.OPERATIONS[name].fn` defines each operation as a readable expression that returns a new
tensor. The compiler runs the form here instead: `run(out, *inputs, [ctx], *scratch,
*scalars)` writes the same values into `out`, one torch call after another on reused buffers,
so a step allocates nothing of the parameters' size. Every form repeats its definition's
torch calls in the same order with the same scalars, so the results are bit-identical to `fn`
(tests/test_kernels.py checks each one).

`alias[i]` says whether `out` may be the memory of input i: true when input i is read before
anything is written to `out`. `scratch` lists the extra buffers a form needs: None for one
like the values, a dtype for another (the dropout mask). `scalars` are the numbers its
arithmetic uses (the definition's eps, 1, 0.05, ...), passed in by the caller so that they
can be 0-dim tensors (see `program.py`); `eps_slots` says which of them are the search
space's eps, which a genome of the extended space sets (the compiler passes its value).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from optevo.space.ops import EPS, EXTENDED_BINARY, EXTENDED_UNARY, OpContext


@dataclass(frozen=True)
class Kernel:
    run: Callable[..., object]
    alias: tuple[bool, ...]
    scratch: tuple[torch.dtype | None, ...] = ()
    needs_ctx: bool = False
    scalars: tuple[float, ...] = ()
    eps_slots: tuple[int, ...] = ()


def _out(fn: Callable[..., Tensor], arity: int = 1) -> Kernel:
    """A single torch call with `out=`: it reads every input before it writes."""
    if arity == 1:
        return Kernel(lambda out, x: fn(x, out=out), (True,))
    return Kernel(lambda out, x, y: fn(x, y, out=out), (True, True))


def _log(out: Tensor, x: Tensor, eps: Tensor) -> None:  # log(|x| + eps)
    torch.abs(x, out=out).add_(eps).log_()


def _sqrt(out: Tensor, x: Tensor) -> None:  # sqrt(|x|)
    torch.abs(x, out=out).sqrt_()


def _recip1p(out: Tensor, x: Tensor, one: Tensor) -> None:  # 1 / (1 + |x|) = reciprocal
    torch.abs(x, out=out).add_(one).reciprocal_()


def _recip(out: Tensor, x: Tensor, eps: Tensor) -> None:  # 1 / (x + eps)
    torch.add(x, eps, out=out).reciprocal_()


def _softsign(out: Tensor, x: Tensor, one: Tensor) -> None:  # x / (|x| + 1), as torch's
    torch.abs(x, out=out).add_(one)
    torch.div(x, out, out=out)


def _softplus(out: Tensor, x: Tensor) -> None:
    torch._C._nn.softplus(x, 1, 20, out=out)  # type: ignore[call-arg]  # stubs lack out=


def _drop(p: float) -> Kernel:
    def run(out: Tensor, x: Tensor, ctx: OpContext, dropped: Tensor, keep: Tensor) -> None:
        # The draws of torch.rand(x.shape, generator=...); where(rand >= p, x / (1 - p), 0).
        out.uniform_(generator=ctx.generator)
        torch.lt(out, p, out=dropped)
        torch.div(x, keep, out=out).masked_fill_(dropped, 0.0)

    return Kernel(run, (False,), (torch.bool,), needs_ctx=True, scalars=(1.0 - p,))


def _clip_by_norm(out: Tensor, x: Tensor) -> None:
    norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_(min=1.0)
    torch.div(x, norm, out=out)


def _norm(out: Tensor, x: Tensor, ctx: OpContext) -> None:
    # Per parameter tensor (ctx.segments along the last dimension), each row separately.
    if ctx.segments is None or len(ctx.segments) <= 1:
        _clip_by_norm(out, x)
        return
    parts = zip(
        torch.split(out, list(ctx.segments), dim=-1),
        torch.split(x, list(ctx.segments), dim=-1),
        strict=True,
    )
    for o, part in parts:
        _clip_by_norm(o, part)


def _div(out: Tensor, x: Tensor, y: Tensor, eps: Tensor) -> None:  # x / (y + eps)
    torch.add(y, eps, out=out)
    torch.div(x, out, out=out)


def _div_sqrt1p(out: Tensor, x: Tensor, y: Tensor, one: Tensor) -> None:  # x / sqrt(1 + y^2)
    torch.mul(y, y, out=out).add_(one).sqrt_()
    torch.div(x, out, out=out)


def _clip(out: Tensor, x: Tensor, y: Tensor, bound: Tensor) -> None:  # clamp(x, -|y|, |y|)
    torch.abs(y, out=bound)
    torch.neg(bound, out=out)
    torch.clamp(x, out, bound, out=out)


def _mix(out: Tensor, x: Tensor, y: Tensor, part: Tensor, a: Tensor, b: Tensor) -> None:
    torch.mul(y, b, out=part)  # 0.95 x + 0.05 y
    torch.mul(x, a, out=out).add_(part)


def _pow(out: Tensor, x: Tensor, y: Tensor) -> None:  # |x|^y
    torch.abs(x, out=out)
    torch.pow(out, y, out=out)


KERNELS: dict[str, Kernel] = {
    "neg": _out(torch.neg),
    "log": Kernel(_log, (True,), scalars=(EPS,), eps_slots=(0,)),
    "sqrt": Kernel(_sqrt, (True,)),
    "exp": _out(torch.exp),
    "abs": _out(torch.abs),
    "sigmoid": _out(torch.sigmoid),
    "recip1p": Kernel(_recip1p, (True,), scalars=(1.0,)),
    "softplus": Kernel(_softplus, (True,)),
    "erf": _out(torch.erf),
    "erfc": _out(torch.erfc),
    "asinh": _out(torch.asinh),
    "tanh": _out(torch.tanh),
    "atan": _out(torch.atan),
    "recip": Kernel(_recip, (True,), scalars=(EPS,), eps_slots=(0,)),
    # torch's i1e is a scalar loop that runs 4-5x slower in place: never alias it.
    "i1e": Kernel(lambda out, x: torch.special.i1e(x, out=out), (False,)),
    "relu": Kernel(lambda out, x: torch.clamp_min(x, 0.0, out=out), (True,)),
    "min0": Kernel(lambda out, x: torch.clamp(x, max=0.0, out=out), (True,)),
    "drop0.5": _drop(0.5),
    "drop0.3": _drop(0.3),
    "drop0.1": _drop(0.1),
    "norm": Kernel(_norm, (True,), needs_ctx=True),
    "softsign": Kernel(_softsign, (False,), scalars=(1.0,)),
    "sign": _out(torch.sign),
    "add": _out(torch.add, 2),
    "sub": _out(torch.sub, 2),
    "mul": _out(torch.mul, 2),
    "max": _out(torch.maximum, 2),
    "min": _out(torch.minimum, 2),
    "div": Kernel(_div, (False, True), scalars=(EPS,), eps_slots=(0,)),
    "div_sqrt1p": Kernel(_div_sqrt1p, (False, True), scalars=(1.0,)),
    "clip": Kernel(_clip, (False, True), (None,)),
    "mix": Kernel(_mix, (True, True), (None,), scalars=(0.95, 0.05)),
    "pow": Kernel(_pow, (True, False)),
}
"""The buffer form of every update operation but `identity` (a value passed on) and the
state-holding ones (the compiler keeps their state)."""

_COMPILED_ELSEWHERE = {"identity", "ema", "delta", "runmax"}
assert set(KERNELS) | _COMPILED_ELSEWHERE == set(EXTENDED_UNARY) | set(EXTENDED_BINARY), (
    "every update operation needs a buffer form"
)
