"""The paired multi-task fitness (`optevo.fitness.suite`): scores against a hand computation
with fake task runners of known scores, the divergence and rejection rules per task, Adam's
reference computed once per (task, size, seed), the pairing on a real task (same seed: same
initial weights and batch order whatever the optimizer), the result's JSON with and without
the breakdown, and the configuration's validation."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from optevo import jsonio, library
from optevo.config import ConfigError, parse_assignments
from optevo.fitness import (
    FitnessResult,
    RunResult,
    TaskScore,
    fitness,
    preset,
    suite,
)
from optevo.fitness import protocol as protocol_module
from optevo.fitness.config import SingleTaskFitness, SuiteFitness, build_fitness
from optevo.optim.spec import OptimizerSpec
from optevo.search.config import run_preset
from optevo.search.preflight import check_stages
from optevo.search.records import Trial, TrialResult
from optevo.search.worker import Worker
from optevo.tasks.base import RunOutcome, RunRequest
from optevo.tasks.registry import suite as registry_suite

ACC, LOSS, MSE = "fashion-quick", "heavy-tailed-logreg", "manifold-autoencoder"
# (accuracy, cross-entropy and MSE tasks; each has reference_lr 1e-2, so a grid of
# screen_lrs (1.0, 0.1, 0.01) becomes (10, 1, 0.1) on every one of them)
GRID = (10.0, 1.0, 0.1)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def fresh_references(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(suite, "_REFERENCES", {})


@dataclass
class FakeRunner:
    """A task runner with known scores: `table[label]["screen" | "full"][lr]` (None: the run
    diverges; "raise": it raises); every call is logged."""

    trivial: float
    table: dict[str, dict[str, dict[float, Any]]]
    calls: list[tuple[str, float, int, int, str]] = field(default_factory=list)

    def run(self, request: RunRequest) -> RunOutcome:
        optimizer, lr, seed, steps = request.optimizer, request.lr, request.seed, request.steps
        kind = "full" if steps == request.total_steps else "screen"
        self.calls.append((optimizer.label, lr, seed, steps, request.split))
        value = self.table[optimizer.label][kind][lr]
        if value == "raise":
            raise RuntimeError("the candidate's update broke")
        if value is None:
            return RunOutcome(self.trivial, "diverged", 0.0, 1, {})
        return RunOutcome(value, "ok", 0.0, steps, {})


def fake_tasks(monkeypatch: pytest.MonkeyPatch, runners: dict[str, FakeRunner]) -> None:
    monkeypatch.setattr(suite, "build_runner", lambda name, size, device: runners[name])
    monkeypatch.setattr(suite, "trivial_score", lambda runner, task: runner.trivial)


def config(*tasks: Any, **fields: Any) -> SuiteFitness:
    base = {"screen_lrs": [1.0, 0.1, 0.01], "task_scale": 0.05, "device": "cpu", "seed": 3}
    return preset("tiny", tasks=list(tasks), **{**base, **fields})


def candidate_label(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake tables name the candidate "cand" (any genome; the runner is fake)."""
    real = suite.OptimizerSpec
    monkeypatch.setattr(
        suite,
        "OptimizerSpec",
        lambda label, genome, schedule: real("cand" if label == "candidate" else label, genome),
    )


ADAM_ACC = {"screen": {10.0: None, 1.0: 0.3, 0.1: 0.6}, "full": {0.1: 0.8}}
ADAM_LOSS = {"screen": {10.0: None, 1.0: 0.66, 0.1: 0.6}, "full": {0.1: 0.5}}
ADAM_MSE = {"screen": {10.0: None, 1.0: 0.9, 0.1: 0.85}, "full": {0.1: 0.8}}


def three_tasks(cand_acc: Any, cand_loss: Any, cand_mse: Any) -> dict[str, FakeRunner]:
    return {
        ACC: FakeRunner(0.1, {"Adam": ADAM_ACC, "cand": cand_acc}),
        LOSS: FakeRunner(0.69, {"Adam": ADAM_LOSS, "cand": cand_loss}),
        MSE: FakeRunner(1.0, {"Adam": ADAM_MSE, "cand": cand_mse}),
    }


