"""Packed runs of the small tasks (optevo.tasks.packed): the same outcomes as the sequential
runner for the same seeds and rates (metrics within float tolerance, the same diverged
flags), per-copy divergence, what can and cannot be packed, and the suite screen's use."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from optevo import library
from optevo.fitness.suite import PACKED_TASKS, packed_screen
from optevo.optim.spec import OptimizerSpec, named
from optevo.tasks.base import RunRequest, TaskOptions
from optevo.tasks.models import CharRNN, autoencoder, mlp
from optevo.tasks.packed import (
    FuncPackedNet,
    PackedNet,
    pack,
    packable_model,
    packable_spec,
    run_packed,
)
from optevo.tasks.registry import get_task

ADAM, OPT6, SGD = named(["Adam", "Opt6", "SGD"])


def small_runner(name: str, steps: int) -> Any:
    task = get_task(name)
    return task.build(TaskOptions(), task.budget.scaled(steps / task.budget.total_steps))


def sequential(runner: Any, runs: list[tuple[Any, float]], steps: int) -> list[Any]:
    return [runner.run(RunRequest(spec, lr, 3, steps, steps, 2, 4, "val")) for spec, lr in runs]


def assert_same(seq: list[Any], packed: list[Any], rel: float = 1e-4) -> None:
    assert [o.status for o in seq] == [o.status for o in packed]
    for a, b in zip(seq, packed, strict=True):
        assert b.metric == pytest.approx(a.metric, rel=rel)
        if a.status == "ok":
            assert a.steps == b.steps


@pytest.mark.parametrize(
    ("name", "lrs"),
    [
        ("teacher-mlp", (3e-3, 1e-3, 3e-4)),
        ("heavy-tailed-logreg", (1e-1, 1e-2, 1e-3, 1e-4)),
        ("manifold-autoencoder", (1e-2, 1e-3, 1e-4)),
    ],
)
def test_packed_equals_sequential(name: str, lrs: tuple[float, ...]) -> None:
    steps = 40
    runner = small_runner(name, steps)
    runs = [(spec, lr) for spec in (ADAM, OPT6) for lr in lrs]
    seq = sequential(runner, runs, steps)
    packed = run_packed(runner, [RunRequest(s, lr, 3, steps, steps, 2, 4, "val") for s, lr in runs])
    assert_same(seq, packed)


def test_divergence_is_per_copy() -> None:
    steps = 30
    runner = small_runner("manifold-autoencoder", steps)
    runs = [(SGD, 1e4), (ADAM, 1e-3), (SGD, 1e6)]
    seq = sequential(runner, runs, steps)
    packed = run_packed(runner, [RunRequest(s, lr, 3, steps, steps, 2, 4, "val") for s, lr in runs])
    assert [o.status for o in packed] == ["diverged", "ok", "diverged"]
    assert [o.status for o in seq] == [o.status for o in packed]
    assert packed[1].metric == pytest.approx(seq[1].metric, rel=1e-4)
    assert packed[0].metric == runner.worst("val")
    assert packed[0].steps < steps


def test_initial_weights_are_the_sequential_models() -> None:
    torch.manual_seed(5)
    model = mlp(4, [6], 3)
    net = PackedNet(model, 2, "cpu")
    x = torch.randn(8, 4)
    out = net.forward(x)
    assert out.shape == (2, 8, 3)
    torch.testing.assert_close(out[0], model(x))
    torch.testing.assert_close(out[1], model(x))


def test_what_can_be_packed() -> None:
    assert packable_model(nn.Linear(3, 2))
    assert packable_model(mlp(3, [4, 4], 2, "tanh"))
    assert packable_model(autoencoder(8, 6, 2))
    assert not packable_model(CharRNN(10))  # aten::lstm has no vmap batching rule
    # anything else packs with torch.func (FuncPackedNet): dropout, convolutions, batch norm
    assert packable_model(nn.Sequential(nn.Linear(3, 3), nn.Dropout()))
    assert isinstance(pack(nn.Sequential(nn.Linear(3, 3), nn.Dropout()), 2, "cpu"), FuncPackedNet)
    assert isinstance(pack(mlp(3, [4], 2), 2, "cpu"), PackedNet)
    assert packable_spec(ADAM)
    assert not packable_spec(OptimizerSpec("AdamW", library.genome("Adam"), weight_decay=0.01))
    lion = OptimizerSpec.of_factory("x", lambda p, *a: torch.optim.SGD(p, lr=1.0), "sgd")
    assert not packable_spec(lion)
    with pytest.raises(ValueError, match="cannot pack"):
        PackedNet(CharRNN(10), 2, "cpu")
    with pytest.raises(ValueError, match="recurrent layer"):
        FuncPackedNet(CharRNN(10), 2, "cpu")
    runner = small_runner("teacher-mlp", 5)
    with pytest.raises(ValueError, match="packed"):
        run_packed(runner, [RunRequest(lion, 1e-3, 0, 5, 5, 0, 0, "val")])
    assert run_packed(runner, []) == []


def test_suite_screen_packs_where_measured() -> None:
    mlp_task, lstm_task = get_task("teacher-mlp"), get_task("stdlib-lstm")
    assert mlp_task.name in PACKED_TASKS and lstm_task.name not in PACKED_TASKS
    runner = small_runner("teacher-mlp", 5)
    assert packed_screen(mlp_task, runner, ADAM)
    assert not packed_screen(mlp_task, runner, OptimizerSpec("W", ADAM.genome, weight_decay=0.1))
    assert not packed_screen(lstm_task, small_runner("stdlib-lstm", 5), ADAM)


def test_outcomes_keep_the_order_of_runs() -> None:
    steps = 10
    runner = small_runner("heavy-tailed-logreg", steps)
    runs = [(ADAM, 1e-2), (OPT6, 1e-2), (ADAM, 1e-3), (OPT6, 1e-3)]  # rows regrouped inside
    seq = sequential(runner, runs, steps)
    packed = run_packed(runner, [RunRequest(s, lr, 3, steps, steps, 2, 4, "val") for s, lr in runs])
    assert_same(seq, packed)
    assert all(math.isfinite(o.extra["train_loss"]) for o in packed)


@pytest.mark.parametrize(
    ("name", "steps"),
    [
        ("fashion-quick", 12),  # ConvNet: convolutions, batch norm (stacked buffers), dropout
        ("sort-transformer", 12),  # attention, layer norm, dropout
    ],
)
def test_torch_func_packing_equals_sequential(name: str, steps: int) -> None:
    runner = small_runner(name, steps)
    assert isinstance(pack(runner.make_model(), 2, "cpu"), FuncPackedNet)
    runs = [(ADAM, 1e-3), (ADAM, 1e-2), (OPT6, 1e-3), (SGD, 1e6)]
    seq = sequential(runner, runs, steps)
    packed = run_packed(runner, [RunRequest(s, lr, 3, steps, steps, 2, 4, "val") for s, lr in runs])
    assert_same(seq, packed)  # a diverging copy (SGD at 1e6) leaves the others as they were
    for a, b in zip(seq, packed, strict=True):
        if a.status == "ok":
            assert b.extra["train_loss"] == pytest.approx(a.extra["train_loss"], rel=1e-4)


def test_torch_func_packing_keeps_each_copys_batch_norm_statistics() -> None:
    from optevo.models import ConvNet

    torch.manual_seed(0)
    model = ConvNet(4, 1, 3, dropout=0.0)
    net = FuncPackedNet(model, 2, "cpu")
    with torch.no_grad():
        net.flat[1].mul_(2.0)  # copy 1 differs: its batch statistics differ
    net.train()
    x = torch.randn(6, 1, 8, 8)
    net.forward(x)
    means = next(b for n, b in net.buffers.items() if n.endswith("running_mean"))
    assert means.shape[0] == 2 and not torch.equal(means[0], means[1])
    # copy 0 alone: the same running statistics as the model trained on that batch alone
    model.train()
    model(x)
    alone = next(b for n, b in model.named_buffers() if n.endswith("running_mean"))
    torch.testing.assert_close(means[0], alone)
