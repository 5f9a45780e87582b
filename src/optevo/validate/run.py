"""`run_validate`: every optimizer on every task of a suite, each by the transfer protocol
(`optevo.transfer.protocol`, the one `optevo bench` runs), stored run by run (resumable), then
the tables.

Per task (at its suite size times `scale`), per optimizer, in order:
1. the learning-rate test: each rate of the optimizer's starting grid (`default_grid`) trains
   the first third of the run's schedule at seed `lr_seed` and is scored on the validation
   split; the grid grows a decade at a time past an edge winner; with the fair rule
   (`fair_lr`, the default) the half-decades around the winner are tried too;
2. `seeds` full runs (seeds 0..seeds-1) at the chosen rate, scored on the test split; with the
   fair rule a diverged full run moves the rate to the next lower one of the test.

Every run is appended to `OUT/runs.jsonl` as it ends (`optevo.transfer.store.ResultStore`); a
run already there is read back, never re-run, and a task's data and model are only built when
one of its runs is missing. After each task `OUT/summary.json`, `OUT/table.md` and
`OUT/table.csv` are rewritten with the tasks finished so far.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from optevo.folderlock import lock_folder, unlock
from optevo.optim.spec import OptimizerSpec
from optevo.tasks.base import Budget, Task, TaskOptions
from optevo.tasks.registry import TASKS, get_task, suite
from optevo.transfer.lrtest import check_grid, default_grid, norm_lr
from optevo.transfer.protocol import (
    MAX_TOTAL_STEPS,
    Outcome,
    TaskRuns,
    TransferEvent,
    lr_test_steps,
)
from optevo.transfer.store import ResultStore
from optevo.transfer.verdict import ALPHA

VALIDATE_SUITES: tuple[str, ...] = ("validate", "search")
"""The suites validate runs: the validation suite, and the search suite for studies."""
FALLBACK_SECONDS_PER_STEP = 0.01
"""The progress estimate's cost of a step on a task without measured seconds."""

