"""ImageSet: the one container for labelled images, raw (uint8) or normalised (float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits as sklearn_digits

import optevo.data
from optevo.data import ImageSet, load
from optevo.data.split import split_indices
from optevo.tasks.classify import ImagePipeline


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    bunch = sklearn_digits()
    return np.asarray(bunch.images, dtype=np.float64)[:, None], np.asarray(bunch.target)


def test_load_digits_is_a_normalised_image_set_matching_a_hand_computation() -> None:
    data = load("digits")
    assert isinstance(data, ImageSet)
    assert data.normalised and data.test is None and data.max_value == 16
    assert data.train[0].dtype == data.val[0].dtype == torch.float32
    images, labels = _sklearn_digits()
    train_idx, val_idx = split_indices(len(labels), 360, seed=0)
    scaled = images / 16
    mean, std = scaled[train_idx].mean(), scaled[train_idx].std()
    assert data.mean == pytest.approx((mean,), abs=1e-12)
    assert data.std == pytest.approx((std,), abs=1e-12)
    for (x, y), idx in ((data.train, train_idx), (data.val, val_idx)):
        # The same float32 ops as the loader: divide by 16, subtract the mean, divide by std.
        expected = torch.from_numpy(images[idx].astype(np.float32))
        expected = (expected / 16 - torch.tensor(data.mean[0])) / torch.tensor(data.std[0])
        assert torch.equal(x, expected)
        assert torch.equal(y, torch.from_numpy(labels[idx].astype(np.int64)))


def test_raw_digits_normalised_per_batch_agree_with_the_loaded_set() -> None:
    loaded = load("digits")
    images, labels = _sklearn_digits()
    train_idx, val_idx = split_indices(len(labels), 360, seed=0)

    def raw(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(images[idx].astype(np.uint8))
        return x, torch.from_numpy(labels[idx].astype(np.int64))

    raw_set = ImageSet(
        name="digits",
        train=raw(train_idx),
        val=raw(val_idx),
        num_classes=10,
        mean=loaded.mean,
        std=loaded.std,
        max_value=16,
    )
    assert not raw_set.normalised and raw_set.train[0].dtype == torch.uint8
    pipeline = ImagePipeline(raw_set.mean, raw_set.std, raw_set.max_value, channels_last=False)
    for split in ("train", "val"):
        x_raw, y_raw = getattr(raw_set, split)
        x_loaded, y_loaded = getattr(loaded, split)
        torch.testing.assert_close(pipeline.eval(x_raw), x_loaded, atol=1e-6, rtol=0)
        assert torch.equal(y_raw, y_loaded)


def _set(**changes: object) -> ImageSet:
    x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    y = torch.zeros(4, dtype=torch.int64)
    fields: dict[str, object] = {
        "name": "t",
        "train": (x, y),
        "val": (x[:2], y[:2]),
        "test": (x[:1], y[:1]),
        "num_classes": 2,
        "mean": (0.5,),
        "std": (0.25,),
    }
    return ImageSet(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_valid_set_and_its_repr() -> None:
    data = _set()
    assert (data.in_channels, data.image_size, data.max_value) == (1, 8, 255)
    assert repr(data) == "ImageSet('t', train=4, val=2, test=1, 1x8x8, classes=2)"
    assert "test=" not in repr(_set(test=None))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"val": (torch.zeros(2, 1, 8, 8), torch.zeros(2, dtype=torch.int64))}, "one dtype"),
        (
            {"test": (torch.zeros(1, 1, 8, 8), torch.zeros(1, dtype=torch.int64))},
            "test images are torch.float32 but train images are torch.uint8",
        ),
        (
            {"train": (torch.zeros(4, 1, 8, 8, dtype=torch.float64), torch.zeros(4).long())},
            "uint8 or float32, got torch.float64",
        ),
        (
            {"train": (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4).int())},
            "train labels must be int64",
        ),
        (
            {"val": (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(3).long())},
            "val labels must be int64 with one per image",
        ),
        ({"mean": (0.5, 0.5)}, "mean and std need one value per channel"),
        ({"std": ()}, "mean and std need one value per channel"),
        (
            {"val": (torch.zeros(2, 1, 7, 7, dtype=torch.uint8), torch.zeros(2).long())},
            "train and val images differ in shape",
        ),
        (
            {"train": (torch.zeros(4, 8, 8, dtype=torch.uint8), torch.zeros(4).long())},
            "train images must be N x C x H x W",
        ),
        ({"max_value": 0}, "max_value must be positive"),
    ],
)
def test_construction_errors_name_the_problem(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _set(**changes)


def test_fields_are_keyword_only() -> None:
    x, y = torch.zeros(1, 1, 2, 2), torch.zeros(1, dtype=torch.int64)
    with pytest.raises(TypeError):
        ImageSet("t", (x, y), (x, y), None, 2, (0.0,), (1.0,))  # type: ignore[misc]


def test_dataset_is_the_old_name_of_image_set() -> None:
    assert optevo.data.Dataset is optevo.data.ImageSet
    assert "ImageSet" in optevo.data.__all__


def test_each_consumer_refuses_the_other_form() -> None:
    from torch import nn

    from optevo.fitness.loop import Batches
    from optevo.fitness.spec import TrainSpec
    from optevo.tasks.classify import ClassificationRunner

    raw = _set()
    with pytest.raises(ValueError, match="normalised float32 images"):
        Batches(raw, TrainSpec(base=4, total_steps=1, batch_size=2), "cpu")
    x, y = torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.int64)
    normalised = _set(train=(x, y), val=(x, y), test=None)
    pipeline = ImagePipeline(normalised.mean, normalised.std, normalised.max_value)
    with pytest.raises(ValueError, match="already normalised"):
        ClassificationRunner(normalised, lambda: nn.Flatten(), pipeline, batch_size=2)
