"""Packed runs of a tensor task: K copies of a small MLP-like model trained as one.

Small models are dominated by per-step overhead (a handful of tiny matrix products, the
autograd graph, an optimizer step each), so K runs that share a seed - the screen's rates of
one candidate, or several candidates' screens - train faster as one model with stacked
weights: each `nn.Linear` becomes a `(K, in, out)` batched product (`torch.baddbmm`), the
same batch is fed to every copy, and each copy's loss is its own mean (the gradient of their
sum is every copy's own gradient).

What a copy sees is what `TensorRunner.run` gives it for that seed: the same initial weights
(the model built under `torch.manual_seed(seed)`, copied into every row), the same batch
order, and the same update rule applied to its own row of a `(K, N)` parameter matrix laid
out as the sequential optimizer's flat bucket (the model's parameters in order, each
row-major), with the same segments, so every op of the rule - segment norms included - sees
what it would see alone. Copies of one genome and schedule are adjacent rows stepped by one
rule evaluation with one peak learning rate per row. Divergence is per copy, by the
sequential rule (`optevo.tasks.base.DivergenceWatch`, one per copy, and non-finite final
weights); a diverged copy is retired (its row frozen at zero) and the others go on.

Packable: a model of `nn.Linear` layers and elementwise activations (an `nn.Sequential`,
possibly nested, or one `nn.Linear`: the hand-written `PackedNet`), or any other model without
a recurrent layer (`FuncPackedNet`: `torch.func.vmap` over `functional_call`, batch norm's
running statistics one row per copy, dropout masks shared as each copy would draw them alone;
`aten::lstm` has no batching rule, so the LSTM task stays sequential); and an optimizer spec of
a genome without decoupled weight decay or random operations (`packable_spec`). On the 2-core
CPU (`benchmarks/packed_tasks.py`, docs/results/packed-tasks/) `torch.func` packing of a
7-rate screen is slower than the sequential runs: fashion-quick's ConvNet 0.57x (grouped
convolutions), the sort Transformer 0.78x (attention falls back to a loop); so `PACKED_TASKS`
keeps the three MLP-like tasks.
Results equal the sequential runner's within float tolerance (a batched product sums in
another order). Whether packing wins is a per-task measurement: `benchmarks/packed_tasks.py`.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, vmap

from optevo.compile import compile_genome
from optevo.program import Workspace
from optevo.scheduled import ScheduledRule
from optevo.space.genome import Genome
from optevo.space.ops import OpContext
from optevo.tasks.base import DivergenceWatch, RunOutcome, RunRequest
from optevo.tasks.tensor import TensorRunner, _finish, _sums

if TYPE_CHECKING:
    from optevo.optim.spec import OptimizerSpec

_ACTIVATIONS: dict[type[nn.Module], Callable[[Tensor], Tensor]] = {
    nn.ReLU: F.relu,
    nn.GELU: F.gelu,
    nn.Tanh: torch.tanh,
}


def _layers(model: nn.Module) -> list[nn.Module] | None:
    """The model as a flat list of Linear layers and activations, or None if it is not one."""
    if isinstance(model, nn.Linear):
        return [model]
    if type(model) is not nn.Sequential:
        return None
    out: list[nn.Module] = []
    for child in model:
        if isinstance(child, nn.Linear) or type(child) in _ACTIVATIONS:
            if type(child) is nn.GELU and child.approximate != "none":
                return None
            out.append(child)
        else:
            inner = _layers(child)
            if inner is None:
                return None
            out.extend(inner)
    return out


_UNBATCHED = (nn.RNNBase,)
"""Modules whose fused kernels `torch.func.vmap` cannot batch (`aten::lstm` has no batching
rule and no fallback): a model holding one is not packed (its runs stay sequential)."""


def packable_model(model: nn.Module) -> bool:
    """Whether `model` can be packed: Linear layers and elementwise activations (the
    hand-written `PackedNet`), or any other model without a recurrent layer (`FuncPackedNet`,
    `torch.func`)."""
    return _layers(model) is not None or func_packable(model)


def func_packable(model: nn.Module) -> bool:
    """Whether `FuncPackedNet` can pack `model`: no module `vmap` cannot batch."""
    return not any(isinstance(m, _UNBATCHED) for m in model.modules())


def pack(model: nn.Module, k: int, device: str) -> PackedNet | FuncPackedNet:
    """K copies of `model` as one: the hand-written `PackedNet` for Linear-only models (the
    fastest measured there), else `FuncPackedNet`."""
    if _layers(model) is not None:
        return PackedNet(model, k, device)
    return FuncPackedNet(model, k, device)


def packable_spec(spec: OptimizerSpec) -> bool:
    """Whether an optimizer spec can step packed copies exactly as alone: a genome (no torch
    factory), no decoupled weight decay, no random operations."""
    if spec.factory is not None or spec.genome is None or spec.weight_decay != 0:
        return False
    return not compile_genome(spec.genome).random


@dataclass
class _Group:
    """Rows start:stop, stepped by one genome's rule."""

    scheduled: ScheduledRule
    start: int
    stop: int
    state: dict[str, Tensor]
    peak: Tensor
    ctx: OpContext
    workspace: Workspace


