"""ResNet9 (the DAWNBench network of Myrtle.ai): the paper's "custom ResNet9, 6.5M parameters".

prep conv 64 -> [conv 128, max-pool, residual(2 x conv 128)] -> [conv 256, max-pool]
-> [conv 512, max-pool, residual(2 x conv 512)] -> global max-pool -> Linear(classes);
each conv is 3x3 -> BatchNorm -> ReLU. 6,573,130 parameters at 10 classes, 6,670,600 at
TinyImageNet's 200 (the global pool makes it size-agnostic: 64x64 images work as 32x32 do).
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["ResNet9"]


def _conv_bn(in_ch: int, out_ch: int, pool: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        body: Tensor = self.body(x)
        return x + body


class ResNet9(nn.Module):
    """ResNet9 for `num_classes` classes; `width` scales every channel count (64 = the real
    one; smaller for tests)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width: int = 64) -> None:
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _conv_bn(in_channels, w),
            _conv_bn(w, 2 * w, pool=True),
            _Residual(2 * w),
            _conv_bn(2 * w, 4 * w, pool=True),
            _conv_bn(4 * w, 8 * w, pool=True),
            _Residual(8 * w),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(8 * w, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.classifier(self.features(x))
        return out
