"""`EvolvedOptimizer`: any genome as a drop-in `torch.optim.Optimizer`.

The class is thin: it keeps `torch.optim` conventions (param groups, closures, lazily created
state that round-trips through `state_dict`) and hands the math to the compiled rule. For
speed the parameters of a group that share device, dtype and step count form a *bucket*:
gradients are gathered into one flat vector, the whole update is a handful of large tensor
operations on it, and the result is added back with one `torch._foreach_add_`. The state
tensors of a bucket live in one flat buffer; `self.state[p]` holds views into it, so
`state_dict()` and inspection work as with any torch optimizer. Everything else a step needs
(the flat gradient, the rule's intermediate values, the weight change) lives in buffers the
bucket keeps, so a step allocates nothing of the parameters' size after the first.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import torch
from torch import Tensor

from optevo.compile import CompiledRule, compile_genome
from optevo.optim.checks import check_group, check_state_dict
from optevo.program import Workspace
from optevo.scheduled import ScheduledRule
from optevo.space.genome import Genome
from optevo.space.ops import OpContext

_LOW_PRECISION = (torch.float16, torch.bfloat16)


@dataclass
class _Bucket:
    """Parameters stepped together, with what every step reuses: the flat gradient (and
    weights) they are gathered into, the rule's workspace, and views that scatter a flat
    vector back onto the parameters' shapes."""

    params: list[Tensor]
    sizes: list[int]
    state: dict[str, Tensor]
    step: Tensor  # shared 0-dim CPU tensor: the step count k of every member
    compute_dtype: torch.dtype
    ctx: OpContext
    g: Tensor
    w: Tensor | None = None
    rounded: Tensor | None = None  # the weight change in a low-precision parameter dtype
    workspace: Workspace | None = None
    _views: dict[int, tuple[Tensor, list[Tensor]]] = field(default_factory=dict)

    def views(self, flat: Tensor) -> list[Tensor]:
        """`flat` (N values) as one view per parameter, shaped like it (cached per tensor)."""
        cached = self._views.get(id(flat))
        if cached is None or cached[0] is not flat:
            parts = torch.split(flat, self.sizes)
            views = [part.view(p.shape) for part, p in zip(parts, self.params, strict=True)]
            cached = self._views[id(flat)] = (flat, views)
        return cached[1]


