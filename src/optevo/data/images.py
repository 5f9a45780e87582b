"""``ImageSet``: the one container for labelled image classification data.

``optevo.data.load`` returns one with float32 pixels already normalised (the search's
surrogate task); the transfer benchmark's loaders (``optevo.tasks.bench_data``) return one with
raw uint8 pixels that a pipeline normalises a batch at a time on the training device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ImageSet", "Split"]

Split = tuple[Tensor, Tensor]
"""``(images, labels)``: ``N x C x H x W`` pixels and int64 labels, one per image."""

_PIXEL_DTYPES = (torch.uint8, torch.float32)


@dataclass(frozen=True, kw_only=True, eq=False)
class ImageSet:
    """Labelled images split into train, val and (optionally) test.

    Pixels come in one of two forms, the same in every split:

    - uint8, raw: each batch is normalised on its way to the model,
      ``x.float() / max_value``, then ``(x - mean) / std`` per channel;
    - float32, already normalised that way (``normalised`` is True).

    Attributes:
        name: the data set's name.
        train: ``(images, labels)``: ``N x C x H x W`` pixels, int64 labels.
        val: the held-out validation split, same form (``N`` may be 0).
        test: the test split, or None: the search's loaders never read test files.
        num_classes: labels lie in ``0..num_classes - 1``.
        mean: per-channel mean of the training split in [0, 1] pixel units.
        std: per-channel standard deviation of the training split.
        max_value: the pixel value meaning full intensity (255 for 8-bit files, 16 for
            scikit-learn's digits): what per-batch normalisation divides uint8 pixels by.
    """

    name: str
    train: Split
    val: Split
    test: Split | None = None
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    max_value: int = 255

    def __post_init__(self) -> None:
        dtype = self.train[0].dtype
        if dtype not in _PIXEL_DTYPES:
            raise ValueError(f"train images must be uint8 or float32, got {dtype}")
        for split, (images, labels) in self._splits():
            if images.ndim != 4:
                raise ValueError(f"{split} images must be N x C x H x W, got shape {images.shape}")
            if images.dtype != dtype:
                raise ValueError(
                    f"{split} images are {images.dtype} but train images are {dtype}: "
                    "all splits need one dtype"
                )
            if labels.shape != (len(images),) or labels.dtype != torch.int64:
                raise ValueError(f"{split} labels must be int64 with one per image")
            if images.shape[1:] != self.train[0].shape[1:]:
                raise ValueError(f"train and {split} images differ in shape")
        if not len(self.mean) == len(self.std) == self.in_channels:
            raise ValueError("mean and std need one value per channel")
        if self.max_value < 1:
            raise ValueError(f"max_value must be positive, got {self.max_value}")

    def _splits(self) -> list[tuple[str, Split]]:
        splits = [("train", self.train), ("val", self.val)]
        return splits if self.test is None else [*splits, ("test", self.test)]

    @property
    def normalised(self) -> bool:
        """True: float32 pixels, already normalised; False: raw uint8 pixels."""
        return self.train[0].dtype == torch.float32

    @property
    def in_channels(self) -> int:
        """Number of image channels (1 grey, 3 colour)."""
        return self.train[0].shape[1]

    @property
    def image_size(self) -> int:
        """Side length of the (square) images in pixels."""
        return self.train[0].shape[-1]

    def __repr__(self) -> str:
        c, h, w = self.train[0].shape[1:]
        test = "" if self.test is None else f"test={len(self.test[1])}, "
        return (
            f"ImageSet({self.name!r}, train={len(self.train[1])}, val={len(self.val[1])}, "
            f"{test}{c}x{h}x{w}, classes={self.num_classes})"
        )
