"""The batched trainer: K independent copies of the surrogate ConvNet, trained on the same
batches, each with its own update rule (genome), peak learning rate, schedule and seed.

One training loop (`_run`) serves every layout of the copies:
- "sequential": the copies one after another, each a ConvNet with an `EvolvedOptimizer`.
  Fastest on a CPU, where the forward/backward of one base-48 model already fills the cores
  (benchmarks/batched_models.py: grouped 0.6-0.8x, vmap 0.4x of sequential).
- "grouped" (packed): one `GroupedConvNet` holding all K copies (grouped convolutions); the
  copies are ordered by genome, and each genome's compiled rule steps its own rows of the
  (K, N) parameter matrix (copies of one genome share one rule evaluation), one learning rate
  per row. For a GPU, where one small model leaves most of the chip idle: many candidates of
  a search, times their screen learning rates, train as one model (`train_packed`).
"auto" picks grouped on CUDA and sequential elsewhere.

With `TrainSpec.cuda_graphs` the packed layout runs its whole training step (forward,
backward, every rule, the epoch sums) from fixed buffers, with the learning rates, momentum,
bias corrections and decay values read from device tensors written before each step: on CUDA
that step is captured once as a CUDA graph (after a few warm-up steps on a side stream) and
replayed, with no Python work per step; elsewhere the same code runs eagerly (and gives the
same numbers as the plain step, which the tests check).

Per epoch: running training accuracy and loss (train mode, as the model sees the batches),
and optionally validation accuracy and loss. A copy whose loss turns NaN/inf stops alone
(checked at the end of each epoch, so it wastes at most one epoch) and the others go on.
Everything is deterministic for a seed: model initialisation (per copy), data order,
augmentation and dropout draw from their own seeded generators.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from optevo.compile import State, Workspace
from optevo.data import Augment, Dataset
from optevo.models import ConvNet, grouped_from_models
from optevo.optim.evolved import EvolvedOptimizer
from optevo.scheduled import ScheduledRule
from optevo.space.genome import Genome
from optevo.space.ops import OpContext

Strategy = Literal["auto", "sequential", "grouped"]


@dataclass(frozen=True)
class StopRule:
    """Stop a run whose epoch training accuracy is below `min_train_acc` at an epoch end at or
    after `from_step` (only at the first such epoch end when `once`)."""

    from_step: int
    min_train_acc: float
    once: bool = False

    def applies(self, step: int, epoch_steps: int) -> bool:
        if step < self.from_step:
            return False
        return not self.once or step - epoch_steps < self.from_step


@dataclass(frozen=True)
class TrainSpec:
    """One training run of the surrogate (shared by all K copies)."""

    base: int
    total_steps: int
    max_steps: int | None = None
    warmup_steps: int = 0
    hold_steps: int = 0
    schedule: str = "one_cycle"
    batch_size: int = 128
    epoch_steps: int = 200
    validate: bool = True
    stop_rules: tuple[StopRule, ...] = ()
    augment: Augment = field(default_factory=Augment)
    dropout: float = 0.2
    seed: int = 0
    device: str = "cpu"
    channels_last: bool = True
    amp: bool = False
    eval_batch_size: int = 1000
    cuda_graphs: bool = False

    @property
    def steps(self) -> int:
        return self.total_steps if self.max_steps is None else min(self.max_steps, self.total_steps)


@dataclass
class RunResult:
    """The curves and outcome of one copy. `status`: "ok" (ran to the end), "stopped" (a stop
    rule fired) or "diverged" (non-finite loss)."""

    lr: float
    seed: int
    status: str = "ok"
    steps: int = 0
    train_acc: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_train_acc(self) -> float:
        return self.train_acc[-1] if self.train_acc else 0.0

    @property
    def best_val_acc(self) -> float | None:
        finite = [a for a in self.val_acc if math.isfinite(a)]
        return max(finite) if finite else None

    @property
    def active(self) -> bool:
        return self.status == "ok"


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass(frozen=True)
class CopySpec:
    """One copy of a packed run: its update rule, peak learning rate, seed and schedule
    (None: the run's `TrainSpec.schedule`)."""

    genome: Genome
    lr: float
    seed: int
    schedule: str | None = None


def train_copies(
    genome: Genome,
    data: Dataset,
    spec: TrainSpec,
    lrs: Sequence[float],
    seeds: Sequence[int] | None = None,
    strategy: Strategy = "auto",
) -> list[RunResult]:
    """Train one copy per learning rate (and seed) with the genome's update rule."""
    if not lrs:
        raise ValueError("need at least one learning rate")
    seeds = list(seeds) if seeds is not None else [spec.seed] * len(lrs)
    if len(seeds) != len(lrs):
        raise ValueError(f"{len(lrs)} learning rates but {len(seeds)} seeds")
    copies = [CopySpec(genome, lr, seed) for lr, seed in zip(lrs, seeds, strict=True)]
    return train_packed(copies, data, spec, strategy)


def train_packed(
    copies: Sequence[CopySpec],
    data: Dataset,
    spec: TrainSpec,
    strategy: Strategy = "auto",
) -> list[RunResult]:
    """Train every copy (each its own genome, learning rate, seed, schedule) on the same
    batches; results in the order of `copies`."""
    if not copies:
        raise ValueError("need at least one copy")
    if strategy not in ("auto", "grouped", "sequential"):
        raise ValueError(f"unknown strategy {strategy!r}: auto, sequential or grouped")
    device = resolve_device(spec.device)
    if strategy == "auto":
        packed = len(copies) > 1 or spec.cuda_graphs
        strategy = "grouped" if device.startswith("cuda") and packed else "sequential"
    if strategy == "sequential":
        return [_run(_SingleCopy(c, data, spec, device), data, spec, device)[0] for c in copies]
    return _run(_PackedCopies(list(copies), data, spec, device), data, spec, device)


# ----------------------------------------------------------------------------------------------


class _Batches:
    """The training batches of a run: a seeded permutation per pass over the data, moved to the
    device once, augmented there with a seeded generator."""

    def __init__(self, data: Dataset, spec: TrainSpec, device: str) -> None:
        x, y = data.train
        self.x = x.to(device)
        self.y = y.to(device)
        self.n = len(self.y)
        if self.n < spec.batch_size:
            raise ValueError(f"batch size {spec.batch_size} exceeds the {self.n} training images")
        self.batch = spec.batch_size
        self.order_gen = torch.Generator().manual_seed(spec.seed)
        self.aug = spec.augment
        self.aug_gen = torch.Generator(device=device).manual_seed(spec.seed + 1)
        self.channels_last = spec.channels_last
        self.perm = torch.empty(0, dtype=torch.long)
        self.pos = 0

    def next(self) -> tuple[Tensor, Tensor]:
        if self.pos + self.batch > len(self.perm):
            self.perm = torch.randperm(self.n, generator=self.order_gen).to(self.x.device)
            self.pos = 0
        idx = self.perm[self.pos : self.pos + self.batch]
        self.pos += self.batch
        xb = self.x.index_select(0, idx)
        if self.aug.active:
            xb = self.aug(xb, self.aug_gen)
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb, self.y.index_select(0, idx)


def _new_model(data: Dataset, spec: TrainSpec, seed: int, device: str) -> ConvNet:
    torch.manual_seed(seed)
    model = ConvNet(
        spec.base,
        data.in_channels,
        data.num_classes,
        spec.dropout,
        generator=torch.Generator(device=device).manual_seed(seed + 2),
    )
    model = model.to(device)
    if spec.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model


def _autocast(spec: TrainSpec, device: str, cache: bool = True) -> torch.autocast:
    # No cast cache inside a CUDA graph (its casts must be redone at every replay).
    return torch.autocast(
        device_type=device.split(":")[0],
        dtype=torch.bfloat16,
        enabled=spec.amp,
        cache_enabled=cache,
    )


class _EpochStats:
    """Running sums of loss and correct predictions, kept on the device (one sync per epoch)
    in tensors that live as long as the run (a CUDA graph adds to them); `count` (examples
    seen) is kept by the loop."""

    def __init__(self, k: int, device: str) -> None:
        self.loss = torch.zeros(k, device=device, dtype=torch.float64)
        self.correct = torch.zeros(k, device=device, dtype=torch.float64)
        self.count = 0

    def add(self, losses: Tensor, logits: Tensor, y: Tensor) -> None:
        self.loss += losses.detach().double()
        self.correct += (logits.detach().argmax(-1) == y).double().sum(-1)

    def read(self, batches: int) -> tuple[list[float], list[float]]:
        losses = (self.loss / batches).tolist()
        accs = (self.correct / self.count).tolist()
        return losses, accs

    def reset(self) -> None:
        self.loss.zero_()
        self.correct.zero_()
        self.count = 0


def _run(copies: _Copies, data: Dataset, spec: TrainSpec, device: str) -> list[RunResult]:
    """The training loop of every layout: per epoch, the running training accuracy and loss
    of each copy, the divergence check and stop rules, validation, and retiring the copies
    that stopped (the others go on)."""
    t0 = time.perf_counter()
    results = [RunResult(c.lr, c.seed) for c in copies.specs]
    batches = _Batches(data, spec, device)
    stats = _EpochStats(copies.k, device)
    for step in range(1, spec.steps + 1):
        x, y = batches.next()
        copies.train_step(x, y, step - 1, stats)
        stats.count += len(y)
        if step % spec.epoch_steps == 0 or step == spec.steps:
            n_batches = (step - 1) % spec.epoch_steps + 1
            epoch_losses, accs = stats.read(n_batches)
            stats.reset()
            for i, r in enumerate(results):
                if r.active:
                    _end_epoch(r, step, epoch_losses[i], accs[i], spec)
            if spec.validate and any(r.active for r in results):
                for r, (vl, va) in zip(results, copies.validate(), strict=True):
                    if r.active:
                        r.val_loss.append(vl)
                        r.val_acc.append(va)
            for i, r in enumerate(results):
                if not r.active:
                    copies.retire(i)
            if not copies.any_active():
                break
    seconds = time.perf_counter() - t0
    for r in results:
        r.seconds = seconds / copies.k
    return [results[i] for i in copies.output_order]


class _Copies:
    """A layout of K copies for `_run`: forward, per-copy losses, one optimizer step, the
    validation of every copy, and retiring a copy."""

    specs: list[CopySpec]
    k: int
    output_order: list[int]

    def train_step(self, x: Tensor, y: Tensor, k: int, stats: _EpochStats) -> None:
        """Step k on the batch (x, y); adds each copy's loss and correct count to `stats`."""
        logits = self.forward(x)  # (K, B, classes)
        losses = self.losses(logits, y)  # (K,)
        self.step(losses, k)
        stats.add(losses, logits, y)

    def forward(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def losses(self, logits: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def step(self, losses: Tensor, k: int) -> None:
        raise NotImplementedError

    def validate(self) -> list[tuple[float, float]]:
        raise NotImplementedError

    def retire(self, i: int) -> None:
        raise NotImplementedError

    def any_active(self) -> bool:
        raise NotImplementedError


class _SingleCopy(_Copies):
    """One ConvNet with an `EvolvedOptimizer` (the drop-in optimizer, exactly as a user's
    training script would run it)."""

    def __init__(self, copy: CopySpec, data: Dataset, spec: TrainSpec, device: str) -> None:
        self.specs, self.k, self.output_order = [copy], 1, [0]
        self.data, self.spec, self.device = data, spec, device
        self.model = _new_model(data, spec, copy.seed, device)
        self.opt = EvolvedOptimizer(
            self.model.parameters(),
            copy.genome,
            copy.lr,
            spec.total_steps,
            spec.warmup_steps,
            spec.hold_steps,
            copy.schedule or spec.schedule,
            seed=copy.seed,
        )
        self.active = True

    def forward(self, x: Tensor) -> Tensor:
        self.model.train()
        with _autocast(self.spec, self.device):
            return self.model(x).unsqueeze(0)

    def losses(self, logits: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(logits[0].float(), y).reshape(1)

    def step(self, losses: Tensor, k: int) -> None:
        self.opt.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.opt.step()

    def validate(self) -> list[tuple[float, float]]:
        return evaluate(self.model, self.data, self.spec, self.device)

    def retire(self, i: int) -> None:
        self.active = False

    def any_active(self) -> bool:
        return self.active


@dataclass
class _RuleGroup:
    """The copies of one (genome, schedule): rows `start:stop` of the packed model."""

    scheduled: ScheduledRule
    start: int
    stop: int
    state: State
    peak: Tensor
    ctx: OpContext
    workspace: Workspace


GRAPH_WARMUP_STEPS = 3
"""Steps run eagerly (on a side stream) before the training step is captured as a CUDA graph."""

STEP_VALUE_BUFFERS = 4
"""Pinned host buffers the per-step values are copied from, in turn (so the host never writes
one that a copy still reads, and runs at most this many steps ahead of the device)."""


class _PackedCopies(_Copies):
    """All K copies as one GroupedConvNet; copies of one genome and schedule are adjacent rows,
    stepped by that genome's compiled rule on their (rows, N) block of the parameter matrix.

    With `spec.cuda_graphs` the step reads everything from fixed buffers (`_static_step`):
    the batch, and the per-step scalars of every rule, one vector for all groups written
    before each step (`_load_step_values`). On CUDA that step is captured as a graph."""

    def __init__(self, copies: list[CopySpec], data: Dataset, spec: TrainSpec, device: str) -> None:
        self.data, self.spec, self.device = data, spec, device
        keys: dict[tuple[Genome, str], list[int]] = {}
        for i, c in enumerate(copies):
            keys.setdefault((c.genome, c.schedule or spec.schedule), []).append(i)
        order = [i for members in keys.values() for i in members]  # row -> copies index
        self.specs = [copies[i] for i in order]
        self.k = len(copies)
        self.output_order = [order.index(i) for i in range(self.k)]
        models = [_new_model(data, spec, c.seed, device) for c in self.specs]
        model = grouped_from_models(models).to(device)
        if spec.channels_last:
            model = model.to(memory_format=torch.channels_last)
        del models
        self.model = model
        self.params = list(model.parameters())
        self.sizes = [v.numel() for v in model.copy_views(0)]
        flat = _flatten_rows(model.stacked_views())
        self.groups: list[_RuleGroup] = []
        start = 0
        for (genome, schedule), members in keys.items():
            stop = start + len(members)
            scheduled = ScheduledRule.create(
                genome, spec.total_steps, spec.warmup_steps, spec.hold_steps, schedule
            )
            rows = self.specs[start:stop]
            peak = torch.tensor([c.lr for c in rows], device=device, dtype=flat.dtype)
            rng = None
            if scheduled.rule.random:
                rng = torch.Generator(device=device).manual_seed(rows[0].seed)
            self.groups.append(
                _RuleGroup(
                    scheduled,
                    start,
                    stop,
                    scheduled.init_state(flat[start:stop]),
                    peak.unsqueeze(1),
                    OpContext(generator=rng, segments=tuple(self.sizes)),
                    scheduled.workspace(flat[start:stop]),
                )
            )
            start = stop
        self.active = torch.ones(self.k, 1, dtype=torch.bool, device=device)
        # (K, N) buffers reused at every step, and their (K, *shape) views per parameter.
        shapes = [v.shape for v in model.stacked_views()]
        self.g = torch.empty_like(flat)
        self.g_views = _row_views(self.g, shapes)
        self.w: Tensor | None = None
        if any(g.scheduled.rule.needs_weight for g in self.groups):
            self.w = torch.empty_like(flat)
            self.w_views = _row_views(self.w, shapes)
        self.change = torch.empty_like(flat)
        self.change_views = _row_views(self.change, shapes)
        self.zero = torch.zeros((), device=device, dtype=flat.dtype)
        self.static = spec.cuda_graphs
        self.backend = _graph_backend(device) if self.static else None
        self.graph: Any = None  # the captured step, once captured
        self.use_graph = self.backend is not None
        self.warm_steps = 0
        self.x_static: Tensor | None = None
        self.y_static: Tensor | None = None
        if self.static:
            self._bind_step_values(flat)

    def _bind_step_values(self, flat: Tensor) -> None:
        """One device vector of every group's per-step scalars, each group's workspace bound
        to its slice."""
        sizes = [grp.scheduled.rule.delta_program.n_step_values for grp in self.groups]
        self.values = torch.zeros(sum(sizes), dtype=flat.dtype, device=self.device)
        pinned = self.backend is not None and self.backend.pin_memory
        self.values_host = [
            torch.zeros(sum(sizes), dtype=flat.dtype, pin_memory=pinned)
            for _ in range(STEP_VALUE_BUFFERS if self.backend is not None else 1)
        ]
        self.values_events: list[Any] = [None] * len(self.values_host)
        self.values_turn = 0
        for grp, part in zip(self.groups, self.values.split(sizes), strict=True):
            grp.workspace.bind_static(part, grp.peak)

    def _load_step_values(self, k: int) -> None:
        values = [v for grp in self.groups for v in grp.scheduled.step_values(k)]
        i = self.values_turn
        self.values_turn = (i + 1) % len(self.values_host)
        host = self.values_host[i]
        event = self.values_events[i]
        if event is not None:
            event.synchronize()  # the copy that last read this buffer is done
        host.copy_(torch.tensor(values, dtype=host.dtype))
        if self.use_graph and self.backend is not None:
            self.values.copy_(host, non_blocking=True)
            self.values_events[i] = self.backend.record_event()
        else:
            self.values.copy_(host)

    def train_step(self, x: Tensor, y: Tensor, k: int, stats: _EpochStats) -> None:
        if not self.static:
            super().train_step(x, y, k, stats)
            return
        self._load_step_values(k)
        if self.x_static is None or self.y_static is None:
            self.x_static, self.y_static = torch.empty_like(x), torch.empty_like(y)
        self.x_static.copy_(x)
        self.y_static.copy_(y)
        if self.graph is not None:
            self.graph.replay()
        elif not self.use_graph or self.backend is None:
            self._static_step(stats)
        elif self.warm_steps < GRAPH_WARMUP_STEPS:
            # Warm-up (cuBLAS/cuDNN handles, autograd's buffers) off the capture's stream.
            self.backend.side_stream(lambda: self._static_step(stats), self.device)
            self.warm_steps += 1
        else:
            self._capture(stats)

    def _generators(self) -> list[torch.Generator]:
        gens = list(self.model.generators or [])
        gens += [grp.ctx.generator for grp in self.groups if grp.ctx.generator is not None]
        return gens

    def _capture(self, stats: _EpochStats) -> None:
        """Capture the step as a CUDA graph and replay it (this step's update); on failure,
        warn and go on eagerly from the same buffers."""
        assert self.backend is not None
        try:
            graph = self.backend.capture(lambda: self._static_step(stats), self._generators())
        except Exception as exc:  # any failure: this run goes on eagerly
            warnings.warn(
                f"CUDA graph capture failed ({exc}); training goes on without graphs",
                RuntimeWarning,
                stacklevel=2,
            )
            self.backend.synchronize(self.device)
            self.use_graph = False
            self._static_step(stats)
            return
        self.graph = graph
        graph.replay()

    def _static_step(self, stats: _EpochStats) -> None:
        """The training step from the fixed buffers: what the CUDA graph holds."""
        assert self.x_static is not None and self.y_static is not None
        logits = self.forward(self.x_static, cache=not self.use_graph)
        losses = self.losses(logits, self.y_static)
        self._update(losses, None)
        stats.add(losses, logits, self.y_static)

    def forward(self, x: Tensor, cache: bool = True) -> Tensor:
        self.model.train()
        with _autocast(self.spec, self.device, cache):
            return self.model(x)

    def losses(self, logits: Tensor, y: Tensor) -> Tensor:
        k = self.k
        return (
            F.cross_entropy(logits.float().flatten(0, 1), y.repeat(k), reduction="none")
            .view(k, -1)
            .mean(1)
        )

    def step(self, losses: Tensor, k: int) -> None:
        self._update(losses, k)

    def _update(self, losses: Tensor, k: int | None) -> None:
        """Backward, then every group's rule on its rows (k None: the step's scalars come
        from the bound step values), the change masked to the active copies."""
        for p in self.params:
            p.grad = None
        losses.sum().backward()
        with torch.no_grad():
            torch._foreach_copy_(self.g_views, self.model.stacked_grad_views())
            if self.w is not None:
                torch._foreach_copy_(self.w_views, self.model.stacked_views())
            for grp in self.groups:
                rows = slice(grp.start, grp.stop)
                w = None if self.w is None else self.w[rows]
                if k is None:
                    delta = grp.scheduled.delta_static(
                        self.g[rows], grp.state, grp.workspace, w, grp.ctx
                    )
                else:
                    delta = grp.scheduled.delta(
                        self.g[rows], grp.state, k, grp.peak, w, grp.ctx, grp.workspace
                    )
                torch.where(self.active[rows], delta, self.zero, out=self.change[rows])
            torch._foreach_add_(self.model.stacked_views(), self.change_views)

    def validate(self) -> list[tuple[float, float]]:
        return evaluate(self.model, self.data, self.spec, self.device)

    def retire(self, i: int) -> None:
        if not bool(self.active[i]):
            return
        self.active[i] = False
        grp = next(g for g in self.groups if g.start <= i < g.stop)
        with torch.no_grad():
            for view in self.model.copy_views(i):
                view.zero_()  # so NaNs cannot leak into anything
            for buf in grp.state.values():
                buf[i - grp.start].zero_()

    def any_active(self) -> bool:
        return bool(self.active.any())


class _CudaGraphs:
    """What the packed trainer asks of CUDA to capture and replay its step: pinned host
    memory, events, a side stream for the warm-up steps, the capture. (One seam, so that the
    tests drive the same control flow on a CPU with a stand-in.)"""

    pin_memory = True

    def record_event(self) -> Any:
        event = torch.cuda.Event()
        event.record()
        return event

    def side_stream(self, fn: Callable[[], None], device: str) -> None:
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            fn()
        torch.cuda.current_stream(device).wait_stream(side)

    def capture(self, fn: Callable[[], None], generators: list[torch.Generator]) -> Any:
        """`fn`'s kernels as a CUDA graph (not run: `replay()` runs them), with the draws of
        `generators` advancing at every replay as they would eagerly."""
        graph = torch.cuda.CUDAGraph()
        if generators and not hasattr(graph, "register_generator_state"):
            raise RuntimeError(
                f"torch {torch.__version__} cannot capture draws of its own generators "
                "(CUDAGraph.register_generator_state is torch 2.5 and newer)"
            )
        for gen in generators:
            graph.register_generator_state(gen)
        with torch.cuda.graph(graph):
            fn()
        return graph

    def synchronize(self, device: str) -> None:
        torch.cuda.synchronize(device)


def _graph_backend(device: str) -> _CudaGraphs | None:
    """The CUDA-graph backend for a run on `device` (None: the fixed-buffer step runs eagerly)."""
    return _CudaGraphs() if device.startswith("cuda") else None


def _end_epoch(result: RunResult, step: int, loss: float, acc: float, spec: TrainSpec) -> None:
    """Record an epoch; apply the divergence check and the stop rules."""
    result.steps = step
    result.train_loss.append(loss)
    result.train_acc.append(acc)
    if not math.isfinite(loss):
        result.status = "diverged"
        return
    for rule in spec.stop_rules:
        if rule.applies(step, spec.epoch_steps) and acc < rule.min_train_acc:
            result.status = "stopped"
            return


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, data: Dataset, spec: TrainSpec, device: str
) -> list[tuple[float, float]]:
    """Validation (loss, accuracy) of each copy of a ConvNet (one copy) or GroupedConvNet."""
    model.eval()
    x_all, y_all = data.val
    total_loss: Tensor | None = None
    correct: Tensor | None = None
    for i in range(0, len(y_all), spec.eval_batch_size):
        x = x_all[i : i + spec.eval_batch_size].to(device)
        y = y_all[i : i + spec.eval_batch_size].to(device)
        if spec.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(spec, device):
            logits = model(x).float()
        if logits.dim() == 2:
            logits = logits.unsqueeze(0)  # one copy
        k = logits.shape[0]
        losses = F.cross_entropy(logits.flatten(0, 1), y.repeat(k), reduction="none")
        batch_loss = losses.view(k, -1).double().sum(1)
        batch_correct = (logits.argmax(-1) == y).double().sum(1)
        total_loss = batch_loss if total_loss is None else total_loss + batch_loss
        correct = batch_correct if correct is None else correct + batch_correct
    if total_loss is None or correct is None:
        return [(math.nan, math.nan)]
    n = len(y_all)
    return list(zip((total_loss / n).tolist(), (correct / n).tolist(), strict=True))


# ----------------------------------------------------------------------------------------------


def _flatten_rows(stacked: list[Tensor]) -> Tensor:
    """(K, *shape_j) tensors -> one (K, sum_j numel_j) matrix (a copy)."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in stacked], dim=1)


def _row_views(flat: Tensor, shapes: list[torch.Size]) -> list[Tensor]:
    """A (K, N) matrix as (K, *shape_j) views, the inverse of `_flatten_rows`."""
    sizes = [math.prod(shape[1:]) for shape in shapes]
    parts = flat.split(sizes, dim=1)
    return [part.view(shape) for part, shape in zip(parts, shapes, strict=True)]
