"""ConvNet: SPEC 5 architecture, parameter counts, shapes and generator-driven dropout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optevo.models import ConvNet, GeneratorDropout, count_parameters

# SPEC section 5, in millions, at 3x32x32 input and 10 classes (stated to 3 decimals).
SPEC_MILLIONS = {32: 0.095, 48: 0.212, 64: 0.375, 96: 0.839, 128: 1.487}


def formula_count(base: int, in_channels: int, classes: int, running_stats: bool) -> int:
    """Layer sizes written out: bias-free 3x3 convs, BN (affine + stats), linear with bias."""
    convs = 9 * (in_channels * base + base * 2 * base + 2 * base * 4 * base)
    bn_channels = base + 2 * base + 4 * base
    bn = 2 * bn_channels + (2 * bn_channels if running_stats else 0)
    head = 4 * base * classes + classes
    return convs + bn + head


@pytest.mark.parametrize("base", sorted(SPEC_MILLIONS))
def test_parameter_count_matches_spec_and_formula(base: int) -> None:
    model = ConvNet(base)
    keras_count = count_parameters(model, include_bn_running_stats=True)
    assert keras_count == formula_count(base, 3, 10, running_stats=True)
    assert count_parameters(model) == formula_count(base, 3, 10, running_stats=False)
    assert round(keras_count / 1e6, 3) == SPEC_MILLIONS[base]


def test_parameter_counts_exact_values() -> None:
    expected = {32: 95_210, 48: 211_930, 64: 374_730, 96: 838_570, 128: 1_486_730}
    for base, count in expected.items():
        assert count_parameters(ConvNet(base), include_bn_running_stats=True) == count


def test_architecture_is_spec_5() -> None:
    model = ConvNet(8, in_channels=1, num_classes=5)
    convs = [model.conv1, model.conv2, model.conv3]
    assert [c.out_channels for c in convs] == [8, 16, 32]
    assert [c.stride for c in convs] == [(1, 1), (2, 2), (2, 2)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert all(c.bias is None for c in convs)
    assert model.fc.in_features == 32 and model.fc.out_features == 5
    assert model.dropout.p == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("in_channels", "size", "classes"), [(1, 28, 10), (3, 32, 10), (3, 32, 100)]
)
def test_output_shape(in_channels: int, size: int, classes: int) -> None:
    model = ConvNet(4, in_channels=in_channels, num_classes=classes)
    out = model(torch.randn(5, in_channels, size, size))
    assert out.shape == (5, classes)
    model.eval()
    assert model(torch.randn(2, in_channels, size, size)).shape == (2, classes)


def test_channels_last_input_matches_contiguous() -> None:
    torch.manual_seed(0)
    model = ConvNet(4).eval()
    x = torch.randn(3, 3, 32, 32)
    expected = model(x)
    model_cl = model.to(memory_format=torch.channels_last)
    out = model_cl(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_dropout_same_seed_same_output_different_seed_differs() -> None:
    torch.manual_seed(0)
    model = ConvNet(4, dropout=0.5).train()
    x = torch.randn(8, 3, 16, 16)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    def run(seed: int, via_attribute: bool) -> torch.Tensor:
        model.load_state_dict(state)  # BN running stats move with each train forward
        gen = torch.Generator().manual_seed(seed)
        if via_attribute:
            model.dropout.generator = gen
            try:
                return model(x)
            finally:
                model.dropout.generator = None
        return model(x, generator=gen)

    a = run(1, via_attribute=True)
    torch.manual_seed(123)  # the global RNG must not matter when a generator is given
    b = run(1, via_attribute=False)
    c = run(2, via_attribute=False)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_dropout_without_generator_is_nn_dropout() -> None:
    x = torch.randn(64, 32)
    ours = GeneratorDropout(0.3).train()
    theirs = nn.Dropout(0.3).train()
    torch.manual_seed(7)
    a = ours(x)
    torch.manual_seed(7)
    b = theirs(x)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dropout_eval_is_identity_and_consumes_no_randomness() -> None:
    gen = torch.Generator().manual_seed(3)
    drop = GeneratorDropout(0.5, generator=gen).eval()
    x = torch.randn(10, 10)
    before = gen.get_state()
    assert drop(x) is x
    assert torch.equal(gen.get_state(), before)


def test_dropout_mask_scales_kept_units() -> None:
    gen = torch.Generator().manual_seed(0)
    out = GeneratorDropout(0.25, generator=gen).train()(torch.ones(1000, 50))
    kept = out[out != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.75))
    assert (out == 0).float().mean().item() == pytest.approx(0.25, abs=0.01)


def test_eval_mode_is_deterministic_and_uses_running_stats() -> None:
    torch.manual_seed(0)
    model = ConvNet(4)
    x = torch.randn(6, 3, 16, 16)
    model.train()
    model(x)  # moves the running statistics away from their initial values
    model.eval()
    stats = model.bn1.running_mean.clone()
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    assert torch.equal(model.bn1.running_mean, stats)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0},
        {"base": 2.0},
        {"base": 4, "in_channels": 0},
        {"base": 4, "num_classes": 0},
        {"base": 4, "dropout": 1.0},
        {"base": 4, "dropout": -0.1},
    ],
)
def test_invalid_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ConvNet(**kwargs)
