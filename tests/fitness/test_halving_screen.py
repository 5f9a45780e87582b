"""Issue 26, item 2: resumable runs (`TensorSession`), the screen run continued into the full
run, and the successive-halving screen (`SuiteFitness.screen_rule: halving`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

from optevo.fitness import fitness, preset, suite
from optevo.fitness.config import SuiteFitness, TaskRef, build_fitness
from optevo.optim.spec import resolve
from optevo.tasks.base import Budget, RunOutcome, RunRequest
from optevo.tasks.registry import get_task
from optevo.tasks.tensor import TensorData, TensorRunner

ACC = "sort-transformer"  # accuracy, reference_lr 1e-2


def dropout_runner() -> TensorRunner:
    """A small classifier with dropout (its runs draw from torch's global RNG every step)."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(600, 12, generator=g)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 0.5).long()

    def split(a: int, b: int) -> tuple[torch.Tensor, torch.Tensor]:
        return x[a:b], y[a:b]

    data = TensorData("toy", split(0, 400), split(400, 500), split(500, 600), {"inputs": 12})

    def model() -> nn.Module:
        return nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))

    return TensorRunner(data, model, "cross-entropy", "accuracy", 20)


BUDGET = Budget(total_steps=60, warmup_steps=6, hold_steps=6, batch_size=20)


def weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_a_session_in_segments_is_one_run() -> None:
    runner = dropout_runner()
    request = RunRequest.of(resolve("Adam"), 3e-3, 4, BUDGET)
    session = runner.start(request)
    marks = (5, 12, 30, 60)
    scores = [session.advance(m) for m in marks]
    # each segment's score is a run of that many steps (the whole run's schedule)
    for mark, out in zip(marks, scores, strict=True):
        alone = runner.run(RunRequest.of(resolve("Adam"), 3e-3, 4, BUDGET, steps=mark))
        assert out.metric == alone.metric and out.steps == mark and out.status == "ok"
    whole = runner.run(request)
    assert scores[-1].metric == whole.metric
    assert scores[-1].extra["train_loss"] == whole.extra["train_loss"]


def test_sessions_advanced_in_turn_keep_their_own_dropout_draws() -> None:
    runner = dropout_runner()
    a = runner.start(RunRequest.of(resolve("Adam"), 3e-3, 4, BUDGET))
    b = runner.start(RunRequest.of(resolve("SGD"), 1e-1, 4, BUDGET))
    for mark in (10, 20, 40, 60):
        out_a, out_b = a.advance(mark), b.advance(mark)
    torch.manual_seed(0)
    alone_a = runner.start(RunRequest.of(resolve("Adam"), 3e-3, 4, BUDGET))
    alone_a.advance(60)
    alone_b = runner.start(RunRequest.of(resolve("SGD"), 1e-1, 4, BUDGET))
    alone_b.advance(60)
    for p, q in zip(weights(a.model), weights(alone_a.model), strict=True):
        assert torch.equal(p, q)
    for p, q in zip(weights(b.model), weights(alone_b.model), strict=True):
        assert torch.equal(p, q)
    assert out_a.metric == runner.run(RunRequest.of(resolve("Adam"), 3e-3, 4, BUDGET)).metric
    assert out_b.metric == runner.run(RunRequest.of(resolve("SGD"), 1e-1, 4, BUDGET)).metric
    # the caller's RNG is left where it was
    torch.manual_seed(9)
    expected = torch.rand(3)
    torch.manual_seed(9)
    a2 = runner.start(RunRequest.of(resolve("Adam"), 3e-3, 4, BUDGET))
    torch.manual_seed(9)
    a2.advance(10)
    assert torch.equal(torch.rand(3), expected)


def test_a_diverged_session_stays_diverged() -> None:
    runner = dropout_runner()
    session = runner.start(RunRequest.of(resolve("SGD"), 1e6, 0, BUDGET))
    first = session.advance(30)
    assert first.status == "diverged" and first.steps < 30
    again = session.advance(60)
    assert again is first
    with pytest.raises(ValueError, match="outside"):
        runner.start(RunRequest.of(resolve("Adam"), 1e-3, 0, BUDGET)).advance(61)