DEFAULT_SEEDS = 5
"""Final runs per optimizer and task: a finalist is validated on at least 5 seeds (the paired
t-test at 4 degrees of freedom; with 3 its 95% critical value is 4.3 standard errors)."""


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
    of `suite`); `grid` None gives each optimizer its kind's starting grid (`default_grid`);
    `fair_lr` the fair rate rule (False: the paper's test alone); `alpha` the verdict's level.
    Invalid values raise ValueError."""

    optimizers: tuple[OptimizerSpec, ...]
    tasks: tuple[str, ...] = ()
    suite: str = "validate"
    seeds: int = DEFAULT_SEEDS
    scale: float = 1.0
    grid: tuple[float, ...] | None = None
    lr_seed: int = 0
    device: str = "cpu"
    command: str | None = None
    fair_lr: bool = True
    alpha: float = ALPHA

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
        for name in self.tasks:  # a user's task (FILE.py:NAME) is loaded (registered) here
            try:
                get_task(name)
            except KeyError as exc:
                raise ValueError(exc.args[0]) from None
        if len(set(self.tasks)) != len(self.tasks):
            raise ValueError(f"a task is named twice: {', '.join(self.tasks)}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if self.lr_seed < 0:
            raise ValueError(f"the learning-rate test's seed must be >= 0, got {self.lr_seed}")
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be positive and finite, got {self.scale}")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"the verdict's level alpha must lie in (0, 0.5), got {self.alpha}")
        if self.grid is not None:
            check_grid(self.grid)
        for name in self.tasks:
            steps = self.budget(name).total_steps
            if steps > MAX_TOTAL_STEPS:
                raise ValueError(
                    f"scale {self.scale:g} makes every {name} run {steps:.3g} steps long, more "
                    f"than the limit of {MAX_TOTAL_STEPS:,}"
                )

    def selected_on(self) -> tuple[str, ...]:
        """The tasks of this validation that a search selects on (in the `search` suite but
        without a size of this validation's suite): a suite a search selected on is no test
        of transfer."""
        return tuple(
            t for t in self.tasks if "search" in TASKS[t].sizes and self.suite not in TASKS[t].sizes
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
class TaskResult:
    task: Task
    size: str
    budget: Budget
    entries: list[Outcome] = field(default_factory=list)


def planned_cost(config: ValidateConfig) -> float:
    """Estimated seconds of every run the starting grids and the seeds plan (the runs a test
    adds past its grid - extensions, the fair rule's half-decades, a fallback's final runs -
    are announced as "extend" events when they come)."""
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
    on_event: Callable[[TransferEvent], None] | None = None,
    jobs: int = 1,
    threads: int = 1,
) -> list[TaskResult]:
    """Validate every optimizer of `config` on its tasks; results accumulate in `out`.

    `jobs` > 1: the (task, optimizer) pairs run in that many processes of `threads` torch
    threads each (`optevo.validate.parallel`), longest first; the tables are the same."""
    from optevo.validate.parallel import merge_shards, run_units
    from optevo.validate.tables import write_outputs

    if jobs < 1 or threads < 1:
        raise ValueError(f"jobs and threads must be at least 1, got {jobs} and {threads}")
    out = Path(out)
    # a damaged or foreign folder is refused before anything is created (read only: the
    # store is repaired, if at all, under the lock)
    ResultStore(out, repair=False)
    out.mkdir(parents=True, exist_ok=True)
    # One process per output folder: a second validation on it would train everything again
    # and write every run twice.
    lock = lock_folder(out, "the validation output")
    try:
        merge_shards(out)  # runs a killed parallel validation finished
        emit = on_event or (lambda event: None)
        emit(TransferEvent("plan", cost=planned_cost(config)))
        if jobs > 1:
            run_units(config, out, _units_longest_first(config), emit, jobs, threads)
            emit = lambda event: None  # noqa: E731 (the workers reported every run)
        store = ResultStore(out)
        results: list[TaskResult] = []
        for name in config.tasks:
            result = _validate_task(config, TASKS[name], store, emit)
            results.append(result)
            write_outputs(store.out, config, results)
        return results
    finally:
        unlock(lock)


def _units_longest_first(config: ValidateConfig) -> list[tuple[str, int]]:
    """Every (task, optimizer index) pair, by its planned seconds, longest first."""

    def cost(task: str, index: int) -> float:
        spec = config.optimizers[index]
        steps = config.budget(task).total_steps
        per_step = seconds_per_step(TASKS[task], config.size(task))
        grid = len(set(config.grid_of(spec)))
        return per_step * (grid * lr_test_steps(steps, spec) + config.seeds * steps)

    units = [(t, i) for t in config.tasks for i in range(len(config.optimizers))]
    return sorted(units, key=lambda u: -cost(*u))


def task_runs(
    config: ValidateConfig,
    task: Task,
    store: ResultStore,
    emit: Callable[[TransferEvent], None],
) -> TaskRuns:
    """The transfer protocol on one task at the validation's size and budget."""
    budget = config.budget(task.name)
    options = TaskOptions(device=config.device)
    return TaskRuns(
        task,
        budget,
        store,
        lambda: task.build(options, budget),
        emit,
        seconds_per_step(task, config.size(task.name)),
    )


def _validate_task(
    config: ValidateConfig,
    task: Task,
    store: ResultStore,
    emit: Callable[[TransferEvent], None],
) -> TaskResult:
    size = config.size(task.name)
    budget = config.budget(task.name)
    runs = task_runs(config, task, store, emit)
    result = TaskResult(task, size, budget)
    for spec in config.optimizers:
        grid = config.grid_of(spec)
        outcome = runs.optimizer(spec, grid, config.seeds, config.lr_seed, config.fair_lr)
        result.entries.append(outcome)
    return result


__all__ = [
    "DEFAULT_SEEDS",
    "VALIDATE_SUITES",
    "TaskResult",
    "ValidateConfig",
    "planned_cost",
    "run_validate",
    "seconds_per_step",
    "task_runs",
    "task_size",
]
