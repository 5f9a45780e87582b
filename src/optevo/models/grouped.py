"""K independent ConvNets as one module, to train K copies at once (the batched LR screen).

On a GPU one ConvNet at batch 128 leaves the chip mostly idle (many tiny kernels); K copies
packed into grouped convolutions launch the same number of kernels as one copy, each K times
larger. The copies share nothing numerically: every BatchNorm channel, every grouped
convolution group and every linear head belongs to exactly one copy, so each copy computes what
a separate :class:`~optevo.models.ConvNet` would (up to floating-point summation order).

Layout: every parameter and BatchNorm statistic holds the K copies as K equal chunks along
dimension 0, in copy order (the head's weight and bias are stored as ``(K, ...)`` directly).
:meth:`GroupedConvNet.stacked_views` exposes each as a ``(K, *per_copy_shape)`` view and
:meth:`GroupedConvNet.copy_views` returns copy ``i``'s tensors in ``ConvNet.parameters()``
order, so an optimizer can treat the copies separately without copying any data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optevo.models.convnet import (
    ConvNet,
    _check_dropout,
    _check_positive_int,
    dropout_mask,
)

__all__ = ["GroupedConvNet", "GroupedLinear", "grouped_from_models", "models_from_grouped"]


class GroupedLinear(nn.Module):
    """K independent linear layers applied to K batches: ``(K, B, in) -> (K, B, out)``.

    Initialised like K separate :class:`torch.nn.Linear` layers (uniform in
    ``+-1/sqrt(in_features)`` for weight and bias).
    """

    def __init__(self, k: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(k, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw weights and biases as ``nn.Linear`` does, per copy."""
        # nn.Linear uses kaiming_uniform(a=sqrt(5)), whose bound reduces to 1/sqrt(fan_in).
        bound = 1.0 / math.sqrt(self.weight.shape[-1])
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` of shape ``(K, B, in)`` to ``(K, B, out)``."""
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))


class GroupedConvNet(nn.Module):
    """K independent :class:`~optevo.models.ConvNet` copies evaluated on the same batch.

    The first convolution is an ordinary convolution with ``K*base`` outputs (all copies see
    the same images, so replicating the input K times would only cost memory); the other two
    are grouped convolutions with ``groups=K``; BatchNorm runs over ``K*C`` channels, which is
    per-copy BatchNorm since its statistics are per channel. Dropout draws copy ``i``'s mask
    from ``generators[i]`` when generators are given, exactly as ``ConvNet`` with that generator
    would, so K separately seeded runs are reproduced mask for mask.

    ``num_batches_tracked`` of each BatchNorm is shared by the copies; it only matters for
    ``momentum=None`` (cumulative averages), which these models do not use.

    Args:
        k: number of copies.
        base: ``base`` of each copy.
        in_channels: channels of the input images.
        num_classes: outputs per copy.
        dropout: dropout probability of each copy, in ``[0, 1)``.
        generators: optional list of ``k`` generators for the per-copy dropout masks.
    """

    def __init__(
        self,
        k: int,
        base: int,
        in_channels: int = 3,
        num_classes: int = 10,
        dropout: float = 0.2,
        generators: Sequence[torch.Generator] | None = None,
    ) -> None:
        super().__init__()
        _check_positive_int("k", k)
        _check_positive_int("base", base)
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("num_classes", num_classes)
        _check_dropout(dropout)
        self.k = k
        self.base = base
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.dropout_p = float(dropout)
        self.generators = generators
        # Same registration order as ConvNet, so parameters() lines up copy for copy.
        self.conv1 = nn.Conv2d(in_channels, k * base, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(k * base)
        self.conv2 = nn.Conv2d(k * base, k * 2 * base, 3, stride=2, padding=1, groups=k, bias=False)
        self.bn2 = nn.BatchNorm2d(k * 2 * base)
        self.conv3 = nn.Conv2d(
            k * 2 * base, k * 4 * base, 3, stride=2, padding=1, groups=k, bias=False
        )
        self.bn3 = nn.BatchNorm2d(k * 4 * base)
        self.fc = GroupedLinear(k, 4 * base, num_classes)
        # Default Conv2d init already draws per copy: its fan-in is (in_channels/groups)*9, the
        # fan-in of one copy's convolution, so no re-initialisation is needed.

    @property
    def generators(self) -> list[torch.Generator] | None:
        """Per-copy dropout generators, or ``None`` for the global RNG."""
        return self._generators

    @generators.setter
    def generators(self, value: Sequence[torch.Generator] | None) -> None:
        if value is not None:
            value = list(value)
            if len(value) != self.k:
                raise ValueError(f"need {self.k} dropout generators, got {len(value)}")
        self._generators = value

    def _layers(self) -> list[nn.Module]:
        return [self.conv1, self.bn1, self.conv2, self.bn2, self.conv3, self.bn3, self.fc]

    def _batchnorms(self) -> list[nn.BatchNorm2d]:
        return [self.bn1, self.bn2, self.bn3]

    def _stack(self, t: Tensor, module: nn.Module) -> Tensor:
        # The head is stored (K, ...) already; everything else is K chunks of dim 0.
        return t if module is self.fc else t.unflatten(0, (self.k, -1))

    def stacked_views(self) -> list[Tensor]:
        """Every parameter as a ``(K, *per_copy_shape)`` view, in ``parameters()`` order.

        Writing to a view writes to the parameter; useful for per-copy hyper-parameters applied
        by broadcasting over the leading K dimension.
        """
        return [self._stack(p, m) for m in self._layers() for p in m.parameters(recurse=False)]

    def stacked_grad_views(self) -> list[Tensor]:
        """Like :meth:`stacked_views` for the gradients (see :meth:`copy_grad_views`)."""
        return [
            self._stack(_grad_of(p), m) for m in self._layers() for p in m.parameters(recurse=False)
        ]

    def copy_views(self, i: int) -> list[Tensor]:
        """Views of copy ``i``'s parameters, in the order of ``list(ConvNet.parameters())``.

        Each view has the shape of the corresponding ``ConvNet`` parameter and shares storage
        with this module's parameter, so in-place updates of the view update the copy.
        """
        self._check_copy(i)
        return [t[i] for t in self.stacked_views()]

    def copy_grad_views(self, i: int) -> list[Tensor]:
        """Views of copy ``i``'s gradients, in the order of :meth:`copy_views`.

        Autograd may replace a ``.grad`` tensor (always after ``zero_grad(set_to_none=True)``),
        so fetch the views again after each backward rather than keeping them.

        Raises:
            RuntimeError: when a parameter has no gradient yet.
        """
        self._check_copy(i)
        return [t[i] for t in self.stacked_grad_views()]

    def copy_buffer_views(self, i: int) -> list[Tensor]:
        """Views of copy ``i``'s BatchNorm running mean and variance, layer by layer."""
        self._check_copy(i)
        views = []
        for bn in self._batchnorms():
            assert bn.running_mean is not None and bn.running_var is not None
            views.append(bn.running_mean.unflatten(0, (self.k, -1))[i])
            views.append(bn.running_var.unflatten(0, (self.k, -1))[i])
        return views

    def _check_copy(self, i: int) -> None:
        if not 0 <= i < self.k:
            raise IndexError(f"copy index {i} out of range for {self.k} copies")

    def _check_compatible(self, model: ConvNet) -> None:
        ours = (self.base, self.in_channels, self.num_classes, self.dropout_p)
        theirs = (model.base, model.in_channels, model.num_classes, model.dropout_p)
        if ours != theirs:
            raise ValueError(
                "ConvNet (base, in_channels, num_classes, dropout) = "
                f"{theirs} does not match the grouped model's {ours}"
            )

    @torch.no_grad()
    def load_copy(self, i: int, model: ConvNet) -> None:
        """Overwrite copy ``i`` with ``model``'s parameters and BatchNorm statistics."""
        self._check_compatible(model)
        for dst, src in zip(self.copy_views(i), model.parameters(), strict=True):
            dst.copy_(src)
        src_buffers: list[Tensor] = []
        for bn in (model.bn1, model.bn2, model.bn3):
            assert bn.running_mean is not None and bn.running_var is not None
            src_buffers += [bn.running_mean, bn.running_var]
        for view, buffer in zip(self.copy_buffer_views(i), src_buffers, strict=True):
            view.copy_(buffer)
        for ours, theirs in zip(self._batchnorms(), (model.bn1, model.bn2, model.bn3), strict=True):
            assert ours.num_batches_tracked is not None and theirs.num_batches_tracked is not None
            ours.num_batches_tracked.copy_(theirs.num_batches_tracked)

    @torch.no_grad()
    def extract(self, i: int) -> ConvNet:
        """A new ``ConvNet`` holding copy ``i`` (same device, dtype and train/eval mode).

        Its dropout generator is ``generators[i]`` (the same object, so the two share one
        random stream) when generators are set.
        """
        self._check_copy(i)
        ref = self.conv1.weight
        model = ConvNet(self.base, self.in_channels, self.num_classes, self.dropout_p)
        model.to(device=ref.device, dtype=ref.dtype)
        for dst, src in zip(model.parameters(), self.copy_views(i), strict=True):
            dst.copy_(src)
        dst_buffers: list[Tensor] = []
        for bn in (model.bn1, model.bn2, model.bn3):
            assert bn.running_mean is not None and bn.running_var is not None
            dst_buffers += [bn.running_mean, bn.running_var]
        for buffer, view in zip(dst_buffers, self.copy_buffer_views(i), strict=True):
            buffer.copy_(view)
        for ours, theirs in zip(self._batchnorms(), (model.bn1, model.bn2, model.bn3), strict=True):
            assert ours.num_batches_tracked is not None and theirs.num_batches_tracked is not None
            theirs.num_batches_tracked.copy_(ours.num_batches_tracked)
        if self.generators is not None:
            model.dropout.generator = self.generators[i]
        model.train(self.training)
        return model

    def _dropout(self, feats: Tensor, generators: list[torch.Generator] | None) -> Tensor:
        if not self.training or self.dropout_p == 0.0:
            return feats
        if generators is None:
            return F.dropout(feats, self.dropout_p, training=True)
        # One draw per copy of the (B, 4*base) shape a separate ConvNet draws, from that copy's
        # generator: this is what makes copy i's mask identical to the separate model's.
        _, batch, width = feats.shape
        masks = torch.stack(
            [
                dropout_mask((batch, width), self.dropout_p, feats.dtype, feats.device, g)
                for g in generators
            ]
        )
        return feats * masks

    def forward(self, x: Tensor, generators: Sequence[torch.Generator] | None = None) -> Tensor:
        """Logits of shape ``(K, B, num_classes)`` for images ``x`` of shape ``(B, C, H, W)``.

        ``generators`` (``k`` of them) overrides ``self.generators`` for this call.
        """
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input of shape (B, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        gens = self.generators if generators is None else list(generators)
        if gens is not None and len(gens) != self.k:
            raise ValueError(f"need {self.k} dropout generators, got {len(gens)}")
        x = F.silu(self.bn1(self.conv1(x)))
        x = F.silu(self.bn2(self.conv2(x)))
        x = F.silu(self.bn3(self.conv3(x)))
        batch = x.shape[0]
        # (B, K*4b) -> (K, B, 4b): copy-major, as the heads and the per-copy losses want it.
        feats = x.mean(dim=(2, 3)).view(batch, self.k, -1).transpose(0, 1)
        out: Tensor = self.fc(self._dropout(feats, gens))
        return out

    def extra_repr(self) -> str:
        return f"k={self.k}, base={self.base}, dropout={self.dropout_p}"


def _grad_of(p: Tensor) -> Tensor:
    if p.grad is None:
        raise RuntimeError("parameter has no gradient yet: run backward() first")
    return p.grad


def grouped_from_models(models: Sequence[ConvNet]) -> GroupedConvNet:
    """Pack ``models`` (one architecture) into a :class:`GroupedConvNet`; copy ``i`` is model ``i``.

    Parameters and BatchNorm statistics are copied exactly; the result lives on the first
    model's device and dtype and takes its train/eval mode. If every model has a dropout
    generator, those generator objects become the grouped model's ``generators``.
    """
    if len(models) == 0:
        raise ValueError("need at least one ConvNet")
    first = models[0]
    grouped = GroupedConvNet(
        len(models), first.base, first.in_channels, first.num_classes, first.dropout_p
    )
    ref = first.conv1.weight
    grouped.to(device=ref.device, dtype=ref.dtype)
    for i, model in enumerate(models):
        grouped.load_copy(i, model)
    gens = [m.dropout.generator for m in models]
    if all(g is not None for g in gens):
        grouped.generators = gens  # type: ignore[assignment]
    grouped.train(first.training)
    return grouped


def models_from_grouped(grouped: GroupedConvNet) -> list[ConvNet]:
    """Unpack every copy of ``grouped`` into a separate :class:`ConvNet` (exact copies)."""
    return [grouped.extract(i) for i in range(grouped.k)]
