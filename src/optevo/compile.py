"""The compiler: a genome becomes one straight-line update program over flat tensors.

Only the active subgraph is computed, only the state it reads is kept, and every operand is
computed at most once per step. The same compiled rule serves the drop-in optimizer (one flat
vector per parameter bucket), the integrity check (12 sphere runs as rows of one matrix) and
the batched trainer (K model copies as rows): every value has the layout (..., N), the last
dimension holding the parameter tensors side by side (`OpContext.segments`).

A program is a list of torch calls, each writing into a register: the gradient, weights and
state tensors the caller passes, per-step scalars (bias corrections, decay values, learning
rate, momentum), and the buffers of a `Workspace`. The compiler plans the buffers once from
the active graph: a value's buffer is reused as soon as nothing reads the value any more,
often by the very call that consumes it. A caller that keeps one workspace across steps (the
optimizer, the integrity check, the trainer) allocates nothing of the parameters' size per
step; without one every call gets fresh buffers and returns a fresh tensor.

Each call repeats the torch operations of the definitions (`ops.OPERATIONS[...].fn`, SPEC 1,
`kernels.py`) in the same order on the same values, so results are bit-identical to
evaluating the graph expression by expression.

A genome of the extended space brings its constants (`optevo.space.genes`): its EMA rates
(and their bias corrections), eps, quasi-hyperbolic weights and beta_dir replace the paper's
values in the calls, and a weight decay wd != 0 adds `-|lr| * wd * w` to the weight change
(decoupled, beside SPEC 1's step, as AdamW; |lr| so that the integrity check's rows with a
negative learning rate flip the update, not the decay). A genome of the paper's space compiles
to exactly the calls it always did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from optevo.kernels import KERNELS, Kernel
from optevo.program import WD_LR, Arg, Call, Program, ScalarFn, State, Workspace, plan
from optevo.space.decay import DecayGenome
from optevo.space.genes import EMA_BETA, QH_WEIGHT
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

# ---------------------------------------------------------------------------------------------
# The compiled rule
# ---------------------------------------------------------------------------------------------


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
    _ir: _IR = field(repr=False)

    def decay_tables(self, total_steps: int) -> list[list[float]]:
        """Each decay function at k = 0..T-1, as Python floats for cheap per-step reads."""
        return [d.table(total_steps).tolist() for d in self.decays]

    def init_state(self, like: Tensor) -> State:
        return {name: torch.zeros_like(like) for name in self.state_names}

    @functools.cached_property
    def update_program(self) -> Program:
        """The update u (sign flip applied)."""
        return self._ir.program(flip=self.genome.flipped, momentum=None)

    @functools.cached_property
    def delta_program(self) -> Program:
        """The change of the weights: u, the learning rate and SPEC 1's momentum type (a
        flipped genome's sign is carried by the learning rate, which is exact)."""
        return self._ir.program(flip=self.genome.flipped, momentum=self.genome.momentum)

    def update(
        self,
        g: Tensor,
        state: State,
        k: int,
        decays: Sequence[float] = (),
        w: Tensor | None = None,
        ctx: OpContext | None = None,
        workspace: Workspace | None = None,
    ) -> Tensor:
        """The update u at step k (sign flip applied); advances the rule's state in place.

        `g` and `w` (needed when `needs_weight`) have the layout (..., N); `decays` are the
        decay functions' values at step k in the order of `self.decays`. With a `workspace`
        (`self.update_program.workspace(g)`) the result lives in it until the next call.
        """
        if self.needs_weight and w is None:
            raise ValueError("this update rule reads the weights: pass w")
        return self.update_program.run(g, w, ctx or OpContext(), state, workspace, k, decays)

    def delta(
        self,
        g: Tensor,
        state: State,
        k: int,
        decays: Sequence[float],
        lr: float | Tensor,
        mu: float,
        w: Tensor | None = None,
        ctx: OpContext | None = None,
        workspace: Workspace | None = None,
    ) -> Tensor:
        """The change of the weights for learning rate `lr` (a float, or a tensor that
        broadcasts over the rows) and momentum coefficient `mu`; updates the state (and the
        momentum buffer `m`). `workspace`: from `self.delta_program.workspace(g)`."""
        if self.needs_weight and w is None:
            raise ValueError("this update rule reads the weights: pass w")
        return self.delta_program.run(g, w, ctx or OpContext(), state, workspace, k, decays, lr, mu)


@functools.lru_cache(maxsize=4096)
def compile_genome(genome: Genome) -> CompiledRule:
    """Compile the active subgraph of `genome` into a CompiledRule (cached per genome)."""
    ir = _Builder(genome).build()
    state = list(ir.ema_names) + ir.node_states
    if genome.momentum != "none":
        state.append("m")
    return CompiledRule(
        genome=genome,
        state_names=tuple(state),
        needs_weight=ir.needs_weight,
        random=ir.random,
        decays=tuple(ir.decays),
        _ir=ir,
    )


