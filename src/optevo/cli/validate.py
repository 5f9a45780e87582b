"""`optevo validate`: optimizers on the validation suite against Adam, AdamW and Lion."""

from __future__ import annotations

import math
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from optevo.cli.bench import check_device, check_out, parse_grid
from optevo.cli.common import app, console, err_console, fail, set_threads
from optevo.folderlock import FolderInUseError

if TYPE_CHECKING:
    from rich.progress import Task as BarTask

    from optevo.optim.spec import OptimizerSpec
    from optevo.transfer.protocol import TransferEvent


def _given(names: list[str]) -> list[OptimizerSpec]:
    """Specs of the named optimizers, baselines and genome files given as arguments (the one
    resolver, `optevo.optim.spec.resolve_all`); a name that is none of them is `fail`."""
    from optevo.optim.spec import resolve_all

    try:
        return resolve_all(names)
    except ValueError as error:
        fail(f"validate: {error}" if str(error).startswith("an empty name") else str(error))


def _from_run(run: Path, top: int) -> list[OptimizerSpec]:
    from optevo.search.named import from_run
    from optevo.search.store import StoreError

    if not run.is_dir():
        fail(f"--run {run}: not a run directory")
    try:
        return from_run(run, top)
    except (ValueError, StoreError) as error:
        fail(str(error))


def _tasks(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        fail(f"--tasks names no task: {text!r}")
    return names


class _Eta(ProgressColumn):
    """Time left: the estimated seconds of the work left, times the ratio of the measured to
    the estimated seconds of the runs trained so far."""

    def render(self, task: BarTask) -> Text:
        left = max(0.0, (task.total or 0.0) - task.completed)
        seconds = left * float(task.fields.get("ratio", 1.0))
        if task.finished or task.total is None:
            return Text("")
        h, rest = divmod(int(seconds), 3600)
        return Text(f"eta {h}:{rest // 60:02d}:{rest % 60:02d}", style="progress.remaining")


class _Bar:
    """The progress bar of a validation, driven by its events; units: estimated seconds."""

    def __init__(self, progress: Progress | None = None, **fields: str) -> None:
        """Its own display, or (`progress`) a bar added to another one, e.g. `optevo search`'s
        for a run's validation stage (`fields`: what that display's columns read)."""
        self.progress = progress or Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[runs]}"),
            TimeElapsedColumn(),
            _Eta(),
            console=console,
        )
        columns = cast(dict[str, Any], {"runs": "", "ratio": 1.0, **fields})
        self.bar = self.progress.add_task("validate", total=0.0, **columns)
        self.trained = self.stored = 0
        self.estimated = self.measured = 0.0

    def _total(self) -> float:
        task = next(t for t in self.progress.tasks if t.id == self.bar)
        return float(task.total or 0.0)

    def __call__(self, event: TransferEvent) -> None:
        p, bar = self.progress, self.bar
        if event.kind == "plan":
            p.update(bar, total=event.cost)
        elif event.kind == "extend":
            p.update(bar, total=max(0.0, self._total() + event.cost))
        elif event.kind == "skip":
            self.stored += 1
            p.update(bar, total=max(0.0, self._total() - event.cost))
        elif event.kind == "start":
            what = f"lr {event.lr:g}" if event.phase == "lr" else f"seed {event.seed}"
            p.update(bar, description=f"{event.task} {event.optimizer} {what}")
        elif event.kind == "done" and event.record is not None:
            self.trained += 1
            self.estimated += event.cost
            self.measured += event.record.seconds
            ratio = self.measured / self.estimated if self.estimated > 0 else 1.0
            p.update(bar, advance=event.cost, ratio=ratio)
        elif event.kind == "lr" and event.lr is None:
            p.console.print(f"{event.task} {event.optimizer}: every learning rate failed")
        elif event.kind == "fallback":
            p.console.print(
                f"{event.task} {event.optimizer}: the full run at lr {event.lr:g} {event.message}",
                highlight=False,
            )
        elif event.kind == "finals":
            p.console.print(
                f"{event.task} {event.optimizer}: lr {event.lr:g}, {event.message}",
                highlight=False,
            )
        p.update(bar, runs=f"{self.trained} trained, {self.stored} stored")


def _show(summary: dict[str, Any]) -> None:
    from optevo.validate.tables import overall_table, task_caption, task_table

    def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
        t = Table(title=title, title_justify="left")
        for i, h in enumerate(header):
            t.add_column(h, justify="left" if i == 0 else "right")
        for row in rows:
            t.add_row(*row)
        return t

    for task in summary["tasks"]:
        console.print(table(task_caption(task), *task_table(summary, task)))
    console.print(table("overall", *overall_table(summary)))