class PackedNet:
    """K copies of an MLP-like model as one (K, N) parameter matrix with stacked views."""

    def __init__(self, model: nn.Module, k: int, device: str) -> None:
        layers = _layers(model)
        if layers is None:
            raise ValueError(f"cannot pack {type(model).__name__}: Linear layers only")
        params = list(model.parameters())
        self.sizes = [p.numel() for p in params]
        row = torch.cat([p.detach().reshape(-1) for p in params]).to(device)
        self.flat = row.unsqueeze(0).repeat(k, 1).requires_grad_(True)
        self.shapes = [p.shape for p in params]
        self.k = k
        # The forward: for each layer, ("linear", weight index, bias index | None) or an act.
        self.plan: list[tuple[int, int | None] | Callable[[Tensor], Tensor]] = []
        index = {id(p): i for i, p in enumerate(params)}
        for layer in layers:
            if isinstance(layer, nn.Linear):
                b = index[id(layer.bias)] if layer.bias is not None else None
                self.plan.append((index[id(layer.weight)], b))
            else:
                self.plan.append(_ACTIVATIONS[type(layer)])

    def views(self, flat: Tensor) -> list[Tensor]:
        """`flat` (K, N) as one (K, *shape) view per parameter."""
        parts = torch.split(flat, self.sizes, dim=1)
        return [p.view(self.k, *s) for p, s in zip(parts, self.shapes, strict=True)]

    def train(self, mode: bool = True) -> None:
        """Linear layers and activations: the same in training and evaluation."""

    def forward(self, x: Tensor, flat: Tensor | None = None) -> Tensor:
        """(B, in) -> (K, B, out): every copy on the same inputs."""
        views = self.views(self.flat if flat is None else flat)
        h = x.unsqueeze(0).expand(self.k, *x.shape)
        for step in self.plan:
            if isinstance(step, tuple):
                w, b = step
                wt = views[w].transpose(1, 2)  # (K, in, out)
                h = torch.bmm(h, wt) if b is None else torch.baddbmm(views[b][:, None], h, wt)
            else:
                h = step(h)
        return h


