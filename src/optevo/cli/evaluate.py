"""`optevo evaluate`: the fitness protocol on named optimizers, files and random genomes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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

from optevo import Genome, library
from optevo.cli.common import app, console, load_genome, parse_overrides


@app.command()
def evaluate(
    genomes: Annotated[
        list[str] | None, typer.Argument(help="named optimizers (optevo list) or genome JSON files")
    ] = None,
    preset_name: Annotated[str, typer.Option("--preset", help="paper, quick or tiny")] = "quick",
    config: Annotated[Path | None, typer.Option(help="a YAML config (overrides --preset)")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="override a config field, e.g. --set base=8 (repeatable)"),
    ] = None,
    random: Annotated[int, typer.Option(min=0, help="also evaluate N random genomes")] = 0,
    seed: Annotated[int, typer.Option(help="seed of the random genomes")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="append one JSON line per evaluation here, as each finishes")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads")] = None,
) -> None:
    """Fitness of optimizers by SPEC 5's protocol (LR screen, thresholds, early-stopped run)."""
    import torch

    from optevo.evaluate import config_from_dict, dataset_for, fitness, load_config, preset

    if threads:
        torch.set_num_threads(threads)
    overrides = parse_overrides(set_ or [])
    try:
        if config is not None:
            cfg = load_config(config)
            cfg = config_from_dict({**cfg.model_dump(), **overrides}, source=str(config))
        else:
            cfg = preset(preset_name, **overrides)
    except (ValueError, FileNotFoundError) as exc:
        raise typer.BadParameter(str(exc)) from None
    candidates: list[tuple[str, Genome | str]] = []
    for spec in genomes or []:
        candidates.append((spec, spec if spec in library.names() else load_genome(spec)))
    rng = np.random.default_rng(seed)
    for i in range(random):
        candidates.append((f"random-{seed}-{i}", Genome.random(rng)))
    if not candidates:
        raise typer.BadParameter("name at least one genome, or pass --random N")
    try:
        data = dataset_for(cfg)
    except (ValueError, FileNotFoundError) as exc:
        console.print(f"[red]cannot load the data set:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"data: {data!r}; model: ConvNet(base {cfg.base}); "
        f"screen {len(cfg.screen_lrs)} x {cfg.screen_steps} steps, "
        f"full run {cfg.total_steps} steps; device {cfg.device}"
    )
    rows = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("evaluating", total=len(candidates))
        for name, genome in candidates:
            progress.update(task, description=f"evaluating {name}")
            result = fitness(genome, cfg, data=data)
            rows.append((name, genome, result))
            shown = "-" if result.fitness is None else f"{result.fitness:.4f}"
            progress.console.print(
                f"{name}: {result.status}, fitness {shown}, {result.seconds:.1f} s"
            )
            if out is not None:
                g = genome if isinstance(genome, Genome) else library.genome(genome)
                line = {
                    "name": name,
                    "genome": g.to_dict(),
                    "config": cfg.model_dump(),
                    **result.to_dict(),
                }
                with out.open("a") as fh:
                    fh.write(json.dumps(line) + "\n")
            progress.advance(task)
    table = Table(
        title=f"fitness ({cfg.dataset}, preset {preset_name if config is None else config})"
    )
    for col in ("rank", "name", "status", "fitness", "best lr", "seconds", "update u"):
        table.add_column(col)
    ranked = sorted(
        rows, key=lambda r: -1.0 if r[2].fitness is None else r[2].fitness, reverse=True
    )
    for i, (name, genome, result) in enumerate(ranked, 1):
        g = genome if isinstance(genome, Genome) else library.genome(genome)
        table.add_row(
            str(i),
            name,
            result.status,
            "-" if result.fitness is None else f"{result.fitness:.4f}",
            "-" if result.best_lr is None else f"{result.best_lr:g}",
            f"{result.seconds:.1f}",
            g.equation(),
        )
    console.print(table)
    if out is not None:
        console.print(f"results appended to {out}")