class Fresh:
    """A runner's runs without `start`: every run from the first step (the path of runners
    that cannot resume)."""

    def __init__(self, runner: Any) -> None:
        self.inner = runner

    def run(self, request: RunRequest, monitor: Any = None) -> RunOutcome:
        return self.inner.run(request, monitor)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        if name == "start":
            raise AttributeError(name)
        return getattr(self.inner, name)


@pytest.mark.parametrize("fair", [False, True])
@pytest.mark.parametrize("optimizer", ["Adam", "LR6", "SGD"])
def test_continuing_the_screen_run_scores_as_a_fresh_full_run(
    optimizer: str, fair: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suite, "PACKED_TASKS", frozenset())  # the rates one by one
    task = get_task("teacher-mlp")
    cfg = preset("tiny", tasks=["teacher-mlp"], task_scale=0.15, device="cpu", fair_lr=fair)
    assert isinstance(cfg, SuiteFitness)
    ref = cfg.tasks[0]
    runner = suite.build_runner(ref.name, ref.size, "cpu")
    spec = resolve(optimizer)
    resumed = suite.screen_and_run(spec, task, ref, cfg, runner, 0.1)
    fresh = suite.screen_and_run(spec, task, ref, cfg, Fresh(runner), 0.1)
    assert resumed.status == fresh.status == "ok"
    assert (resumed.score, resumed.lr, resumed.screen) == (fresh.score, fresh.lr, fresh.screen)
    budget = suite.task_budget(task, ref.size, cfg.task_scale)
    screen_steps = round(budget.total_steps * cfg.task_screen_fraction)
    # the chosen rate's screen steps are not trained twice
    assert fresh.steps - resumed.steps == screen_steps


@dataclass
class CurveSession:
    curve: list[float] | None
    steps: int
    calls: list[int]
    done: int = 0

    def advance(self, to: int) -> RunOutcome:
        self.calls.append(to)
        if self.curve is None:
            self.done = max(self.done, 1)
            return RunOutcome(0.0, "diverged", 0.0, self.done, {})
        self.done = to
        # the score at fraction to/steps of the screen: piecewise by quarter, then the full run
        quarter = min(4, max(1, round(4 * to / self.steps)))
        score = self.curve[quarter - 1] if to <= self.steps else self.curve[-1] + 0.01
        return RunOutcome(score, "ok", 0.0, to, {})


@dataclass
class CurveRunner:
    """A resumable fake: `curves[label][lr]` is the score at 1/4, 1/2, 3/4 and the end of the
    screen (None: diverges); the full run scores the screen's end + 0.01."""

    trivial: float
    curves: dict[str, dict[float, list[float] | None]]
    screen_steps: int = 0
    advanced: dict[tuple[str, float], list[int]] = field(default_factory=dict)

    def worst(self, split: str) -> float:
        return 0.0

    def start(self, request: RunRequest) -> CurveSession:
        key = (request.optimizer.label, request.lr)
        calls = self.advanced.setdefault(key, [])
        return CurveSession(self.curves[key[0]][request.lr], self.screen_steps, calls)

    def run(self, request: RunRequest, monitor: Any = None) -> RunOutcome:
        raise AssertionError("a resumable runner's runs are sessions")


CURVES: dict[str, dict[float, list[float] | None]] = {
    # 1 leads early and fades; 0.1 wins at the end; 10 diverges
    "cand": {
        10.0: None,
        1.0: [0.60, 0.62, 0.50, 0.45],
        0.1: [0.50, 0.61, 0.70, 0.80],
        0.01: [0.40, 0.50, 0.60, 0.65],
        0.001: [0.20, 0.25, 0.30, 0.35],
    },
    "Adam": {
        10.0: None,
        1.0: None,
        0.1: [0.5, 0.6, 0.7, 0.75],
        0.01: [0.4, 0.5, 0.6, 0.7],
        0.001: [0.2, 0.2, 0.3, 0.3],
    },
}


