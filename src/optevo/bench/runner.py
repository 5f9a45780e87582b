"""`run_bench`: the learning-rate test and the seeded final runs of every optimizer on a task,
recorded run by run (resumable), then the tables.

For each optimizer, in order:
1. learning-rate test (SPEC 7.5): each rate of the grid trains the first third of the run's
   schedule (two thirds for Adam under a discovered schedule, LR1-LR9) at seed `lr_seed` and
   is scored on the validation split; the grid grows past an edge winner; fine-tuning tasks
   also try half and five times the winner;
2. `seeds` full runs (seeds 0..seeds-1) at the chosen rate, scored on the test split.
A run already in the store is never run again; the data and model are only built when some
run is missing (a finished bench re-renders its tables without touching the data).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from optevo.bench.lrtest import PAPER_GRID, LrTestResult, lr_test, norm_lr
from optevo.bench.optimizers import OptimizerSpec
from optevo.bench.store import ResultStore, RunKey, RunRecord
from optevo.bench.table import Cell, Column, csv_table, markdown_table
from optevo.bench.tasks import TASKS, Budget, Runner, Task, TaskOptions, get_task
from optevo.config import ConfigError, Float, Int, format_errors, known

TABLE_MD = "table.md"
TABLE_CSV = "table.csv"
MAX_TOTAL_STEPS = 10**9
"""The longest run a bench trains (a --scale past it is refused: it would not finish)."""


@dataclass(frozen=True)
class BenchEvent:
    """A run started ("start"), finished ("done"), found in the store ("skip") or an LR chosen
    ("lr")."""

    kind: str
    optimizer: str
    phase: str
    lr: float | None = None
    seed: int | None = None
    record: RunRecord | None = None
    message: str = ""


class BenchConfig(BaseModel):
    """One bench invocation on one task: `BenchConfig(task, optimizers, seeds=3, ...)`.
    Invalid values raise `ConfigError` naming the field."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, arbitrary_types_allowed=True
    )

    task: str
    optimizers: tuple[Any, ...]
    """`OptimizerSpec`s (checked by type, not rebuilt: they carry genomes)."""
    seeds: Int = Field(3, ge=1)
    scale: Float = Field(1.0, gt=0, allow_inf_nan=False)
    grid: tuple[Float, ...] = PAPER_GRID
    options: TaskOptions = Field(default_factory=TaskOptions)
    lr_seed: Int = Field(0, ge=0)
    command: str | None = None

    def __init__(
        self, task: str, optimizers: Sequence[OptimizerSpec], /, **fields: Any
    ) -> None:
        try:
            super().__init__(task=task, optimizers=tuple(optimizers), **fields)
        except ValidationError as exc:
            raise ConfigError(f"bench: {format_errors(exc)}") from None

    @field_validator("task")
    @classmethod
    def _known_task(cls, v: str) -> str:
        return known(v, TASKS, "task")

    @field_validator("optimizers")
    @classmethod
    def _distinct(cls, v: tuple[Any, ...]) -> tuple[Any, ...]:
        wrong = [type(o).__name__ for o in v if not isinstance(o, OptimizerSpec)]
        if wrong:
            raise ValueError(f"optimizers must be OptimizerSpec, got {', '.join(wrong)}")
        if not v:
            raise ValueError("no optimizers to bench")
        labels = [o.label for o in v]
        if len(set(labels)) != len(labels):
            raise ValueError(f"optimizers named twice: {labels}")
        return v


@dataclass
class OptimizerOutcome:
    spec: OptimizerSpec
    lr: LrTestResult
    finals: list[RunRecord]


def lr_test_steps(total_steps: int, spec: OptimizerSpec) -> int:
    """A third of the run (two thirds for Adam under LR1-LR9), at least one step."""
    fraction = 2 / 3 if spec.adam_schedule else 1 / 3
    return max(1, math.ceil(total_steps * fraction))


def run_key(
    task: str, spec: OptimizerSpec, phase: str, lr: float, seed: int, steps: int, total_steps: int
) -> RunKey:
    """The store's key of one run of `spec` on `task` (phase "lr" or "final")."""
    return RunKey(
        task, spec.label, spec.genome_hash, spec.schedule, phase, lr, seed, steps, total_steps
    )


