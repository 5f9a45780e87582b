"""scikit-learn's bundled 8x8 digits: a data set that needs no files at all."""

from __future__ import annotations

import numpy as np

from optevo.data.raw import RawImages

DIGITS_CLASSES = 10


def read_digits() -> RawImages:
    """All 1,797 images of ``sklearn.datasets.load_digits`` as ``1 x 8 x 8``, values 0..16."""
    # Imported here: scikit-learn takes about a second to import and only this reader needs it.
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = np.asarray(bunch.images, dtype=np.uint8)[:, None, :, :]
    return RawImages(images=images, labels=np.asarray(bunch.target, dtype=np.int64), max_value=16)
