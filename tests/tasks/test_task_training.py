"""Each task of the suites learns: Adam at its reference learning rate, at its own size,
beats the trivial baseline by a wide margin (accuracy: half the way from the most frequent
class to 1; a loss: a quarter below the trivial predictor's). Runs longer than about 3 s on
one thread are marked slow; every task also has a fast smoke run of 20 steps."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from optevo.bench import BenchConfig, run_bench
from optevo.optim.spec import named
from optevo.tasks.base import RunRequest, Task, TaskOptions
from optevo.tasks.registry import get_task, suite

ADAM = named(["Adam"])[0]
SLOW = {
    "fashion-quick",
    "stdlib-lstm",
    "sort-transformer",
    "shapes-resnet",
    "docs-gru",
    "docs-transformer",
}
TASKS = suite("search") + suite("validate")


def chance(task: Task, runner: object) -> float:
    y = runner.data.val[1].reshape(-1)  # type: ignore[attr-defined]
    return float(torch.bincount(y).max()) / len(y)


def params() -> list[object]:
    marks = {t.name: [pytest.mark.slow] if t.name in SLOW else [] for t in TASKS}
    return [pytest.param(t.name, marks=marks[t.name], id=t.name) for t in TASKS]


@pytest.mark.parametrize("name", params())
def test_adam_beats_the_trivial_baseline(name: str) -> None:
    task = get_task(name)
    size = task.suites[0]
    budget = task.size(size)
    runner = task.build(TaskOptions(), budget)
    outcome = runner.run(
        RunRequest(
            ADAM,
            task.reference_lr,
            0,
            budget.total_steps,
            budget.total_steps,
            budget.warmup_steps,
            budget.hold_steps,
            "val",
        )
    )
    assert outcome.status == "ok" and outcome.steps == budget.total_steps
    assert outcome.metric is not None
    if task.higher_is_better:
        base = chance(task, runner)
        assert outcome.metric > base + (1 - base) / 2, (outcome.metric, base)
    else:
        worst = runner.worst("val")  # type: ignore[attr-defined]
        assert outcome.metric < 0.75 * worst, (outcome.metric, worst)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_twenty_steps_score_between_best_and_worst(task: Task) -> None:
    runner = task.build(TaskOptions(), task.budget.scaled(20 / task.budget.total_steps))
    outcome = runner.run(RunRequest(ADAM, task.reference_lr, 0, 20, 20, 1, 2, "test"))
    assert outcome.status == "ok" and outcome.metric is not None
    worst = runner.worst("test")  # type: ignore[attr-defined]
    if task.higher_is_better:
        assert worst == 0.0 <= outcome.metric <= 1.0
    else:
        assert 0.0 <= outcome.metric <= worst


def test_optevo_bench_runs_a_suite_task(tmp_path: Path) -> None:
    config = BenchConfig("heavy-tailed-logreg", [ADAM], seeds=2, scale=0.1, grid=(3e-3, 1e-2, 3e-2))
    (outcome,) = run_bench(config, tmp_path)
    assert outcome.test.winner is not None and len(outcome.finals) == 2
    assert all(r.status == "ok" and r.metric < 0.69 for r in outcome.finals)
    table = (tmp_path / "table.md").read_text()
    assert "heavy-tailed-logreg" in table and "| Adam |" in table
