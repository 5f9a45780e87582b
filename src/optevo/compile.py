"""The compiler: a genome becomes one update function over flat parameter tensors.

Only the active subgraph is computed, only the state it reads is kept, operands are computed
at most once per step, and decay functions are tables of T values read by index. The same
compiled rule serves the drop-in optimizer (one flat vector per parameter bucket), the
integrity check (12 sphere runs as rows of one matrix) and the batched trainer (K model
copies as rows): every value has the layout (..., N), the last dimension holding the
parameter tensors side by side (`OpContext.segments`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from optevo.space.decay import DecayGenome
from optevo.space.genome import Genome
from optevo.space.graph import Node, parse_hidden
from optevo.space.ops import (
    AGG_BETAS,
    EMA_INPUT_POWER,
    EMA_RATES,
    OPERANDS,
    OPERATIONS,
    QH_MIX,
    STATE_EMA_RATE,
    WEIGHT_SCALES,
    OpContext,
)

State = dict[str, Tensor]
Value = Callable[["_Step"], Tensor]

_NESTED_NODES = 64
"""Graphs with more active nodes compute them in order rather than by nested calls."""


@dataclass
class _Step:
    """Everything one evaluation of the update reads."""

    g: Tensor
    w: Tensor | None
    state: State
    k: int
    decays: Sequence[float]
    ctx: OpContext
    memo: dict[str, Tensor]


@dataclass(frozen=True)
class CompiledRule:
    """An update rule ready to run.

    `state_names` are the state tensors to allocate (zeros shaped like the parameters):
    raw EMAs `v`/`s`/`lam`, `<node>.<op>` for state-holding operations, and `m` for the
    momentum buffer. `decays` are the distinct decay functions of the active graph; pass
    their values at step k (from `decay_tables`) to `update`.
    """

    genome: Genome
    state_names: tuple[str, ...]
    needs_weight: bool
    random: bool
    decays: tuple[DecayGenome, ...]
    _program: Callable[[_Step], Tensor]

    def decay_tables(self, total_steps: int) -> list[list[float]]:
        """Each decay function at k = 0..T-1, as Python floats for cheap per-step reads."""
        return [d.table(total_steps).tolist() for d in self.decays]

    def init_state(self, like: Tensor) -> State:
        return {name: torch.zeros_like(like) for name in self.state_names}

    def update(
        self,
        g: Tensor,
        state: State,
        k: int,
        decays: Sequence[float] = (),
        w: Tensor | None = None,
        ctx: OpContext | None = None,
    ) -> Tensor:
        """The update u at step k (sign flip applied); advances the rule's state in place.

        `g` and `w` (needed when `needs_weight`) have the layout (..., N); `decays` are the
        decay functions' values at step k in the order of `self.decays`.
        """
        if self.needs_weight and w is None:
            raise ValueError("this update rule reads the weights: pass w")
        step = _Step(g, w, state, k, decays, ctx or OpContext(), {})
        u = self._program(step)
        return -u if self.genome.flipped else u


def weight_delta(u: Tensor, state: State, lr: float | Tensor, mu: float, momentum: str) -> Tensor:
    """The change of the weights for update u (SPEC 1's momentum types); updates `m`."""
    if momentum == "none":
        return u * (-lr) if isinstance(lr, float) else -lr * u
    m = state["m"]
    m.mul_(mu).sub_(lr * u)
    if momentum == "momentum":
        return m
    return mu * m - lr * u


@functools.lru_cache(maxsize=4096)
def compile_genome(genome: Genome) -> CompiledRule:
    """Compile the active subgraph of `genome` into a CompiledRule (cached per genome)."""
    builder = _Builder(genome)
    program = builder.build()
    state = list(builder.ema_names) + builder.node_states
    if genome.momentum != "none":
        state.append("m")
    return CompiledRule(
        genome=genome,
        state_names=tuple(state),
        needs_weight=builder.needs_weight,
        random=builder.random,
        decays=tuple(builder.decays),
        _program=program,
    )


class _Builder:
    """Turns the active graph into nested closures, each computing one value per step."""

    def __init__(self, genome: Genome) -> None:
        self.genome = genome
        self.ema_names: list[str] = []
        self.node_states: list[str] = []
        self.decays: list[DecayGenome] = []
        self.needs_weight = False
        self.random = False
        self.values: dict[str, Value] = {}

    def build(self) -> Callable[[_Step], Tensor]:
        names = self.genome.active_names()
        # Raw EMAs are advanced once per step before anything reads them.
        used = {r for n in names for r in self.genome.node(n).inputs if r in OPERANDS}
        for name in ("v", "s", "lam"):
            if any(name in OPERANDS[r].needs for r in used):
                self.ema_names.append(name)
        self.needs_weight = any(OPERANDS[r].weight for r in used)
        for name in names:
            self.values[name] = self._node(name, self.genome.node(name))
        out = self.values[names[-1]]
        emas = tuple(self.ema_names)
        # Each node's closure calls its inputs', so a long chain would nest as deep as the
        # graph. A large graph computes its nodes first, in dependency order (the order the
        # nested calls would take): every input is then memoised, and the calls stay shallow.
        ahead = tuple(self.values[n] for n in names[:-1]) if len(names) > _NESTED_NODES else ()

        def program(step: _Step) -> Tensor:
            for ema in emas:
                rate = EMA_RATES[ema]
                step.state[ema].lerp_(_power(step, EMA_INPUT_POWER[ema]), 1.0 - rate)
            for value in ahead:
                value(step)
            return out(step)

        return program

    # -- operands -------------------------------------------------------------------------

    def _ref(self, ref: str) -> Value:
        if parse_hidden(ref) is not None:
            return self.values[ref]
        return _OPERAND_VALUES[ref]

    def _conn(self, ref: str, decay: DecayGenome | None) -> Value:
        inner = self._ref(ref)
        if decay is None:
            return inner
        if decay not in self.decays:
            self.decays.append(decay)
        j = self.decays.index(decay)
        return lambda s: inner(s) * s.decays[j]

    # -- nodes ----------------------------------------------------------------------------

    def _node(self, name: str, node: Node) -> Value:
        op = OPERATIONS[node.op]
        args = [self._conn(r, d) for r, d in zip(node.inputs, node.decays, strict=True)]
        if op.state is not None:
            key = f"{name}.{op.state}"
            self.node_states.append(key)
            return _memo(name, _STATE_OPS[op.state](key, args[0]))
        fn = op.fn
        if op.needs_ctx:
            self.random = self.random or node.op.startswith("drop")
            if len(args) == 1:
                a0 = args[0]
                return _memo(name, lambda s: fn(a0(s), s.ctx))
        if len(args) == 1:
            a0 = args[0]
            return _memo(name, lambda s: fn(a0(s)))
        a0, a1 = args
        return _memo(name, lambda s: fn(a0(s), a1(s)))


def _memo(name: str, value: Value) -> Value:
    """Compute a node once per step even when several nodes read it."""

    def get(s: _Step) -> Tensor:
        out = s.memo.get(name)
        if out is None:
            out = s.memo[name] = value(s)
        return out

    return get


# ---------------------------------------------------------------------------------------------
# Operand values (SPEC 1.1). Bias correction uses the exponent k + 1.
# ---------------------------------------------------------------------------------------------


def _power(s: _Step, p: int) -> Tensor:
    key = f"g{p}"
    out = s.memo.get(key)
    if out is None:
        out = s.g if p == 1 else s.g * s.g if p == 2 else s.g * s.g * s.g
        s.memo[key] = out
    return out


def _hat(s: _Step, ema: str) -> Tensor:
    key = f"{ema}_hat"
    out = s.memo.get(key)
    if out is None:
        out = s.state[ema] / (1.0 - EMA_RATES[ema] ** (s.k + 1))
        s.memo[key] = out
    return out


def _const(c: float) -> Value:
    return lambda s: torch.full_like(s.g, c)


def _weight(scale: float) -> Value:
    def value(s: _Step) -> Tensor:
        assert s.w is not None
        return s.w * scale

    return value


def _qh(mix: float, power: int, ema: str) -> Value:
    return lambda s: mix * _power(s, power) + (1.0 - mix) * _hat(s, ema)


def _agg(betas: tuple[float, ...], power: int, ema: str) -> Value:
    # mean over b of (b * raw - g^p) = mean(b) * raw - g^p
    mean_beta = sum(betas) / len(betas)
    return lambda s: mean_beta * s.state[ema] - _power(s, power)


_POWERS = {"g": 1, "g2": 2, "g3": 3}
_OPERAND_VALUES: dict[str, Value] = {
    "g": lambda s: s.g,
    "g2": lambda s: _power(s, 2),
    "g3": lambda s: _power(s, 3),
    "v": lambda s: _hat(s, "v"),
    "s": lambda s: _hat(s, "s"),
    "lam": lambda s: _hat(s, "lam"),
    "one": _const(1.0),
    "two": _const(2.0),
    **{name: _weight(scale) for name, scale in WEIGHT_SCALES.items()},
    "sign_g": lambda s: torch.sign(s.g),
    "sign_v": lambda s: torch.sign(s.state["v"]),
    **{name: _qh(mix, _POWERS[p], ema) for name, (mix, p, ema) in QH_MIX.items()},
    **{name: _agg(b, _POWERS[p], ema) for name, (b, p, ema) in AGG_BETAS.items()},
}
assert set(_OPERAND_VALUES) == set(OPERANDS), "every operand needs a compiled value"


# ---------------------------------------------------------------------------------------------
# State-holding operations (SPEC 1.2); each keeps one tensor, initialised to 0.
# ---------------------------------------------------------------------------------------------


def _ema(key: str, x: Value) -> Value:
    def value(s: _Step) -> Tensor:
        buf = s.state[key]
        buf.lerp_(x(s), 1.0 - STATE_EMA_RATE)
        return buf / (1.0 - STATE_EMA_RATE ** (s.k + 1))

    return value


def _delta(key: str, x: Value) -> Value:
    def value(s: _Step) -> Tensor:
        buf = s.state[key]
        buf.neg_().add_(x(s))  # d <- x - d
        return buf

    return value


def _runmax(key: str, x: Value) -> Value:
    def value(s: _Step) -> Tensor:
        buf = s.state[key]
        torch.maximum(buf, x(s), out=buf)
        return buf

    return value


_STATE_OPS: dict[str, Callable[[str, Value], Value]] = {
    "ema": _ema,
    "delta": _delta,
    "runmax": _runmax,
}
