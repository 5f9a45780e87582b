"""`optevo evaluate`: the fitness protocol on named optimizers, files and random genomes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from optevo import Genome
from optevo.cli.common import (
    app,
    check_output_path,
    check_seed,
    console,
    fail,
    load_named,
    parse_overrides,
)
from optevo.jsonio import append_line
from optevo.schedules import BASE_SCHEDULE
from optevo.search.candidates import random_genome

if TYPE_CHECKING:
    from optevo.data import ImageSet
    from optevo.fitness import FitnessConfig, FitnessResult


@app.command()
def evaluate(
    genomes: Annotated[
        list[str] | None, typer.Argument(help="named optimizers (optevo list) or genome JSON files")
    ] = None,
    preset_name: Annotated[
        str, typer.Option("--preset", help="paper, quick, tiny or suite")
    ] = "quick",
    config: Annotated[Path | None, typer.Option(help="a YAML config (overrides --preset)")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config field, e.g. --set base=8 (repeatable)"),
    ] = None,
    random: Annotated[int, typer.Option(min=0, help="also evaluate N random genomes")] = 0,
    seed: Annotated[int, typer.Option(help="seed of the random genomes")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="append one JSON line per evaluation here, as each finishes (strict JSON; "
            "the file is created if missing, its folder must exist)"
        ),
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, max=1024, help="torch CPU threads")] = None,
) -> None:
    """Fitness of optimizers by SPEC 5's protocol (LR screen, thresholds, early-stopped run).

    Exit code 0 when at least one candidate was evaluated, 1 when every one ended in
    `error` (the reason is printed for each) or a result could not be written, 2 for a
    usage error (reported before any training)."""
    import torch

    from optevo.config import ConfigError, apply_overrides, expand_preset, read_yaml
    from optevo.fitness import check_device, dataset_for, preflight
    from optevo.fitness.config import SuiteFitness, build_fitness, preset

    check_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    overrides = parse_overrides(set_ or [])
    try:
        if config is not None:
            raw = apply_overrides(expand_preset("fitness", read_yaml(config)), overrides)
            cfg = build_fitness(raw, str(config))
        else:
            cfg = preset(preset_name, **overrides)
    except ConfigError as exc:
        fail(str(exc))
    candidates: list[tuple[str, Genome, str]] = []
    for spec in genomes or []:
        candidates.append((spec, *load_named(spec)))
    rng = np.random.default_rng(seed)
    for i in range(random):
        candidates.append((f"random-{seed}-{i}", random_genome(rng), BASE_SCHEDULE))
    if not candidates:
        fail("name at least one genome, or pass --random N")
    if out is not None:
        check_output_path(out)
    data: ImageSet | None = None
    if isinstance(cfg, SuiteFitness):  # the paired multi-task fitness: tasks load their data
        try:
            check_device(cfg.device)
        except ValueError as exc:
            fail(f"device: {exc}")
        console.print(
            f"suite of {len(cfg.tasks)} tasks ({', '.join(t.name for t in cfg.tasks)}), each "
            f"scored against Adam on the same seed; screen {len(cfg.screen_lrs)} rates x "
            f"{cfg.task_screen_fraction:g} of the task's run, then the full run; "
            f"device {cfg.device}"
        )
    else:
        try:
            data = dataset_for(cfg)
        except (ValueError, FileNotFoundError, OSError) as exc:
            fail(f"cannot load the data set: {exc}")
        try:
            preflight(cfg, data)
        except ValueError as exc:
            fail(str(exc))
        console.print(
            f"data: {data!r}; model: ConvNet(base {cfg.base}); "
            f"screen {len(cfg.screen_lrs)} x {cfg.screen_steps} steps, "
            f"full run {cfg.total_steps} steps; device {cfg.device}"
        )
    rows = _evaluate_all(candidates, cfg, data, out)
    title = f"fitness ({cfg.label}, preset {preset_name if config is None else config})"
    console.print(results_table(rows, title))
    if out is not None:
        console.print(f"results appended to {out}")
    if all(result.status == "error" for _, _, result in rows):
        fail(f"every candidate ended in error ({len(rows)} of {len(rows)})", code=1)


Row = tuple[str, Genome, "FitnessResult"]


def _evaluate_all(
    candidates: list[tuple[str, Genome, str]],
    cfg: FitnessConfig,
    data: ImageSet | None,
    out: Path | None,
) -> list[Row]:
    """Evaluate each candidate, print its outcome (with the reason of an `error`) and append
    its record to `out`; a failed write stops here, keeping the records written before."""
    from optevo.fitness import fitness

    rows: list[Row] = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("evaluating", total=len(candidates))
        for name, genome, schedule in candidates:
            progress.update(task, description=f"evaluating {name}")
            result = fitness(genome, cfg, schedule=schedule, data=data)
            rows.append((name, genome, result))
            shown = "-" if result.fitness is None else f"{result.fitness:.4f}"
            reason = f": {error_reason(result.error)}" if result.status == "error" else ""
            progress.console.print(
                f"{name}: {result.status}{reason}, fitness {shown}, {result.seconds:.1f} s",
                highlight=False,
                markup=False,
            )
            for t in result.tasks:
                progress.console.print(
                    f"  {t.task}: {t.status}, d {t.d:+.4f} (score {_number(t.score)} at lr "
                    f"{_number(t.lr)}; Adam {t.adam:.4g} at lr {t.adam_lr:g}; trivial "
                    f"{t.trivial:.4g}), {t.seconds:.1f} s",
                    highlight=False,
                    markup=False,
                )
            if out is not None:
                record = {"name": name, "genome": genome.to_dict(), "config": cfg.model_dump()}
                try:
                    append_line(out, {**record, **result.to_dict()})
                except OSError as exc:
                    progress.stop()
                    fail(
                        f"cannot write {out}: {exc.strerror or exc}; stopped after "
                        f"{len(rows) - 1} of {len(candidates)} evaluations, whose results "
                        f"{out} keeps",
                        code=1,
                    )
            progress.advance(task)
    return rows


def _number(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def error_reason(error: str | None) -> str:
    """The first line of an evaluation's error (its exception), without the traceback."""
    if not error:
        return "unknown error"
    line = error.strip().splitlines()[0]
    return line if len(line) <= 300 else line[:300] + "..."


def results_table(rows: list[Row], title: str) -> Table:
    table = Table(title=title)
    for col in ("rank", "name", "status", "fitness", "best lr", "seconds", "update u"):
        table.add_column(col)
    ranked = sorted(
        rows, key=lambda r: -1.0 if r[2].fitness is None else r[2].fitness, reverse=True
    )
    for i, (name, g, result) in enumerate(ranked, 1):
        table.add_row(
            str(i),
            name,
            result.status,
            "-" if result.fitness is None else f"{result.fitness:.4f}",
            "-" if result.best_lr is None else f"{result.best_lr:g}",
            f"{result.seconds:.1f}",
            _short(g.equation(), 200),
        )
    return table


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."
