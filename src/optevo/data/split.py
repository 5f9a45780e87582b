"""Hold out a validation split and normalise with statistics of the training split."""

from __future__ import annotations

import operator

import numpy as np
import torch


def split_indices(n: int, val_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Choose ``val_size`` of ``n`` images for validation, deterministically from ``seed``.

    Returns:
        ``(train, val)``: sorted index arrays that partition ``range(n)``. Sorting keeps reads
        from the source array sequential; order within a split carries no meaning.

    Raises:
        ValueError: ``val_size`` is not an integer, is negative, or leaves no training image.
    """
    try:
        val_size = operator.index(val_size)
    except TypeError as error:
        raise ValueError(f"val_size must be an integer, got {val_size!r}") from error
    if not 0 <= val_size < n:
        raise ValueError(
            f"val_size={val_size} must be at least 0 and below the {n} training images"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


def channel_stats(
    images: np.ndarray, max_value: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of ``images / max_value``.

    A histogram of the integer pixel values makes this exact and far cheaper than float sums
    over tens of millions of pixels. A constant channel gets std 1 so normalising stays finite.
    """
    means, stds = [], []
    values = np.arange(max_value + 1, dtype=np.float64) / max_value
    for channel in range(images.shape[1]):
        pixels = np.ascontiguousarray(images[:, channel]).reshape(-1)
        if not pixels.flags.writeable:  # torch.from_numpy warns on read-only buffers
            pixels = pixels.copy()
        # torch counts uint8 directly; np.bincount first widens to int64 and is ~25x slower.
        counts = torch.bincount(torch.from_numpy(pixels), minlength=max_value + 1).numpy()
        total = counts.sum()
        mean = float(counts @ values / total)
        std = float(np.sqrt(counts @ (values - mean) ** 2 / total))
        means.append(mean)
        stds.append(std if std > 0 else 1.0)
    return tuple(means), tuple(stds)


def normalise(
    images: np.ndarray, max_value: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """Integer pixels to float32 ``(x / max_value - mean) / std``, per channel."""
    # A fresh float32 array: the source may be a read-only view of a file buffer.
    x = torch.from_numpy(np.array(images, dtype=np.float32))
    shape = (1, -1, 1, 1)
    x.div_(max_value)
    x.sub_(torch.tensor(mean, dtype=torch.float32).view(shape))
    x.div_(torch.tensor(std, dtype=torch.float32).view(shape))
    return x