class FuncPackedNet:
    """K copies of any model without a recurrent layer as one (K, N) parameter matrix, run by
    `torch.func`: `vmap(functional_call(model, ...))` over the copies' parameter views, the
    same batch for every copy (`in_dims=None`), dropout masks shared across copies
    (`randomness="same"`: each copy draws what it would draw alone from the same seed), and
    buffers (batch norm's running statistics) stacked, one row per copy."""

    def __init__(self, model: nn.Module, k: int, device: str) -> None:
        if not func_packable(model):
            raise ValueError(f"cannot pack {type(model).__name__}: it holds a recurrent layer")
        self.model = model.to(device)
        named = list(model.named_parameters())
        self.names = [n for n, _ in named]
        self.sizes = [p.numel() for _, p in named]
        self.shapes = [p.shape for _, p in named]
        row = torch.cat([p.detach().reshape(-1) for _, p in named]).to(device)
        self.flat = row.unsqueeze(0).repeat(k, 1).requires_grad_(True)
        self.buffers = {
            n: b.detach().unsqueeze(0).repeat(k, *([1] * b.ndim)).clone()
            for n, b in model.named_buffers()
        }
        self.k = k

    def views(self, flat: Tensor) -> list[Tensor]:
        """`flat` (K, N) as one (K, *shape) view per parameter."""
        parts = torch.split(flat, self.sizes, dim=1)
        return [p.view(self.k, *s) for p, s in zip(parts, self.shapes, strict=True)]

    def train(self, mode: bool = True) -> None:
        self.model.train(mode)

    def forward(self, x: Tensor, flat: Tensor | None = None) -> Tensor:
        """(B, ...) -> (K, B, ...): every copy on the same inputs."""
        params = dict(zip(self.names, self.views(self.flat if flat is None else flat), strict=True))

        def one(p: dict[str, Tensor], b: dict[str, Tensor], inputs: Tensor) -> Tensor:
            out: Tensor = functional_call(self.model, (p, b), (inputs,))
            return out

        batched = vmap(one, in_dims=(0, 0, None), randomness="same")
        with warnings.catch_warnings():  # attention falls back to a loop over the copies
            warnings.filterwarnings("ignore", "There is a performance drop", UserWarning)
            result: Tensor = batched(params, self.buffers, x)
        return result


def _losses(kind: str, out: Tensor, y: Tensor) -> Tensor:
    """Each copy's mean training loss, (K,)."""
    k = out.shape[0]
    if kind == "mse":
        return ((out - y.unsqueeze(0)) ** 2).reshape(k, -1).mean(1)
    logits = out.reshape(-1, out.shape[-1])
    target = y.reshape(-1).repeat(k)
    return F.cross_entropy(logits, target, reduction="none").view(k, -1).mean(1)


