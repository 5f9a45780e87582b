"""What every layout of a run's K model copies offers the training loop (`Layout`), the
running epoch statistics, the surrogate model factory and the validation pass."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from optevo.data import ImageSet
from optevo.fitness.spec import CopySpec, TrainSpec, autocast
from optevo.models import ConvNet


class EpochStats:
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


class Layout:
    """A layout of K copies for the training loop: forward, per-copy losses, one optimizer
    step, the validation of every copy, and retiring a copy."""

    specs: list[CopySpec]
    k: int
    output_order: list[int]

    def train_step(self, x: Tensor, y: Tensor, k: int, stats: EpochStats) -> None:
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


def new_model(data: ImageSet, spec: TrainSpec, seed: int, device: str) -> ConvNet:
    """The surrogate ConvNet of one copy, initialised from `seed`."""
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
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model


@torch.no_grad()
def validate(
    model: torch.nn.Module, data: ImageSet, spec: TrainSpec, device: str
) -> list[tuple[float, float]]:
    """Held-out (loss, accuracy) of each copy of a ConvNet (one copy) or GroupedConvNet."""
    model.eval()
    x_all, y_all = data.val
    total_loss: Tensor | None = None
    correct: Tensor | None = None
    for i in range(0, len(y_all), spec.eval_batch_size):
        x = x_all[i : i + spec.eval_batch_size].to(device)
        y = y_all[i : i + spec.eval_batch_size].to(device)
        if spec.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast(spec, device):
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
