"""Image classification data for the surrogate task: Fashion-MNIST, CIFAR-10/100, digits.

``load(name)`` reads the training files of a data set, holds out a validation split and
normalises both splits with per-channel statistics of the training split. Test sets are never
read: the search must not see them.

Readers and loaders: the ``read_*`` functions (``idx.read_fashion_mnist``,
``cifar.read_cifar``, ``digits.read_digits``) read files into ``RawImages``, numpy arrays
before any split; ``load`` turns those into an ``ImageSet``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from optevo.data.augment import Augment
from optevo.data.cifar import CIFAR10, CIFAR100, read_cifar
from optevo.data.digits import DIGITS_CLASSES, read_digits
from optevo.data.idx import FASHION_MNIST_CLASSES, read_fashion_mnist
from optevo.data.images import ImageSet
from optevo.data.raw import RawImages
from optevo.data.split import channel_stats, normalise, split_indices

__all__ = ["NAMES", "Augment", "Dataset", "ImageSet", "load"]

# The old name, kept for user code: one type, not a subclass.
Dataset = ImageSet


@dataclass(frozen=True)
class _Source:
    read: Callable[[Path | None], RawImages]
    num_classes: int
    default_val_size: int
    takes_root: bool = True


def _digits_reader(root: Path | None) -> RawImages:
    return read_digits()


def _fashion_mnist_reader(root: Path | None) -> RawImages:
    return read_fashion_mnist(root, "train")  # the test files are never read


_SOURCES: dict[str, _Source] = {
    "fashion-mnist": _Source(_fashion_mnist_reader, FASHION_MNIST_CLASSES, 5000),
    "cifar10": _Source(lambda root: read_cifar(CIFAR10, root), CIFAR10.num_classes, 5000),
    "cifar100": _Source(lambda root: read_cifar(CIFAR100, root), CIFAR100.num_classes, 5000),
    # 360 is 20% of the 1,797 images; 5,000 would exceed the whole set.
    "digits": _Source(_digits_reader, DIGITS_CLASSES, 360, takes_root=False),
}

NAMES: tuple[str, ...] = tuple(_SOURCES)


def load(
    name: str,
    root: str | os.PathLike[str] | None = None,
    val_size: int | None = None,
    seed: int = 0,
) -> ImageSet:
    """Load a data set's training files and split off a validation set.

    Args:
        name: one of ``NAMES``: ``"fashion-mnist"``, ``"cifar10"``, ``"cifar100"``, ``"digits"``.
        root: where the files are. Fashion-MNIST: a directory with the IDX training files
            (default ``/usr/share/datasets/fashion-mnist``, from
            ``apt-get install dataset-fashion-mnist``). CIFAR: the batches folder, its parent,
            or the ``.tar.gz`` archive (default ``/usr/share/datasets/cifar10`` / ``cifar100``).
            Digits is bundled with scikit-learn and takes no root.
        val_size: training images held out for validation; ``None`` means the data set's
            default: 5,000 (the paper's split) for Fashion-MNIST and CIFAR, 360 for digits.
        seed: seeds the permutation that picks the validation images.

    Returns:
        An ``ImageSet`` whose images are float32 in [0, 1], then normalised per channel with
        the mean and standard deviation of the training split only (``normalised`` is True);
        ``test`` is None (test files are never read) and ``max_value`` is the files' (255, or
        16 for digits).

    Raises:
        FileNotFoundError: a directory, file or archive member is missing.
        ValueError: unknown name, bad ``val_size``, or files that are corrupt, truncated or
            disagree with their format (the message names the file and the problem).
    """
    source = _SOURCES.get(name)
    if source is None:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(NAMES)}")
    if root is not None and not source.takes_root:
        raise ValueError(f"{name} is bundled with scikit-learn and takes no root (got {root!r})")
    raw = source.read(None if root is None else Path(root))
    n = len(raw.labels)
    train_idx, val_idx = split_indices(
        n, source.default_val_size if val_size is None else val_size, seed
    )
    train_images = raw.images[train_idx]
    mean, std = channel_stats(train_images, raw.max_value)
    return ImageSet(
        name=name,
        train=(normalise(train_images, raw.max_value, mean, std), _labels(raw, train_idx)),
        val=(normalise(raw.images[val_idx], raw.max_value, mean, std), _labels(raw, val_idx)),
        test=None,
        num_classes=source.num_classes,
        mean=mean,
        std=std,
        max_value=raw.max_value,
    )


def _labels(raw: RawImages, indices: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(raw.labels[indices])
