"""The batched trainer: K independent copies of the surrogate ConvNet, one update rule, K peak
learning rates (or K seeds), trained on the same batches.

Two strategies compute the same thing:
- "sequential": the copies one after another, each a ConvNet with an `EvolvedOptimizer`.
  Fastest on a CPU, where the forward/backward of one base-48 model already fills the cores
  (benchmarks/batched_models.py: grouped 0.6-0.8x, vmap 0.4x of sequential).
- "grouped": one `GroupedConvNet` holding all K copies (grouped convolutions), stepped by the
  compiled rule on a (K, N) matrix of parameters, one learning rate per row. For a GPU, where
  one small model leaves most of the chip idle.
"auto" picks grouped on CUDA and sequential elsewhere.

Per epoch: running training accuracy and loss (train mode, as the model sees the batches),
and optionally validation accuracy and loss. A copy whose loss turns NaN/inf stops alone
(checked at the end of each epoch, so it wastes at most one epoch) and the others go on.
Everything is deterministic for a seed: model initialisation (per copy), data order,
augmentation and dropout draw from their own seeded generators.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from optevo.data import Augment, Dataset
from optevo.models import ConvNet, GroupedConvNet, grouped_from_models
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
    device = resolve_device(spec.device)
    if strategy == "auto":
        strategy = "grouped" if device.startswith("cuda") and len(lrs) > 1 else "sequential"
    trainer = _GroupedTrainer if strategy == "grouped" else _SequentialTrainer
    if strategy not in ("grouped", "sequential"):
        raise ValueError(f"unknown strategy {strategy!r}: auto, sequential or grouped")
    return trainer(genome, data, spec, list(lrs), seeds, device).run()


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


def _autocast(spec: TrainSpec, device: str) -> torch.autocast:
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=spec.amp)


class _EpochStats:
    """Running sums of loss and correct predictions, kept on the device (one sync per epoch)."""

    def __init__(self, k: int, device: str) -> None:
        self.loss = torch.zeros(k, device=device, dtype=torch.float64)
        self.correct = torch.zeros(k, device=device, dtype=torch.float64)
        self.count = 0

    def add(self, losses: Tensor, logits: Tensor, y: Tensor) -> None:
        self.loss += losses.detach().double()
        self.correct += (logits.detach().argmax(-1) == y).double().sum(-1)
        self.count += len(y)

    def read(self, batches: int) -> tuple[list[float], list[float]]:
        losses = (self.loss / batches).tolist()
        accs = (self.correct / self.count).tolist()
        return losses, accs


class _Trainer:
    """K copies of one run: the same genome, data and spec; one learning rate and seed each."""

    def __init__(
        self,
        genome: Genome,
        data: Dataset,
        spec: TrainSpec,
        lrs: list[float],
        seeds: list[int],
        device: str,
    ) -> None:
        self.genome, self.data, self.spec, self.lrs, self.seeds = genome, data, spec, lrs, seeds
        self.device = device
        self.k = len(lrs)


class _SequentialTrainer(_Trainer):
    def run(self) -> list[RunResult]:
        return [self._run_one(lr, seed) for lr, seed in zip(self.lrs, self.seeds, strict=True)]

    def _run_one(self, lr: float, seed: int) -> RunResult:
        spec, device = self.spec, self.device
        t0 = time.perf_counter()
        result = RunResult(lr, seed)
        model = _new_model(self.data, spec, seed, device)
        opt = EvolvedOptimizer(
            model.parameters(),
            self.genome,
            lr,
            spec.total_steps,
            spec.warmup_steps,
            spec.hold_steps,
            spec.schedule,
            seed=seed,
        )
        batches = _Batches(self.data, spec, device)
        stats = _EpochStats(1, device)
        for step in range(1, spec.steps + 1):
            x, y = batches.next()
            model.train()
            with _autocast(spec, device):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            stats.add(loss.reshape(1), logits.unsqueeze(0), y)
            if step % spec.epoch_steps == 0 or step == spec.steps:
                n_batches = (step - 1) % spec.epoch_steps + 1
                losses, accs = stats.read(n_batches)
                stats = _EpochStats(1, device)
                _end_epoch(result, step, losses[0], accs[0], spec)
                if result.active and spec.validate:
                    ((vl, va),) = evaluate(model, self.data, spec, device)
                    result.val_loss.append(vl)
                    result.val_acc.append(va)
                if not result.active:
                    break
        result.seconds = time.perf_counter() - t0
        return result


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


class _GroupedTrainer(_Trainer):
    """All K copies as one GroupedConvNet, stepped by the compiled rule on a (K, N) matrix."""

    def run(self) -> list[RunResult]:
        spec, device, k = self.spec, self.device, self.k
        t0 = time.perf_counter()
        results = [RunResult(lr, seed) for lr, seed in zip(self.lrs, self.seeds, strict=True)]
        models = [_new_model(self.data, spec, seed, device) for seed in self.seeds]
        model = grouped_from_models(models).to(device)
        if spec.channels_last:
            model = model.to(memory_format=torch.channels_last)
        del models
        scheduled = ScheduledRule.create(
            self.genome, spec.total_steps, spec.warmup_steps, spec.hold_steps, spec.schedule
        )
        params = list(model.parameters())
        sizes = [v.numel() for v in model.copy_views(0)]
        flat = _flatten_rows(model.stacked_views())
        state = scheduled.init_state(flat)
        peak = torch.tensor(self.lrs, device=device, dtype=flat.dtype).unsqueeze(1)
        active = torch.ones(k, 1, dtype=torch.bool, device=device)
        rng = None
        if scheduled.rule.random:
            rng = torch.Generator(device=device).manual_seed(self.seeds[0])
        ctx = OpContext(generator=rng, segments=tuple(sizes))
        batches = _Batches(self.data, spec, device)
        stats = _EpochStats(k, device)
        for step in range(1, spec.steps + 1):
            x, y = batches.next()
            model.train()
            with _autocast(spec, device):
                logits = model(x)  # (K, B, classes)
            losses = (
                F.cross_entropy(logits.float().flatten(0, 1), y.repeat(k), reduction="none")
                .view(k, -1)
                .mean(1)
            )
            for p in params:
                p.grad = None
            losses.sum().backward()
            with torch.no_grad():
                g = _flatten_rows(model.stacked_grad_views())
                w = _flatten_rows(model.stacked_views()) if scheduled.rule.needs_weight else None
                delta = scheduled.delta(g, state, step - 1, peak, w, ctx)
                delta = torch.where(active, delta, torch.zeros((), device=device))
                for view, part in zip(
                    model.stacked_views(), delta.split(sizes, dim=1), strict=True
                ):
                    view.add_(part.view_as(view))
            stats.add(losses, logits, y)
            if step % spec.epoch_steps == 0 or step == spec.steps:
                n_batches = (step - 1) % spec.epoch_steps + 1
                epoch_losses, accs = stats.read(n_batches)
                stats = _EpochStats(k, device)
                for i, r in enumerate(results):
                    if r.active:
                        _end_epoch(r, step, epoch_losses[i], accs[i], spec)
                if spec.validate:
                    vals = evaluate(model, self.data, spec, device)
                    for r, (vl, va) in zip(results, vals, strict=True):
                        if r.active:
                            r.val_loss.append(vl)
                            r.val_acc.append(va)
                stopped = [i for i, r in enumerate(results) if not r.active and bool(active[i])]
                for i in stopped:
                    _retire_copy(model, state, i)
                    active[i] = False
                if not bool(active.any()):
                    break
        seconds = time.perf_counter() - t0
        for r in results:
            r.seconds = seconds / k
        return results


def _flatten_rows(stacked: list[Tensor]) -> Tensor:
    """(K, *shape_j) tensors -> one (K, sum_j numel_j) matrix (a copy)."""
    return torch.cat([t.reshape(t.shape[0], -1) for t in stacked], dim=1)


def _retire_copy(model: GroupedConvNet, state: dict[str, Tensor], i: int) -> None:
    """Zero a stopped copy's weights and state so NaNs cannot leak into anything."""
    with torch.no_grad():
        for view in model.copy_views(i):
            view.zero_()
        for buf in state.values():
            buf[i].zero_()
