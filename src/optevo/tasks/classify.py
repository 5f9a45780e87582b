"""Training and scoring one image-classification run of a transfer task.

A run: seed everything, build the task's model, build the optimizer with the run's whole
schedule (`total_steps`, warm-up, hold), train `steps` steps on seeded batches (augmented on
the device), then report the accuracy on the requested split. A non-finite loss ends the run
("diverged"), and so do non-finite weights after the last step; its model is still scored
(NaN logits count as wrong answers).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optevo.data.images import ImageSet
from optevo.tasks.base import DivergenceWatch, RunOutcome, RunRequest, finite_weights

__all__ = [
    "ClassificationRunner",
    "ImagePipeline",
    "RunOutcome",
    "Transform",
    "centre_crop",
    "finite_weights",
    "random_crop_to",
]

Transform = Callable[[Tensor, float, torch.Generator], Tensor]
"""(batch as float in [0, 1], progress through the run in [0, 1], generator) -> batch."""


def random_crop_to(x: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """A `size x size` window at a random offset of each image (no padding)."""
    b, c, h, w = x.shape
    if size > min(h, w):
        raise ValueError(f"crop {size} exceeds the {h}x{w} images")
    if size == h == w:
        return x
    dy = torch.randint(0, h - size + 1, (b, 1), generator=generator, device=x.device)
    dx = torch.randint(0, w - size + 1, (b, 1), generator=generator, device=x.device)
    ar = torch.arange(size, device=x.device)
    rows = (dy + ar)[:, None, :, None].expand(b, c, size, w)
    x = x.gather(2, rows)
    cols = (dx + ar)[:, None, None, :].expand(b, c, size, size)
    return x.gather(3, cols)


def centre_crop(x: Tensor, size: int) -> Tensor:
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top : top + size, left : left + size]


@dataclass
class ImagePipeline:
    """How batches of raw pixels reach the model: scaled to [0, 1] by `max_value` (the
    ImageSet's: 255 for 8-bit images), `before` on [0, 1] pixels (RandAugment), normalisation
    by `mean` and `std`, `after` on normalised pixels (crop, flip, cutout: a zero there is the
    mean colour), and `eval_crop` for scoring (TinyImageNet: centre 64 of 72)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    max_value: int
    before: Transform | None = None
    after: Transform | None = None
    eval_crop: int | None = None
    channels_last: bool = True

    def _scale(self, x: Tensor) -> Tensor:
        return x.float() / self.max_value

    def _normalise(self, x: Tensor) -> Tensor:
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def _memory_format(self, x: Tensor) -> Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def train(self, x: Tensor, progress: float, generator: torch.Generator) -> Tensor:
        x = self._scale(x)
        if self.before is not None:
            x = self.before(x, progress, generator)
        x = self._normalise(x)
        if self.after is not None:
            x = self.after(x, progress, generator)
        return self._memory_format(x)

    def eval(self, x: Tensor) -> Tensor:
        x = self._scale(x)
        if self.eval_crop is not None:
            x = centre_crop(x, self.eval_crop)
        return self._memory_format(self._normalise(x))


class ClassificationRunner:
    """Runs of one image task: its data (loaded once), model factory and pipeline."""

    def __init__(
        self,
        data: ImageSet,
        make_model: Callable[[], nn.Module],
        pipeline: ImagePipeline,
        batch_size: int,
        device: str = "cpu",
        eval_batch_size: int = 256,
    ) -> None:
        self.data, self.make_model, self.pipeline = data, make_model, pipeline
        self.batch_size, self.device, self.eval_batch_size = batch_size, device, eval_batch_size
        if data.normalised:
            raise ValueError(
                f"{data.name}: the pipeline normalises raw uint8 batches, but these images are "
                "already normalised float32"
            )
        n = len(data.train[1])
        if n < batch_size:
            raise ValueError(f"batch size {batch_size} exceeds the {n} training images")

    def run(self, request: RunRequest) -> RunOutcome:
        t0 = time.perf_counter()
        seed, steps, total_steps = request.seed, request.steps, request.total_steps
        torch.manual_seed(seed)
        model = self.make_model().to(self.device)
        if self.pipeline.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        opt = request.build(model.parameters())
        watch = DivergenceWatch(self.device, steps)
        x_all, y_all = self.data.train
        order = torch.Generator().manual_seed(seed)
        aug = torch.Generator(device=self.device).manual_seed(seed + 1)
        perm, pos = torch.empty(0, dtype=torch.long), 0
        status, done = "ok", 0
        model.train()
        for step in range(steps):
            if pos + self.batch_size > len(perm):
                perm, pos = torch.randperm(len(y_all), generator=order), 0
            idx = perm[pos : pos + self.batch_size]
            pos += self.batch_size
            x = self.pipeline.train(x_all[idx].to(self.device), step / total_steps, aug)
            y = y_all[idx].to(self.device)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done = step + 1
            if watch.diverged(done, loss):
                status = "diverged"
                break
        if status == "ok" and not finite_weights(model):
            status = "diverged"  # e.g. a last update that blew up after the last loss was seen
        metric = self.accuracy(model, request.split)
        return RunOutcome(metric, status, time.perf_counter() - t0, done, {})

    @torch.no_grad()
    def accuracy(self, model: nn.Module, split: str) -> float:
        pair = getattr(self.data, split)
        if pair is None:
            raise ValueError(f"{self.data.name} has no {split} split")
        x_all, y_all = pair
        if len(y_all) == 0:
            raise ValueError(f"{self.data.name}: the {split} split is empty")
        model.eval()
        correct = 0
        for i in range(0, len(y_all), self.eval_batch_size):
            x = self.pipeline.eval(x_all[i : i + self.eval_batch_size].to(self.device))
            logits = torch.nan_to_num(model(x).float(), nan=-math.inf)
            y = y_all[i : i + self.eval_batch_size].to(self.device)
            correct += int((logits.argmax(1) == y).sum())
        model.train()
        return correct / len(y_all)