# ---------------------------------------------------------------------------------------------
# Intermediate form: calls over values, each assigned once (planned by `program.plan`)
# ---------------------------------------------------------------------------------------------


def _scalar_fn(rates: dict[str, float], name: str) -> ScalarFn:
    """The per-step scalar `name` as a function of (k, decay values, lr, mu); `rates` are the
    genome's EMA rates (by EMA name)."""
    kind, _, arg = name.partition(":")
    if kind == "bias":  # bias correction: the exponent is k + 1
        rate = STATE_EMA_RATE if arg == "ema" else rates[arg]
        return lambda k, d, lr, mu: 1.0 - rate ** (k + 1)
    if kind == "decay":
        j = int(arg)
        return lambda k, d, lr, mu: d[j]
    if name.startswith(WD_LR):
        wd = float(name[len(WD_LR) :])
        return lambda k, d, lr, mu: -abs(lr) * wd
    return {
        "lr": lambda k, d, lr, mu: lr,
        "neg_lr": lambda k, d, lr, mu: -lr,
        "mu": lambda k, d, lr, mu: mu,
    }[name]


@dataclass
class _IR:
    """The update u of a genome as calls over values; `program` plans its registers."""

    calls: list[Call]
    u: int
    fixed: dict[int, str]  # values that live in fixed registers: "g", "w", "state:<name>"
    constants: dict[int, float]  # values that are constant buffers
    ema_names: list[str]
    node_states: list[str]
    decays: list[DecayGenome]
    needs_weight: bool
    random: bool
    n_values: int
    rates: dict[str, float]  # the genome's EMA rates, by EMA name
    weight_decay: float  # the genome's decoupled weight decay (0: none)

    def program(self, flip: bool, momentum: str | None) -> Program:
        calls = list(self.calls)
        fixed = dict(self.fixed)
        n = self.n_values

        def new() -> int:
            nonlocal n
            n += 1
            return n - 1

        out = self.u
        if momentum is not None:
            out = _weight_change(calls, fixed, out, momentum, flip, new)
            if self.weight_decay != 0.0:
                out = _weight_decay(calls, fixed, out, self.weight_decay, new)
        elif flip:
            neg = new()
            calls.append(Call(KERNELS["neg"].run, (("out", neg), ("in", out)), (out,)))
            out = neg
        return plan(calls, out, fixed, self.constants, functools.partial(_scalar_fn, self.rates))


def _weight_change(
    calls: list[Call],
    fixed: dict[int, str],
    u: int,
    momentum: str,
    flip: bool,
    new: Callable[[], int],
) -> int:
    """SPEC 1's momentum types: none: u * -lr; momentum: m <- mu m - lr u, the change is m;
    nesterov: the change is mu m - lr u with the new m. A flipped genome's sign moves to the
    learning rate: (-u) * -lr is u * lr and lr * (-u) is -lr * u, bit for bit."""
    mul, sub = _MUL.run, _SUB.run
    lr, neg_lr = ("neg_lr", "lr") if flip else ("lr", "neg_lr")
    if momentum == "none":
        d = new()
        calls.append(Call(mul, (("out", d), ("in", u), ("reg", neg_lr)), (u,)))
        return d
    lr_u = new()
    calls.append(Call(mul, (("out", lr_u), ("in", u), ("reg", lr)), (u,)))
    m = new()
    fixed[m] = "state:m"
    calls.append(Call(_momentum_, (("reg", "state:m"), ("reg", "mu"), ("in", lr_u))))
    if momentum == "momentum":
        return m
    mu_m = new()
    calls.append(Call(mul, (("out", mu_m), ("in", m), ("reg", "mu"))))
    d = new()
    calls.append(Call(sub, (("out", d), ("in", mu_m), ("in", lr_u)), (mu_m, lr_u)))
    return d


def _weight_decay(
    calls: list[Call], fixed: dict[int, str], delta: int, wd: float, new: Callable[[], int]
) -> int:
    """The weight change plus the decoupled weight decay -|lr| * wd * w (the per-step scalar
    `wd_lr:<wd>`), added beside SPEC 1's step as AdamW adds it."""
    w = next((v for v, reg in fixed.items() if reg == "w"), None)
    if w is None:
        w = new()
        fixed[w] = "w"
    decay = new()
    calls.append(Call(_MUL.run, (("out", decay), ("in", w), ("reg", f"{WD_LR}{wd!r}"))))
    d = new()
    calls.append(Call(_ADD.run, (("out", d), ("in", delta), ("in", decay)), (delta, decay)))
    return d


def _momentum_(m: Tensor, mu: float, lr_u: Tensor) -> None:
    m.mul_(mu).sub_(lr_u)