def train(runner: Runner, spec: OptimizerSpec, key: RunKey, budget: Budget) -> RunRecord:
    """Train the run `key` names (its learning rate, seed and steps of `budget`'s schedule) and
    score it: on the validation split in a learning-rate test, else on the test split."""
    outcome = runner.run(
        spec,
        key.lr,
        key.seed,
        key.steps,
        budget.total_steps,
        budget.warmup_steps,
        budget.hold_steps,
        "val" if key.phase == "lr" else "test",
    )
    return RunRecord(
        key,
        outcome.metric,
        outcome.status,
        outcome.seconds,
        {"trained": outcome.steps, **outcome.extra},
    )


def run_bench(
    config: BenchConfig,
    out: str | Path,
    on_event: Callable[[BenchEvent], None] | None = None,
) -> list[OptimizerOutcome]:
    """Bench every optimizer of `config` on its task; results accumulate in `out`."""
    task = get_task(config.task)
    budget = task.budget.scaled(config.scale)
    if budget.total_steps > MAX_TOTAL_STEPS:
        raise ValueError(
            f"scale {config.scale:g} makes every run {budget.total_steps:.3g} steps long, more "
            f"than the limit of {MAX_TOTAL_STEPS:,}"
        )
    if config.options.batch_size is not None:
        budget = budget.model_copy(update={"batch_size": config.options.batch_size})
    store = ResultStore(out)
    store.check_tables()
    settings = _settings(task, budget, config)
    previous = store.manifest()["tasks"].get(task.name, {})
    for what, default in (("batch_size", None), ("model", {})):
        if previous and previous.get(what, default) != settings[what]:
            raise ValueError(
                f"{store.out} holds {task.name} runs with {what} {previous.get(what)!r}, not "
                f"{settings[what]!r}: they would be mixed up; use another --out"
            )
    if _same_protocol(previous, settings):
        settings["lr"] = {k: v for k, v in previous.get("lr", {}).items() if k in settings["order"]}
    # Nothing is written before the task is built (its data and model checked): a bench that
    # cannot start leaves its folder as it was.
    emit = on_event or (lambda event: None)
    runner: Runner | None = None

    def execute(spec: OptimizerSpec, phase: str, lr: float, seed: int, steps: int) -> RunRecord:
        nonlocal runner
        key = run_key(task.name, spec, phase, lr, seed, steps, budget.total_steps)
        found = store.get(key)
        if found is not None:
            emit(BenchEvent("skip", spec.label, phase, key.lr, seed, found))
            return found
        if runner is None:
            runner = task.build(config.options, budget)
            store.set_task(task.name, settings)
        emit(BenchEvent("start", spec.label, phase, key.lr, seed))
        record = train(runner, spec, key, budget)
        store.add(record)
        emit(BenchEvent("done", spec.label, phase, key.lr, seed, record))
        return record

    outcomes = []
    for spec in config.optimizers:
        steps = lr_test_steps(budget.total_steps, spec)
        result = lr_test(
            lambda lr, spec=spec, steps=steps: (
                execute(spec, "lr", lr, config.lr_seed, steps).metric
            ),
            config.grid,
            task.higher_is_better,
            task.finetune,
        )
        settings["lr"][spec.label] = _lr_entry(result)
        store.set_task(task.name, settings)
        note = " (still on the grid's edge)" if result.on_edge else ""
        emit(BenchEvent("lr", spec.label, "lr", result.winner, message=note))
        finals = []
        if result.winner is not None:
            finals = [
                execute(spec, "final", result.winner, seed, budget.total_steps)
                for seed in range(config.seeds)
            ]
        outcomes.append(OptimizerOutcome(spec, result, finals))
    write_tables(store)
    return outcomes


def _settings(task: Task, budget: Budget, config: BenchConfig) -> dict[str, Any]:
    return {
        "scale": config.scale,
        "total_steps": budget.total_steps,
        "warmup_steps": budget.warmup_steps,
        "hold_steps": budget.hold_steps,
        "batch_size": budget.batch_size,
        "model": dict(config.options.model),
        "seeds": config.seeds,
        "lr_seed": config.lr_seed,
        "grid": [norm_lr(x) for x in config.grid],
        "finetune": task.finetune,
        "order": [o.label for o in config.optimizers],
        "optimizers": {
            o.label: {"genome_hash": o.genome_hash, "schedule": o.schedule}
            for o in config.optimizers
        },
        "command": config.command,
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "lr": {},
    }


def _same_protocol(a: dict[str, Any], b: dict[str, Any]) -> bool:
    fields = ("total_steps", "warmup_steps", "hold_steps", "seeds", "lr_seed", "grid")
    return bool(a) and all(a.get(f) == b.get(f) for f in fields)