class EvolvedOptimizer(torch.optim.Optimizer):
    """Train with the update rule of a genome.

    Args:
        params: parameters or param groups, as for any torch optimizer.
        genome: the update rule (`optevo.Genome`, e.g. `optevo.library.genome("Opt6")`).
        lr: the peak learning rate (the learning rate itself when `schedule="constant"`).
        total_steps: T, the length of the run in `step()` calls. The schedules and the
            genome's decay functions are tables over k = 0..T-1.
        warmup_steps: W, the one-cycle schedule's linear warm-up in steps (SPEC 4).
        hold_steps: H, the steps held at the peak rate after the warm-up (SPEC 4).
        schedule: "one_cycle" (SPEC 4, the default), "LR1".."LR9" (the one-cycle schedule
            times a discovered factor, SPEC 7.3), or "constant" (the learning rate is left
            to you and to `torch.optim.lr_scheduler`, which sets `group["lr"]`).
        weight_decay: decoupled weight decay, AdamW-style (`w <- w - lr_t * wd * w`); 0 by
            default so the paper's optimizers stay exact. A genome of the extended space may
            carry its own (the constant `wd`, e.g. AdamW's 0.01): that one is part of its
            update rule, and this one acts on top of it.
        momentum: the momentum coefficient mu for genomes of momentum type "momentum" or
            "nesterov". None (default): cycled between 0.95 and 0.85 opposite to the learning
            rate (SPEC 1) for the scheduled modes, 0.9 for `schedule="constant"`.
        seed: seeds the dropout operations of a genome (drawn from a generator reseeded at
            every step, so a run resumed from `state_dict` continues identically).

    Past `total_steps`: the one-cycle schedule has reached 0, so scheduled modes stop moving
    the weights (the learning rate stays 0), the decay functions and mu hold their value at
    step T-1, and a `RuntimeWarning` is issued once. With `schedule="constant"` training goes
    on at `group["lr"]` with the decay functions held at T-1.

    State of a parameter: `step` and the tensors the genome reads (`v`, `s`, `lam`: raw
    moving averages of g, g^2, g^3; `<node>.<op>` for state-holding operations; `m`: the
    momentum buffer). float16/bfloat16 parameters keep float32 state and are updated in
    float32, then rounded.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        genome: Genome,
        lr: float,
        total_steps: int,
        warmup_steps: int = 0,
        hold_steps: int = 0,
        schedule: str = "one_cycle",
        weight_decay: float = 0.0,
        momentum: float | None = None,
        seed: int = 0,
    ) -> None:
        if not isinstance(genome, Genome):
            raise TypeError(f"genome must be an optevo.Genome, got {type(genome).__name__}")
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "total_steps": total_steps,
            "warmup_steps": warmup_steps,
            "hold_steps": hold_steps,
            "schedule": schedule,
            "momentum": momentum,
            "genome_hash": genome.canonical_hash(),
        }
        check_group(defaults, defaults)
        super().__init__(params, defaults)
        self.genome = genome
        self.rule: CompiledRule = compile_genome(genome)
        self.seed = int(seed)
        self._buckets: dict[int, tuple[tuple[int, ...], list[_Bucket]]] = {}
        self._scheduled: dict[int, tuple[tuple[Any, ...], ScheduledRule]] = {}
        self._warned_past_end = False

    # -- torch.optim.Optimizer API ----------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for bucket in self._group_buckets(group):
                self._step_bucket(group, bucket)
        return loss

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group; its settings are checked as the constructor's are (a finite
        lr >= 0, weight decay >= 0, momentum in [0, 1) or None, a known schedule and
        consistent step counts), before anything changes."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        check_group({**self.defaults, **param_group}, self.defaults)
        super().add_param_group(param_group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict saved by an `EvolvedOptimizer` with this genome.

        It is checked before anything changes: every param group carries this genome's hash
        and valid settings, every step count is a whole number >= 0, and every state tensor
        is one this genome keeps, shaped like its parameter. Anything else (a
        `torch.optim.Adam` state dict, say) is a ValueError."""
        check_state_dict(state_dict, self.param_groups, self.rule.state_names, self.defaults)
        super().load_state_dict(state_dict)
        self._restore_full_precision_state(state_dict)
        # Loaded state tensors are new tensors: rebuild the flat buffers from them.
        self._buckets.clear()
        self._scheduled.clear()

    def _restore_full_precision_state(self, state_dict: dict[str, Any]) -> None:
        """torch casts loaded state to the parameter's dtype; low-precision parameters keep
        float32 state here, so put the saved float32 values back (exact resumption)."""
        by_index: dict[Any, Tensor] = {}
        for saved, group in zip(state_dict["param_groups"], self.param_groups, strict=True):
            by_index.update(zip(saved["params"], group["params"], strict=True))
        for index, saved_state in state_dict["state"].items():
            p = by_index.get(index)
            if p is None or p.dtype not in _LOW_PRECISION:
                continue
            for name, value in saved_state.items():
                if name != "step" and torch.is_tensor(value):
                    self.state[p][name] = value.to(device=p.device, dtype=torch.float32)

    # -- copies and pickles -----------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # torch keeps only defaults, state and param_groups; the genome and the seed are ours.
        # The compiled rule and the bucket caches are rebuilt (the state tensors carry all).
        state = super().__getstate__()
        state.update(genome=self.genome, seed=self.seed, _warned_past_end=self._warned_past_end)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.rule = compile_genome(self.genome)
        self._buckets = {}
        self._scheduled = {}

    # -- buckets ----------------------------------------------------------------------------

    def _group_buckets(self, group: dict[str, Any]) -> list[_Bucket]:
        params = [p for p in group["params"] if p.grad is not None]
        key = tuple(id(p) for p in params)
        cached = self._buckets.get(id(group))
        if cached is not None and cached[0] == key:
            return cached[1]
        buckets = self._build_buckets(params)
        self._buckets[id(group)] = (key, buckets)
        return buckets

    def _build_buckets(self, params: list[Tensor]) -> list[_Bucket]:
        members: dict[tuple[Any, ...], list[Tensor]] = {}
        for p in params:
            if p.grad is not None and p.grad.is_sparse:
                raise RuntimeError("EvolvedOptimizer does not support sparse gradients")
            if p.is_complex():
                raise RuntimeError("EvolvedOptimizer does not support complex parameters")
            state = self.state[p]
            if "step" not in state:
                state["step"] = torch.tensor(0.0)
            members.setdefault((p.device, p.dtype, float(state["step"])), []).append(p)
        buckets = []
        for (device, dtype, step), ps in members.items():
            compute = torch.float32 if dtype in _LOW_PRECISION else dtype
            sizes = [p.numel() for p in ps]
            flat = {}
            for name in self.rule.state_names:
                parts = [
                    self.state[p][name].reshape(-1).to(compute)
                    if name in self.state[p]
                    else torch.zeros(p.numel(), dtype=compute, device=device)
                    for p in ps
                ]
                flat[name] = torch.cat(parts)
            shared_step = torch.tensor(step)
            for p, views in zip(ps, _split_views(flat, sizes, ps), strict=True):
                self.state[p].update(views)
                self.state[p]["step"] = shared_step
            ctx = OpContext(segments=tuple(sizes) if len(ps) > 1 else None)
            if self.rule.random:
                ctx.generator = torch.Generator(device=device)
            g = torch.empty(sum(sizes), dtype=compute, device=device)
            bucket = _Bucket(ps, sizes, flat, shared_step, compute, ctx, g)
            if self.rule.needs_weight:
                bucket.w = torch.empty_like(g)
            if dtype != compute:
                bucket.rounded = torch.empty(g.shape, dtype=dtype, device=device)
            buckets.append(bucket)
        return buckets

    # -- the update -------------------------------------------------------------------------

    def _scheduled_for(self, group: dict[str, Any]) -> ScheduledRule:
        key = (
            group["schedule"],
            group["total_steps"],
            group["warmup_steps"],
            group["hold_steps"],
            group["momentum"],
        )
        cached = self._scheduled.get(id(group))
        if cached is not None and cached[0] == key:
            return cached[1]
        scheduled = ScheduledRule.create(
            self.genome,
            total_steps=group["total_steps"],
            warmup_steps=group["warmup_steps"],
            hold_steps=group["hold_steps"],
            schedule=group["schedule"],
            momentum=group["momentum"],
        )
        self._scheduled[id(group)] = (key, scheduled)
        return scheduled

    def _step_bucket(self, group: dict[str, Any], bucket: _Bucket) -> None:
        k = int(bucket.step)
        scheduled = self._scheduled_for(group)
        if k >= scheduled.total_steps:
            self._warn_past_end(scheduled.total_steps)
        ps = bucket.params
        # Gathered into the bucket's flat buffers (converted to the compute dtype, any memory
        # format), as torch.cat(...).to(dtype) would, without allocating.
        torch._foreach_copy_(bucket.views(bucket.g), [cast(Tensor, p.grad) for p in ps])
        if bucket.w is not None:
            torch._foreach_copy_(bucket.views(bucket.w), ps)
        if bucket.ctx.generator is not None:
            bucket.ctx.generator.manual_seed(_step_seed(self.seed, k))
        if bucket.workspace is None or bucket.workspace.program is not scheduled.rule.delta_program:
            bucket.workspace = scheduled.workspace(bucket.g)
        lr = float(group["lr"])
        delta = scheduled.delta(
            bucket.g, bucket.state, k, lr, bucket.w, bucket.ctx, bucket.workspace
        )
        wd = float(group["weight_decay"])
        lr_t = lr * scheduled.lr_factor(k)
        if wd != 0.0 and lr_t != 0.0:
            torch._foreach_mul_(ps, 1.0 - lr_t * wd)
        if bucket.rounded is not None:
            delta = bucket.rounded.copy_(delta)
        torch._foreach_add_(ps, bucket.views(delta))
        bucket.step += 1

    def _warn_past_end(self, T: int) -> None:
        if not self._warned_past_end:
            self._warned_past_end = True
            warnings.warn(
                f"EvolvedOptimizer stepped past total_steps={T}: scheduled learning rates stay "
                "at 0 and decay functions hold their last value",
                RuntimeWarning,
                stacklevel=3,
            )


def _split_views(
    flat: dict[str, Tensor], sizes: list[int], params: list[Tensor]
) -> list[dict[str, Tensor]]:
    out: list[dict[str, Tensor]] = [{} for _ in params]
    for name, buf in flat.items():
        for i, (part, p) in enumerate(zip(torch.split(buf, sizes), params, strict=True)):
            out[i][name] = part.view(p.shape)
    return out


def _step_seed(seed: int, k: int) -> int:
    return (seed * 1_000_003 + k) % (2**63 - 1)
