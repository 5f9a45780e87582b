"""Batched data augmentation on the training device: random crop, horizontal flip, cutout.

Every function takes a whole batch ``x`` (``B x C x H x W``) and draws one random choice per
image from an explicit ``torch.Generator`` on ``x``'s device, so a run is reproducible from its
seed and no per-image Python loop stalls the accelerator. Images are expected to be normalised
already: cutout's zeros are then the training mean, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

# Whether load(name) data gets crop + flip + cutout by default. The paper augments CIFAR; for
# grey 28x28 Fashion-MNIST and 8x8 digits it is off until measured to help.
DEFAULT_AUGMENT: dict[str, bool] = {
    "fashion-mnist": False,
    "cifar10": True,
    "cifar100": True,
    "digits": False,
}


def _check(x: Tensor, generator: torch.Generator) -> None:
    if x.ndim != 4:
        raise ValueError(f"expected a batch B x C x H x W, got shape {tuple(x.shape)}")
    if generator.device.type != x.device.type:
        raise ValueError(
            f"generator is on {generator.device} but the batch is on {x.device}; "
            "create it with torch.Generator(device=x.device)"
        )


def _reflect(index: Tensor, size: int) -> Tensor:
    # Same rule as F.pad(mode="reflect"): -1 maps to 1, size maps to size - 2.
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index)


def random_crop(x: Tensor, pad: int = 4, *, generator: torch.Generator) -> Tensor:
    """Reflect-pad each image by ``pad`` pixels, then crop ``H x W`` at a random offset per image.

    Equivalent to ``F.pad(x, (pad,) * 4, mode="reflect")`` followed by one slice per image,
    but computed as two gathers with reflected indices, so no padded copy is built.
    """
    _check(x, generator)
    batch, channels, height, width = x.shape
    if not 0 <= pad < min(height, width):
        raise ValueError(f"pad={pad} must be at least 0 and below the image side {height}x{width}")
    offsets = torch.randint(0, 2 * pad + 1, (2, batch, 1), generator=generator, device=x.device)
    rows = _reflect(offsets[0] - pad + torch.arange(height, device=x.device), height)
    cols = _reflect(offsets[1] - pad + torch.arange(width, device=x.device), width)
    shape = (batch, channels, height, width)
    out = x.gather(2, rows[:, None, :, None].expand(shape))
    return out.gather(3, cols[:, None, None, :].expand(shape))


def random_hflip(x: Tensor, p: float = 0.5, *, generator: torch.Generator) -> Tensor:
    """Mirror each image left-right with probability ``p``, independently per image."""
    _check(x, generator)
    flip = torch.rand(x.shape[0], generator=generator, device=x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def cutout(x: Tensor, size: int = 8, *, generator: torch.Generator) -> Tensor:
    """Zero a ``size x size`` square centred at a random pixel of each image.

    The centre is uniform over the image and the square is clipped at the borders, so near an
    edge fewer pixels are zeroed (DeVries & Taylor, 2017).
    """
    _check(x, generator)
    if size < 1:
        raise ValueError(f"cutout size={size} must be at least 1")
    batch, _, height, width = x.shape
    centre_y = torch.randint(0, height, (batch, 1), generator=generator, device=x.device)
    centre_x = torch.randint(0, width, (batch, 1), generator=generator, device=x.device)
    top, left = centre_y - size // 2, centre_x - size // 2
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    in_rows = (rows >= top) & (rows < top + size)  # B x H
    in_cols = (cols >= left) & (cols < left + size)  # B x W
    square = in_rows[:, :, None] & in_cols[:, None, :]
    return x.masked_fill(square[:, None, :, :], 0.0)


@dataclass(frozen=True)
class Augment:
    """Which augmentations to apply, in the paper's order: crop, then flip, then cutout."""

    crop: bool = False
    flip: bool = False
    cutout: bool = False
    pad: int = 4
    cutout_size: int = 8

    def __post_init__(self) -> None:
        if self.pad < 0:
            raise ValueError(f"pad={self.pad} must be at least 0")
        if self.cutout_size < 1:
            raise ValueError(f"cutout_size={self.cutout_size} must be at least 1")

    @classmethod
    def default_for(cls, dataset_name: str) -> Augment:
        """All three on for CIFAR-10/100 (the paper's setting), all off for the grey sets."""
        if dataset_name not in DEFAULT_AUGMENT:
            known = ", ".join(DEFAULT_AUGMENT)
            raise ValueError(f"unknown data set {dataset_name!r}; known: {known}")
        on = DEFAULT_AUGMENT[dataset_name]
        return cls(crop=on, flip=on, cutout=on)

    @property
    def active(self) -> bool:
        """Whether calling this changes anything (lets a trainer skip it)."""
        return self.crop or self.flip or self.cutout

    def __call__(self, x: Tensor, generator: torch.Generator) -> Tensor:
        """Augment a batch; returns ``x`` itself when nothing is enabled."""
        if self.crop:
            x = random_crop(x, self.pad, generator=generator)
        if self.flip:
            x = random_hflip(x, generator=generator)
        if self.cutout:
            x = cutout(x, self.cutout_size, generator=generator)
        return x
