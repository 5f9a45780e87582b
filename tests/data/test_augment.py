"""Batched augmentation: each op checked per image against a plain reference."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import pad as torch_pad

from optevo.data import NAMES
from optevo.data.augment import Augment, cutout, random_crop, random_hflip


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(b: int = 32, c: int = 3, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    # Strictly positive and random, so no crop offset, flip or cutout can be mistaken for another.
    return torch.rand(b, c, h, w, generator=_gen(seed)) + 1.0


@pytest.mark.parametrize("shape", [(32, 3, 32, 32), (5, 1, 28, 28), (3, 2, 8, 12)])
def test_shapes_and_dtype_preserved(shape: tuple[int, int, int, int]) -> None:
    x = _batch(*shape)
    augment = Augment(crop=True, flip=True, cutout=True, pad=3)
    for out in (
        random_crop(x, 3, generator=_gen()),
        random_hflip(x, generator=_gen()),
        cutout(x, 4, generator=_gen()),
        augment(x, _gen()),
    ):
        assert out.shape == x.shape
        assert out.dtype == x.dtype


def test_crop_with_zero_pad_is_identity() -> None:
    x = _batch()
    assert torch.equal(random_crop(x, 0, generator=_gen()), x)


@pytest.mark.parametrize(("pad", "h", "w"), [(4, 32, 32), (2, 28, 28), (3, 8, 10)])
def test_crop_is_reflect_pad_then_slice(pad: int, h: int, w: int) -> None:
    x = _batch(128, 2, h, w)
    out = random_crop(x, pad, generator=_gen(1))
    padded = torch_pad(x, (pad, pad, pad, pad), mode="reflect")
    offsets = []
    for image, source in zip(out, padded, strict=True):
        matches = [
            (i, j)
            for i in range(2 * pad + 1)
            for j in range(2 * pad + 1)
            if torch.equal(image, source[:, i : i + h, j : j + w])
        ]
        assert len(matches) == 1
        offsets.append(matches[0])
    # One offset per image, not one per batch; every row and column offset gets drawn.
    assert {i for i, _ in offsets} == set(range(2 * pad + 1))
    assert {j for _, j in offsets} == set(range(2 * pad + 1))


def test_crop_rejects_pad_too_large_for_reflection() -> None:
    with pytest.raises(ValueError, match="pad=8"):
        random_crop(_batch(2, 1, 8, 8), 8, generator=_gen())


def test_flip_matches_torch_flip_on_chosen_images() -> None:
    x = _batch(64)
    out = random_hflip(x, generator=_gen(2))
    flipped = [not torch.equal(o, i) for o, i in zip(out, x, strict=True)]
    for o, i, was_flipped in zip(out, x, flipped, strict=True):
        assert torch.equal(o, torch.flip(i, dims=[2]) if was_flipped else i)
    assert 16 < sum(flipped) < 48  # p = 0.5 per image


def test_flip_probability_extremes() -> None:
    x = _batch(8)
    assert torch.equal(random_hflip(x, 0.0, generator=_gen()), x)
    assert torch.equal(random_hflip(x, 1.0, generator=_gen()), x.flip(3))


@pytest.mark.parametrize(("size", "h", "w"), [(8, 32, 32), (8, 28, 28), (3, 8, 8)])
def test_cutout_zeroes_one_clipped_square_per_image(size: int, h: int, w: int) -> None:
    x = _batch(200, 3, h, w)
    out = cutout(x, size, generator=_gen(3))
    zero = out == 0
    # Same square in every channel; everything outside it untouched.
    assert torch.equal(zero, zero[:, :1].expand_as(zero))
    assert torch.equal(out[~zero], x[~zero])
    clipped = 0
    for mask in zero[:, 0]:
        rows = mask.any(1).nonzero().flatten()
        cols = mask.any(0).nonzero().flatten()
        top, bottom = rows.min().item(), rows.max().item() + 1
        left, right = cols.min().item(), cols.max().item() + 1
        expected = torch.zeros(h, w, dtype=torch.bool)
        expected[top:bottom, left:right] = True
        assert torch.equal(mask, expected)  # a filled rectangle
        for start, stop, side in ((top, bottom, h), (left, right, w)):
            # Full size unless clipped by a border; the centre is always inside the image.
            assert stop - start == size or start == 0 or stop == side
            assert size // 2 <= stop - start <= size
        clipped += (bottom - top, right - left) != (size, size)
    assert 0 < clipped < len(x)


def test_same_seed_same_result_other_seed_differs() -> None:
    x = _batch()
    augment = Augment(crop=True, flip=True, cutout=True)
    assert torch.equal(augment(x, _gen(7)), augment(x, _gen(7)))
    assert not torch.equal(augment(x, _gen(7)), augment(x, _gen(8)))
    for op in (random_crop, random_hflip, cutout):
        assert torch.equal(op(x, generator=_gen(5)), op(x, generator=_gen(5)))


def test_augment_composes_in_order() -> None:
    x = _batch()
    generator = _gen(9)
    expected = random_crop(x, 2, generator=generator)
    expected = random_hflip(expected, generator=generator)
    expected = cutout(expected, 6, generator=generator)
    augment = Augment(crop=True, flip=True, cutout=True, pad=2, cutout_size=6)
    assert torch.equal(augment(x, _gen(9)), expected)


def test_augment_off_returns_input() -> None:
    x = _batch()
    augment = Augment()
    assert not augment.active
    assert augment(x, _gen()) is x


def test_defaults_per_data_set() -> None:
    on = Augment(crop=True, flip=True, cutout=True)
    assert Augment.default_for("cifar10") == on
    assert Augment.default_for("cifar100") == on
    assert Augment.default_for("fashion-mnist") == Augment()
    assert Augment.default_for("digits") == Augment()
    for name in NAMES:
        Augment.default_for(name)
    with pytest.raises(ValueError, match="unknown data set 'svhn'"):
        Augment.default_for("svhn")


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="pad"):
        Augment(pad=-1)
    with pytest.raises(ValueError, match="cutout_size"):
        Augment(cutout_size=0)


def test_rejects_non_batch_input() -> None:
    with pytest.raises(ValueError, match="B x C x H x W"):
        random_hflip(torch.zeros(3, 8, 8), generator=_gen())


def test_generator_on_other_device_rejected() -> None:
    # A meta tensor stands in for a GPU batch: the device check runs before any computation.
    x = torch.zeros(2, 3, 8, 8, device="meta")
    for op in (random_crop, random_hflip, cutout):
        with pytest.raises(ValueError, match="generator is on cpu but the batch is on meta"):
            op(x, generator=_gen())
