"""The `optevo` command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
import yaml
from rich.console import Console
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
from optevo.integrity import check

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Neural optimizer search: evolve, check, evaluate and use optimizers.",
)
console = Console()


def load_genome(spec: str) -> Genome:
    """A genome from a library name ("Opt6") or a JSON file path."""
    if spec in library.names():
        return library.genome(spec)
    path = Path(spec)
    if not path.exists():
        raise typer.BadParameter(
            f"{spec!r} is neither a named optimizer ({', '.join(library.names())}) nor a file"
        )
    try:
        return Genome.from_json(path.read_bytes())
    except ValueError as exc:
        raise typer.BadParameter(f"{path}: {exc}") from None


@app.command("list")
def list_optimizers() -> None:
    """List the named optimizers with their update equations."""
    table = Table(title="optevo named optimizers")
    for col in ("name", "momentum", "lr factor", "update u"):
        table.add_column(col)
    for name in library.names():
        entry = library.get(name)
        table.add_row(
            name, entry.genome.momentum, entry.lr_schedule or "-", entry.genome.equation()
        )
    console.print(table)


@app.command()
def show(
    genome: Annotated[str, typer.Argument(help="a named optimizer or a genome JSON file")],
    fmt: Annotated[str, typer.Option("--format", help="text, latex or json")] = "text",
) -> None:
    """Print a genome as an equation, LaTeX or JSON."""
    g = load_genome(genome)
    if fmt == "text":
        console.print(str(g), highlight=False)
    elif fmt == "latex":
        console.print(g.to_latex(), highlight=False, markup=False)
    elif fmt == "json":
        console.print_json(g.to_json())
    else:
        raise typer.BadParameter(f"unknown format {fmt!r}: choose text, latex or json")


@app.command("check")
def check_command(
    genome: Annotated[str, typer.Argument(help="a named optimizer or a genome JSON file")],
) -> None:
    """Run the integrity check (shifted sphere, SPEC 3) on a genome."""
    g = load_genome(genome)
    result = check(g)
    status = "passed" if result.passed else "FAILED"
    flip = " (with the update's sign flipped)" if result.flipped else ""
    console.print(f"{status}{flip}; best final loss {result.best_loss:.4g} (threshold 3.5)")
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def sample(
    count: Annotated[int, typer.Option(min=1, help="how many genomes")] = 10,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="write the genomes as JSON lines here")] = None,
) -> None:
    """Draw random genomes that pass the integrity check (SPEC 1.4)."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    genomes = [Genome.random(rng) for _ in range(count)]
    seconds = time.perf_counter() - t0
    table = Table(title=f"{count} random valid genomes (seed {seed})")
    for col in ("hash", "momentum", "update u"):
        table.add_column(col)
    for g in genomes:
        table.add_row(g.canonical_hash()[:10], g.momentum, g.equation())
    console.print(table)
    console.print(f"{count / seconds:.0f} valid genomes per second")
    if out is not None:
        out.write_text("".join(json.dumps(g.to_dict()) + "\n" for g in genomes))
        console.print(f"wrote {out}")


def _parse_overrides(pairs: list[str]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--set takes KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


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
    overrides = _parse_overrides(set_ or [])
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
