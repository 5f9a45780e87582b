"""RandAugment on tensors: each operation against its definition, the progressive magnitude."""

from __future__ import annotations

import pytest
import torch

from optevo.data.randaugment import OPS, ProgressiveRandAugment, RandAugment, rand_augment


def batch(channels: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(4, channels, 12, 20, generator=g)


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_op_keeps_shape_and_range(name: str, channels: int) -> None:
    op, _ = OPS[name]
    x = batch(channels)
    for v in (0.0, 0.5, 1.0, 1.5, -1.0):
        y = op(x, torch.full((4,), v))
        assert y.shape == x.shape
        assert float(y.min()) >= -1e-6 and float(y.max()) <= 1 + 1e-6


def test_enhancements_are_blends_with_their_reference() -> None:
    x = batch()
    v = torch.tensor([0.5, -0.5, 1.0, 0.0])
    factor = (1 + 0.9 * v).view(-1, 1, 1, 1)
    assert torch.allclose(OPS["brightness"][0](x, v), (x * factor).clamp(0, 1))
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    expected = (grey + factor * (x - grey)).clamp(0, 1)
    assert torch.allclose(OPS["color"][0](x, v), expected, atol=1e-6)
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(OPS["contrast"][0](x, v), (mean + factor * (x - mean)).clamp(0, 1))


def test_solarize_posterize_autocontrast_equalize() -> None:
    x = batch()
    v = torch.full((4,), 0.3)
    assert torch.equal(OPS["solarize"][0](x, v), torch.where(x >= 0.7, 1 - x, x))
    poster = OPS["posterize"][0](x, torch.ones(4))  # magnitude 10: 4 bits
    levels = torch.round(poster * 255)
    assert torch.equal(levels % 16, torch.zeros_like(levels))
    auto = OPS["autocontrast"][0](x * 0.5 + 0.2, v)
    assert torch.allclose(auto.amin(dim=(2, 3)), torch.zeros(4, 3), atol=1e-6)
    assert torch.allclose(auto.amax(dim=(2, 3)), torch.ones(4, 3), atol=1e-6)
    two = torch.full((1, 1, 4, 4), 0.4)
    two[..., :2, :] = 0.6
    eq = OPS["equalize"][0](two, torch.zeros(1))
    assert sorted(eq.unique().tolist()) == [0.0, 1.0]


def test_translate_moves_pixels_and_zero_strength_is_identity() -> None:
    x = batch()
    shift = 5  # pixels of the 20-wide image: 0.45 * v * 20 = 5
    y = OPS["translate_x"][0](x, torch.full((4,), shift / (0.45 * 20)))
    assert torch.allclose(y[..., : 20 - shift], x[..., shift:], atol=1e-5)
    assert torch.allclose(y[..., 20 - shift :], torch.full_like(y[..., 20 - shift :], 0.5))
    for name in ("shear_x", "shear_y", "translate_y", "rotate", "brightness", "sharpness"):
        assert torch.allclose(OPS[name][0](x, torch.zeros(4)), x, atol=1e-5), name


def test_rand_augment_is_seeded_and_changes_images() -> None:
    x = batch()
    a = rand_augment(x, 9.0, generator=torch.Generator().manual_seed(1))
    b = rand_augment(x, 9.0, generator=torch.Generator().manual_seed(1))
    c = rand_augment(x, 9.0, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and float(a.min()) >= 0 and float(a.max()) <= 1
    with pytest.raises(ValueError, match="magnitude"):
        rand_augment(x, -1.0, generator=torch.Generator())
    with pytest.raises(ValueError, match="1 or 3 channels"):
        rand_augment(torch.rand(2, 2, 8, 8), 5.0, generator=torch.Generator())


def test_progressive_magnitude_grows_in_four_stages() -> None:
    aug = ProgressiveRandAugment()
    got = [aug.magnitude_at(p) for p in (0.0, 0.2, 0.3, 0.55, 0.8, 1.0)]
    assert got == pytest.approx([5.0, 5.0, 5 + 10 / 3, 5 + 20 / 3, 15.0, 15.0])
    assert RandAugment(magnitude=15).magnitude_at(0.1) == 15
