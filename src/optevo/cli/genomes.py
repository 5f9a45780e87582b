"""Commands on single genomes: list, show, check, sample."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from optevo import library
from optevo.cli.common import (
    app,
    check_output_path,
    check_seed,
    console,
    fail,
    genome_from_run,
    load_genome,
    read_only,
)
from optevo.integrity import check
from optevo.jsonio import write_lines
from optevo.search.candidates import random_genome
from optevo.space.limits import quote


@app.command("list")
def list_optimizers() -> None:
    """List the named optimizers with their update equations."""
    table = Table(title="optevo named optimizers")
    for col in ("name", "momentum", "lr factor", "rec. lr", "update u"):
        table.add_column(col)
    for name in library.names():
        entry = library.get(name)
        rec = library.recommended_lr(name)
        table.add_row(
            name,
            entry.genome.momentum,
            entry.lr_schedule or "-",
            "-" if rec is None else f"{rec.lr:g}",
            entry.genome.equation(),
        )
    console.print(table)
    console.print(
        "rec. lr: the peak learning rate `optevo bench` chose (optevo show NAME says where "
        "it was measured); optevo.optim.create uses it when lr is not given",
        highlight=False,
    )


@app.command()
def show(
    genome: Annotated[
        str, typer.Argument(help="a named optimizer, a genome JSON file, or a hash with --run")
    ],
    fmt: Annotated[str, typer.Option("--format", help="text, latex or json")] = "text",
    run: Annotated[
        Path | None, typer.Option("--run", help="a run directory to find the hash in")
    ] = None,
) -> None:
    """Print a genome as an equation, LaTeX or JSON (momentum type and decay functions too)."""
    read_only()
    if not genome.strip():
        fail("show: an empty name: give a named optimizer, a genome JSON file or a hash")
    g = load_genome(genome, "show") if run is None else genome_from_run(run, genome)
    if fmt == "text":
        console.print(str(g), highlight=False)
        rec = library.recommended_lr(genome) if run is None else None
        if rec is not None:
            console.print(
                f"recommended peak lr: {rec.lr:g} (measured on {rec.where})", highlight=False
            )
    elif fmt == "latex":
        console.print(g.to_latex(), highlight=False, markup=False)
    elif fmt == "json":
        console.print_json(g.to_json())
    else:
        fail(f"unknown format {quote(fmt)}: choose text, latex or json")


@app.command("check")
def check_command(
    genome: Annotated[str, typer.Argument(help="a named optimizer or a genome JSON file")],
) -> None:
    """Run the integrity check (shifted sphere, SPEC 3) on a genome."""
    g = load_genome(genome, "check")
    result = check(g)
    status = "passed" if result.passed else "FAILED"
    flip = " (with the update's sign flipped)" if result.flipped else ""
    console.print(f"{status}{flip}; best final loss {result.best_loss:.4g} (threshold 3.5)")
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def sample(
    count: Annotated[int, typer.Option(min=1, help="how many genomes")] = 10,
    seed: Annotated[int, typer.Option(help="random seed (0 or more)")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(
            help="write the genomes as JSON lines to this new file (an existing one needs "
            "--force, and is then replaced whole)"
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="replace an existing --out file")] = False,
) -> None:
    """Draw random genomes that pass the integrity check (SPEC 1.4)."""
    check_seed(seed)
    if out is not None:
        if out.exists() and not out.is_dir() and not force:
            fail(f"{out} exists; pass --force to replace it")
        check_output_path(out)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    genomes = [random_genome(rng) for _ in range(count)]
    seconds = time.perf_counter() - t0
    table = Table(title=f"{count} random valid genomes (seed {seed})")
    for col in ("hash", "momentum", "update u"):
        table.add_column(col)
    for g in genomes:
        table.add_row(g.canonical_hash()[:10], g.momentum, g.equation())
    console.print(table)
    console.print(f"{count / seconds:.0f} valid genomes per second")
    if out is not None:
        try:
            write_lines(out, (g.to_dict() for g in genomes))
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}", code=1)
        console.print(f"wrote {out}")
