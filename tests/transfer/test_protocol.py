"""The transfer protocol that `optevo bench` and `optevo validate` share (`TaskRuns`), on a
fake task whose scores are known: the fair rule's fallback when a full run diverges at the
test's winner, what is recorded of it, the paper's rule without it, and resume."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from optevo.optim.spec import named
from optevo.tasks.base import Budget, RunOutcome, RunRequest, Task, TaskOptions
from optevo.transfer import ResultStore, TaskRuns, TransferEvent, norm_lr

BUDGET = Budget(total_steps=30, warmup_steps=2, hold_steps=4, batch_size=8)
GRID = (1.0, 0.1, 0.01, 0.001)
UP, DOWN = norm_lr(0.1 * math.sqrt(10)), norm_lr(0.1 / math.sqrt(10))  # 0.316, 0.0316


@dataclass
class FakeRunner:
    """Validation scores (the test) peak at 0.1 (lr 1 diverges); a full run (the test split)
    diverges at every rate above `stable`."""

    stable: float
    calls: list[tuple[float, int, int, str]] = field(default_factory=list)

    def run(self, request: RunRequest) -> RunOutcome:
        lr, seed, steps, split = request.lr, request.seed, request.steps, request.split
        self.calls.append((lr, seed, steps, split))
        if split == "val":
            if lr >= 1.0:
                return RunOutcome(None, "diverged", 0.0, steps, {})
            return RunOutcome(1 - abs(math.log10(lr) + 1) / 10, "ok", 0.0, steps, {})
        if lr > self.stable:
            return RunOutcome(0.1, "diverged", 0.0, steps, {})
        return RunOutcome(0.9 - seed / 100, "ok", 0.0, steps, {})


def task(runner: FakeRunner) -> Task:
    return Task("fake", "Fake", "accuracy", BUDGET, "", lambda opts, budget: runner)


def runs(runner: FakeRunner, out: Path, events: list[TransferEvent]) -> TaskRuns:
    t = task(runner)
    build = lambda: t.build(TaskOptions(), BUDGET)  # noqa: E731
    return TaskRuns(t, BUDGET, ResultStore(out), build, events.append)


def test_a_full_run_that_diverges_at_the_winner_moves_to_the_next_lower_rate(
    tmp_path: Path,
) -> None:
    runner = FakeRunner(stable=0.05)  # 0.1 and 0.316 diverge over the whole schedule
    events: list[TransferEvent] = []
    (spec,) = named(["SGD"])
    outcome = runs(runner, tmp_path, events).optimizer(spec, GRID, seeds=3)
    # The test: the grid, then the half-decades around its winner 0.1 (which stays best).
    assert outcome.test.winner == 0.1 and outcome.test.refined == (UP, DOWN)
    # The full run at 0.1 diverges at seed 0: the next lower rate of the test that did not
    # diverge there is 0.0316, where all three seeds finish.
    assert outcome.lr == DOWN and outcome.fell_back
    assert [(f.lr, f.seed, f.to) for f in outcome.fallbacks] == [(0.1, 0, DOWN)]
    assert [r.key.seed for r in outcome.finals] == [0, 1, 2]
    assert all(r.key.lr == DOWN and not r.diverged for r in outcome.finals)
    # Recorded: in the runs at the new rate, and as an event.
    assert all(r.extra["fallback_from"] == 0.1 for r in outcome.finals)
    (moved,) = [e for e in events if e.kind == "fallback"]
    assert moved.lr == 0.1 and "next: lr 0.0316" in moved.message
    # Only the first seed ran at the diverging rate.
    finals = [(lr, seed) for lr, seed, steps, split in runner.calls if split == "test"]
    assert finals == [(0.1, 0), (DOWN, 0), (DOWN, 1), (DOWN, 2)]

    # Resumed: everything is read back, nothing is trained.
    again = FakeRunner(stable=0.05)
    resumed = runs(again, tmp_path, []).optimizer(spec, GRID, seeds=3)
    assert again.calls == [] and resumed.lr == DOWN and resumed.fallbacks == outcome.fallbacks


def test_the_fallback_walks_down_until_a_rate_holds(tmp_path: Path) -> None:
    runner = FakeRunner(stable=0.02)  # 0.0316 diverges too; 0.01 holds
    (spec,) = named(["SGD"])
    outcome = runs(runner, tmp_path, []).optimizer(spec, GRID, seeds=2)
    assert [(f.lr, f.to) for f in outcome.fallbacks] == [(0.1, DOWN), (DOWN, 0.01)]
    assert outcome.lr == 0.01 and all(r.key.lr == 0.01 for r in outcome.finals)
    # Nothing holds: the lowest rate keeps its runs, diverged as they are.
    low = FakeRunner(stable=1e-9)
    last = runs(low, tmp_path / "low", []).optimizer(spec, GRID, seeds=2)
    assert last.lr == 0.001 and [r.diverged for r in last.finals] == [True, True]
    assert [f.to for f in last.fallbacks] == [DOWN, 0.01, 0.001]


def test_the_papers_rule_keeps_the_winner_and_its_diverged_runs(tmp_path: Path) -> None:
    runner = FakeRunner(stable=0.05)
    (spec,) = named(["SGD"])
    outcome = runs(runner, tmp_path, []).optimizer(spec, GRID, seeds=2, fair=False)
    assert outcome.test.refined == () and outcome.lr == 0.1 and not outcome.fell_back
    assert [r.diverged for r in outcome.finals] == [True, True]
    assert sorted({lr for lr, *_ in runner.calls}) == sorted(GRID)


def test_every_rate_failing_runs_no_final(tmp_path: Path) -> None:
    class Failing(FakeRunner):
        def run(self, request: RunRequest) -> RunOutcome:
            return RunOutcome(None, "diverged", 0.0, 1, {})

    events: list[TransferEvent] = []
    (spec,) = named(["SGD"])
    outcome = runs(Failing(stable=1.0), tmp_path, events).optimizer(spec, GRID, seeds=2)
    assert outcome.lr is None and outcome.finals == [] and outcome.test.winner is None
    assert [e.cost for e in events if e.kind == "extend" and e.phase == "final"] == [-0.0]


def test_a_starting_grid_is_checked_against_the_usable_range() -> None:
    from optevo.bench import BenchConfig
    from optevo.config import ConfigError
    from optevo.transfer.lrtest import LR_RANGE, check_grid
    from optevo.validate.run import ValidateConfig

    assert check_grid([1e-12, 1e6, 0.1]) == (1e-12, 1e6, 0.1)
    assert LR_RANGE == (1e-12, 1e6)
    for bad in ([], [0.0], [-1.0], [1e300], [1e-320], [math.inf], [math.nan], [0.1, 2e6]):
        with pytest.raises(ValueError, match=r"empty|outside"):
            check_grid(bad)
    (adam,) = named(["Adam"])
    with pytest.raises(ConfigError, match="1e\\+300 is outside"):
        BenchConfig("fashion-convnet", [adam], grid=(0.1, 1e300))
    with pytest.raises(ValueError, match="1e-320 is outside"):
        ValidateConfig((adam,), grid=(1e-320,))
