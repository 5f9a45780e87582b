"""`run_validate`: every optimizer on every task of a suite, each with its own learning-rate test
and seeded final runs, stored run by run (resumable), then the tables.

Per task (at its suite size times `scale`), per optimizer, in order:
1. the learning-rate test of `optevo bench` (`optevo.bench.lrtest`): each rate of the
   optimizer's starting grid trains the first third of the run's schedule at seed `lr_seed`
   and is scored on the validation split; the grid grows a decade at a time past an edge
   winner;
2. `seeds` full runs (seeds 0..seeds-1) at the chosen rate, scored on the test split.

Every run is appended to `OUT/runs.jsonl` as it ends (the bench's `ResultStore`); a run already
there is read back, never re-run, and a task's data and model are only built when one of its
runs is missing. After each task `OUT/summary.json`, `OUT/table.md` and `OUT/table.csv` are
rewritten with the tasks finished so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from optevo.bench.lrtest import LrTestResult, lr_test, norm_lr
from optevo.bench.optimizers import OptimizerSpec
from optevo.bench.runner import MAX_TOTAL_STEPS, lr_test_steps, run_key, train
from optevo.bench.store import ResultStore, RunRecord
from optevo.bench.table import summarize
from optevo.tasks.base import Budget, Runner, Task, TaskOptions
from optevo.tasks.registry import TASKS, suite
from optevo.validate.baselines import default_grid

VALIDATE_SUITES: tuple[str, ...] = ("validate", "search")
"""The suites validate runs: the validation suite, and the search suite for studies."""
FALLBACK_SECONDS_PER_STEP = 0.01
"""The progress estimate's cost of a step on a task without measured seconds."""

EventKind = Literal["plan", "extend", "start", "done", "skip", "lr", "finals"]


@dataclass(frozen=True)
class ValidateEvent:
    """What `run_validate` reports as it goes.

    - "plan": `cost` = the estimated seconds of every planned run (starting grids and seeds);
    - "extend": `cost` seconds of work added (a grid extension) or removed (negative: no final
      runs after a test in which every rate failed);
    - "start" / "done": a run began / ended (`record`); "skip": a run was found stored;
    - "lr": a learning rate was chosen (`lr`; None when every rate failed);
    - "finals": an optimizer's final runs on a task are all there (`message`: mean ± std).

    `cost` of a run: its estimated seconds (the task's measured seconds per step x its steps).
    """

    kind: EventKind
    task: str = ""
    optimizer: str = ""
    phase: str = ""
    lr: float | None = None
    seed: int | None = None
    record: RunRecord | None = None
    cost: float = 0.0
    message: str = ""


def task_size(task: Task, suite_name: str) -> str:
    """The size a task runs at: the suite's own where it has one, else its validate or search
    size; a task with only a bench size is a ValueError (that is `optevo bench`'s)."""
    if suite_name in task.sizes:
        return suite_name
    for size in VALIDATE_SUITES:
        if size in task.sizes:
            return size
    raise ValueError(
        f"task {task.name} has only a bench size (use optevo bench); validate runs the "
        f"tasks of the search and validation suites"
    )


@dataclass(frozen=True)
class ValidateConfig:
    """One validation: `optimizers` (rows, baselines included) on `tasks` (default: the tasks
    of `suite`); `grid` None gives each optimizer its kind's starting grid (`default_grid`).
    Invalid values raise ValueError."""

    optimizers: tuple[OptimizerSpec, ...]
    tasks: tuple[str, ...] = ()
    suite: str = "validate"
    seeds: int = 3
    scale: float = 1.0
    grid: tuple[float, ...] | None = None
    lr_seed: int = 0
    device: str = "cpu"
    command: str | None = None

    def __post_init__(self) -> None:
        if self.suite not in VALIDATE_SUITES:
            known = ", ".join(VALIDATE_SUITES)
            raise ValueError(f"suite must be one of {known}, not {self.suite!r}")
        if not self.optimizers:
            raise ValueError("no optimizers to validate")
        labels = [o.label for o in self.optimizers]
        twice = sorted({x for x in labels if labels.count(x) > 1})
        if twice:
            raise ValueError(f"optimizers named twice: {', '.join(twice)}")
        if not self.tasks:
            object.__setattr__(self, "tasks", tuple(t.name for t in suite(self.suite)))
        unknown = [t for t in self.tasks if t not in TASKS]
        if unknown:
            raise ValueError(f"unknown task {unknown[0]!r}; known: {', '.join(TASKS)}")
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"a task is named twice: {', '.join(self.tasks)}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.lr_seed < 0:
            raise ValueError(f"the learning-rate test's seed must be >= 0, got {self.lr_seed}")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be positive and finite, got {self.scale}")
        if self.grid is not None and (
            not self.grid or any(not (x > 0 and math.isfinite(x)) for x in self.grid)
        ):
            raise ValueError(f"the grid needs positive, finite rates, got {self.grid}")
        for name in self.tasks:
            steps = self.budget(name).total_steps
            if steps > MAX_TOTAL_STEPS:
                raise ValueError(
                    f"scale {self.scale:g} makes every {name} run {steps:.3g} steps long, more "
                    f"than the limit of {MAX_TOTAL_STEPS:,}"
                )

    def size(self, task: str) -> str:
        return task_size(TASKS[task], self.suite)

    def budget(self, task: str) -> Budget:
        """The task's budget at its size, every step count times `scale`."""
        return TASKS[task].size(self.size(task)).scaled(self.scale)

    def grid_of(self, spec: OptimizerSpec) -> tuple[float, ...]:
        return tuple(norm_lr(x) for x in (self.grid or default_grid(spec)))


