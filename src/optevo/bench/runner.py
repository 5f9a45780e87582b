"""`run_bench`: the transfer protocol (`optevo.transfer.protocol`: the learning-rate test and
the seeded final runs) of every optimizer on one task, recorded run by run (resumable), then
the tables in the layout of the paper's Tables 11 and 13.

For each optimizer, in order:
1. learning-rate test (SPEC 7.5): each rate of the grid trains the first third of the run's
   schedule (two thirds for Adam under a discovered schedule, LR1-LR9) at seed `lr_seed` and
   is scored on the validation split; the grid grows past an edge winner; with the fair rule
   (`fair_lr`, the default) the half-decades around the winner are tried too; fine-tuning
   tasks also try half and five times the winner;
2. `seeds` full runs (seeds 0..seeds-1) at the chosen rate, scored on the test split; with the
   fair rule a diverged full run moves the rate to the next lower one of the test (recorded in
   `bench.json` and marked in the table).
A run already in the store is never run again; the data and model are only built when some
run is missing (a finished bench re-renders its tables without touching the data).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from optevo.config import ConfigError, Float, Int, format_errors, known
from optevo.folderlock import lock_folder, unlock
from optevo.optim.spec import OptimizerSpec
from optevo.tasks.base import Budget, Task, TaskOptions
from optevo.tasks.registry import TASKS, get_task
from optevo.transfer.lrtest import PAPER_GRID, check_grid, norm_lr
from optevo.transfer.protocol import MAX_TOTAL_STEPS, Outcome, TaskRuns, TransferEvent
from optevo.transfer.store import ResultStore, RunKey, RunRecord
from optevo.transfer.table import Cell, Column, csv_table, markdown_table

TABLE_MD = "table.md"
TABLE_CSV = "table.csv"
FALLBACK_NOTE = (
    "With the fair rule the test also tries the half-decades around its winner, and a full "
    "run that diverges moves the rate to the next lower one of the test: such a cell says "
    "`fallback from` the test's rate."
)


class BenchConfig(BaseModel):
    """One bench invocation on one task: `BenchConfig(task, optimizers, seeds=3, ...)`.
    Invalid values raise `ConfigError` naming the field. `fair_lr`: the fair rate rule (the
    half-decade refinement and the fallback from a diverged full run); False is the paper's
    test alone."""

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
    fair_lr: bool = True
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

    @field_validator("grid")
    @classmethod
    def _usable_grid(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        return check_grid(v)

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


def run_bench(
    config: BenchConfig,
    out: str | Path,
    on_event: Callable[[TransferEvent], None] | None = None,
) -> list[Outcome]:
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
    store = ResultStore(out, repair=False)  # the lock is taken at the first write
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
    # One process per output folder, locked when the first thing is written (a second bench
    # on it would train everything again and write every run twice).
    locks: list[int] = []

    def on_build() -> None:
        store.out.mkdir(parents=True, exist_ok=True)
        locks.append(lock_folder(store.out, "the bench output"))
        store.reload()  # what another process finished before the lock was taken
        store.set_task(task.name, settings)

    runs = TaskRuns(
        task,
        budget,
        store,
        lambda: task.build(config.options, budget),
        on_event or (lambda event: None),
        on_build=on_build,
    )
    try:
        outcomes = []
        for spec in config.optimizers:
            outcome = runs.optimizer(
                spec, config.grid, config.seeds, config.lr_seed, config.fair_lr
            )
            settings["lr"][spec.label] = _lr_entry(outcome)
            store.set_task(task.name, settings)
            outcomes.append(outcome)
        write_tables(store)
        return outcomes
    finally:
        for fd in locks:
            unlock(fd)


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
        "fair_lr": config.fair_lr,
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
    same_rule = a.get("fair_lr", False) == b.get("fair_lr", False)
    return bool(a) and same_rule and all(a.get(f) == b.get(f) for f in fields)


def _lr_entry(outcome: Outcome) -> dict[str, Any]:
    test = outcome.test
    return {
        "winner": test.winner,
        "scores": {repr(lr): m for lr, m in sorted(test.scores.items())},
        "extended": list(test.extended),
        "refined": list(test.refined),
        "finetuned": list(test.finetuned),
        "on_edge": test.on_edge,
        "final_lr": outcome.lr,
        "fallback": [f.as_dict() for f in outcome.fallbacks],
    }


def final_lr(choice: dict[str, Any]) -> float | None:
    """The rate of an optimizer's final runs in a manifest's `lr` entry: the test's winner
    unless a fallback moved it (`final_lr`; manifests written before the fair rule have only
    the winner)."""
    rate = choice.get("final_lr", choice.get("winner"))
    return None if rate is None else float(rate)


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
            rate = None if not choice else final_lr(choice)
            if choice is None or rate is None:
                continue
            values = [r.metric for r in _finals(store, task_name, s, label, rate)]
            moved = rate != choice.get("winner")
            if values:
                cells[(label, task_name)] = Cell(
                    tuple(values), rate, choice["winner"] if moved else None
                )
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
        "each column in bold. "
        + FALLBACK_NOTE,
        "",
    ]
    for name in task_names:
        s = manifest[name]
        lines.append(
            f"- `{name}`: scale {s['scale']:g}: {s['total_steps']:,} steps (warm-up "
            f"{s['warmup_steps']:,}, hold {s['hold_steps']:,}), batch {s['batch_size']}, "
            f"seeds 0-{s['seeds'] - 1}, learning-rate test at seed {s['lr_seed']}"
            + ("" if s.get("fair_lr") else " (the paper's test alone, no fair rule)")
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
            rate = final_lr(choice)
            if rate is None:
                continue
            finals = _finals(store, task_name, s, label, rate)
            result.setdefault(label, {})[task_name] = {
                "lr": rate,
                "scale": s["scale"],
                "total_steps": s["total_steps"],
                "on_edge": choice.get("on_edge", False),
                "finals": len(finals),
                "diverged": sum(r.status != "ok" or r.metric is None for r in finals),
            }
    return result