def test_paired_scores_match_a_hand_computation(monkeypatch: pytest.MonkeyPatch) -> None:
    runners = three_tasks(
        # accuracy: best screen rate 1 (0.7); full 0.89 vs Adam 0.8, trivial 0.1
        {"screen": {10.0: 0.5, 1.0: 0.7, 0.1: 0.2}, "full": {1.0: 0.89}},
        # loss: 0.7 at 0.1 is worse than the trivial 0.69 -> rejected; best is 1 (0.65)
        {"screen": {10.0: None, 1.0: 0.65, 0.1: 0.7}, "full": {1.0: 0.6}},
        # MSE: far below Adam's -> d = 0.7 / 0.2 = 3.5, clipped to 1
        {"screen": {10.0: 0.95, 1.0: 0.5, 0.1: 0.99}, "full": {1.0: 0.1}},
    )
    fake_tasks(monkeypatch, runners)
    candidate_label(monkeypatch)
    cfg = config(ACC, {"name": LOSS, "weight": 2}, MSE)
    result = fitness("SGD", cfg)

    d_acc = (0.89 - 0.8) / (0.8 - 0.1)
    d_loss = -(0.6 - 0.5) / (0.69 - 0.5)
    assert result.status == "ok"
    assert result.fitness == pytest.approx((d_acc + 2 * d_loss + 1.0) / 4, abs=1e-12)
    acc, loss, mse = result.tasks
    assert (acc.task, acc.status, acc.lr, acc.adam_lr) == (ACC, "ok", 1.0, 0.1)
    assert (acc.score, acc.adam, acc.trivial) == (0.89, 0.8, 0.1)
    assert acc.d == pytest.approx(d_acc, abs=1e-12)
    assert loss.d == pytest.approx(d_loss, abs=1e-12) and loss.weight == 2.0
    assert loss.screen == {10.0: None, 1.0: 0.65, 0.1: 0.7}
    assert mse.d == 1.0
    assert result.best_lr is None and result.runs == []
    # Paired: every run of the candidate and of Adam at the config's seed, on the val split;
    # screens train 20% of the scaled schedule.
    for runner in runners.values():
        assert {(seed, split) for _, _, seed, _, split in runner.calls} == {(3, "val")}
    total = round(300 * 0.05)  # fashion-quick: 300 steps at its search size
    assert {steps for _, _, _, steps, _ in runners[ACC].calls} == {round(total * 0.2), total}


def test_a_failing_task_scores_its_worst_and_the_others_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runners = three_tasks(
        # accuracy: diverges in the full run
        {"screen": {10.0: 0.5, 1.0: 0.7, 0.1: 0.2}, "full": {1.0: None}},
        # loss: no screen rate beats the trivial score
        {"screen": {10.0: None, 1.0: 0.69, 0.1: 0.8}, "full": {}},
        # MSE: as good as Adam
        {"screen": {10.0: None, 1.0: 0.9, 0.1: 0.85}, "full": {0.1: 0.8}},
    )
    fake_tasks(monkeypatch, runners)
    candidate_label(monkeypatch)
    result = fitness("SGD", config(ACC, LOSS, MSE))
    acc, loss, mse = result.tasks
    assert (acc.status, acc.score, acc.d, acc.lr) == ("diverged", 0.1, -1.0, 1.0)
    assert (loss.status, loss.score, loss.d, loss.lr) == ("failed_screen", 0.69, -1.0, None)
    assert (mse.status, mse.d) == ("ok", 0.0)
    assert (result.status, result.fitness) == ("ok", pytest.approx(-2 / 3))
    full_steps = round(2000 * 0.05)  # heavy-tailed-logreg: 2,000 steps at its search size
    assert not [c for c in runners[LOSS].calls if c[0] == "cand" and c[3] == full_steps]