# ---------------------------------------------------------------------------------------------
# From the active graph to calls
# ---------------------------------------------------------------------------------------------


def _lerp_(buf: Tensor, x: Tensor, weight: float) -> None:
    buf.lerp_(x, weight)


def _delta_(buf: Tensor, x: Tensor) -> None:  # d <- x - d
    buf.neg_().add_(x)


def _runmax_(buf: Tensor, x: Tensor) -> None:
    torch.maximum(buf, x, out=buf)


class _Builder:
    """Walks the active graph in the order the definitions evaluate it (a node's inputs left
    to right, each value once) and emits one call per operation."""

    def __init__(self, genome: Genome) -> None:
        self.genome = genome
        self.rates = {ema: genome.constant(beta) for ema, beta in EMA_BETA.items()}
        self.eps = genome.constant("eps")
        self.calls: list[Call] = []
        self.fixed: dict[int, str] = {}
        self.constants: dict[int, float] = {}
        self.memo: dict[str, int] = {}
        self.ema_names: list[str] = []
        self.node_states: list[str] = []
        self.decays: list[DecayGenome] = []
        self.random = False
        self.n = 0

    def build(self) -> _IR:
        genome = self.genome
        names = genome.active_names()
        used = {r for n in names for r in genome.node(n).inputs if r in OPERANDS}
        for name in ("v", "s", "lam"):
            if any(name in OPERANDS[r].needs for r in used):
                self.ema_names.append(name)
        weight_decay = genome.constant("wd")
        needs_weight = any(OPERANDS[r].weight for r in used) or weight_decay != 0.0
        # Lion's direction reads the raw EMA of g as it was before this step.
        if "dir" in used:
            self._operand("dir")
        # Raw EMAs are advanced once per step before anything else reads them.
        for ema in self.ema_names:
            x = self._power(EMA_INPUT_POWER[ema])
            self._emit(_lerp_, ("reg", f"state:{ema}"), ("in", x), ("lit", 1.0 - self.rates[ema]))
        # Nodes in dependency order (a depth-first walk from the output, inputs left to right:
        # the order a nested evaluation takes), so every input is built before its readers
        # and a deep graph needs no recursion.
        for name in names:
            self._value(name)
        u = self.memo[names[-1]]
        return _IR(
            calls=self.calls,
            u=u,
            fixed=self.fixed,
            constants=self.constants,
            ema_names=self.ema_names,
            node_states=self.node_states,
            decays=self.decays,
            needs_weight=needs_weight,
            random=self.random,
            n_values=self.n,
            rates=self.rates,
            weight_decay=weight_decay,
        )

    # -- values ---------------------------------------------------------------------------

    def _new(self) -> int:
        self.n += 1
        return self.n - 1

    def _fixed(self, reg: str) -> int:
        key = f"fixed:{reg}"
        if key not in self.memo:
            v = self.memo[key] = self._new()
            self.fixed[v] = reg
        return self.memo[key]

    def _emit(self, run: Callable[..., object], *args: Arg, alias: tuple[int, ...] = ()) -> None:
        self.calls.append(Call(run, args, alias))

    def _once(self, key: str, make: Callable[[], int]) -> int:
        if key not in self.memo:
            self.memo[key] = make()
        return self.memo[key]

    def _op(self, k: Kernel, *ins: Arg) -> int:
        """out = k(*ins) into a new value."""
        out = self._new()
        # The output may take over an input's buffer only if every read of it allows that.
        reads = [(x, ok) for (kind, x), ok in zip(ins, k.alias, strict=False) if kind == "in"]
        alias = tuple(x for x, _ in reads if all(ok for y, ok in reads if y == x))
        extra: list[Arg] = [("reg", "ctx")] if k.needs_ctx else []
        extra += [("scratch", dt) for dt in k.scratch]
        extra += [("scalar", self.eps if i in k.eps_slots else c) for i, c in enumerate(k.scalars)]
        self._emit(k.run, ("out", out), *ins, *extra, alias=alias)
        return out

    # -- operands (SPEC 1.1); bias correction uses the exponent k + 1 ---------------------

    def _power(self, p: int) -> int:
        g = self._fixed("g")
        if p == 1:
            return g
        if p == 2:
            return self._once("g2", lambda: self._op(_MUL, ("in", g), ("in", g)))
        g2 = self._power(2)  # g * g * g is (g * g) * g
        return self._once("g3", lambda: self._op(_MUL, ("in", g2), ("in", g)))

    def _hat(self, ema: str) -> int:
        raw = self._fixed(f"state:{ema}")
        return self._once(f"{ema}_hat", lambda: self._op(_DIV, ("in", raw), ("reg", f"bias:{ema}")))

    def _operand(self, ref: str) -> int:
        if ref in _POWERS:
            return self._power(_POWERS[ref])
        if ref in EMA_RATES:
            return self._hat(ref)
        if ref in ("one", "two"):
            return self._once(ref, lambda: self._constant(1.0 if ref == "one" else 2.0))
        if ref in WEIGHT_SCALES:
            w = self._fixed("w")
            scale = WEIGHT_SCALES[ref]
            return self._once(ref, lambda: self._op(_MUL, ("in", w), ("scalar", scale)))
        if ref in ("sign_g", "sign_v"):
            x = self._fixed("g") if ref == "sign_g" else self._fixed("state:v")
            return self._once(ref, lambda: self._op(_SIGN, ("in", x)))
        if ref in QH_MIX:
            _, power, ema = QH_MIX[ref]
            mix = self.genome.constant(QH_WEIGHT[ref])
            return self._once(ref, lambda: self._qh(mix, _POWERS[power], ema))
        if ref == "dir":
            return self._once(ref, self._direction)
        betas, power, ema = AGG_BETAS[ref]
        return self._once(ref, lambda: self._agg(betas, _POWERS[power], ema))

    def _constant(self, c: float) -> int:
        v = self._new()
        self.constants[v] = c
        return v

    def _qh(self, mix: float, power: int, ema: str) -> int:
        a = self._op(_MUL, ("in", self._power(power)), ("scalar", mix))
        b = self._op(_MUL, ("in", self._hat(ema)), ("scalar", 1.0 - mix))
        return self._op(_ADD, ("in", a), ("in", b))

    def _direction(self) -> int:
        """Lion's c = beta_dir * v_raw + (1 - beta_dir) * g, from v_raw before this step's
        EMA update, computed as lion-pytorch and `optevo.optim.lion` compute it."""
        beta = self.genome.constant("beta_dir")
        out = self._new()
        self._emit(
            _interpolate,
            ("out", out),
            ("in", self._fixed("state:v")),
            ("in", self._fixed("g")),
            ("scalar", beta),
            ("lit", 1.0 - beta),
        )
        return out

    def _agg(self, betas: tuple[float, ...], power: int, ema: str) -> int:
        # mean over b of (b * raw - g^p) = mean(b) * raw - g^p
        mean_beta = sum(betas) / len(betas)
        raw = self._fixed(f"state:{ema}")
        a = self._op(_MUL, ("in", raw), ("scalar", mean_beta))
        return self._op(_SUB, ("in", a), ("in", self._power(power)))

    # -- nodes ----------------------------------------------------------------------------

    def _ref(self, ref: str) -> int:
        if parse_hidden(ref) is not None:
            return self._value(ref)
        return self._operand(ref)

    def _conn(self, ref: str, decay: DecayGenome | None) -> int:
        inner = self._ref(ref)
        if decay is None:
            return inner
        if decay not in self.decays:
            self.decays.append(decay)
        j = self.decays.index(decay)
        return self._once(
            f"{ref}*d{j}", lambda: self._op(_MUL, ("in", inner), ("reg", f"decay:{j}"))
        )

    def _value(self, name: str) -> int:
        if name not in self.memo:
            self.memo[name] = self._node(name, self.genome.node(name))
        return self.memo[name]

    def _node(self, name: str, node: Node) -> int:
        op = OPERATIONS[node.op]
        args = [self._conn(r, d) for r, d in zip(node.inputs, node.decays, strict=True)]
        if op.state is not None:
            return self._state_op(f"{name}.{op.state}", op.state, args[0])
        if node.op == "identity":
            return args[0]
        self.random = self.random or node.op.startswith("drop")
        return self._op(KERNELS[node.op], *(("in", a) for a in args))

    def _state_op(self, key: str, kind: str, x: int) -> int:
        """SPEC 1.2's state-holding operations; each keeps one tensor, initialised to 0."""
        self.node_states.append(key)
        reg = f"state:{key}"
        if kind == "ema":
            self._emit(_lerp_, ("reg", reg), ("in", x), ("lit", 1.0 - STATE_EMA_RATE))
            return self._op(_DIV, ("in", self._fixed(reg)), ("reg", "bias:ema"))
        self._emit(_delta_ if kind == "delta" else _runmax_, ("reg", reg), ("in", x))
        return self._fixed(reg)


def _interpolate(out: Tensor, m: Tensor, g: Tensor, beta: Tensor, one_minus: float) -> None:
    torch.mul(m, beta, out=out).add_(g, alpha=one_minus)


_POWERS = {"g": 1, "g2": 2, "g3": 3}
_MUL, _ADD, _SUB = KERNELS["mul"], KERNELS["add"], KERNELS["sub"]
_DIV = Kernel(lambda out, x, y: torch.div(x, y, out=out), (True, True))  # plain x / y
_SIGN = Kernel(lambda out, x: torch.sign(x, out=out), (True,))
