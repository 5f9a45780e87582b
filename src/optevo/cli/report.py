"""`optevo report RUNDIR`: the run as a self-contained HTML page and Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optevo.cli.common import app, console, fail, read_only
from optevo.cli.plot import check_steps
from optevo.report.page import ScheduleSpan, write_report
from optevo.report.schedules import PAPER_HOLD, PAPER_STEPS, PAPER_WARMUP
from optevo.search.store import StoreError


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="the folder to write (default RUNDIR/report)"),
    ] = None,
    top: Annotated[int, typer.Option(min=0, help="genomes drawn in detail")] = 3,
    rows: Annotated[int, typer.Option(min=1, help="leaderboard rows")] = 20,
    steps: Annotated[
        int,
        typer.Option(min=2, help="run length of the schedule and decay figures (up to 10^15)"),
    ] = PAPER_STEPS,
    warmup: Annotated[int, typer.Option(min=0, help="warm-up steps of those figures")] = (
        PAPER_WARMUP
    ),
    hold: Annotated[int, typer.Option(min=0, help="hold steps of those figures")] = PAPER_HOLD,
) -> None:
    """Write a run's report: a self-contained HTML page and Markdown.

    The leaderboard, equations, fitness over time, genealogy of the best genome, elimination
    rounds and figures of the top genomes, as index.html + report.md with the images in img/
    beside them (nothing is fetched from the network)."""
    read_only()
    check_steps(steps)
    if warmup + hold > steps:
        fail(f"--warmup + --hold ({warmup} + {hold}) exceed --steps ({steps})")
    if out is not None and out.exists() and not out.is_dir():
        fail(f"{out} exists and is not a folder")
    try:
        files = write_report(run_dir, out, top, rows, ScheduleSpan(steps, warmup, hold))
    except StoreError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write the report: {exc}")
    console.print(
        f"wrote {files.html} and {files.markdown} with {len(files.images)} images "
        f"in {files.seconds:.1f} s"
    )
