"""Straight-line programs of torch calls over registers, and the buffers they reuse.

The compiler (`compile.py`) turns a genome into `Call`s over numbered values, each value
assigned once. `plan` gives every value a register: the caller's tensors (g, w, the state),
the per-step scalars, or a buffer of a `Workspace`. A buffer is reused as soon as nothing
reads its value any more, often by the very call that consumes it (when that call reads the
value before writing its output). Scalar operands of tensor arithmetic are kept as 0-dim
tensors of the values' dtype where that gives the same bits as a Python float (float32 and
float64: torch rounds the scalar to the tensor's dtype either way), which saves torch the
wrapping of a number at every call, the larger part of a call's cost on small tensors.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optevo.space.ops import OpContext

State = dict[str, Tensor]
ScalarFn = Callable[[int, Sequence[float], Any, Any], Any]  # (k, decays, lr, mu) -> value

LR_NAMES = ("lr", "neg_lr")
"""The per-step scalars that are the learning rate (a static workspace computes them)."""

WD_LR = "wd_lr:"
"""Prefix of the per-step scalar `wd_lr:<wd>` = -|lr| * wd, the decoupled weight decay of a
genome of the extended space (computed from the learning rate, as `LR_NAMES` are)."""

# An argument of a call: ("in", value) read; ("out", value) written; ("reg", name) a fixed
# register: "g", "w", "ctx", a per-step scalar or "state:<name>"; ("lit", x) a Python
# literal; ("scalar", x) a number multiplied, divided, added; ("scratch", dtype) a buffer
# used during the call only (None: the values' dtype).
Arg = tuple[str, Any]

_EXACT_TENSOR_SCALARS = (torch.float32, torch.float64)


@dataclass(frozen=True)
class Call:
    """`run(*args)`; `alias`: input values whose buffer the output may take over."""

    run: Callable[..., object]
    args: tuple[Arg, ...]
    alias: tuple[int, ...] = ()


class Workspace:
    """The reusable buffers of one program for values shaped like `like`.

    Keep one per parameter bucket (or sphere, or trainer) and pass it to every step; a
    program's result lives in it until the next call.
    """

    def __init__(self, program: Program, like: Tensor) -> None:
        def new(dtype: torch.dtype) -> Tensor:
            return torch.empty(like.shape, dtype=dtype, device=like.device)

        def scalar(c: float) -> Tensor | float:
            # A CPU 0-dim tensor is a scalar operand on any device.
            return torch.tensor(c, dtype=like.dtype) if like.dtype in _EXACT_TENSOR_SCALARS else c

        self.program = program
        self.shape = like.shape
        self.buffers = [new(dt or like.dtype) for dt in program.buffer_dtypes]
        self.buffers += [new(like.dtype).fill_(c) for c in program.constants]
        self.registers: list[Any] = [*self.buffers]
        self.registers += [scalar(c) for c in program.scalars]
        self.registers += program.literals
        # Per-step scalars are written into 0-dim tensors too (on the CPU, where filling one
        # costs less than torch wrapping a number).
        self.step_scalars: list[Tensor] | None = None
        if like.dtype in _EXACT_TENSOR_SCALARS and like.device.type == "cpu":
            self.step_scalars = [torch.zeros((), dtype=like.dtype) for _ in program.scalar_fns]
        self.static: _Static | None = None

    def data_ptrs(self) -> list[int]:
        return [b.data_ptr() for b in self.buffers]

    def bind_static(self, values: Tensor, peak: Tensor) -> None:
        """Read the per-step scalars from tensors on the values' device rather than from
        Python numbers, so that a step can be captured in a CUDA graph and replayed.

        `values` (1-D, `program.n_step_values` entries, the values' dtype and device) is
        written before each step with `Program.step_values`; its last entry is the factor of
        the learning rate, which is `peak` (a tensor broadcasting over the rows) times that
        factor, computed inside the step by `Program.run_static`.
        """
        n = self.program.n_step_values
        if values.shape != (n,):
            raise ValueError(f"need {n} step values, got a tensor of shape {tuple(values.shape)}")
        if values.device != peak.device or values.dtype != peak.dtype:
            raise ValueError("the step values and the peak learning rates differ in device/dtype")
        lr = torch.empty_like(peak)
        neg_lr = torch.empty_like(peak)
        registers = []
        decays: list[tuple[Tensor, float]] = []
        for i, name in enumerate(self.program.scalar_names):
            if name.startswith(WD_LR):
                decays.append((torch.empty_like(peak), float(name[len(WD_LR) :])))
                registers.append(decays[-1][0])
            else:
                registers.append(lr if name == "lr" else neg_lr if name == "neg_lr" else values[i])
        self.static = _Static(values, peak, lr, neg_lr, registers, decays)


@dataclass(frozen=True)
class _Static:
    """The device tensors a statically bound workspace reads its per-step scalars from."""

    values: Tensor
    peak: Tensor
    lr: Tensor
    neg_lr: Tensor
    registers: list[Tensor]
    weight_decays: list[tuple[Tensor, float]]  # (register of -|lr| * wd, wd)


@dataclass(frozen=True)
class Program:
    """A planned sequence of torch calls: `(run, register getter)`.

    Registers: g, w, ctx; the per-step scalars (`scalar_fns`); the state tensors in
    `state_names` order; then those of a workspace: the buffers (`buffer_dtypes`), the
    constant buffers (`constants`), the scalar operands (`scalars`), the literals.
    `result` is the register of the value returned.
    """

    instructions: tuple[tuple[Callable[..., object], Callable[[list[Any]], tuple[Any, ...]]], ...]
    scalar_fns: tuple[ScalarFn, ...]
    scalar_names: tuple[str, ...]
    state_names: tuple[str, ...]
    buffer_dtypes: tuple[torch.dtype | None, ...]
    constants: tuple[float, ...]
    scalars: tuple[float, ...]
    literals: tuple[Any, ...]
    result: int

    def workspace(self, like: Tensor) -> Workspace:
        return Workspace(self, like)

    def run(
        self,
        g: Tensor,
        w: Tensor | None,
        ctx: OpContext,
        state: State,
        workspace: Workspace | None,
        k: int,
        decays: Sequence[float],
        lr: Any = None,
        mu: Any = None,
    ) -> Tensor:
        if workspace is None:
            workspace = Workspace(self, g)
        elif workspace.program is not self or workspace.shape != g.shape:
            raise ValueError("this workspace belongs to another program or shape")
        regs: list[Any] = [g, w, ctx]
        scalars = [f(k, decays, lr, mu) for f in self.scalar_fns]
        if workspace.step_scalars is not None:
            scalars = [
                t.fill_(x) if isinstance(x, float) else x
                for t, x in zip(workspace.step_scalars, scalars, strict=True)
            ]
        regs += scalars
        return self._execute(regs, state, workspace)

    @property
    def n_step_values(self) -> int:
        """Entries of the step-value vector of `step_values` (the scalars, then the lr factor)."""
        return len(self.scalar_names) + 1

    def step_values(
        self, k: int, decays: Sequence[float], lr_factor: float, mu: float
    ) -> list[float]:
        """The per-step scalars of step k for a workspace bound by `Workspace.bind_static`
        (0 where the learning rate goes: it is computed from the factor at the end)."""
        values = [
            0.0 if _from_lr(name) else float(f(k, decays, None, mu))
            for name, f in zip(self.scalar_names, self.scalar_fns, strict=True)
        ]
        values.append(float(lr_factor))
        return values

    def run_static(
        self, g: Tensor, w: Tensor | None, ctx: OpContext, state: State, workspace: Workspace
    ) -> Tensor:
        """`run` reading the per-step scalars from the tensors bound to the workspace
        (`Workspace.bind_static`): no Python number reaches a kernel, so the calls can be
        captured in a CUDA graph. The same values as `run` for the same step."""
        static = workspace.static
        if static is None:
            raise ValueError("this workspace is not bound to step values (Workspace.bind_static)")
        if workspace.program is not self or workspace.shape != g.shape:
            raise ValueError("this workspace belongs to another program or shape")
        if "lr" in self.scalar_names or "neg_lr" in self.scalar_names:
            torch.mul(static.peak, static.values[-1], out=static.lr)
            torch.neg(static.lr, out=static.neg_lr)
        for register, wd in static.weight_decays:
            torch.abs(static.lr, out=register).mul_(-wd)
        return self._execute([g, w, ctx, *static.registers], state, workspace)

    def _execute(self, regs: list[Any], state: State, workspace: Workspace) -> Tensor:
        regs += [state[name] for name in self.state_names]
        regs += workspace.registers
        for run, get in self.instructions:
            run(*get(regs))
        out: Tensor = regs[self.result]
        return out


def _from_lr(name: str) -> bool:
    """Whether the per-step scalar `name` is computed from the learning rate."""
    return name in LR_NAMES or name.startswith(WD_LR)


_FIXED = ("g", "w", "ctx")


def plan(
    calls: list[Call],
    result: int,
    fixed: dict[int, str],
    constants: dict[int, float],
    scalar_fns: Callable[[str], ScalarFn],
) -> Program:
    """Give every value a register; a buffer is reused once nothing reads its value.

    `fixed` maps values held by fixed registers to their names ("g", "w", "state:<name>"),
    `constants` values that are constant buffers to their value; `scalar_fns(name)` makes
    the function computing a per-step scalar register.
    """
    last_use: dict[int, int] = {}
    for i, call in enumerate(calls):
        for kind, v in call.args:
            if kind == "in":
                last_use[v] = i
    last_use[result] = len(calls)

    names: list[str] = []  # fixed registers after g, w, ctx: scalars first, then state
    for name in [x for c in calls for kind, x in c.args if kind == "reg"] + list(fixed.values()):
        if name not in _FIXED and name not in names:
            names.append(name)
    scalar_names = [n for n in names if not n.startswith("state:")]
    state_names = [n for n in names if n.startswith("state:")]
    index = {name: i for i, name in enumerate([*_FIXED, *scalar_names, *state_names])}

    buffers = _Buffers()
    const_values = sorted(set(constants.values()))
    scalars: list[float] = []
    literals: list[Any] = []
    slot: dict[int, int] = {}  # value -> buffer
    planned: list[tuple[Callable[..., object], list[tuple[str, int]]]] = []
    for i, call in enumerate(calls):
        args: list[tuple[str, int]] = []
        scratch: list[int] = []
        dying = {v for kind, v in call.args if kind == "in" and last_use[v] == i and v in slot}
        handed_over = next((v for v in call.alias if v in dying), None)
        for kind, x in call.args:
            if kind == "out":
                slot[x] = slot[handed_over] if handed_over is not None else buffers.take(None)
                args.append(("buf", slot[x]))
            elif kind == "in" and x in fixed:
                args.append(("fixed", index[fixed[x]]))
            elif kind == "in" and x in constants:
                args.append(("const", const_values.index(constants[x])))
            elif kind == "in":
                args.append(("buf", slot[x]))
            elif kind == "reg":
                args.append(("fixed", index[x]))
            elif kind == "scalar":
                scalars.append(x)
                args.append(("scalar", len(scalars) - 1))
            elif kind == "lit":
                literals.append(x)
                args.append(("lit", len(literals) - 1))
            else:
                scratch.append(buffers.take(x))
                args.append(("buf", scratch[-1]))
        for b in scratch:
            buffers.release(b)
        for v in dying - {handed_over}:
            buffers.release(slot[v])
        for kind, x in call.args:  # a value nothing reads
            if kind == "out" and x not in last_use:
                buffers.release(slot[x])
        planned.append((call.run, args))

    base = {"fixed": 0, "buf": len(index)}
    base["const"] = base["buf"] + len(buffers.dtypes)
    base["scalar"] = base["const"] + len(const_values)
    base["lit"] = base["scalar"] + len(scalars)
    instructions = tuple(
        (run, _getter([base[kind] + x for kind, x in args])) for run, args in planned
    )
    if result in fixed:
        result_reg = index[fixed[result]]
    elif result in constants:
        result_reg = base["const"] + const_values.index(constants[result])
    else:
        result_reg = base["buf"] + slot[result]
    return Program(
        instructions=instructions,
        scalar_fns=tuple(scalar_fns(name) for name in scalar_names),
        scalar_names=tuple(scalar_names),
        state_names=tuple(name[len("state:") :] for name in state_names),
        buffer_dtypes=tuple(buffers.dtypes),
        constants=tuple(const_values),
        scalars=tuple(scalars),
        literals=tuple(literals),
        result=result_reg,
    )


class _Buffers:
    """Workspace buffers by dtype, with a free list each."""

    def __init__(self) -> None:
        self.dtypes: list[torch.dtype | None] = []
        self.free: dict[torch.dtype | None, list[int]] = {}

    def take(self, dtype: torch.dtype | None) -> int:
        pool = self.free.setdefault(dtype, [])
        if pool:
            return pool.pop()
        self.dtypes.append(dtype)
        return len(self.dtypes) - 1

    def release(self, b: int) -> None:
        self.free.setdefault(self.dtypes[b], []).append(b)


def _getter(indexes: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """regs -> the tuple of the registers at `indexes`."""
    if len(indexes) == 1:
        i = indexes[0]
        return lambda regs: (regs[i],)
    return operator.itemgetter(*indexes)
