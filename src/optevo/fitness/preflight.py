"""Checks before any evaluation runs: a config that would make every evaluation an `error`
is refused up front."""

from __future__ import annotations

import torch

from optevo.data import ImageSet
from optevo.fitness.config import SingleTaskFitness
from optevo.fitness.spec import resolve_device


def check_device(device: str) -> None:
    """Raise ValueError for a device that is not there (`auto` always is)."""
    device = resolve_device(device)
    kind, _, index = device.partition(":")
    if index and not (index.isascii() and index.isdigit()):
        raise ValueError(f"device {device!r}: the device index must be a number")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: no CUDA device is available here")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r}: no MPS device is available here")


def preflight(config: SingleTaskFitness, data: ImageSet) -> None:
    """Raise ValueError now for a config that would make every evaluation an `error`: a
    device that is not there, raw (not normalised) images, or a batch larger than the training
    split."""
    check_device(config.device)
    if not data.normalised:
        raise ValueError(
            f"{data.name}: the fitness trains on normalised float32 images (as "
            "optevo.data.load returns them), not raw uint8 pixels"
        )
    n = len(data.train[1])
    if config.batch_size > n:
        raise ValueError(
            f"batch_size {config.batch_size} exceeds the {n} training images of {config.dataset}"
        )
