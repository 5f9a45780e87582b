"""The tensor tasks of the search and validation suites (their data: `optevo.tasks.data`).

Search suite (each run a few seconds on one CPU thread at its `search` size):
- `fashion-quick`: the `quick` fitness's network and data: ConvNet base 16 (dropout 0.2) on
  the embedded Fashion-MNIST; accuracy.
- `teacher-mlp`: MLP 32-128-128-10 (ReLU) on synthetic teacher classes; accuracy.
- `stdlib-lstm`: character LSTM (embedding 32, hidden 128) on standard-library source;
  bits per character.
- `sort-transformer`: 2-layer Transformer encoder (width 64, 4 heads) sorting sequences;
  per-token accuracy.
- `heavy-tailed-logreg`: logistic regression on badly scaled heavy-tailed features (convex);
  held-out cross-entropy.
- `manifold-autoencoder`: MLP autoencoder 64-128-8-128-64 (GELU) on manifold data; MSE.

Validation suite (data the search never sees, 3-10x the search budget; the residual network
with batch norm and the embedding model are families the search suite lacks):
- `shapes-resnet`: residual CNN with batch norm on 16x16 shape images; accuracy.
- `docs-gru`: character GRU (embedding 32, hidden 128) on the language reference's prose;
  bits per character.
- `docs-transformer`: causal 2-layer Transformer (width 64) on the same text; bits per
  character.
- `cancer-logreg`: logistic regression on breast-cancer's raw, unnormalised features
  (convex, ill-conditioned); held-out cross-entropy.
- `ratings-mf`: matrix factorisation (rank 16 embeddings + biases) of synthetic ratings; MSE.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from optevo.models import ConvNet
from optevo.tasks.base import Budget, Metric, Runner, Task, TaskOptions
from optevo.tasks.data import load
from optevo.tasks.models import (
    CharRNN,
    MatrixFactorization,
    SmallResNet,
    TinyTransformer,
    autoencoder,
    mlp,
)
from optevo.tasks.tensor import Loss, TensorData, TensorRunner

ModelFactory = Callable[..., nn.Module]
"""(data.info, **overrides) -> a fresh model."""

_FILES = {
    "fashion-mnist": "the embedded Fashion-MNIST (/usr/share/datasets/fashion-mnist)",
    "synthetic": "generated in code",
    "python": "ships with Python",
    "sklearn": "bundled with scikit-learn",
}


def _build(
    source: str, model: ModelFactory, loss: Loss, metric: str
) -> Callable[[TaskOptions, Budget], Runner]:
    images = source in ("fashion-mnist", "synthetic:shapes")

    def build(opts: TaskOptions, budget: Budget) -> Runner:
        data: TensorData = opts.data if opts.data is not None else load(source)
        overrides = dict(opts.model)
        return TensorRunner(
            data,
            lambda: model(data.info, **overrides),
            loss,
            metric,
            budget.batch_size,
            opts.device,
            opts.eval_batch_size or 1024,
            channels_last=images,
        )

    return build


def _task(
    name: str,
    *,
    family: str,
    source: str,
    metric: Metric,
    model: ModelFactory,
    sizes: Mapping[str, Budget],
    reference_lr: float,
    seconds: Mapping[str, float] | None = None,
) -> Task:
    """A tensor task; it trains on MSE when scored by MSE, else on cross-entropy."""
    return Task(
        name,
        name,
        metric,
        next(iter(sizes.values())),
        _FILES[source.partition(":")[0]],
        _build(source, model, "mse" if metric == "mse" else "cross-entropy", metric),
        needs_root=False,
        family=family,
        source=source,
        sizes=sizes,
        reference_lr=reference_lr,
        seconds=seconds or {},
    )


def _search(total: int, batch: int) -> dict[str, Budget]:
    return {"search": Budget.proportional(total, batch)}


def _validate(total: int, batch: int) -> dict[str, Budget]:
    return {"validate": Budget.proportional(total, batch)}


def _convnet(info: Mapping[str, int], base: int = 16, **kw: Any) -> nn.Module:
    return ConvNet(base, info["channels"], info["classes"], **kw)


def _mlp(info: Mapping[str, int], hidden: tuple[int, ...] = (128, 128), **kw: Any) -> nn.Module:
    return mlp(info["inputs"], hidden, info["classes"], **kw)


def _linear(info: Mapping[str, int]) -> nn.Module:
    return nn.Linear(info["inputs"], info["classes"])


def _autoencoder(info: Mapping[str, int], hidden: int = 128, code: int = 8) -> nn.Module:
    return autoencoder(info["inputs"], hidden, code)


def _rnn(cell: str) -> ModelFactory:
    return lambda info, **kw: CharRNN(info["vocab"], cell=cell, **kw)  # type: ignore[arg-type]


def _transformer(causal: bool) -> ModelFactory:
    return lambda info, **kw: TinyTransformer(info["vocab"], info["length"], causal=causal, **kw)


def _resnet(info: Mapping[str, int], **kw: Any) -> nn.Module:
    return SmallResNet(info["channels"], info["classes"], **kw)


def _factorization(info: Mapping[str, int], **kw: Any) -> nn.Module:
    return MatrixFactorization(info["users"], info["items"], **kw)


SEARCH_TASKS: tuple[Task, ...] = (
    _task(
        "fashion-quick",
        family="convnet",
        source="fashion-mnist",
        metric="accuracy",
        model=_convnet,
        sizes=_search(300, 64),
        reference_lr=1e-2,
        seconds={"search": 4.2},
    ),
    _task(
        "teacher-mlp",
        family="mlp",
        source="synthetic:teacher",
        metric="accuracy",
        model=_mlp,
        sizes=_search(2000, 128),
        reference_lr=3e-3,
        seconds={"search": 0.89},
    ),
    _task(
        "stdlib-lstm",
        family="lstm",
        source="python:stdlib-source",
        metric="bits-per-char",
        model=_rnn("lstm"),
        sizes=_search(300, 32),
        reference_lr=3e-2,
        seconds={"search": 3.1},
    ),
    _task(
        "sort-transformer",
        family="transformer",
        source="synthetic:sort",
        metric="accuracy",
        model=_transformer(causal=False),
        sizes=_search(300, 64),
        reference_lr=1e-2,
        seconds={"search": 3.9},
    ),
    _task(
        "heavy-tailed-logreg",
        family="convex",
        source="synthetic:heavy-tailed",
        metric="cross-entropy",
        model=_linear,
        sizes=_search(2000, 128),
        reference_lr=1e-2,
        seconds={"search": 0.31},
    ),
    _task(
        "manifold-autoencoder",
        family="autoencoder",
        source="synthetic:manifold",
        metric="mse",
        model=_autoencoder,
        sizes=_search(2000, 128),
        reference_lr=1e-2,
        seconds={"search": 1.2},
    ),
)
"""The search suite: what a search selects on. `seconds`: wall seconds per run at the search
size (Adam, one torch thread, a shared 2-core CPU at load 2; `benchmarks/task_suite.py`)."""

VALIDATION_TASKS: tuple[Task, ...] = (
    _task(
        "shapes-resnet",
        family="resnet",
        source="synthetic:shapes",
        metric="accuracy",
        model=_resnet,
        sizes=_validate(1500, 64),
        reference_lr=1e-2,
        seconds={"validate": 15.9},
    ),
    _task(
        "docs-gru",
        family="gru",
        source="python:pydoc-topics",
        metric="bits-per-char",
        model=_rnn("gru"),
        sizes=_validate(1000, 32),
        reference_lr=1e-2,
        seconds={"validate": 19.7},
    ),
    _task(
        "docs-transformer",
        family="transformer",
        source="python:pydoc-topics",
        metric="bits-per-char",
        model=_transformer(causal=True),
        sizes=_validate(1000, 32),
        reference_lr=1e-2,
        seconds={"validate": 25.6},
    ),
    _task(
        "cancer-logreg",
        family="convex",
        source="sklearn:breast-cancer",
        metric="cross-entropy",
        model=_linear,
        sizes=_validate(6000, 64),
        reference_lr=1e-3,
        seconds={"validate": 0.75},
    ),
    _task(
        "ratings-mf",
        family="embedding",
        source="synthetic:ratings",
        metric="mse",
        model=_factorization,
        sizes=_validate(6000, 128),
        reference_lr=3e-3,
        seconds={"validate": 1.5},
    ),
)
"""The validation suite: never selected on. `seconds` as the search suite's, at the validation
size (docs-gru and docs-transformer: 1,500 steps measured, scaled to the 1,000 steps they run
since 2026-11-29, which keeps them 3.3x the search suite's sequence tasks and cuts a full
validation of one optimizer from about 380 to 260 CPU seconds)."""

SUITE_TASKS: tuple[Task, ...] = SEARCH_TASKS + VALIDATION_TASKS

__all__ = ["SEARCH_TASKS", "SUITE_TASKS", "VALIDATION_TASKS"]
