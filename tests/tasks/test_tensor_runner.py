"""The generic runner: deterministic for a seed (initial weights and batch order shared by any
two optimizers), divergence ends a run with the worst score, metrics and their directions."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from optevo.optim.spec import named
from optevo.tasks.base import Budget, RunRequest, TaskOptions
from optevo.tasks.registry import get_task, suite
from optevo.tasks.tensor import TensorData, TensorRunner

ADAM, SGD = named(["Adam", "SGD"])


def run(runner: Any, spec: Any = ADAM, lr: float = 1e-2, seed: int = 0, steps: int = 30):
    return runner.run(RunRequest(spec, lr, seed, steps, steps, 2, 4, "val"))


def small_runner(name: str, steps: int = 30) -> TensorRunner:
    task = get_task(name)
    return task.build(TaskOptions(), task.budget.scaled(steps / task.budget.total_steps))


@dataclass
class Recording:
    """An optimizer spec that records the initial weights it is given, then defers to Adam."""

    inner: Any
    initial: list[Tensor] = field(default_factory=list)

    def build(self, params: Iterable[Tensor], *args: Any, **kwargs: Any) -> Any:
        params = list(params)
        self.initial = [p.detach().clone() for p in params]
        return self.inner.build(params, *args, **kwargs)


class Recorder(nn.Module):
    """Wraps a model and records every training batch it sees."""

    def __init__(self, model: nn.Module, seen: list[Tensor]) -> None:
        super().__init__()
        self.model, self.seen = model, seen

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.seen.append(x.clone())
        out: Tensor = self.model(x)
        return out


def test_a_seed_fixes_the_score() -> None:
    runner = small_runner("teacher-mlp")
    a, b = run(runner), run(runner)
    assert a.status == b.status == "ok"
    assert a.metric == b.metric and a.extra == b.extra
    assert run(runner, seed=1).metric != a.metric


def test_two_optimizers_share_initial_weights_and_batch_order() -> None:
    data = get_task("teacher-mlp").build(TaskOptions(), Budget.proportional(10, 32)).data
    seen: dict[str, list[Tensor]] = {"adam": [], "sgd": []}
    specs = {"adam": Recording(ADAM), "sgd": Recording(SGD)}
    for key, spec in specs.items():

        def make(key: str = key) -> nn.Module:
            return Recorder(nn.Linear(32, 10), seen[key])

        runner = TensorRunner(data, make, "cross-entropy", "accuracy", 32)
        assert runner.run(RunRequest(spec, 1e-2, 7, 12, 12, 1, 2, "val")).status == "ok"
    assert all(torch.equal(a, b) for a, b in zip(*(s.initial for s in specs.values()), strict=True))
    assert len(seen["adam"]) == len(seen["sgd"]) == 12
    assert all(torch.equal(a, b) for a, b in zip(seen["adam"], seen["sgd"], strict=True))
    assert not torch.equal(seen["adam"][0], seen["adam"][1])


@pytest.mark.parametrize("task", suite("search") + suite("validate"), ids=lambda t: t.name)
def test_sgd_at_a_huge_rate_diverges_with_the_worst_score(task: Any) -> None:
    runner = task.build(TaskOptions(), task.budget.scaled(20 / task.budget.total_steps))
    outcome = run(runner, SGD, lr=1e6, steps=20)
    assert outcome.status == "diverged" and outcome.steps < 20
    assert outcome.metric == runner.worst("val")
    if task.higher_is_better:
        assert outcome.metric == 0.0


def test_non_finite_loss_ends_the_run() -> None:
    data = get_task("manifold-autoencoder").build(TaskOptions(), Budget.proportional(5, 8)).data

    class Poisoned(nn.Linear):
        calls = 0

        def forward(self, x: Tensor) -> Tensor:
            Poisoned.calls += 1
            out = super().forward(x)
            return out * math.nan if Poisoned.calls == 3 else out

    runner = TensorRunner(data, lambda: Poisoned(64, 64), "mse", "mse", 8)
    outcome = run(runner, steps=10)
    assert outcome.status == "diverged" and outcome.steps == 3
    assert outcome.metric == runner.worst("val") and "train_loss" not in outcome.extra


def test_loss_scores_are_clipped_at_the_trivial_predictor() -> None:
    data = TensorData(
        "toy",
        (torch.randn(64, 4), torch.randn(64, 2) + 3.0),
        (torch.randn(16, 4), torch.randn(16, 2) + 3.0),
        (torch.randn(16, 4), torch.randn(16, 2) + 3.0),
    )
    runner = TensorRunner(data, lambda: nn.Linear(4, 2), "mse", "mse", 8)
    mean = data.train[1].mean(0)
    assert runner.worst("val") == pytest.approx(float(((data.val[1] - mean) ** 2).mean()))
    # lr 0: the initial model predicts about 0, far worse than the mean 3: clipped to worst
    outcome = runner.run(RunRequest(ADAM, 0.0, 0, 3, 3, 0, 0, "val"))
    assert outcome.status == "ok" and outcome.metric == runner.worst("val")


def test_cross_entropy_worst_is_the_class_frequencies() -> None:
    y = torch.tensor([0, 0, 0, 1])
    data = TensorData("toy", (torch.zeros(4, 1), y), (torch.zeros(4, 1), y), (torch.zeros(4, 1), y))
    nats = TensorRunner(data, lambda: nn.Linear(1, 2), "cross-entropy", "cross-entropy", 2)
    p = torch.tensor([3.5, 1.5]) / 5  # counts plus a half
    expected = -float((3 * p[0].log() + p[1].log()) / 4)
    assert nats.worst("test") == pytest.approx(expected)
    bits = TensorRunner(data, lambda: nn.Linear(1, 2), "cross-entropy", "bits-per-char", 2)
    assert bits.worst("test") == pytest.approx(expected / math.log(2))
    assert not nats.higher_is_better


def test_accuracy_counts_nan_logits_as_wrong() -> None:
    y = torch.tensor([0, 1, 1])
    data = TensorData("toy", (torch.zeros(3, 2), y), (torch.zeros(3, 2), y), (torch.zeros(3, 2), y))
    runner = TensorRunner(data, lambda: nn.Linear(2, 2), "cross-entropy", "accuracy", 1)

    class Nan(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            return torch.full((len(x), 2), math.nan)

    assert runner.score(Nan(), "val") == 0.0


def test_the_runner_refuses_what_it_cannot_do() -> None:
    data = get_task("teacher-mlp").build(TaskOptions(), Budget.proportional(5, 8)).data
    with pytest.raises(ValueError, match="not 'perplexity'"):
        TensorRunner(data, lambda: nn.Linear(32, 10), "cross-entropy", "perplexity", 8)
    with pytest.raises(ValueError, match="exceeds"):
        TensorRunner(data, lambda: nn.Linear(32, 10), "cross-entropy", "accuracy", 10**6)
    with pytest.raises(ValueError, match="unknown split"):
        data.split("holdout")
    with pytest.raises(ValueError, match="empty"):
        TensorData("x", data.train, data.val, (data.test[0][:0], data.test[1][:0]))
