"""The transfer models written natively: EfficientNetV2-S (torchvision's layout), ResNet9,
AWD-LSTM."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from optevo.models.awd_lstm import AWDLSTM, locked_dropout
from optevo.models.efficientnet import EfficientNetV2S, load_checkpoint, make_divisible
from optevo.models.resnet9 import ResNet9

KEYS_FILE = Path(__file__).parent / "data" / "efficientnet_v2_s_torchvision_keys.txt"


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torchvision_keys() -> list[tuple[str, tuple[int, ...]]]:
    out = []
    for line in KEYS_FILE.read_text().splitlines():
        if line.startswith("#"):
            continue
        name, shape = line.split()
        out.append((name, () if shape == "-" else tuple(int(d) for d in shape.split("x"))))
    return out


def test_effnet_full_size_matches_torchvision_exactly() -> None:
    model = EfficientNetV2S(1000)
    assert n_params(model) == 21_458_488  # torchvision's efficientnet_v2_s
    mine = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    expected = torchvision_keys()
    assert len(expected) == 782
    assert mine == expected  # same names, same order, same shapes


def test_effnet_structure_fused_then_mbconv_stages() -> None:
    model = EfficientNetV2S(10)
    stages = list(model.features)
    assert len(stages) == 8  # stem, 6 stages, head conv
    assert [len(s) for s in stages[1:7]] == [2, 4, 4, 6, 9, 15]
    assert type(stages[1][0]).__name__ == "FusedMBConv"
    assert type(stages[4][0]).__name__ == "MBConv"
    assert isinstance(model.classifier[0], torch.nn.Dropout)
    assert model.classifier[1].out_features == 10
    assert make_divisible(24 * 4) == 96 and make_divisible(6) == 8


def test_effnet_reduced_runs_and_dropout_is_before_the_classifier() -> None:
    torch.manual_seed(0)
    model = EfficientNetV2S(7, dropout=0.5, width_mult=0.25, depth_mult=0.1)
    assert model.classifier[0].p == 0.5
    assert n_params(model) < 200_000
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 7)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_checkpoint_loads_weights_only_and_skips_a_different_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = EfficientNetV2S(1000, width_mult=0.25, depth_mult=0.1).eval()
    path = tmp_path / "effnet.pth"
    torch.save(source.state_dict(), path)
    target = EfficientNetV2S(1000, width_mult=0.25, depth_mult=0.1).eval()
    load_checkpoint(target, path)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(source(x), target(x))
    # Fine-tuning: a 5-class head keeps its own fresh weights, the body loads.
    small = EfficientNetV2S(5, width_mult=0.25, depth_mult=0.1)
    head = small.classifier[1].weight.clone()
    load_checkpoint(small, path)
    assert torch.equal(small.classifier[1].weight, head)
    assert torch.equal(small.features[0][0].weight, source.features[0][0].weight)


def test_checkpoint_errors_name_the_problem(tmp_path: Path) -> None:
    model = EfficientNetV2S(10, width_mult=0.25, depth_mult=0.1)
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        load_checkpoint(model, tmp_path / "none.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="not a weights-only torch state dict"):
        load_checkpoint(model, junk)
    other = tmp_path / "other.pth"
    torch.save(EfficientNetV2S(10, width_mult=0.5, depth_mult=0.1).state_dict(), other)
    with pytest.raises(ValueError, match="does not fit EfficientNetV2S"):
        load_checkpoint(model, other)


def test_resnet9_parameter_count_and_shapes() -> None:
    assert n_params(ResNet9(10)) == 6_573_130  # the paper's "6.5M"
    assert n_params(ResNet9(200)) == 6_670_600
    out = ResNet9(200, width=8)(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 200)


def test_awd_lstm_size_tying_and_regularisers() -> None:
    assert n_params(AWDLSTM(10_000)) == 24_221_600  # the paper's "24M"
    torch.manual_seed(0)
    model = AWDLSTM(50, embedding_size=8, hidden_size=12)
    assert model.decoder.weight is model.encoder.weight
    assert [r.hidden_size for r in model.rnns] == [12, 12, 8]
    tokens = torch.randint(0, 50, (5, 3))
    hidden = model.init_hidden(3)
    logits, new_hidden, raw, dropped = model(tokens, hidden)
    assert logits.shape == (5, 3, 50) and raw.shape == dropped.shape == (5, 3, 8)
    assert len(new_hidden) == 3
    # Weight drop: two training passes differ; evaluation is deterministic.
    a, b = model(tokens, hidden)[0], model(tokens, hidden)[0]
    assert not torch.equal(a, b)
    model.eval()
    assert torch.equal(model(tokens, hidden)[0], model(tokens, hidden)[0])
    # The dropped weight is not stored: the parameter itself is untouched by forward.
    assert model.rnns[0].weight_hh_l0.requires_grad
    reg = AWDLSTM.activation_regularization(raw, dropped, alpha=2.0, beta=1.0)
    expected = 2 * dropped.pow(2).mean() + (raw[1:] - raw[:-1]).pow(2).mean()
    assert torch.allclose(reg, expected)


def test_locked_dropout_shares_one_mask_over_time() -> None:
    torch.manual_seed(0)
    x = torch.ones(6, 4, 10)
    y = locked_dropout(x, 0.5, training=True)
    assert torch.equal(y[0], y[5])  # same units dropped at every time step
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    assert torch.equal(locked_dropout(x, 0.5, training=False), x)


def test_awd_lstm_weight_drop_gradients_reach_the_raw_matrix() -> None:
    torch.manual_seed(0)
    model = AWDLSTM(20, embedding_size=4, hidden_size=6)
    logits = model(torch.randint(0, 20, (3, 2)), model.init_hidden(2))[0]
    logits.sum().backward()
    grad = model.rnns[1].weight_hh_l0.grad
    assert grad is not None and grad.abs().sum() > 0