def test_the_fair_rule_refines_and_falls_back_from_a_diverged_full_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    up, down = 3.16227766017, 0.316227766017  # 1 x sqrt(10) and 1 / sqrt(10), 12 digits
    adam = {
        "screen": {10.0: None, 1.0: 0.3, 0.1: 0.6, down: 0.5, 0.0316227766017: 0.55},
        "full": {0.1: 0.8},
    }
    cand = {
        # the screen's best is 1 (0.7); its half-decades: 3.16 scores 0.75 (the new best),
        # 0.316 scores 0.65; the full runs at 3.16 and at 1 diverge, at 0.316 it finishes
        "screen": {10.0: 0.5, 1.0: 0.7, 0.1: 0.2, up: 0.75, down: 0.65},
        "full": {up: None, 1.0: None, down: 0.85},
    }
    fake_tasks(monkeypatch, {ACC: FakeRunner(0.1, {"Adam": adam, "cand": cand})})
    candidate_label(monkeypatch)
    result = fitness("SGD", config(ACC, fair_lr=True))
    (acc,) = result.tasks
    assert (acc.status, acc.lr, acc.score, acc.lr_fallback) == ("ok", down, 0.85, (up, 1.0))
    assert acc.adam_lr == 0.1  # Adam under the same rule: its half-decades were worse
    assert set(acc.screen) == {10.0, 1.0, 0.1, up, down}
    assert acc.d == pytest.approx((0.85 - 0.8) / (0.8 - 0.1), abs=1e-12)
    assert TaskScore.from_dict(acc.to_dict()).lr_fallback == (up, 1.0)
    # Off (the default, every preset): the screen alone, and the diverged full run stands.
    (plain,) = fitness("SGD", config(ACC)).tasks
    assert (plain.status, plain.lr, plain.lr_fallback) == ("diverged", 1.0, ())
    assert "lr_fallback" not in plain.to_dict()


def test_the_fair_rule_is_left_out_of_a_stored_config_when_off() -> None:
    assert "fair_lr" not in SingleTaskFitness().model_dump()
    assert "fair_lr" not in config(ACC).model_dump_json()
    on = config(ACC, fair_lr=True)
    assert on.model_dump()["fair_lr"] is True and "fair rate rule" in on.describe()
    assert build_fitness(on.model_dump()) == on


def test_a_task_that_raises_is_its_worst_and_all_failing_is_failed_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runners = three_tasks(
        {"screen": {10.0: "raise", 1.0: 0.7, 0.1: 0.2}, "full": {}},
        {"screen": {10.0: None, 1.0: 0.69, 0.1: 0.8}, "full": {}},
        {"screen": {10.0: None, 1.0: None, 0.1: None}, "full": {}},
    )
    fake_tasks(monkeypatch, runners)
    candidate_label(monkeypatch)
    result = fitness("SGD", config(ACC, LOSS, MSE))
    assert [t.status for t in result.tasks] == ["error", "failed_screen", "failed_screen"]
    assert result.tasks[0].score is None and "update broke" in (result.tasks[0].error or "")
    assert (result.status, result.fitness) == ("failed_screen", -1.0)
    assert result.error is not None and result.error.startswith(f"task {ACC}: RuntimeError")

    only_errors = fitness("SGD", config(ACC))
    assert (only_errors.status, only_errors.fitness) == ("error", None)


def test_adam_reference_is_computed_once_per_task_size_and_seed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    same = {"screen": {10.0: None, 1.0: 0.9, 0.1: 0.85}, "full": {0.1: 0.8}}
    runners = {MSE: FakeRunner(1.0, {"Adam": ADAM_MSE, "cand": same})}
    fake_tasks(monkeypatch, runners)
    candidate_label(monkeypatch)

    def adam_runs() -> int:
        return sum(1 for c in runners[MSE].calls if c[0] == "Adam")

    cfg = config(MSE)
    first = fitness("SGD", cfg)
    assert adam_runs() == len(GRID) + 1  # its screen and its full run
    for r in [fitness("Momentum", cfg), *protocol_module.fitness_many(["SGD", "QHM"], cfg)]:
        assert len(r.tasks) == 1 and r.tasks[0].adam == 0.8
    assert adam_runs() == len(GRID) + 1  # kept: three more candidates cost Adam nothing
    assert first.fitness == 0.0
    fitness("SGD", cfg.model_copy(update={"seed": 4}))  # another seed: its own reference
    assert adam_runs() == 2 * (len(GRID) + 1)
    assert {c[2] for c in runners[MSE].calls if c[0] == "Adam"} == {3, 4}


