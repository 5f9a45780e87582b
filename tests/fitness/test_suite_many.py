"""Issue 26, item 3: several candidates of a suite fitness at once (`fitness_many`, an
executor's `pack`): on the packed-screen tasks their full runs train as one packed model."""

from __future__ import annotations

from typing import Any

import pytest

from optevo.fitness import fitness, fitness_many, preset, suite
from optevo.fitness.config import SuiteFitness
from optevo.tasks.base import RunOutcome

CANDIDATES = ["Adam", "LR6", "Lion", "SGD"]
TASKS = ["teacher-mlp", "heavy-tailed-logreg"]


def config(fair: bool) -> SuiteFitness:
    cfg = preset("tiny", tasks=TASKS, task_scale=0.2, device="cpu", fair_lr=fair, seed=1)
    assert isinstance(cfg, SuiteFitness)
    return cfg


def tolerance(task: str, score: float) -> float:
    """A packed run's float sums differ from a sequential run's in the last bits: a loss
    within 1e-4 of itself, an accuracy within 2 of the validation split's examples (an
    argmax on a near tie may flip)."""
    runner = suite.build_runner(task, "search", "cpu")
    if runner.higher_is_better:
        return 2 / len(runner.data.val[1])
    return 1e-4 * abs(score) + 1e-6


def same(one: Any, many: Any, cfg: SuiteFitness) -> None:
    """The same screens, rates, statuses and steps; scores within float tolerance. Steps: a
    rate the fair rule found at a half-decade was screened alone, and alone its screen run
    trains on into its full run (`TensorSession`); packed, its full run starts again."""
    assert many.status == one.status
    for a, b in zip(one.tasks, many.tasks, strict=True):
        assert (b.task, b.status, b.lr, b.screen) == (a.task, a.status, a.lr, a.screen)
        task = suite.get_task(a.task)
        budget = suite.task_budget(task, "search", cfg.task_scale)
        screen = round(budget.total_steps * cfg.task_screen_fraction)
        resumed = a.lr is not None and a.lr not in suite.task_grid(cfg, task)
        assert b.steps == a.steps + (screen if resumed else 0)
        assert b.lr_fallback == a.lr_fallback
        if a.score is None:
            assert b.score is None and b.d == a.d
            continue
        tol = tolerance(a.task, a.score)
        assert b.score == pytest.approx(a.score, abs=tol)
        assert b.d == pytest.approx(a.d, abs=tol / abs(a.adam - a.trivial) + 1e-12)
    weights = sum(t.weight for t in one.tasks)
    assert many.fitness == pytest.approx(
        sum(t.weight * t.d for t in many.tasks) / weights, abs=1e-12
    )


@pytest.mark.parametrize("fair", [False, True])
def test_packed_full_runs_match_one_candidate_at_a_time(
    fair: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(fair)
    calls: list[tuple[int, bool]] = []  # (requests, a full run)
    real = suite.run_packed

    def counted(runner: Any, requests: Any) -> list[RunOutcome]:
        calls.append((len(requests), requests[0].steps == requests[0].total_steps))
        return real(runner, requests)

    monkeypatch.setattr(suite, "run_packed", counted)
    singles = [fitness(name, cfg) for name in CANDIDATES]
    single_calls = list(calls)
    calls.clear()
    many = fitness_many(CANDIDATES, cfg)
    for one, packed in zip(singles, many, strict=True):
        same(one, packed, cfg)
    # one candidate at a time: only screens are packed (every rate of the grid);
    # together: the same screens, then one packed full run per task for the candidates whose
    # screen passed
    assert set(single_calls) == {(len(cfg.screen_lrs), False)}
    full_calls = [n for n, full in calls if full]
    assert len(full_calls) == len(TASKS)
    passed = [sum(one.tasks[t].lr is not None for one in singles) for t in range(len(TASKS))]
    assert full_calls == passed


def test_a_diverging_full_run_falls_back_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fair rule's fallback for the one candidate whose packed full run diverged; the
    other candidates keep their packed full runs."""
    cfg = config(fair=True)
    monkeypatch.setattr(suite, "_REFERENCES", {})
    singles = {name: fitness(name, cfg) for name in ("Adam", "LR6")}
    real = suite.run_packed

    def lr6_diverges(runner: Any, requests: Any) -> list[RunOutcome]:
        outs = real(runner, requests)
        if len(requests) != 2:
            return outs  # the screens
        return [outs[0], RunOutcome(None, "diverged", 0.0, 3, {})]

    monkeypatch.setattr(suite, "run_packed", lr6_diverges)
    adam, lr6 = fitness_many(["Adam", "LR6"], cfg)
    same(singles["Adam"], adam, cfg)
    for task, alone in zip(lr6.tasks, singles["LR6"].tasks, strict=True):
        # its chosen rate is recorded as diverged (3 steps), and the next lower rate that
        # passed the screen ran in full alone (its whole run: the alone run's full steps)
        assert alone.lr is not None and task.lr_fallback[0] == alone.lr
        hib = suite.get_task(task.task).higher_is_better
        lower = [
            lr
            for lr, m in alone.screen.items()
            if m is not None and lr < alone.lr and (m > alone.trivial if hib else m < alone.trivial)
        ]
        full = suite.task_budget(suite.get_task(task.task), "search", cfg.task_scale).total_steps
        # alone, a chosen half-decade's screen run went on into its full run (see `same`)
        resumed = alone.lr not in suite.task_grid(cfg, suite.get_task(task.task))
        screens = alone.steps - full + (round(full * cfg.task_screen_fraction) if resumed else 0)
        if lower:
            assert task.lr is not None and task.lr < alone.lr and task.status == "ok"
            assert task.steps == screens + 3 + full
        else:
            assert task.status == "diverged" and task.steps == screens + 3


def test_a_packed_full_run_that_raises_runs_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = config(fair=False)
    singles = [fitness(name, cfg) for name in ("Adam", "Lion")]
    real = suite.run_packed

    def broken(runner: Any, requests: Any) -> list[RunOutcome]:
        if len(requests) == 2:
            raise RuntimeError("no packing today")
        return real(runner, requests)

    monkeypatch.setattr(suite, "run_packed", broken)
    for one, packed in zip(singles, fitness_many(["Adam", "Lion"], cfg), strict=True):
        same(one, packed, cfg)
        assert all(t.error is None for t in packed.tasks)