def _lr_entry(result: LrTestResult) -> dict[str, Any]:
    return {
        "winner": result.winner,
        "scores": {repr(lr): m for lr, m in sorted(result.scores.items())},
        "extended": list(result.extended),
        "finetuned": list(result.finetuned),
        "on_edge": result.on_edge,
    }


# -- tables -----------------------------------------------------------------------------------


def _finals(
    store: ResultStore, task_name: str, settings: dict[str, Any], label: str, lr: float
) -> list[RunRecord]:
    """The stored final runs of optimizer `label` on a task at `lr`, in seed order."""
    opt = settings["optimizers"].get(label)
    if opt is None:
        return []
    records = []
    for seed in range(settings["seeds"]):
        key = RunKey(
            task_name,
            label,
            opt["genome_hash"],
            opt["schedule"],
            "final",
            lr,
            seed,
            settings["total_steps"],
            settings["total_steps"],
        )
        record = store.get(key)
        if record is not None:
            records.append(record)
    return records


def collect_cells(store: ResultStore) -> tuple[dict[tuple[str, str], Cell], list[str], list[str]]:
    """Cells of every task in the store's manifest: (rows in order of first appearance,
    task names in manifest order)."""
    manifest = store.manifest()["tasks"]
    cells: dict[tuple[str, str], Cell] = {}
    rows: list[str] = []
    for task_name, s in manifest.items():
        for label in s["order"]:
            if label not in rows:
                rows.append(label)
            choice = s.get("lr", {}).get(label)
            if not choice or choice.get("winner") is None:
                continue
            values = [r.metric for r in _finals(store, task_name, s, label, choice["winner"])]
            if values:
                cells[(label, task_name)] = Cell(tuple(values), choice["winner"])
    return cells, rows, list(manifest)


def columns_for(task_names: Sequence[str]) -> list[Column]:
    cols = []
    for name in task_names:
        task = TASKS.get(name)
        if task is None:
            cols.append(Column(name, name))
            continue
        cols.append(
            Column(name, task.column, task.higher_is_better, percent=task.metric == "accuracy")
        )
    return cols


def write_tables(store: ResultStore) -> tuple[Path, Path]:
    """`table.md` (with the settings of every task) and `table.csv` in the store's folder."""
    cells, rows, task_names = collect_cells(store)
    columns = columns_for(task_names)
    manifest = store.manifest()["tasks"]
    lines = [
        "# optevo bench",
        "",
        "Mean ± sample standard deviation over the seeds (accuracy in %, perplexity as is),",
        "the peak learning rate chosen by the learning-rate test in brackets; the best mean of",
        "each column in bold.",
        "",
    ]
    for name in task_names:
        s = manifest[name]
        lines.append(
            f"- `{name}`: scale {s['scale']:g}: {s['total_steps']:,} steps (warm-up "
            f"{s['warmup_steps']:,}, hold {s['hold_steps']:,}), batch {s['batch_size']}, "
            f"seeds 0-{s['seeds'] - 1}, learning-rate test at seed {s['lr_seed']}"
            + (f"; command: `{s['command']}`" if s.get("command") else "")
        )
    lines += ["", markdown_table(cells, rows, columns)]
    store.out.mkdir(parents=True, exist_ok=True)
    md = store.out / TABLE_MD
    md.write_text("\n".join(lines))
    csv_path = store.out / TABLE_CSV
    csv_path.write_text(csv_table(cells, rows, columns))
    return md, csv_path


def chosen_lrs(out: str | Path) -> dict[str, dict[str, Any]]:
    """Per optimizer, per task: the chosen learning rate, the task's settings, and how many
    of the final runs at that rate diverged (read from a bench folder)."""
    store = ResultStore(out)
    manifest = store.manifest()["tasks"]
    result: dict[str, dict[str, Any]] = {}
    for task_name, s in manifest.items():
        for label, choice in s.get("lr", {}).items():
            if choice.get("winner") is None:
                continue
            finals = _finals(store, task_name, s, label, choice["winner"])
            result.setdefault(label, {})[task_name] = {
                "lr": choice["winner"],
                "scale": s["scale"],
                "total_steps": s["total_steps"],
                "on_edge": choice.get("on_edge", False),
                "finals": len(finals),
                "diverged": sum(r.status != "ok" or r.metric is None for r in finals),
            }
    return result
