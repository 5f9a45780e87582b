"""The training loop: K independent copies of the surrogate ConvNet, trained on the same
batches, each with its own update rule (genome), peak learning rate, schedule and seed.

One loop (`run`) serves every layout of the copies (`optevo.fitness.spec.Layout`):
sequential (`SequentialLayout`) or packed (`PackedLayout`); "auto" picks packed on CUDA and
sequential elsewhere (benchmarks/batched_models.py: on a CPU packed runs 0.6-0.8x, vmap 0.4x
of sequential).

Per epoch: running training accuracy and loss (train mode, as the model sees the batches),
and optionally the held-out validation accuracy and loss. A copy whose loss turns NaN/inf
stops alone (checked at the end of each epoch, so it wastes at most one epoch) and the others
go on. Everything is deterministic for a seed: model initialisation (per copy), data order,
augmentation and dropout draw from their own seeded generators.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import Tensor

from optevo.data import ImageSet
from optevo.fitness.layout import EpochStats, Layout
from optevo.fitness.packed import PackedLayout
from optevo.fitness.result import RunResult
from optevo.fitness.sequential import SequentialLayout
from optevo.fitness.spec import LAYOUTS, CopySpec, TrainSpec, resolve_device
from optevo.fitness.spec import Layout as LayoutName
from optevo.space.genome import Genome


def train_copies(
    genome: Genome,
    data: ImageSet,
    spec: TrainSpec,
    lrs: Sequence[float],
    seeds: Sequence[int] | None = None,
    layout: LayoutName = "auto",
) -> list[RunResult]:
    """Train one copy per learning rate (and seed) with the genome's update rule."""
    if not lrs:
        raise ValueError("need at least one learning rate")
    seeds = list(seeds) if seeds is not None else [spec.seed] * len(lrs)
    if len(seeds) != len(lrs):
        raise ValueError(f"{len(lrs)} learning rates but {len(seeds)} seeds")
    copies = [CopySpec(genome, lr, seed) for lr, seed in zip(lrs, seeds, strict=True)]
    return train_packed(copies, data, spec, layout)


def train_packed(
    copies: Sequence[CopySpec],
    data: ImageSet,
    spec: TrainSpec,
    layout: LayoutName = "auto",
) -> list[RunResult]:
    """Train every copy (each its own genome, learning rate, seed, schedule) on the same
    batches; results in the order of `copies`."""
    if not copies:
        raise ValueError("need at least one copy")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: {', '.join(LAYOUTS)}")
    device = resolve_device(spec.device)
    if layout == "auto":
        packed = len(copies) > 1 or spec.cuda_graphs
        layout = "packed" if device.startswith("cuda") and packed else "sequential"
    if layout == "sequential":
        return [run(SequentialLayout(c, data, spec, device), data, spec, device)[0] for c in copies]
    return run(PackedLayout(list(copies), data, spec, device), data, spec, device)


class Batches:
    """The training batches of a run: a seeded permutation per pass over the data, moved to the
    device once, augmented there with a seeded generator."""

    def __init__(self, data: ImageSet, spec: TrainSpec, device: str) -> None:
        if not data.normalised:
            raise ValueError(
                f"{data.name}: the fitness trains on normalised float32 images (as "
                "optevo.data.load returns them), not raw uint8 pixels"
            )
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


def run(copies: Layout, data: ImageSet, spec: TrainSpec, device: str) -> list[RunResult]:
    """The training loop of every layout: per epoch, the running training accuracy and loss
    of each copy, the divergence check and stop rules, validation, and retiring the copies
    that stopped (the others go on)."""
    t0 = time.perf_counter()
    results = [RunResult(c.lr, c.seed) for c in copies.specs]
    batches = Batches(data, spec, device)
    stats = EpochStats(copies.k, device)
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
                    end_epoch(r, step, epoch_losses[i], accs[i], spec)
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


def end_epoch(result: RunResult, step: int, loss: float, acc: float, spec: TrainSpec) -> None:
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