def seconds_per_step(task: Task, size: str) -> float:
    """The task's measured seconds per step at `size` (for the progress estimate)."""
    measured = task.seconds.get(size)
    if measured is None:
        return FALLBACK_SECONDS_PER_STEP
    return measured / task.size(size).total_steps


@dataclass
class Entry:
    """One optimizer on one task: its learning-rate test and its final runs."""

    spec: OptimizerSpec
    lr: LrTestResult
    finals: list[RunRecord] = field(default_factory=list)


@dataclass
class TaskResult:
    task: Task
    size: str
    budget: Budget
    entries: list[Entry] = field(default_factory=list)


def planned_cost(config: ValidateConfig) -> float:
    """Estimated seconds of every run the starting grids and the seeds plan."""
    total = 0.0
    for name in config.tasks:
        per_step = seconds_per_step(TASKS[name], config.size(name))
        steps = config.budget(name).total_steps
        for spec in config.optimizers:
            lr_steps = lr_test_steps(steps, spec)
            total += per_step * (len(set(config.grid_of(spec))) * lr_steps + config.seeds * steps)
    return total


def run_validate(
    config: ValidateConfig,
    out: str | Path,
    on_event: Callable[[ValidateEvent], None] | None = None,
) -> list[TaskResult]:
    """Validate every optimizer of `config` on its tasks; results accumulate in `out`."""
    from optevo.validate.tables import write_outputs

    store = ResultStore(out)
    emit = on_event or (lambda event: None)
    emit(ValidateEvent("plan", cost=planned_cost(config)))
    results: list[TaskResult] = []
    for name in config.tasks:
        result = _validate_task(config, TASKS[name], store, emit)
        results.append(result)
        write_outputs(store.out, config, results)
    return results


def _validate_task(
    config: ValidateConfig,
    task: Task,
    store: ResultStore,
    emit: Callable[[ValidateEvent], None],
) -> TaskResult:
    size = config.size(task.name)
    per_step = seconds_per_step(task, size)
    work = _TaskRuns(config, task, config.budget(task.name), store, emit, per_step)
    result = TaskResult(task, size, work.budget)
    for spec in config.optimizers:
        result.entries.append(work.optimizer(spec))
    return result


@dataclass
class _TaskRuns:
    """The runs of one task: read back from the store, or trained (the task's data and model
    built at the first run that is missing)."""

    config: ValidateConfig
    task: Task
    budget: Budget
    store: ResultStore
    emit: Callable[[ValidateEvent], None]
    per_step: float = FALLBACK_SECONDS_PER_STEP
    runner: Runner | None = None

    def execute(
        self, spec: OptimizerSpec, phase: str, lr: float, seed: int, steps: int
    ) -> RunRecord:
        key = run_key(self.task.name, spec, phase, lr, seed, steps, self.budget.total_steps)
        cost = self.per_step * steps
        event = ValidateEvent("skip", self.task.name, spec.label, phase, key.lr, seed, cost=cost)
        found = self.store.get(key)
        if found is not None:
            self.emit(replace(event, record=found))
            return found
        if self.runner is None:
            self.runner = self.task.build(TaskOptions(device=self.config.device), self.budget)
        self.emit(replace(event, kind="start"))
        record = train(self.runner, spec, key, self.budget)
        self.store.add(record)
        self.emit(replace(event, kind="done", record=record))
        return record

    def optimizer(self, spec: OptimizerSpec) -> Entry:
        """The learning-rate test of `spec`, then its final runs at the chosen rate."""
        grid = self.config.grid_of(spec)
        steps = lr_test_steps(self.budget.total_steps, spec)
        name, label = self.task.name, spec.label

        def score(lr: float) -> float | None:
            if norm_lr(lr) not in grid:
                added = self.per_step * steps
                self.emit(ValidateEvent("extend", name, label, "lr", lr, cost=added))
            return self.execute(spec, "lr", lr, self.config.lr_seed, steps).metric

        tested = lr_test(score, grid, self.task.higher_is_better, self.task.finetune)
        note = " (still on the grid's edge)" if tested.on_edge else ""
        self.emit(ValidateEvent("lr", name, label, "lr", tested.winner, message=note))
        entry = Entry(spec, tested)
        total, seeds = self.budget.total_steps, self.config.seeds
        if tested.winner is None:
            lost = -self.per_step * total * seeds
            self.emit(ValidateEvent("extend", name, label, "final", cost=lost))
            return entry
        entry.finals = [self.execute(spec, "final", tested.winner, s, total) for s in range(seeds)]
        s = summarize([r.metric for r in entry.finals])
        text = "-" if s.mean is None else f"{s.mean:.4g}"
        if s.std is not None:
            text += f" ± {s.std:.2g}"
        self.emit(ValidateEvent("finals", name, label, "final", tested.winner, message=text))
        return entry


__all__ = [
    "VALIDATE_SUITES",
    "Entry",
    "TaskResult",
    "ValidateConfig",
    "ValidateEvent",
    "planned_cost",
    "run_validate",
    "seconds_per_step",
    "task_size",
]
