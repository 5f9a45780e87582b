"""`optevo plot schedule|decay|surface`: figures of named optimizers and a run's genomes."""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path
from typing import Annotated

import typer

from optevo.cli.common import app, console, fail, read_only
from optevo.jsonio import temp_beside
from optevo.report.plots import FORMATS, decay_figure, save, schedule_figure, surface_figure
from optevo.report.plots import surface as surface_data
from optevo.report.pointwise import VARIABLES
from optevo.report.schedules import PAPER_HOLD, PAPER_STEPS, PAPER_WARMUP
from optevo.report.subjects import Subject, SubjectError, resolve

plot_app = typer.Typer(
    no_args_is_help=True,
    help="Figures: learning-rate schedules, decay functions, update surfaces (PNG or SVG).",
)
app.add_typer(plot_app, name="plot")


@plot_app.callback()
def _plot_reads_only() -> None:
    read_only()  # figures read genomes and runs: no task file is imported

Names = Annotated[
    list[str],
    typer.Argument(help="named optimizers (Opt6, LR3), genome JSON files, or hashes with --run"),
]
Out = Annotated[
    Path,
    typer.Option(
        "-o", "--out", help="the image to write: .png or .svg (an existing file needs --force)"
    ),
]
Force = Annotated[bool, typer.Option(help="replace an existing --out file")]
Run = Annotated[Path | None, typer.Option("--run", help="the run directory that hashes refer to")]
MAX_STEPS = 10**15
"""The longest run a figure is drawn over (step numbers stay exact in float64)."""
Steps = Annotated[int, typer.Option(min=2, help="total steps T of the run drawn (up to 10^15)")]


def check_steps(steps: int) -> None:
    """A figure's run length: sampled at plot resolution, so only float64's exact integers
    bound it."""
    if steps > MAX_STEPS:
        fail(f"--steps {steps}: more than 10^15 steps cannot be drawn")


def _subjects(names: list[str], run: Path | None) -> list[Subject]:
    try:
        return [resolve(n, run) for n in names]
    except SubjectError as exc:
        fail(str(exc))


def _check_out(out: Path, force: bool) -> None:
    """Refuse, before any work, an --out that could not be written or would replace a file
    without --force (the rule of every command that writes a file)."""
    if out.suffix.lower() not in FORMATS:
        fail(f"{out}: the file name must end in .png or .svg")
    if out.is_dir():
        fail(f"{out} is a directory, not an image file")
    if out.exists() and not force:
        fail(f"{out} exists; pass --force to replace it")
    if not out.parent.is_dir():
        fail(f"the folder of {out} does not exist")
    if not os.access(out.parent, os.W_OK):
        fail(f"cannot write {out}: the folder {out.parent} is not writable")


def _write(fig: object, out: Path) -> None:
    """Write the image whole or not at all: into a temporary file beside `out`, which then
    replaces it."""
    fd, tmp = temp_beside(out, out.suffix)
    os.close(fd)
    try:
        save(fig, tmp)  # type: ignore[arg-type]
        os.replace(tmp, out)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", code=1)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    console.print(f"wrote {out}")


@plot_app.command("schedule")
def schedule(
    names: Names,
    out: Out,
    run: Run = None,
    steps: Steps = PAPER_STEPS,
    warmup: Annotated[int, typer.Option(min=0, help="warm-up steps W")] = PAPER_WARMUP,
    hold: Annotated[int, typer.Option(min=0, help="hold steps H")] = PAPER_HOLD,
    raw: Annotated[bool, typer.Option(help="do not normalise to [0, 1]")] = False,
    force: Force = False,
) -> None:
    """The effective learning-rate schedule (its LRk factor times the decay functions that
    factor out of the update), normalised to [0, 1], against the base one-cycle schedule
    (dashed): the paper's Figures 3-5. Default run: T = 96,000, W = 6,400, H = 12,800."""
    _check_out(out, force)
    check_steps(steps)
    if warmup + hold > steps:
        fail(f"--warmup + --hold ({warmup} + {hold}) exceed --steps ({steps})")
    subjects = _subjects(names, run)
    _write(schedule_figure(subjects, steps, warmup, hold, normalised=not raw), out)


@plot_app.command("decay")
def decay(
    names: Names, out: Out, run: Run = None, steps: Steps = PAPER_STEPS, force: Force = False
) -> None:
    """The decay functions of the genomes over a run (the paper's Figure 6); dashed: those
    that factor out into the learning-rate schedule."""
    _check_out(out, force)
    check_steps(steps)
    subjects = _subjects(names, run)
    try:
        fig = decay_figure(subjects, steps)
    except ValueError as exc:
        fail(str(exc))
    _write(fig, out)


def _range(option: str, text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        fail(f"{option} takes LOW,HIGH, e.g. -1,1; got {text!r}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        fail(f"{option} takes two finite numbers, got {text!r}")
    if not lo < hi:
        fail(f"{option} takes LOW,HIGH with LOW < HIGH, got {text!r}")
    return lo, hi


@plot_app.command("surface")
def surface(
    name: Annotated[
        str, typer.Argument(help="a named optimizer, a genome JSON file, or a hash with --run")
    ],
    out: Out,
    run: Run = None,
    x: Annotated[
        str | None, typer.Option("--x", help=f"variable on the x axis: {', '.join(VARIABLES)}")
    ] = None,
    y: Annotated[str | None, typer.Option("--y", help="variable on the y axis")] = None,
    x_range: Annotated[str | None, typer.Option(help="LOW,HIGH of the x axis")] = None,
    y_range: Annotated[str | None, typer.Option(help="LOW,HIGH of the y axis")] = None,
    fix: Annotated[
        list[str] | None,
        typer.Option("--fix", help="value of another variable, e.g. --fix s=1e-4 (repeatable)"),
    ] = None,
    at: Annotated[
        float, typer.Option(help="where in the run decay functions are read (0-1)")
    ] = 0.5,
    steps: Steps = PAPER_STEPS,
    points: Annotated[int, typer.Option(min=5, max=400, help="grid points per axis")] = 41,
    force: Force = False,
) -> None:
    """The update u as a surface over two of its inputs (g, v = v_hat, s = s_hat,
    lam = lam_hat, w), the others fixed: the paper's Figures 10-15. Default axes: the two
    inputs the update reads most."""
    _check_out(out, force)
    check_steps(steps)
    fixed: dict[str, float] = {}
    for pair in fix or []:
        key, sep, value = pair.partition("=")
        try:
            fixed[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            fail(f"--fix takes VARIABLE=NUMBER, got {pair!r}")
        if not math.isfinite(fixed[key.strip()]):
            fail(f"--fix {key.strip()}: the value must be a finite number, got {value.strip()!r}")
    (subject,) = _subjects([name], run)
    try:
        data = surface_data(
            subject,
            x,
            y,
            _range("--x-range", x_range),
            _range("--y-range", y_range),
            fixed,
            at,
            steps,
            points,
        )
    except ValueError as exc:
        fail(str(exc))
    _write(surface_figure(data, subject.label), out)
