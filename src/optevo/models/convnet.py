"""The surrogate network of the search (SPEC section 5) and a dropout that takes a generator.

The surrogate is small on purpose: every candidate optimizer is scored by training it, so its
cost is the cost of the whole search. Dropout draws its mask from an explicit
:class:`torch.Generator` when one is given, so a training run is reproducible on its own (not
only under a global seed) and :class:`~optevo.models.GroupedConvNet` can reproduce K separate
networks mask for mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ConvNet",
    "GeneratorDropout",
    "count_parameters",
    "dropout_mask",
    "dropout_with_generator",
]


def _check_positive_int(name: str, value: int) -> None:
    # bool is an int subclass; ConvNet(True) is never what someone meant.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_dropout(p: float) -> None:
    # p == 1 would divide by zero when rescaling the kept units.
    if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a float in [0, 1), got {p!r}")


def dropout_with_generator(
    x: Tensor, p: float, training: bool, generator: torch.Generator | None = None
) -> Tensor:
    """Inverted dropout whose Bernoulli mask is drawn from ``generator``.

    Without a generator this is exactly :func:`torch.nn.functional.dropout` (global RNG). With
    one, the mask is drawn as a fresh contiguous tensor of ``x.shape``, so the draw depends only
    on the shape and the generator's state, never on ``x``'s memory layout. That is what lets a
    grouped model draw copy ``i``'s mask from copy ``i``'s generator and match a separate model.

    Args:
        x: input activations.
        p: probability of zeroing a unit, in ``[0, 1)``.
        training: when false the input is returned unchanged.
        generator: source of the mask; must live on ``x``'s device.
    """
    if not training or p == 0.0:
        return x
    if generator is None:
        return F.dropout(x, p, training=True)
    if generator.device.type != x.device.type:
        raise ValueError(
            f"dropout generator is on {generator.device} but the activations are on {x.device}"
        )
    return x * dropout_mask(x.shape, p, x.dtype, x.device, generator)


def dropout_mask(
    shape: torch.Size | tuple[int, ...],
    p: float,
    dtype: torch.dtype,
    device: torch.device,
    generator: torch.Generator,
) -> Tensor:
    """The rescaled keep-mask (0 or ``1/(1-p)``) that :func:`dropout_with_generator` uses."""
    keep = 1.0 - p
    mask = torch.empty(shape, dtype=dtype, device=device).bernoulli_(keep, generator=generator)
    return mask.div_(keep)


class GeneratorDropout(nn.Module):
    """:class:`torch.nn.Dropout` that can draw its mask from an explicit generator.

    The generator is taken from the ``generator`` argument of :meth:`forward` if given, else from
    the ``generator`` attribute; with neither, this behaves like ``nn.Dropout(p)``. In eval mode
    the input passes through untouched and no random numbers are consumed.

    Args:
        p: probability of zeroing a unit, in ``[0, 1)``.
        generator: default source of masks (can be replaced at any time via the attribute).
    """

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        super().__init__()
        _check_dropout(p)
        self.p = float(p)
        self.generator = generator

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Apply dropout; ``generator`` overrides the attribute for this call only."""
        gen = generator if generator is not None else self.generator
        return dropout_with_generator(x, self.p, self.training, gen)

    def extra_repr(self) -> str:
        return f"p={self.p}, generator={'set' if self.generator is not None else 'global'}"


class ConvNet(nn.Module):
    """The search surrogate of SPEC section 5.

    ``Conv3x3(base) -> BN -> Swish -> Conv3x3(2*base, stride 2) -> BN -> Swish ->
    Conv3x3(4*base, stride 2) -> BN -> Swish -> global average pool -> Dropout -> Linear``.
    Every convolution uses padding 1, so a 32x32 input gives 32, 16 and 8 pixel feature maps.

    Convolutions have no bias because BatchNorm directly after them subtracts any per-channel
    constant. Parameter-count convention: SPEC's figures (from the paper's Keras model) count
    BatchNorm's moving mean and variance too (Keras reports them as non-trainable parameters).
    ``count_parameters(model, include_bn_running_stats=True)`` reproduces them at 3x32x32 input
    and 10 classes: base 32 / 48 / 64 / 96 / 128 -> 95,210 / 211,930 / 374,730 / 838,570 /
    1,486,730, i.e. 0.095M / 0.212M / 0.375M / 0.839M / 1.487M. This is the only one of the four
    conventions (conv bias or not, running statistics counted or not) that matches all five
    figures to the stated three digits: without the running statistics base 64 gives 0.374M
    (with or without bias), and with bias plus statistics base 128 gives 1.488M. The trainable
    parameters alone (``model.parameters()``) are 94,762 / 211,258 / 373,834 / 837,226 /
    1,484,938.

    Initialisation is PyTorch's default for each layer (not Keras' Glorot-uniform).

    Args:
        base: channels of the first convolution (then 2x and 4x).
        in_channels: channels of the input images.
        num_classes: outputs of the final linear layer.
        dropout: dropout probability before the linear layer, in ``[0, 1)``.
        generator: optional generator for dropout masks (see :class:`GeneratorDropout`).
    """

    def __init__(
        self,
        base: int,
        in_channels: int = 3,
        num_classes: int = 10,
        dropout: float = 0.2,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_positive_int("base", base)
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("num_classes", num_classes)
        _check_dropout(dropout)
        self.base = base
        self.in_channels = in_channels
        self.num_classes = num_classes
        # Registration order fixes the order of parameters(); GroupedConvNet.copy_views and the
        # trainer rely on it, so keep conv/bn pairs in network order with the head last.
        self.conv1 = nn.Conv2d(in_channels, base, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.conv2 = nn.Conv2d(base, 2 * base, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * base)
        self.conv3 = nn.Conv2d(2 * base, 4 * base, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * base)
        self.dropout = GeneratorDropout(dropout, generator)
        self.fc = nn.Linear(4 * base, num_classes)

    @property
    def dropout_p(self) -> float:
        """The dropout probability before the linear head."""
        return self.dropout.p

    def features(self, x: Tensor) -> Tensor:
        """Pooled features of shape ``(batch, 4*base)``, before dropout."""
        x = F.silu(self.bn1(self.conv1(x)))
        x = F.silu(self.bn2(self.conv2(x)))
        x = F.silu(self.bn3(self.conv3(x)))
        # mean over H, W rather than adaptive_avg_pool2d + flatten: same numbers, and the result
        # is a plain (B, C) tensor whatever the memory format of x.
        return x.mean(dim=(2, 3))

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Logits of shape ``(batch, num_classes)`` for images ``x`` of shape ``(B, C, H, W)``.

        ``generator`` overrides ``self.dropout.generator`` for this call's dropout mask.
        """
        out: Tensor = self.fc(self.dropout(self.features(x), generator=generator))
        return out


def count_parameters(model: nn.Module, *, include_bn_running_stats: bool = False) -> int:
    """Number of parameters of ``model``, optionally counted the way Keras reports them.

    Args:
        model: any module.
        include_bn_running_stats: also count every batch-norm layer's running mean and
            variance (Keras' "non-trainable params"); ``num_batches_tracked`` never counts.
    """
    total = sum(p.numel() for p in model.parameters())
    if include_bn_running_stats:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
                assert module.running_mean is not None and module.running_var is not None
                total += module.running_mean.numel() + module.running_var.numel()
    return total