def halving_config(**fields: Any) -> SuiteFitness:
    cfg = preset(
        "tiny",
        tasks=[ACC],
        screen_lrs=[1.0, 0.1, 0.01, 0.001, 0.0001],  # x 10 on this task: 10 ... 0.001
        task_scale=1.0,
        device="cpu",
        seed=3,
        screen_rule="halving",
        **fields,
    )
    assert isinstance(cfg, SuiteFitness)
    return cfg


def test_halving_keeps_the_better_half_at_each_quarter(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = halving_config()
    budget = suite.task_budget(get_task(ACC), "search", cfg.task_scale)
    steps = round(budget.total_steps * cfg.task_screen_fraction)
    q = [round(steps * f) for f in (0.25, 0.5, 0.75)]
    runner = CurveRunner(0.1, CURVES, screen_steps=steps)
    monkeypatch.setattr(suite, "build_runner", lambda name, size, device: runner)
    monkeypatch.setattr(suite, "trivial_score", lambda runner, task: runner.trivial)
    monkeypatch.setattr(suite, "_REFERENCES", {})
    real = suite.OptimizerSpec
    monkeypatch.setattr(
        suite,
        "OptimizerSpec",
        lambda label, genome, schedule: real("cand" if label == "candidate" else label, genome),
    )
    (task,) = fitness("SGD", cfg).tasks
    calls = {lr: marks for (label, lr), marks in runner.advanced.items() if label == "cand"}
    # by hand: at a quarter 10 has diverged; of the 4 left the better 2 (1: 0.60, 0.1: 0.50)
    # go on; at the half 1 (0.62) beats 0.1 (0.61) and goes on alone; it ends at 0.45 and is
    # chosen, though 0.1 would have ended at 0.80: the rule's price, which the benchmark
    # measures on real curves
    assert calls[0.01] == [q[0]] and calls[0.001] == [q[0]]
    assert calls[0.1] == [q[0], q[1]]
    assert calls[1.0] == [q[0], q[1], q[2], steps, budget.total_steps]
    assert task.lr == 1.0 and task.screen_stopped == (0.01, 0.001, 0.1)
    assert task.screen[1.0] == 0.45 and task.screen[0.1] is None and task.screen[10.0] is None
    assert task.score == pytest.approx(0.46)
    # steps: 10 diverged at 1; 4 rates to a quarter, 2 on to the half, 1 to the end and on
    assert task.steps == 1 + 4 * q[0] + 2 * (q[1] - q[0]) + (budget.total_steps - q[1])


def test_halving_on_a_real_task_trains_fewer_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite, "PACKED_TASKS", frozenset())
    ref = TaskRef(name="teacher-mlp", weight=1, size="search")
    task = get_task(ref.name)
    base = preset("tiny", tasks=["teacher-mlp"], task_scale=0.3, device="cpu")
    assert isinstance(base, SuiteFitness)
    halving = base.model_copy(update={"screen_rule": "halving"})
    runner = suite.build_runner(ref.name, ref.size, "cpu")
    full = suite.screen_and_run(resolve("Adam"), task, ref, base, runner, 0.1)
    halved = suite.screen_and_run(resolve("Adam"), task, ref, halving, runner, 0.1)
    assert halved.lr == full.lr and halved.score == full.score
    budget = suite.task_budget(task, ref.size, base.task_scale)
    screen = round(budget.total_steps * base.task_screen_fraction)
    grid = len(base.screen_lrs)
    quarter = round(screen * 0.25)
    assert all(m is not None for m in full.screen.values())  # so no rate diverged: by hand,
    # the full rule trains every rate's screen, then the rest of the chosen rate's run; the
    # halving rule 4 rates to a quarter, 2 on to the half, 1 on to three quarters and the end
    assert grid == 4 and full.steps == grid * screen + budget.total_steps - screen
    assert halved.steps == (4 + 2 + 1 + 1) * quarter + budget.total_steps - screen
    # one rate reaches the screen's end; every other one diverged or was stopped
    assert sum(m is not None for m in halved.screen.values()) == 1
    assert len(halved.stopped) >= 3


def test_the_halving_rule_reads_back() -> None:
    cfg = halving_config()
    assert cfg.model_dump()["screen_rule"] == "halving"
    assert build_fitness(cfg.model_dump()) == cfg
    assert "halving screen" in cfg.describe()
