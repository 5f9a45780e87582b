"""GroupedConvNet: K copies in one module compute exactly what K separate ConvNets compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from optevo.models import ConvNet, GroupedConvNet, grouped_from_models, models_from_grouped

K = 3
BASE = 4
ATOL = 1e-5
RTOL = 1e-4


def make_models(k: int = K, base: int = BASE, in_channels: int = 3) -> list[ConvNet]:
    models = []
    for i in range(k):
        torch.manual_seed(100 + i)  # differently initialised copies
        model = ConvNet(base, in_channels=in_channels, num_classes=10, dropout=0.3)
        # Non-trivial BN affine parameters and statistics, so copying them is actually tested.
        with torch.no_grad():
            for bn in (model.bn1, model.bn2, model.bn3):
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.2, 0.2)
                bn.running_mean.uniform_(-0.1, 0.1)
                bn.running_var.uniform_(0.8, 1.2)
        models.append(model)
    return models


def batch(in_channels: int = 3, size: int = 16, n: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, in_channels, size, size, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    return x, y


def generators(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def assert_state_equal(a: ConvNet, b: ConvNet) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_round_trip_is_exact() -> None:
    models = make_models()
    grouped = grouped_from_models(models)
    for original, back in zip(models, models_from_grouped(grouped), strict=True):
        assert_state_equal(original, back)


def test_copy_views_follow_convnet_parameter_order() -> None:
    models = make_models()
    grouped = grouped_from_models(models)
    for i, model in enumerate(models):
        views = grouped.copy_views(i)
        params = list(model.parameters())
        assert len(views) == len(params)
        for view, param in zip(views, params, strict=True):
            assert view.shape == param.shape
            assert torch.equal(view, param)
    # Views, not copies: writing through a view changes the grouped parameter.
    view = grouped.copy_views(1)[0]
    with torch.no_grad():
        view.fill_(7.0)
    assert torch.all(grouped.conv1.weight[BASE : 2 * BASE] == 7.0)
    assert not torch.any(grouped.conv1.weight[:BASE] == 7.0)


def test_stacked_views_have_leading_copy_dimension() -> None:
    models = make_models()
    grouped = grouped_from_models(models)
    stacked_views = grouped.stacked_views()
    params = list(models[0].parameters())
    grouped_params = list(grouped.parameters())
    assert len(stacked_views) == len(params) == len(grouped_params)
    for stacked, param, whole in zip(stacked_views, params, grouped_params, strict=True):
        assert stacked.shape == (K, *param.shape)
        assert stacked._base is whole or stacked is whole  # a view, not a copy
        torch.testing.assert_close(stacked[0], param, rtol=0, atol=0)


@pytest.mark.parametrize("channels_last", [False, True])
def test_train_mode_matches_separate_models(channels_last: bool) -> None:
    models = make_models()
    grouped = grouped_from_models(models).train()
    x, y = batch()
    if channels_last:
        grouped = grouped.to(memory_format=torch.channels_last)
        models = [m.to(memory_format=torch.channels_last) for m in models]
        x = x.contiguous(memory_format=torch.channels_last)
    seeds = [11, 22, 33]

    expected = [m.train()(x, generator=g) for m, g in zip(models, generators(seeds), strict=True)]
    sum(F.cross_entropy(out, y) for out in expected).backward()

    grouped.generators = generators(seeds)
    logits = grouped(x)
    assert logits.shape == (K, x.shape[0], 10)
    per_copy = F.cross_entropy(logits.flatten(0, 1), y.repeat(K), reduction="none")
    per_copy.view(K, -1).mean(dim=1).sum().backward()

    for i, model in enumerate(models):
        torch.testing.assert_close(logits[i], expected[i], atol=ATOL, rtol=RTOL)
        grads = grouped.copy_grad_views(i)
        for grad, param in zip(grads, model.parameters(), strict=True):
            assert param.grad is not None
            torch.testing.assert_close(grad, param.grad, atol=ATOL, rtol=RTOL)
        buffers = grouped.copy_buffer_views(i)
        ref_buffers = [
            t for bn in (model.bn1, model.bn2, model.bn3) for t in (bn.running_mean, bn.running_var)
        ]
        for ours, theirs in zip(buffers, ref_buffers, strict=True):
            torch.testing.assert_close(ours, theirs, atol=ATOL, rtol=RTOL)
    # The stacked gradient views see the same numbers.
    torch.testing.assert_close(
        grouped.stacked_grad_views()[-1][2], models[2].fc.bias.grad, atol=ATOL, rtol=RTOL
    )


def test_dropout_actually_differs_between_copies_and_seeds() -> None:
    models = make_models()
    # Identical weights in every copy: only the dropout masks can make the outputs differ.
    for m in models[1:]:
        m.load_state_dict(models[0].state_dict())
    grouped = grouped_from_models(models).train()
    x, _ = batch()
    out = grouped(x, generators=generators([1, 2, 1]))
    assert not torch.allclose(out[0], out[1])
    torch.testing.assert_close(out[0], out[2], rtol=0, atol=0)


def test_eval_mode_matches_separate_models() -> None:
    models = make_models()
    grouped = grouped_from_models(models).eval()
    x, _ = batch(size=20)
    logits = grouped(x, generators=generators([1, 2, 3]))
    for i, model in enumerate(models):
        torch.testing.assert_close(logits[i], model.eval()(x), atol=ATOL, rtol=RTOL)


def test_grayscale_28x28() -> None:
    models = make_models(k=2, base=3, in_channels=1)
    grouped = grouped_from_models(models).eval()
    x, _ = batch(in_channels=1, size=28)
    logits = grouped(x)
    assert logits.shape == (2, x.shape[0], 10)
    for i, model in enumerate(models):
        torch.testing.assert_close(logits[i], model.eval()(x), atol=ATOL, rtol=RTOL)


def test_generators_carried_over_and_extracted() -> None:
    models = make_models()
    gens = generators([5, 6, 7])
    for model, gen in zip(models, gens, strict=True):
        model.dropout.generator = gen
    grouped = grouped_from_models(models)
    assert grouped.generators == gens
    assert [m.dropout.generator for m in models_from_grouped(grouped)] == gens


def test_fresh_grouped_model_round_trips_and_initialises_like_convnet() -> None:
    torch.manual_seed(0)
    grouped = GroupedConvNet(4, base=8)
    back = grouped_from_models(models_from_grouped(grouped))
    for a, b in zip(grouped.state_dict().values(), back.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # Per-copy init bounds match nn.Conv2d / nn.Linear for one copy: 1/sqrt(fan_in).
    assert grouped.conv2.weight.abs().max() <= (8 * 9) ** -0.5
    assert grouped.fc.weight.abs().max() <= 32**-0.5
    # The copies are independently initialised.
    views = grouped.stacked_views()[0]
    assert not torch.equal(views[0], views[1])


def test_errors() -> None:
    grouped = GroupedConvNet(2, base=4)
    with pytest.raises(ValueError, match="generators"):
        grouped.generators = generators([1])
    with pytest.raises(ValueError, match="input"):
        grouped(torch.randn(2, 1, 8, 8))
    with pytest.raises(IndexError):
        grouped.copy_views(2)
    with pytest.raises(RuntimeError, match="gradient"):
        grouped.copy_grad_views(0)
    with pytest.raises(ValueError, match="does not match"):
        grouped.load_copy(0, ConvNet(8))
    with pytest.raises(ValueError):
        grouped_from_models([])
