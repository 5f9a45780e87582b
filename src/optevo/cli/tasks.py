"""`optevo tasks`: every task of the registry with its suites, sizes and data; `--measure`
times one run of each at its search (else validation) size."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from optevo.cli.common import app, console, fail

if TYPE_CHECKING:
    from optevo.tasks.base import Task
    from optevo.tasks.timing import Timing


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _measured(got: Timing | str | None, size: str) -> list[str]:
    """The measured seconds and score cells of one size's row."""
    if got is None:
        return ["not run", ""]
    if isinstance(got, str):
        return [got, ""]
    if got.size != size:
        return ["", ""]
    score = "-" if got.metric is None else f"{got.metric:.4g}"
    status = "" if got.status == "ok" else f" ({got.status})"
    return [_seconds(got.run_seconds), score + status]


def measured_size(task: Task) -> str | None:
    """The size `--measure` runs: search, else validate; None for a bench-only task."""
    return next((s for s in ("search", "validate") if s in task.sizes), None)


def _load(name: str) -> None:
    """Task `name` known (a user's reference loaded), or one line saying why not."""
    from optevo.tasks.registry import get_task
    from optevo.tasks.user import TaskLoadError, is_reference

    try:
        get_task(name)
    except KeyError as exc:
        fail(f"--task: {exc.args[0]}")
    except TaskLoadError as exc:
        fail(str(exc))
    if is_reference(name):
        console.print(f"task code imported: {name}", highlight=False)


@app.command("tasks")
def tasks(
    suite: Annotated[
        str | None, typer.Option(help="only this suite: search, validate or bench")
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help="only these tasks (comma-separated names; your own as FILE.py:NAME)"
        ),
    ] = None,
    measure: Annotated[
        bool,
        typer.Option(
            "--measure",
            help="time one run of each task at its search (else validation) size with Adam "
            "at the task's reference learning rate; bench-only tasks are not run",
        ),
    ] = False,
    threads: Annotated[int, typer.Option(min=1, help="torch CPU threads for --measure")] = 1,
) -> None:
    """List the tasks: family, metric and direction, sizes (steps, batch), data source.

    A task's sizes are its suites: `search` is what a search selects on; `validate` (data the
    search never sees) says whether what it found transfers; `bench` is `optevo bench`'s
    transfer tasks. "s/run" is the seconds per run recorded by benchmarks/task_suite.py (one
    thread, a shared 2-core CPU).
    """
    from rich.table import Table

    from optevo.tasks.base import SUITES
    from optevo.tasks.registry import TASKS

    if suite is not None and suite not in SUITES:
        fail(f"--suite {suite!r}: use one of {', '.join(SUITES)}")
    names = None if task is None else [n.strip() for n in task.split(",") if n.strip()]
    if names == []:
        fail(f"--task {task!r}: name a task; known: {', '.join(TASKS)}")
    for name in names or ():
        _load(name)  # a user's task (FILE.py:NAME) is imported and registered here
    listed = [
        t
        for t in TASKS.values()
        if (suite is None or suite in t.sizes) and (names is None or t.name in names)
    ]
    if names is not None and suite is not None:
        outside = [n for n in names if suite not in TASKS[n].sizes]
        if outside:
            fail(
                f"--task {', '.join(outside)}: not in the {suite} suite (its suites: "
                f"{', '.join(TASKS[outside[0]].sizes)})"
            )
    timings: dict[str, Timing | str] = {}
    if measure:
        cpus = os.cpu_count() or 1
        if threads > cpus:
            fail(f"--threads {threads}: more than the {cpus} CPUs of this machine")
        timings = _measure(listed, threads)
    table = Table(title=f"tasks{'' if suite is None else f' ({suite} suite)'}")
    table.add_column("task", no_wrap=True)
    table.add_column("family", overflow="fold")
    table.add_column("metric", no_wrap=True)
    table.add_column("size", no_wrap=True)
    for header in ("steps", "batch", "s/run"):
        table.add_column(header, justify="right", no_wrap=True)
    if measure:
        table.add_column("measured s", justify="right", no_wrap=True)
        table.add_column("score", justify="right", no_wrap=True)
    table.add_column("data", overflow="fold")
    for t in listed:
        metric = f"{t.metric} {'↑' if t.higher_is_better else '↓'}"
        for i, (size, budget) in enumerate(t.sizes.items()):
            first = i == 0
            recorded = t.seconds.get(size)
            row = [
                t.name if first else "",
                t.family if first else "",
                metric if first else "",
                size,
                f"{budget.total_steps:,}",
                str(budget.batch_size),
                _seconds(recorded),
            ]
            if measure:
                row += _measured(timings.get(t.name), size)
            row.append(t.source if first else "")
            table.add_row(*row)
    console.print(table)
    if measure:
        console.print(
            f"measured on this machine with {threads} torch thread(s): Adam at each task's "
            "reference learning rate, seed 0, scored on the validation split; data loading "
            "not counted. Shared machines are noisy: compare within one run.",
            highlight=False,
        )


def _measure(listed: list[Task], threads: int) -> dict[str, Timing | str]:
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from optevo.tasks.timing import measure

    torch.set_num_threads(threads)
    todo = [(t, s) for t in listed if (s := measured_size(t)) is not None]
    results: dict[str, Timing | str] = {}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("measuring", total=len(todo))
        for t, size in todo:
            progress.update(bar, description=f"{t.name} ({size})")
            try:
                results[t.name] = measure(t, size)
            except FileNotFoundError:
                results[t.name] = "no data"
            progress.advance(bar)
    return results