@app.command()
def validate(
    optimizers: Annotated[
        list[str] | None,
        typer.Argument(
            help="named optimizers (see optevo list; Adam, AdamW, Lion) or genome JSON files",
            show_default=False,
        ),
    ] = None,
    run: Annotated[
        Path | None, typer.Option("--run", help="validate the best genomes of this search run")
    ] = None,
    top: Annotated[
        int | None, typer.Option(min=1, help="with --run: how many genomes (default 1)")
    ] = None,
    tasks: Annotated[
        str | None, typer.Option(help="comma-separated task names (default: the suite's)")
    ] = None,
    suite: Annotated[str, typer.Option(help="validate, or search (for studies)")] = "validate",
    seeds: Annotated[
        int | None,
        typer.Option(min=1, help="final runs per optimizer and task (default: 5)"),
    ] = None,
    scale: Annotated[
        float, typer.Option(help="multiply every step count (smoke runs: 0.02)")
    ] = 1.0,
    grid: Annotated[
        str | None,
        typer.Option(
            help="starting learning-rate grid of every optimizer, comma-separated (default: "
            "Adam/AdamW 0.1..1e-4, Lion 0.01..1e-5, others 10..1e-5; extended past an edge)"
        ),
    ] = None,
    with_baselines: Annotated[
        bool, typer.Option("--baselines/--no-baselines", help="add Adam, AdamW and Lion")
    ] = True,
    fair_lr: Annotated[
        bool,
        typer.Option(
            "--fair-lr/--paper-lr",
            help="the fair rate rule (half-decades around the test's winner; a full run that "
            "diverges moves to the next lower rate) or the paper's test alone",
        ),
    ] = True,
    alpha: Annotated[
        float,
        typer.Option(min=0.0001, max=0.4999, help="the verdict's level (paired t-test, two-sided)"),
    ] = 0.05,
    threads: Annotated[
        int,
        typer.Option(
            min=1, help="torch CPU threads per process (the suites' models are sized for one)"
        ),
    ] = 1,
    jobs: Annotated[
        int,
        typer.Option(
            min=1,
            max=256,
            help="processes: the (task, optimizer) pairs run side by side, longest first "
            "(e.g. 2 on a 2-core CPU with --threads 1)",
        ),
    ] = 1,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N, mps or auto")] = "cpu",
    out: Annotated[
        Path | None,
        typer.Option(
            help="results folder, resumed when it exists (default: RUN/validate with --run, "
            "else runs/validate-<time>)"
        ),
    ] = None,
) -> None:
    """Validate optimizers on the validation suite against Adam, AdamW and Lion.

    Per optimizer and task: a learning-rate test (grid extended past an edge winner; with the
    fair rule also the half-decades around its winner), then --seeds runs at the chosen rate
    (with the fair rule: at the next lower rate when a full run diverges).

    Tables per task and overall: mean ± std, wins and losses by the paired t-test (by seed,
    n - 1 degrees of freedom, two-sided, level --alpha), the mean difference with its
    confidence interval (table.md, table.csv, summary.json in --out).

    Every run is stored as it ends: the same command with the same --out resumes (Ctrl-C is
    safe; with --jobs too).
    """
    from optevo.optim.spec import baselines
    from optevo.validate.run import DEFAULT_SEEDS, VALIDATE_SUITES, ValidateConfig, run_validate
    from optevo.validate.tables import SUMMARY_JSON, TABLE_CSV, TABLE_MD, read_summary

    if top is not None and run is None:
        fail("--top needs --run RUN")
    if suite not in VALIDATE_SUITES:
        fail(f"--suite {suite!r}: use {' or '.join(VALIDATE_SUITES)} (the bench's: optevo bench)")
    if not (scale > 0 and math.isfinite(scale)):
        fail(f"--scale must be positive and finite, got {scale:g}")
    if not optimizers and run is None:
        fail("give named optimizers, genome files or --run RUN [--top K]")
    specs = _given(list(optimizers or []))
    if run is not None:
        specs += _from_run(run, top or 1)
    if with_baselines:
        labels = {s.label for s in specs}
        specs += [b for b in baselines() if b.label not in labels]
    parsed_grid = parse_grid(grid, "--grid")
    if out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = run / "validate" if run is not None else Path("runs") / f"validate-{stamp}"
    check_out(out)
    device = check_device(device)
    try:
        config = ValidateConfig(
            tuple(specs),
            _tasks(tasks),
            suite=suite,
            seeds=DEFAULT_SEEDS if seeds is None else seeds,
            scale=scale,
            grid=parsed_grid,
            device=device,
            fair_lr=fair_lr,
            alpha=alpha,
            command="optevo " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        )
        read_summary(out)  # a folder holding something else is refused before any training
        selected = config.selected_on()
        if selected:
            err_console.print(
                f"warning: {', '.join(selected)}: search-suite tasks, which a search selects "
                "on; their verdicts do not say whether a find transfers",
                highlight=False,
                markup=False,
            )
    except ValueError as error:
        fail(str(error))
    from optevo.tasks.user import is_reference

    refs = [t for t in config.tasks if is_reference(t)]
    if refs:
        console.print(f"task code imported: {', '.join(refs)}", highlight=False)
    set_threads(threads)
    console.print(
        f"validate: {len(specs)} optimizers x {len(config.tasks)} tasks ({suite} suite, scale "
        f"{scale:g}, {config.seeds} seeds{f', {jobs} processes' if jobs > 1 else ''}) -> {out}",
        highlight=False,
    )
    bar = _Bar()
    try:
        with bar.progress:
            run_validate(config, out, bar, jobs=jobs, threads=threads)
    except KeyboardInterrupt:
        console.print(
            f"interrupted: {bar.trained} runs trained this time; every finished run is in "
            f"{out}; the same command with --out {out} resumes"
        )
        raise typer.Exit(130) from None
    except (FileNotFoundError, ValueError, FolderInUseError) as error:
        fail(str(error))
    except OSError as error:
        fail(f"{error.filename or out}: {error.strerror or error}", code=1)
    summary = read_summary(out)
    assert summary is not None
    _show(summary)
    console.print(
        f"{bar.trained} runs trained, {bar.stored} read back; wrote {out / TABLE_MD}, "
        f"{out / TABLE_CSV} and {out / SUMMARY_JSON}",
        highlight=False,
    )