def run_packed(runner: TensorRunner, requests: Sequence[RunRequest]) -> list[RunOutcome]:
    """The outcomes of `runner.run(request)` for each of `requests`, trained as one packed
    model (see the module). The requests differ only in their optimizer and learning rate
    (ValueError otherwise); every optimizer must pass `packable_spec` and the runner's model
    `packable_model`. Each outcome's `seconds` is the packed run's wall time divided by the
    number of copies."""
    t0 = time.perf_counter()
    if not requests:
        return []
    first = requests[0]
    shared = dataclasses.replace(first, lr=0.0)
    for request in requests:
        if dataclasses.replace(request, optimizer=first.optimizer, lr=0.0) != shared:
            raise ValueError("packed runs must share their seed, steps, schedule and split")
    runs = [(r.optimizer, r.lr) for r in requests]
    seed, steps, split = first.seed, first.steps, first.split
    total_steps, warmup_steps, hold_steps = first.total_steps, first.warmup_steps, first.hold_steps
    for spec, _ in runs:
        if not packable_spec(spec):
            raise ValueError(f"{spec.label}: cannot be stepped packed (see packable_spec)")
    device = runner.device
    torch.manual_seed(seed)
    model = runner.make_model()
    if runner.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    net = pack(model, len(runs), device)
    net.train()
    keys: dict[tuple[Genome, str], list[int]] = {}
    for i, (spec, _) in enumerate(runs):
        assert spec.genome is not None
        keys.setdefault((spec.genome, spec.schedule), []).append(i)
    order = [i for members in keys.values() for i in members]  # row -> index in `runs`
    lrs = [runs[i][1] for i in order]
    segments = tuple(net.sizes) if len(net.sizes) > 1 else None
    groups: list[_Group] = []
    start = 0
    data = net.flat.detach()
    for (genome, schedule), members in keys.items():
        stop = start + len(members)
        scheduled = ScheduledRule.create(genome, total_steps, warmup_steps, hold_steps, schedule)
        peak = torch.tensor(lrs[start:stop], device=device, dtype=data.dtype).unsqueeze(1)
        groups.append(
            _Group(
                scheduled,
                start,
                stop,
                scheduled.init_state(data[start:stop]),
                peak,
                OpContext(segments=segments),
                scheduled.workspace(data[start:stop]),
            )
        )
        start = stop
    needs_w = any(g.scheduled.rule.needs_weight for g in groups)
    w_buf = torch.empty_like(data) if needs_w else None
    k = len(runs)
    active = [True] * k
    mask = torch.ones(k, 1, dtype=torch.bool, device=device)
    zero = torch.zeros((), dtype=data.dtype, device=device)
    done = [0] * k
    watches = [DivergenceWatch(device, steps) for _ in range(k)]
    status = ["ok"] * k

    if not isinstance(runner.loss, str):
        raise ValueError("a task with its own loss function cannot be packed")
    batches = runner._batches(seed)  # the batches of the runner's own runs, in order
    for step in range(steps):
        x, y = next(batches)
        losses = _losses(runner.loss, net.forward(x), y)
        net.flat.grad = None
        losses.sum().backward()
        grad = net.flat.grad
        assert grad is not None
        if w_buf is not None:
            w_buf.copy_(data)
        all_active = all(active)
        with torch.no_grad():
            for grp in groups:
                rows = slice(grp.start, grp.stop)
                delta = grp.scheduled.delta(
                    grad[rows],
                    grp.state,
                    step,
                    grp.peak,
                    None if w_buf is None else w_buf[rows],
                    grp.ctx,
                    grp.workspace,
                )
                if all_active:
                    data[rows].add_(delta)
                else:
                    data[rows].add_(torch.where(mask[rows], delta, zero))
        values = losses.detach().tolist()
        for row in range(k):
            if not active[row]:
                continue
            done[row] = step + 1
            if watches[row].diverged(step + 1, values[row]):
                status[row] = "diverged"
                active[row] = False
                mask[row] = False
                data[row].zero_()
        if not any(active):
            break
    finite = torch.isfinite(data).all(1).tolist()
    for row in range(k):
        if status[row] == "ok" and not finite[row]:
            status[row] = "diverged"
    scores = _scores(runner, net, split)
    worst = runner.worst(split)
    seconds = (time.perf_counter() - t0) / k
    outcomes: list[RunOutcome | None] = [None] * k
    for row, i in enumerate(order):
        score = worst if status[row] == "diverged" else scores[row]
        if not math.isfinite(score):
            score = worst
        score = max(score, worst) if runner.higher_is_better else min(score, worst)
        extra = {"train_loss": watches[row].last} if math.isfinite(watches[row].last) else {}
        outcomes[i] = RunOutcome(score, status[row], seconds, done[row], extra)
    return [o for o in outcomes if o is not None]


@torch.no_grad()
def _scores(runner: TensorRunner, net: PackedNet | FuncPackedNet, split: str) -> list[float]:
    """Each copy's metric on `split` (may be non-finite), the model in eval mode."""
    x_all, y_all = runner._on_device[split]
    data = net.flat.detach()
    net.train(False)
    totals = [0.0] * net.k
    count = 0
    for i in range(0, len(y_all), runner.eval_batch_size):
        out = net.forward(x_all[i : i + runner.eval_batch_size], data)
        y = y_all[i : i + runner.eval_batch_size]
        n = 0
        for row in range(net.k):
            s, n = _sums(runner.metric, out[row], y)
            totals[row] += s
        count += n
    return [_finish(runner.metric, t, count) for t in totals]


__all__ = [
    "FuncPackedNet",
    "PackedNet",
    "func_packable",
    "pack",
    "packable_model",
    "packable_spec",
    "run_packed",
]
