"""`optevo bench`: transfer benchmarks with the paper's learning-rate test and tables."""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from optevo.cli.common import app, console, fail, set_threads
from optevo.folderlock import FolderInUseError
from optevo.transfer.lrtest import check_grid

DEVICE_KINDS = ("cpu", "cuda", "mps")


def parse_grid(text: str | None, option: str = "--lr-grid") -> tuple[float, ...] | None:
    """A comma-separated learning-rate grid (None stays None); a bad one is `fail`."""
    if text is None:
        return None
    try:
        grid = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        fail(f"{option} takes comma-separated numbers, got {text!r}")
    try:
        return check_grid(grid)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _check_scale(scale: float, task_steps: int, limit: int) -> None:
    if not math.isfinite(scale):
        fail(f"--scale must be finite, got {scale}")
    if not scale > 0:
        fail(f"--scale must be above 0, got {scale:g}")
    if task_steps * scale > limit:
        fail(
            f"--scale {scale:g} makes every run {task_steps * scale:.3g} steps long, more "
            f"than the limit of {limit:,}"
        )


def check_out(out: Path) -> None:
    """A bench's (or validation's) --out is a folder: an existing one is resumed; anything else
    that exists there is refused, and so is a folder that could not be created."""
    if out.exists() and not out.is_dir():
        fail(f"{out} exists and is not a folder (--out is the results folder)")
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        fail(f"cannot create the folder {out}: {ancestor} is not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        fail(f"cannot write {out}: {ancestor} is not writable")


def check_device(device: str) -> str:
    """The device to train on (`auto` resolved); one that is unknown or not here is `fail`."""
    from optevo.fitness import check_device
    from optevo.fitness.spec import resolve_device

    device = resolve_device(device)
    if device.partition(":")[0] not in DEVICE_KINDS:
        fail(f"--device {device!r}: use cpu, cuda, cuda:N, mps or auto")
    try:
        check_device(device)
    except ValueError as exc:
        message = str(exc)
        fail("--" + message if message.startswith("device ") else f"--device: {message}")
    return device


def _check_files(root: Path | None, checkpoint: Path | None) -> None:
    if root is not None and not root.exists():
        fail(f"--root {root} does not exist")
    if checkpoint is not None and not checkpoint.is_file():
        what = "is a folder" if checkpoint.is_dir() else "does not exist"
        fail(f"--checkpoint {checkpoint} {what}; it must be a state-dict file")


@app.command()
def bench(
    task: Annotated[str, typer.Option(help="the transfer task (see --list-tasks)")] = "",
    optimizers: Annotated[
        str | None,
        typer.Option(
            help="comma-separated named optimizers (e.g. Adam,Opt6,LR3), baselines (AdamW, "
            "Lion) or genome JSON files"
        ),
    ] = None,
    run: Annotated[
        Path | None, typer.Option("--run", help="bench the best genomes of this search run")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="with --run: how many genomes")] = 5,
    seeds: Annotated[int, typer.Option(min=1, help="final runs per optimizer")] = 3,
    scale: Annotated[
        float, typer.Option(help="multiply every step budget (e.g. 0.01 on a small CPU)")
    ] = 1.0,
    out: Annotated[
        Path,
        typer.Option(
            help="results folder (runs.jsonl, bench.json, table.md/.csv); an existing one "
            "is resumed"
        ),
    ] = Path("runs/bench"),
    root: Annotated[Path | None, typer.Option(help="the data set's folder or archive")] = None,
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="fine-tuning: torchvision efficientnet_v2_s ImageNet-1k state dict"),
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="override the task's batch size")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N, mps or auto")] = "auto",
    threads: Annotated[
        int | None, typer.Option(min=1, help="torch CPU threads (default: torch's choice)")
    ] = None,
    lr_grid: Annotated[
        str | None, typer.Option(help="starting learning-rate grid (default: SPEC 7.5's)")
    ] = None,
    fair_lr: Annotated[
        bool,
        typer.Option(
            "--fair-lr/--paper-lr",
            help="the fair rate rule (half-decades around the test's winner; a full run that "
            "diverges moves to the next lower rate) or the paper's test alone",
        ),
    ] = True,
    list_tasks: Annotated[bool, typer.Option("--list-tasks", help="list the tasks")] = False,
) -> None:
    """Bench optimizers on a transfer task: learning-rate test, seeded runs, Table 11 layout.

    Resumable: run the same command again and finished runs are read back, not re-run.
    """
    from optevo.bench import BenchConfig
    from optevo.bench.runner import TABLE_CSV, TABLE_MD
    from optevo.optim.spec import resolve_all
    from optevo.search.named import from_run
    from optevo.search.store import StoreError
    from optevo.tasks.base import TaskOptions
    from optevo.tasks.registry import TASKS
    from optevo.transfer import MAX_TOTAL_STEPS, PAPER_GRID, TransferEvent

    if list_tasks:
        for t in TASKS.values():
            b = t.budget
            console.print(
                f"[bold]{t.name}[/bold]: {b.total_steps:,} steps, batch {b.batch_size}, "
                f"{t.metric}; data: {t.files}",
                highlight=False,
            )
        return
    # Every check before anything is written or loaded: a refused bench leaves no trace.
    if not task:
        fail("--task is required (see --list-tasks)")
    from optevo.tasks.registry import get_task
    from optevo.tasks.user import TaskLoadError, is_reference

    try:
        get_task(task)  # a user's task (FILE.py:NAME) is loaded (registered) here
    except KeyError as exc:
        fail(exc.args[0])
    except TaskLoadError as exc:
        fail(str(exc))
    if is_reference(task):
        console.print(f"task code imported: {task}", highlight=False)
    if (optimizers is None) == (run is None):
        fail("give either --optimizers NAME,NAME,... or --run RUNDIR [--top K]")
    _check_scale(scale, TASKS[task].budget.total_steps, MAX_TOTAL_STEPS)
    grid = parse_grid(lr_grid) or PAPER_GRID
    check_out(out)
    device = check_device(device)
    _check_files(root, checkpoint)
    try:
        if optimizers is not None:
            names = [n.strip() for n in optimizers.split(",") if n.strip()]
            if not names:
                fail(f"--optimizers names no optimizer: {optimizers!r}")
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                fail(f"--optimizers names {', '.join(twice)} more than once")
            # named optimizers, the baselines (AdamW and Lion are not genomes of the library)
            # and genome files: the one resolver of `optevo.optim.spec`
            specs = resolve_all(names)
        else:
            assert run is not None
            specs = from_run(run, top)
    except (KeyError, ValueError, StoreError) as error:
        fail(str(error).strip("'\""))
    set_threads(threads)
    command = "optevo " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    try:
        config = BenchConfig(
            task,
            specs,
            seeds=seeds,
            scale=scale,
            grid=grid,
            fair_lr=fair_lr,
            options=TaskOptions(
                root=root, checkpoint=checkpoint, device=device, batch_size=batch_size
            ),
            command=command,
        )
    except ValueError as error:
        fail(str(error))
    from optevo.bench import run_bench

    t0 = time.perf_counter()

    def show(event: TransferEvent) -> None:
        elapsed = f"[dim]{time.perf_counter() - t0:7.0f}s[/dim]"
        if event.kind == "lr":
            lr = "none (every rate failed)" if event.lr is None else f"{event.lr:g}"
            console.print(f"{elapsed} {event.optimizer}: learning rate {lr}{event.message}")
        elif event.kind == "fallback":
            console.print(
                f"{elapsed} {event.optimizer}: the full run at lr {event.lr:g} "
                f"{event.message}",
                highlight=False,
            )
        elif event.kind in ("done", "skip") and event.record is not None:
            r = event.record
            metric = "-" if r.metric is None else f"{r.metric:.4f}"
            what = "lr test" if event.phase == "lr" else f"seed {event.seed}"
            tag = " (stored)" if event.kind == "skip" else f" {r.seconds:.0f}s"
            console.print(
                f"{elapsed} {event.optimizer} {what} lr {event.lr:g}: {metric} {r.status}{tag}",
                highlight=False,
            )

    try:
        run_bench(config, out, show)
    except (FileNotFoundError, ValueError, FolderInUseError) as error:
        fail(str(error))
    except OSError as error:
        fail(f"{error.filename or out}: {error.strerror or error}", code=1)
    console.print((out / TABLE_MD).read_text(), highlight=False, markup=False, soft_wrap=True)
    console.print(f"wrote {out / TABLE_MD} and {out / TABLE_CSV}")
