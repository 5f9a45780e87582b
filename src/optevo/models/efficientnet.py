"""EfficientNetV2-S (Tan & Le, 2021), written natively with torchvision's module layout.

Why native: torchvision's wheels from PyPI do not import beside the CPU build of torch this
project installs (and timm needs torchvision), so the transfer benchmarks carry their own
copy. The module tree mirrors `torchvision.models.efficientnet_v2_s` exactly — the same
`features.<stage>.<block>.block.<layer>...` names, the same `classifier.1` head — so a
torchvision ImageNet-1k checkpoint (`EfficientNet_V2_S_Weights.IMAGENET1K_V1`, saved as a
state dict) loads with `load_checkpoint(model, path)`, i.e. `torch.load(..., weights_only=True)`
(no pickle code is run).

Stages (expand ratio, kernel, stride, in, out, layers):
    Fused 1 3 1 24 24 2 | Fused 4 3 2 24 48 4 | Fused 4 3 2 48 64 4
    MB 4 3 2 64 128 6   | MB 6 3 1 128 160 9  | MB 6 3 2 160 256 15,  head 1x1 conv to 1280.
At 1,000 classes: 21,458,488 parameters, as torchvision's.

`width_mult` and `depth_mult` shrink the network (channels rounded to multiples of 8, layers
rounded up) for tests and small machines; the defaults are the real EfficientNetV2-S, and a
checkpoint only fits the configuration it was saved from.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

__all__ = ["EfficientNetV2S", "load_checkpoint"]

BN_EPS = 1e-3
"""torchvision builds EfficientNetV2 with BatchNorm2d(eps=1e-3)."""


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's `_make_divisible`: the nearest multiple of `divisor`, never 10% below."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


@dataclass(frozen=True)
class StageConfig:
    fused: bool
    expand_ratio: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    layers: int


V2_S_STAGES: tuple[StageConfig, ...] = (
    StageConfig(True, 1, 3, 1, 24, 24, 2),
    StageConfig(True, 4, 3, 2, 24, 48, 4),
    StageConfig(True, 4, 3, 2, 48, 64, 4),
    StageConfig(False, 4, 3, 2, 64, 128, 6),
    StageConfig(False, 6, 3, 1, 128, 160, 9),
    StageConfig(False, 6, 3, 2, 160, 256, 15),
)
LAST_CHANNELS = 1280


class ConvNormAct(nn.Sequential):
    """torchvision's Conv2dNormActivation: conv (no bias) -> BatchNorm -> SiLU (optional)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        stride: int = 1,
        groups: int = 1,
        activation: bool = True,
    ) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel,
                stride,
                padding=(kernel - 1) // 2,
                groups=groups,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels, eps=BN_EPS),
        ]
        if activation:
            layers.append(nn.SiLU(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention: global pool -> 1x1 conv -> SiLU -> 1x1 conv -> sigmoid -> scale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=True)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        gate: Tensor = self.scale_activation(scale)
        return x * gate


class StochasticDepth(nn.Module):
    """Drop a residual branch per sample ("row" mode) with probability `p` while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        noise = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
        return x * noise.bernoulli_(keep).div_(keep)


class _Residual(nn.Module):
    """`block`, plus the input through stochastic depth where shapes allow
    (`use_res_connect`): what MBConv and FusedMBConv share."""

    block: nn.Sequential
    stochastic_depth: StochasticDepth
    use_res_connect: bool

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return cast(Tensor, out)


class MBConv(_Residual):
    """Inverted residual: 1x1 expand -> depthwise kxk -> squeeze-excitation -> 1x1 project."""

    def __init__(
        self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int, drop: float
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and in_ch == out_ch
        mid = make_divisible(in_ch * expand)
        layers: list[nn.Module] = []
        if mid != in_ch:
            layers.append(ConvNormAct(in_ch, mid, 1))
        layers.append(ConvNormAct(mid, mid, kernel, stride, groups=mid))
        layers.append(SqueezeExcitation(mid, max(1, in_ch // 4)))
        layers.append(ConvNormAct(mid, out_ch, 1, activation=False))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop)


class FusedMBConv(_Residual):
    """Fused inverted residual: one kxk conv expands (or maps directly), 1x1 projects."""

    def __init__(
        self, in_ch: int, out_ch: int, expand: int, kernel: int, stride: int, drop: float
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and in_ch == out_ch
        mid = make_divisible(in_ch * expand)
        layers: list[nn.Module]
        if mid != in_ch:
            layers = [
                ConvNormAct(in_ch, mid, kernel, stride),
                ConvNormAct(mid, out_ch, 1, activation=False),
            ]
        else:
            layers = [ConvNormAct(in_ch, out_ch, kernel, stride)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop)


class EfficientNetV2S(nn.Module):
    """EfficientNetV2-S with `num_classes` outputs and `dropout` before the classifier.

    Args:
        num_classes: outputs of the classifier (1,000 for ImageNet checkpoints).
        dropout: dropout before the final Linear (torchvision: 0.2; the paper's fine-tuning:
            0.5).
        stochastic_depth: the largest per-block drop probability (linear in block depth, as
            torchvision: 0.2).
        in_channels: input image channels.
        width_mult, depth_mult: shrink channels / layers per stage (1.0 = the real model).
    """

    def __init__(
        self,
        num_classes: int = 1000,
        dropout: float = 0.2,
        stochastic_depth: float = 0.2,
        in_channels: int = 3,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
    ) -> None:
        super().__init__()
        if width_mult <= 0 or depth_mult <= 0:
            raise ValueError("width_mult and depth_mult must be positive")

        def width(c: int) -> int:
            return c if width_mult == 1.0 else make_divisible(c * width_mult)

        stages = [
            StageConfig(
                s.fused,
                s.expand_ratio,
                s.kernel,
                s.stride,
                width(s.in_channels),
                width(s.out_channels),
                max(1, math.ceil(s.layers * depth_mult)),
            )
            for s in V2_S_STAGES
        ]
        total_blocks = sum(s.layers for s in stages)
        layers: list[nn.Module] = [ConvNormAct(in_channels, stages[0].in_channels, 3, stride=2)]
        block_id = 0
        for s in stages:
            blocks: list[nn.Module] = []
            for i in range(s.layers):
                kind = FusedMBConv if s.fused else MBConv
                in_ch = s.in_channels if i == 0 else s.out_channels
                stride = s.stride if i == 0 else 1
                drop = stochastic_depth * block_id / total_blocks
                blocks.append(kind(in_ch, s.out_channels, s.expand_ratio, s.kernel, stride, drop))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        last = LAST_CHANNELS if width_mult == 1.0 else make_divisible(LAST_CHANNELS * width_mult)
        layers.append(ConvNormAct(stages[-1].out_channels, last, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(last, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    @property
    def head(self) -> nn.Linear:
        head = self.classifier[1]
        assert isinstance(head, nn.Linear)
        return head

    def reset_classifier(self, num_classes: int, dropout: float | None = None) -> None:
        """A fresh Linear head for `num_classes` (fine-tuning), optionally a new dropout."""
        old = self.head
        head = nn.Linear(old.in_features, num_classes).to(old.weight.device)
        self.classifier[1] = head
        bound = 1.0 / math.sqrt(num_classes)
        nn.init.uniform_(head.weight, -bound, bound)
        nn.init.zeros_(head.bias)
        if dropout is not None:
            self.classifier[0] = nn.Dropout(p=dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = self.avgpool(self.features(x)).flatten(1)
        out: Tensor = self.classifier(x)
        return out


def load_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load a state-dict file (torchvision's naming) into `model` without running pickle code.

    The file may hold the state dict itself or a dict with a "state_dict"/"model" entry.
    A classifier head whose shape differs from `model`'s (1,000 ImageNet classes into a
    102-class model) is skipped, so the caller's fresh head stays.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a weights-only torch file, or its keys/shapes do not fit the model.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: checkpoint file not found")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # many failure types mean the same: not a usable weights file
        raise ValueError(
            f"{path}: not a weights-only torch state dict ({type(error).__name__}: {error})"
        ) from error
    if isinstance(raw, dict):
        for key in ("state_dict", "model"):
            if isinstance(raw.get(key), dict):
                raw = raw[key]
    if not isinstance(raw, dict) or not all(isinstance(v, Tensor) for v in raw.values()):
        raise ValueError(f"{path}: expected a state dict of tensors")
    own = model.state_dict()
    state = {
        k: v
        for k, v in raw.items()
        if not (k.startswith("classifier.") and k in own and own[k].shape != v.shape)
    }
    missing = [k for k in own if k not in state and not k.startswith("classifier.")]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape", wrong))
            if keys
        )
        raise ValueError(f"{path}: does not fit {type(model).__name__} ({detail})")
    model.load_state_dict(state, strict=False)
