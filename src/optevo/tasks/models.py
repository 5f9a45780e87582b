"""The small models of the search and validation suites: an MLP, an autoencoder, a character
RNN (LSTM or GRU), a Transformer encoder (bidirectional or causal), a residual CNN with batch
normalisation and a matrix factorisation (embeddings). Each is built in a second or less and
initialised by PyTorch's defaults under the run's seed; none uses dropout, so a run's only
randomness is its initial weights and batch order."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Activation = Literal["relu", "gelu", "tanh"]
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def mlp(
    inputs: int, hidden: Sequence[int], outputs: int, activation: Activation = "relu"
) -> nn.Sequential:
    """Linear layers of the given widths with `activation` between them (none after the last)."""
    widths = [inputs, *hidden, outputs]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def autoencoder(
    inputs: int, hidden: int, code: int, activation: Activation = "gelu"
) -> nn.Sequential:
    """`inputs -> hidden -> code -> hidden -> inputs`, a linear bottleneck of width `code`."""
    encoder = mlp(inputs, [hidden], code, activation)
    decoder = mlp(code, [hidden], inputs, activation)
    return nn.Sequential(encoder, decoder)


class CharRNN(nn.Module):
    """Embedding -> LSTM or GRU -> linear: next-token logits at every position, `(B, T, V)`."""

    def __init__(
        self,
        vocab: int,
        embedding: int = 32,
        hidden: int = 128,
        layers: int = 1,
        cell: Literal["lstm", "gru"] = "lstm",
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embedding)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(embedding, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(self.embed(x))
        head: Tensor = self.head(out)
        return head


class TinyTransformer(nn.Module):
    """Token + learned position embeddings -> pre-norm Transformer encoder layers (GELU, no
    dropout) -> final LayerNorm -> linear: logits at every position, `(B, T, V)`. `causal`
    masks attention to earlier positions (a language model)."""

    def __init__(
        self,
        vocab: int,
        length: int,
        width: int = 64,
        heads: int = 4,
        layers: int = 2,
        causal: bool = False,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(length, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width,
            heads,
            4 * width,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)
        self.causal = causal

    def forward(self, x: Tensor) -> Tensor:
        t = x.shape[1]
        h = self.embed(x) + self.position[:t]
        mask = (
            nn.Transformer.generate_square_subsequent_mask(t, device=x.device)
            if self.causal
            else None
        )
        h = self.encoder(h, mask=mask, is_causal=self.causal)
        out: Tensor = self.head(self.norm(h))
        return out


class _Block(nn.Module):
    """A basic residual block: two 3x3 convolutions with batch norm, a 1x1 projection on the
    shortcut where the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """Stem (3x3 conv, BN, ReLU) -> one residual block per stage, each stage doubling the width
    and halving the resolution after the first -> global average pool -> linear."""

    def __init__(
        self, in_channels: int, num_classes: int, width: int = 16, stages: int = 2
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        blocks, cin = [], width
        for i in range(stages):
            cout = width * 2**i
            blocks.append(_Block(cin, cout, 1 if i == 0 else 2))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.head(self.blocks(self.stem(x)).mean(dim=(2, 3)))
        return out


class MatrixFactorization(nn.Module):
    """Rating of (user, item) pairs `(N, 2)`: <u, v> + user bias + item bias + global bias.
    Embeddings start at N(0, init^2), biases at 0."""

    def __init__(self, users: int, items: int, rank: int = 16, init: float = 0.1) -> None:
        super().__init__()
        self.user = nn.Embedding(users, rank)
        self.item = nn.Embedding(items, rank)
        self.user_bias = nn.Embedding(users, 1)
        self.item_bias = nn.Embedding(items, 1)
        self.bias = nn.Parameter(torch.zeros(()))
        with torch.no_grad():
            self.user.weight.normal_(0.0, init)
            self.item.weight.normal_(0.0, init)
            self.user_bias.weight.zero_()
            self.item_bias.weight.zero_()

    def forward(self, pairs: Tensor) -> Tensor:
        u, i = pairs[:, 0], pairs[:, 1]
        dot = (self.user(u) * self.item(i)).sum(-1)
        out: Tensor = dot + self.user_bias(u)[:, 0] + self.item_bias(i)[:, 0] + self.bias
        return out


__all__ = ["CharRNN", "MatrixFactorization", "SmallResNet", "TinyTransformer", "autoencoder", "mlp"]
