"""RandAugment (Cubuk et al., 2020) on whole batches of tensors, with a magnitude that can grow
during training (EfficientNetV2's progressive learning).

Why native: torchvision does not import beside this project's torch build (see the README).
The operations are torchvision's 14 (identity, shear x/y, translate x/y, rotate, brightness,
colour, contrast, sharpness, posterize, solarize, autocontrast, equalize), each image drawing
`num_ops` of them at random, computed on the batch's device from an explicit generator.

Magnitude is on the 0-10 scale of the TensorFlow implementation that EfficientNetV2 and the
paper use (10 = torchvision's bin 30 of 31: shear 0.3, translate 0.45 of the side, rotate 30
degrees, enhancement factors 1 +- 0.9, posterize to 4 bits, solarize threshold 0); values above
10 extrapolate linearly, as EfficientNetV2's schedule 5 -> 15 does. Images: float in [0, 1],
`B x C x H x W`, C = 1 or 3.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["OPS", "ProgressiveRandAugment", "RandAugment", "rand_augment"]

_GREY = (0.299, 0.587, 0.114)


def _grey(x: Tensor) -> Tensor:
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_GREY, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _blend(x: Tensor, other: Tensor, factor: Tensor) -> Tensor:
    return (other + factor.view(-1, 1, 1, 1) * (x - other)).clamp(0.0, 1.0)


def _affine(x: Tensor, theta: Tensor) -> Tensor:
    """Warp each image by its 2x3 matrix (normalised coordinates); outside pixels are 0.5."""
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out + 0.5


def _eye(x: Tensor) -> Tensor:
    return torch.eye(2, 3, device=x.device, dtype=x.dtype).expand(x.shape[0], 2, 3).clone()


def _shear_x(x: Tensor, v: Tensor) -> Tensor:
    theta = _eye(x)
    theta[:, 0, 1] = 0.3 * v
    return _affine(x, theta)


def _shear_y(x: Tensor, v: Tensor) -> Tensor:
    theta = _eye(x)
    theta[:, 1, 0] = 0.3 * v
    return _affine(x, theta)


def _translate_x(x: Tensor, v: Tensor) -> Tensor:
    theta = _eye(x)
    theta[:, 0, 2] = 2 * 0.45 * v  # normalised coordinates span 2
    return _affine(x, theta)


def _translate_y(x: Tensor, v: Tensor) -> Tensor:
    theta = _eye(x)
    theta[:, 1, 2] = 2 * 0.45 * v
    return _affine(x, theta)


def _rotate(x: Tensor, v: Tensor) -> Tensor:
    angle = v * math.radians(30.0)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(x.shape[0], 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    return _affine(x, theta)


def _brightness(x: Tensor, v: Tensor) -> Tensor:
    return _blend(x, torch.zeros_like(x), (1 + 0.9 * v).clamp(min=0))


def _color(x: Tensor, v: Tensor) -> Tensor:
    return _blend(x, _grey(x).expand_as(x), (1 + 0.9 * v).clamp(min=0))


def _contrast(x: Tensor, v: Tensor) -> Tensor:
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True).expand_as(x)
    return _blend(x, mean, (1 + 0.9 * v).clamp(min=0))


def _sharpness(x: Tensor, v: Tensor) -> Tensor:
    c = x.shape[1]
    kernel = torch.ones(3, 3, device=x.device, dtype=x.dtype)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(c, 1, 3, 3)
    smooth = x.clone()
    smooth[..., 1:-1, 1:-1] = F.conv2d(x, kernel, groups=c)  # borders stay as they are
    return _blend(x, smooth, (1 + 0.9 * v).clamp(min=0))


def _posterize(x: Tensor, v: Tensor) -> Tensor:
    bits = (8 - (4 * v.abs()).round()).clamp(1, 8)
    step = (2 ** (8 - bits)).view(-1, 1, 1, 1)
    return torch.floor(torch.round(x * 255) / step) * step / 255


def _solarize(x: Tensor, v: Tensor) -> Tensor:
    threshold = (1 - v.abs()).clamp(0, 1).view(-1, 1, 1, 1)
    return torch.where(x >= threshold, 1 - x, x)


def _autocontrast(x: Tensor, v: Tensor) -> Tensor:
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    span = high - low
    scaled = (x - low) / span.clamp(min=1e-6)
    return torch.where(span > 1e-6, scaled, x)


def _equalize(x: Tensor, v: Tensor) -> Tensor:
    b, c, h, w = x.shape
    levels = torch.round(x * 255).long().clamp(0, 255).view(b * c, h * w)
    hist = torch.zeros(b * c, 256, device=x.device, dtype=x.dtype)
    hist.scatter_add_(1, levels, torch.ones_like(levels, dtype=x.dtype))
    cdf = hist.cumsum(1)
    cdf_min = torch.where(hist > 0, cdf, torch.full_like(cdf, float(h * w))).amin(1, keepdim=True)
    denom = (h * w - cdf_min).clamp(min=1)
    lut = ((cdf - cdf_min) / denom).clamp(0, 1)
    out = lut.gather(1, levels).view(b, c, h, w)
    flat = (denom <= 1).view(b, c, 1, 1)  # a constant channel stays as it is
    return torch.where(flat, x, out)


def _identity(x: Tensor, v: Tensor) -> Tensor:
    return x


Op = Callable[[Tensor, Tensor], Tensor]

OPS: dict[str, tuple[Op, bool]] = {
    "identity": (_identity, False),
    "shear_x": (_shear_x, True),
    "shear_y": (_shear_y, True),
    "translate_x": (_translate_x, True),
    "translate_y": (_translate_y, True),
    "rotate": (_rotate, True),
    "brightness": (_brightness, True),
    "color": (_color, True),
    "contrast": (_contrast, True),
    "sharpness": (_sharpness, True),
    "posterize": (_posterize, False),
    "solarize": (_solarize, False),
    "autocontrast": (_autocontrast, False),
    "equalize": (_equalize, False),
}
"""name -> (operation on a batch with per-image strength v = magnitude/10, signed?)."""


def rand_augment(
    x: Tensor, magnitude: float, num_ops: int = 2, *, generator: torch.Generator
) -> Tensor:
    """Apply `num_ops` random operations of `OPS` to each image at `magnitude` (0-10 scale).

    Each image draws its own operations and, for the signed ones, its own direction; images
    that drew the same operation are transformed together.
    """
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected a B x C x H x W batch with 1 or 3 channels, got {x.shape}")
    if magnitude < 0:
        raise ValueError(f"magnitude must be >= 0, got {magnitude}")
    ops = list(OPS.values())
    strength = magnitude / 10.0
    for _ in range(num_ops):
        choice = torch.randint(0, len(ops), (x.shape[0],), generator=generator, device=x.device)
        sign = torch.randint(0, 2, (x.shape[0],), generator=generator, device=x.device) * 2 - 1
        out = x.clone()
        for index, (op, signed) in enumerate(ops):
            rows = (choice == index).nonzero().flatten()
            if rows.numel() == 0 or op is _identity:
                continue
            v = torch.full((rows.numel(),), strength, device=x.device, dtype=x.dtype)
            if signed:
                v = v * sign[rows].to(x.dtype)
            out[rows] = op(x[rows], v)
        x = out
    return x


@dataclass(frozen=True)
class RandAugment:
    """RandAugment at a fixed magnitude (the paper's fine-tuning: 15)."""

    magnitude: float = 9.0
    num_ops: int = 2

    def magnitude_at(self, progress: float) -> float:
        return self.magnitude

    def __call__(self, x: Tensor, progress: float, generator: torch.Generator) -> Tensor:
        return rand_augment(x, self.magnitude_at(progress), self.num_ops, generator=generator)


@dataclass(frozen=True)
class ProgressiveRandAugment(RandAugment):
    """EfficientNetV2's progressive regularisation: training is cut into `stages` equal parts
    and stage i uses magnitude `start + (end - start) * i / (stages - 1)` (5 -> 15 in 4 stages
    by default)."""

    start: float = 5.0
    end: float = 15.0
    stages: int = 4

    def magnitude_at(self, progress: float) -> float:
        if self.stages <= 1:
            return self.end
        stage = min(self.stages - 1, int(max(0.0, progress) * self.stages))
        return self.start + (self.end - self.start) * stage / (self.stages - 1)