def test_adam_failing_its_own_reference_makes_the_evaluation_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    adam = {"screen": {10.0: None, 1.0: None, 0.1: 1.0}, "full": {}}
    fake_tasks(monkeypatch, {MSE: FakeRunner(1.0, {"Adam": adam})})
    result = fitness("SGD", config(MSE))
    assert result.status == "error" and result.fitness is None
    assert "Adam's reference run (failed_screen, score 1) does not beat" in (result.error or "")
    adam_at_trivial = {"screen": {10.0: None, 1.0: None, 0.1: 0.5}, "full": {0.1: 1.0}}
    fake_tasks(monkeypatch, {MSE: FakeRunner(1.0, {"Adam": adam_at_trivial})})
    result = fitness("SGD", config(MSE, seed=9))  # finished, but no better than trivial
    assert "Adam's reference run (ok, score 1) does not beat" in (result.error or "")


def test_same_seed_same_initial_weights_and_batches_on_a_real_task() -> None:
    """At learning rate 0 no optimizer moves the weights: equal held-out scores mean equal
    initial weights, and equal last-batch losses equal batch order."""
    runner = suite.build_runner("teacher-mlp", "search", "cpu")
    sgd = OptimizerSpec("SGD", library.genome("SGD"))
    adam = OptimizerSpec("Adam", library.genome("Adam"))

    def run(spec: OptimizerSpec, seed: int) -> RunOutcome:
        return runner.run(RunRequest(spec, 0.0, seed, 7, 20, 1, 2, "val"))

    a, b = run(sgd, 5), run(adam, 5)
    assert (a.status, b.status) == ("ok", "ok")
    assert a.metric == b.metric and a.extra["train_loss"] == b.extra["train_loss"]
    c = run(adam, 6)
    assert c.extra["train_loss"] != b.extra["train_loss"]  # the seed does fix them


def test_adam_scored_against_its_own_reference_is_exactly_zero() -> None:
    """A real task end to end: Adam as the candidate repeats its reference run bit for bit."""
    cfg = config("teacher-mlp", task_scale=0.05)
    result = fitness("Adam", cfg)
    (task,) = result.tasks
    assert (result.status, result.fitness, task.d) == ("ok", 0.0, 0.0)
    assert task.score == task.adam and task.lr == task.adam_lr
    assert 0.1 < task.trivial < task.adam  # chance: the most frequent class's share
    assert set(task.screen) == set(suite.task_grid(cfg, suite.get_task("teacher-mlp")))


def test_steps_count_the_screen_and_the_full_run() -> None:
    """What a step budget counts: on a task where no run stops early, 7 screen rates of 20%
    of the run plus the full run (heavy-tailed-logreg at 0.25 x 2,000 steps: 7 x 100 + 500),
    packed or not; the result's steps sum its tasks' and its runs'."""
    grid = [10.0, 1.0, 0.1, 0.01, 0.001, 0.0001, 0.00001]
    cfg = config("heavy-tailed-logreg", task_scale=0.25, screen_lrs=grid, seed=0)
    result = fitness("Adam", cfg)
    (task,) = result.tasks
    assert task.status == "ok" and task.steps == 7 * 100 + 500
    assert result.steps == task.steps
    single = fitness("Adam", preset("tiny"))
    assert single.steps == sum(r.steps for r in single.runs) > 0
    assert FitnessResult.from_dict(json.loads(jsonio.dumps(result.to_dict()))).steps == 1200


def test_no_tasks_is_the_single_task_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(SingleTaskFitness(), SingleTaskFitness)
    assert isinstance(preset("quick"), SingleTaskFitness)
    stored = {k: v for k, v in preset("tiny").model_dump().items() if not k.startswith("task")}
    assert build_fitness(stored) == preset("tiny")  # stored before the suite's fields
    # stored before the protocols were two types: the suite's fields at their defaults
    legacy = {**stored, "tasks": [], "task_scale": 1.0, "task_screen_fraction": 0.2}
    assert build_fitness(legacy) == preset("tiny")

    def no_suite(*args: Any) -> FitnessResult:
        raise AssertionError("the suite ran")

    monkeypatch.setattr(suite, "suite_fitness", no_suite)
    sentinel = FitnessResult(0.5, "ok", 0.1)
    monkeypatch.setattr(protocol_module, "_protocol", lambda *a: sentinel)
    monkeypatch.setattr(protocol_module, "dataset_for", lambda cfg: "the data")
    assert fitness("Adam", preset("tiny")) is sentinel


