"""The ``Dataset`` that every loader returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set split into training and validation parts, ready to train on.

    Attributes:
        train: ``(images, labels)``: float32 ``N x C x H x W`` normalised images, int64 labels.
        val: the held-out validation split, same form (``N`` may be 0).
        num_classes: labels lie in ``0..num_classes - 1``.
        name: the name ``load`` was called with.
        mean: per-channel mean of the training split in [0, 1] pixel units, subtracted.
        std: per-channel standard deviation of the training split, divided by.
    """

    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    num_classes: int
    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for split, (images, labels) in (("train", self.train), ("val", self.val)):
            if images.ndim != 4 or images.dtype != torch.float32:
                raise ValueError(f"{split} images must be float32 N x C x H x W")
            if labels.shape != (len(images),) or labels.dtype != torch.int64:
                raise ValueError(f"{split} labels must be int64 with one per image")
        if self.train[0].shape[1:] != self.val[0].shape[1:]:
            raise ValueError("train and val images differ in shape")
        if not len(self.mean) == len(self.std) == self.in_channels:
            raise ValueError("mean and std need one value per channel")

    @property
    def in_channels(self) -> int:
        """Number of image channels (1 grey, 3 colour)."""
        return self.train[0].shape[1]

    @property
    def image_size(self) -> int:
        """Side length of the (square) images in pixels."""
        return self.train[0].shape[-1]

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.train[1])}, val={len(self.val[1])}, "
            f"{self.in_channels}x{self.image_size}x{self.image_size}, "
            f"classes={self.num_classes})"
        )
