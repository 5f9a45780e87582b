"""AWD-LSTM (Merity et al., 2017): the language model of the paper's PTB experiment (Table 13).

Three LSTM layers (400 -> 1,150 -> 1,150 -> 400), the decoder's weight tied to the embedding,
and the model's regularisers:
- embedding dropout: whole words dropped from the embedding matrix (`dropout_embedding`);
- variational ("locked") dropout: one mask per sequence, shared over time, on the embedded
  input (`dropout_input`), between layers (`dropout_hidden`) and on the output (`dropout`);
- weight drop (DropConnect) on every layer's hidden-to-hidden matrix (`weight_drop`), done
  with `torch.func.functional_call`, so each layer stays a plain `nn.LSTM` (cuDNN on a GPU).
`activation_regularization` returns the AR/TAR terms of the paper (alpha, beta).
At PTB's 10,000 words: 24,221,600 parameters (the paper: "24M").
"""

from __future__ import annotations

import warnings
from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["AWDLSTM", "Hidden"]

Hidden = list[tuple[Tensor, Tensor]]


def locked_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout with one mask per sequence (x: time x batch x features), shared over time."""
    if not training or p == 0.0:
        return x
    mask = x.new_empty(1, x.shape[1], x.shape[2]).bernoulli_(1 - p) / (1 - p)
    return x * mask


def embedding_dropout(weight: Tensor, p: float, training: bool) -> Tensor:
    """Drop whole rows (words) of the embedding matrix, rescaling the kept ones."""
    if not training or p == 0.0:
        return weight
    mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
    return weight * mask


class AWDLSTM(nn.Module):
    """The 3-layer AWD-LSTM with tied weights.

    Args:
        vocab_size: words in the vocabulary (PTB: 10,000).
        embedding_size: embedding and last-layer width (400); tying needs them equal.
        hidden_size: width of the inner layers (1,150).
        layers: LSTM layers (3).
        dropout, dropout_hidden, dropout_input, dropout_embedding, weight_drop: the paper's
            PTB values by default (0.4, 0.25, 0.4, 0.1, 0.5).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int = 400,
        hidden_size: int = 1150,
        layers: int = 3,
        dropout: float = 0.4,
        dropout_hidden: float = 0.25,
        dropout_input: float = 0.4,
        dropout_embedding: float = 0.1,
        weight_drop: float = 0.5,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError("need at least one LSTM layer")
        self.encoder = nn.Embedding(vocab_size, embedding_size)
        sizes = [embedding_size] + [hidden_size] * (layers - 1) + [embedding_size]
        self.rnns = nn.ModuleList(
            nn.LSTM(sizes[i], sizes[i + 1], num_layers=1) for i in range(layers)
        )
        self.decoder = nn.Linear(embedding_size, vocab_size)
        self.decoder.weight = self.encoder.weight  # weight tying
        self.dropout, self.dropout_hidden = dropout, dropout_hidden
        self.dropout_input, self.dropout_embedding = dropout_input, dropout_embedding
        self.weight_drop = weight_drop
        self.sizes = sizes
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)

    def init_hidden(self, batch_size: int) -> Hidden:
        w = self.encoder.weight
        return [
            (w.new_zeros(1, batch_size, size), w.new_zeros(1, batch_size, size))
            for size in self.sizes[1:]
        ]

    def _run_layer(
        self, rnn: nn.LSTM, x: Tensor, h: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if not self.training or self.weight_drop == 0.0:
            out: tuple[Tensor, tuple[Tensor, Tensor]] = rnn(x, h)
            return out
        dropped = F.dropout(cast(Tensor, rnn.weight_hh_l0), self.weight_drop, training=True)
        with warnings.catch_warnings():
            # The swapped-in matrix is not part of cuDNN's flat weight buffer: expected.
            warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
            out = functional_call(rnn, {"weight_hh_l0": dropped}, (x, h), strict=False)
            return out

    def forward(self, tokens: Tensor, hidden: Hidden) -> tuple[Tensor, Hidden, Tensor, Tensor]:
        """tokens: time x batch. Returns (logits time x batch x vocab, new hidden, the last
        layer's output before and after its dropout, for activation regularisation)."""
        weight = embedding_dropout(self.encoder.weight, self.dropout_embedding, self.training)
        x = F.embedding(tokens, weight)
        x = locked_dropout(x, self.dropout_input, self.training)
        new_hidden: Hidden = []
        raw = x
        for i, rnn in enumerate(self.rnns):
            raw, h = self._run_layer(cast(nn.LSTM, rnn), x, hidden[i])
            new_hidden.append(h)
            last = i == len(self.rnns) - 1
            x = locked_dropout(raw, self.dropout if last else self.dropout_hidden, self.training)
        return self.decoder(x), new_hidden, raw, x

    @staticmethod
    def activation_regularization(
        raw: Tensor, dropped: Tensor, alpha: float = 2.0, beta: float = 1.0
    ) -> Tensor:
        """AR (alpha * mean square of the dropped output) + TAR (beta * mean square of the
        raw output's change between time steps)."""
        ar = alpha * dropped.pow(2).mean()
        tar = beta * (raw[1:] - raw[:-1]).pow(2).mean() if raw.shape[0] > 1 else raw.sum() * 0
        return ar + tar


def detach_hidden(hidden: Hidden) -> Hidden:
    """Truncated backpropagation: keep the state's values, cut its history."""
    return [(h.detach(), c.detach()) for h, c in hidden]