def test_result_round_trip_with_and_without_the_breakdown() -> None:
    plain = FitnessResult(0.81, "ok", 0.01, {0.01: 0.7}, [RunResult(0.01, 0, val_acc=[0.8])])
    assert "tasks" not in plain.to_dict()  # records of the single-task protocol unchanged
    back = FitnessResult.from_dict(json.loads(jsonio.dumps(plain.to_dict())))
    assert back == plain

    screen = {1.0: 0.7, 10.0: None}
    scores = [
        TaskScore(ACC, "search", 1.0, "ok", 0.89, 0.8, 0.1, 0.1, 0.125, 1.0, screen),
        TaskScore(LOSS, "search", 2.0, "error", None, 0.5, 0.1, 0.69, -1.0, error="boom"),
    ]
    suite_result = FitnessResult(-0.6, "ok", tasks=scores, seconds=2.5)
    text = TrialResult(suite_result, "host").to_json()
    assert TrialResult.from_json(text) == TrialResult(suite_result, "host")
    with pytest.raises(ValueError, match="unknown task status"):
        TaskScore.from_dict({**scores[0].to_dict(), "status": "great"})


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ConfigError) as err:
        run_preset("tiny", **parse_assignments(["fitness.tasks=[{name: no-such-task}]"]))
    message = str(err.value)
    assert "\n" not in message
    assert "fitness.tasks.0.name: unknown task 'no-such-task'" in message
    with pytest.raises(ConfigError, match=r"tasks.1: task cifar10-convnet has no 'search' size"):
        preset("suite", tasks=["teacher-mlp", "cifar10-convnet"])
    with pytest.raises(ConfigError, match="teacher-mlp at size search is given twice"):
        preset("suite", tasks=["teacher-mlp", {"name": "teacher-mlp"}])
    for weight in (0, math.inf, math.nan):
        with pytest.raises(ConfigError, match=r"tasks.0.weight"):
            preset("suite", tasks=[{"name": "teacher-mlp", "weight": weight}])
    pair = "fitness.tasks=[teacher-mlp, {name: ratings-mf, size: validate, weight: 2}]"
    cfg = run_preset("tiny", **parse_assignments([pair]))
    assert [(t.name, t.size, t.weight) for t in cfg.fitness.tasks] == [
        ("teacher-mlp", "search", 1.0),
        ("ratings-mf", "validate", 2.0),
    ]
    suite_preset = preset("suite")
    assert [t.name for t in suite_preset.tasks] == [t.name for t in registry_suite("search")]
    assert {(t.size, t.weight) for t in suite_preset.tasks} == {("search", 1.0)}


def test_a_search_worker_runs_a_suite_trial_without_the_stage_data_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_tasks(monkeypatch, {MSE: FakeRunner(1.0, {"Adam": ADAM_MSE, "candidate": ADAM_MSE})})
    fields = {"tasks": [MSE], "screen_lrs": [1.0, 0.1, 0.01], "dataset": "cifar10"}
    run = run_preset("tiny", **{f"fitness.{k}": v for k, v in fields.items()})
    worker = Worker(run)
    assert worker.data_for(worker.stage_configs["search"]) is None
    check_stages(run, worker, run.stages())  # no CIFAR-10 here: the suite does not need it
    genome = library.genome("SGD").to_json()
    trials = [Trial(f"k{i}", 0, 3, "search", genome, "one_cycle") for i in range(2)]
    for out in [worker.run(trials[0]), *worker.run_many(trials)]:
        assert (out.result.status, out.result.fitness) == ("ok", 0.0)
        assert TrialResult.from_json(out.to_json()).result.tasks == out.result.tasks
    assert not math.isnan(out.result.seconds)


def test_huge_weights_are_refused_and_the_mean_is_the_hand_weighted_one() -> None:
    from optevo.config import ConfigError
    from optevo.fitness.result import TaskScore
    from optevo.fitness.suite import combine

    with pytest.raises(ConfigError, match="weight"):
        preset("tiny", tasks=[{"name": "teacher-mlp", "weight": 1e308}])

    def score(task: str, weight: float, d: float) -> TaskScore:
        return TaskScore(
            task, "search", weight, "ok", score=0.5, adam=0.5, adam_lr=1e-3, trivial=0.0, d=d
        )

    result = combine([score("a", 1e6, -0.024), score("b", 1.0, 0.5)])
    assert result.fitness == pytest.approx((1e6 * -0.024 + 0.5) / (1e6 + 1), rel=1e-12)
    assert result.status == "ok"
