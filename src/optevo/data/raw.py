"""The in-memory form every reader returns before splitting and normalisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class RawImages:
    """Undecoded pixel values straight from the files.

    Attributes:
        images: integer pixels, ``uint8`` array of shape ``N x C x H x W``.
        labels: class indices, ``int64`` array of length ``N``, already range-checked.
        max_value: the pixel value that means full intensity (255 for 8-bit files, 16 for
            scikit-learn's digits), so images can be scaled to [0, 1].
    """

    images: np.ndarray
    labels: np.ndarray
    max_value: int
