"""`optevo simplify` and `optevo ablate`: the smallest equation that keeps the fitness, and
which part of an equation earns its place."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.table import Table

from optevo import library
from optevo.cli.common import (
    ThreadsOption,
    app,
    console,
    fail,
    genome_from_run,
    load_named,
    progress,
    set_threads,
)

if TYPE_CHECKING:
    from optevo.fitness import FitnessConfig
    from optevo.simplify import ScoreStore
    from optevo.space.genome import Genome

GenomeArg = Annotated[
    str, typer.Argument(help="a named optimizer, a genome JSON file, or a hash with --run")
]
RunOption = Annotated[Path | None, typer.Option("--run", help="a run to find the hash in")]
FitnessOption = Annotated[
    str, typer.Option("--fitness", help="a fitness preset (tiny, quick, paper) or a YAML file")
]
TaskOption = Annotated[
    list[str] | None,
    typer.Option(
        "--task",
        help="score on this task instead, paired against Adam (repeatable): a registry task "
        "or your own, FILE.py:NAME (the fitness's other settings are kept)",
    ),
]
SeedsOption = Annotated[
    int, typer.Option("--seeds", min=2, max=100, help="paired training seeds per comparison")
]
StoreOption = Annotated[
    Path | None,
    typer.Option(
        "--store",
        help="SQLite file keeping every fitness result (default: RUN/simplify.sqlite with --run; "
        "for simplify, beside the output; ablate without --run needs it); run the command "
        "again to go on after Ctrl-C or a crash",
    ),
]


def _genome(spec: str, run: Path | None) -> tuple[Genome, str]:
    """The genome and its schedule (a named optimizer brings its learning-rate factor).
    `--run` is checked whatever the genome is (its store and outputs go inside it)."""
    if run is not None:
        from optevo.search.store import StoreError, check_run_dir

        try:
            check_run_dir(run)
        except StoreError as exc:
            fail(f"--run: {exc}")
    if run is not None and spec not in library.names() and not Path(spec).is_file():
        return genome_from_run(run, spec), "one_cycle"
    if not spec:
        fail("name a genome: a named optimizer, a genome JSON file, or a hash with --run")
    return load_named(spec)


def _fitness(spec: str, tasks: list[str] | None = None) -> FitnessConfig:
    """The fitness of `--fitness`, on the paired suite of `--task` when given."""
    from optevo.config import ConfigError
    from optevo.fitness import load_config, preset
    from optevo.fitness.preflight import check_device

    try:
        config = load_config(spec) if spec.endswith((".yaml", ".yml")) else preset(spec)
        check_device(config.device)
    except (ConfigError, ValueError) as exc:
        fail(f"--fitness: {exc}")
    if tasks:
        from pydantic import ValidationError

        from optevo.config import format_errors
        from optevo.fitness.config import TaskRef, as_suite

        try:
            config = as_suite(config, tuple(TaskRef(name=t) for t in tasks))
        except ValidationError as exc:
            fail(f"--task: {format_errors(exc)}")
        refs = [t for t in tasks if ":" in t]
        if refs:
            console.print(f"task code imported: {', '.join(refs)}", highlight=False)
    return config


def _open_store(path: Path) -> ScoreStore:
    """The score store at `path`, or one line saying why it cannot be used."""
    from optevo.simplify import ScoreStore, ScoreStoreError

    try:
        return ScoreStore(path)
    except ScoreStoreError as exc:
        fail(str(exc))
    except (OSError, sqlite3.Error) as exc:
        fail(f"cannot open the score store {path}: {exc}")


def _interrupted(scores: ScoreStore, store_path: Path) -> NoReturn:
    console.print(
        f"interrupted: {scores.count()} fitness results are kept in {store_path}; run the "
        "same command again to go on"
    )
    raise typer.Exit(130)


@app.command()
def simplify(
    genome: GenomeArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="the simplified genome's JSON file")],
    run: RunOption = None,
    fitness_spec: FitnessOption = "tiny",
    task_refs: TaskOption = None,
    seeds: SeedsOption = 3,
    threads: ThreadsOption = None,
    max_evals: Annotated[
        int, typer.Option("--max-evals", min=1, help="fitness evaluations at most")
    ] = 200,
    tolerance: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="an edit is kept when equivalent within ± this much mean fitness (TOST)",
        ),
    ] = 0.005,
    improve: Annotated[
        bool,
        typer.Option(
            "--improve",
            help="also keep edits that are better beyond noise (a different optimizer; "
            "reported apart)",
        ),
    ] = False,
    exact_only: Annotated[
        bool, typer.Option("--exact-only", help="only the exact pass (no training)")
    ] = False,
    store: StoreOption = None,
    force: Annotated[bool, typer.Option(help="overwrite an existing output file")] = False,
) -> None:
    """The smallest equation that keeps the fitness.

    First an exact pass with no training (identities, inactive branches, decay functions
    that are 1 over the run: what the canonical form or the behaviour on a fixed gradient
    stream shows changes nothing); then edits scored with the fitness on paired seeds (at
    least 3): an edit is kept when the edited genome is equivalent to the current one within
    ± --tolerance (two one-sided paired t-tests at level 0.05: the 90% interval of the mean
    difference inside ± tolerance), the one giving the smallest genome first, until none is
    kept or --max-evals is spent. With --improve, edits that are better beyond noise are kept
    too, and listed as improvements."""
    from optevo.simplify import FitnessScorer, ScoreStoreError, ScoringError, size
    from optevo.simplify import simplify as run_simplify
    from optevo.simplify.exact import EXACT_SECONDS
    from optevo.simplify.noisy import MIN_SEEDS

    if out.exists() and not force:
        fail(f"{out} exists; pass --force to replace it")
    if not out.parent.is_dir():
        fail(f"the folder of {out} does not exist")
    if not exact_only and seeds < MIN_SEEDS:
        fail(f"--seeds {seeds}: the equivalence test needs at least {MIN_SEEDS} paired seeds")
    set_threads(threads)
    original, schedule = _genome(genome, run)
    config = _fitness(fitness_spec, task_refs)
    store_path = store or (run / "simplify.sqlite" if run else out.with_suffix(".scores.sqlite"))
    scores = _open_store(store_path)
    scorer = FitnessScorer(config, schedule, scores)
    seed_list = list(range(seeds))
    try:
        with progress() as bar:
            task = bar.add_task("simplifying", total=max_evals)
            result = run_simplify(
                original,
                scorer,
                seed_list,
                horizon=config.horizon,
                max_evaluations=max_evals,
                on_score=lambda n: bar.update(task, completed=n),
                noisy=not exact_only,
                tolerance=tolerance,
                improve=improve,
            )
    except KeyboardInterrupt:
        _interrupted(scores, store_path)
    except ScoringError as exc:
        fail(f"simplify: {exc}", code=1)
    except ScoreStoreError as exc:
        fail(str(exc))
    finally:
        scores.close()
    table = Table(title=f"simplified ({config.label} fitness, {seeds} paired seeds)")
    table.add_column("")
    table.add_column("size")
    table.add_column("update u")
    table.add_row("original", str(size(original)), str(original))
    table.add_row("simplified", str(size(result.genome)), str(result.genome))
    console.print(table)
    for step in result.exact_applied:
        console.print(f"  exact: {step}", highlight=False)
    if not result.exact_complete:
        console.print(
            f"  the exact pass stopped at its time limit ({EXACT_SECONDS:g} s): the genome is "
            "too large to check every edit; what it found is kept",
            highlight=False,
        )
    for s in result.steps:
        what = "improved" if s.how == "improved" else "kept (equivalent)"
        console.print(
            f"  {what}: {s.description} (fitness {s.mean:+.4f} ± {s.se:.4f})", highlight=False
        )
    if result.refused:
        console.print(
            f"  not scored: {len(result.refused)} substitution(s) whose values differ from "
            "the subtree's (a different optimizer, not a simpler one)",
            highlight=False,
        )
    spent = " (budget spent)" if result.budget_spent else ""
    console.print(
        f"{result.evaluations} fitness evaluations{spent}, {scorer.trained} trained now; "
        f"results in {store_path}"
    )
    try:
        out.write_text(result.genome.to_json(indent=2) + "\n")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    console.print(f"wrote {out} ({result.genome.canonical_hash()[:12]})")


@app.command()
def ablate(
    genome: GenomeArg,
    run: RunOption = None,
    fitness_spec: FitnessOption = "tiny",
    task_refs: TaskOption = None,
    seeds: SeedsOption = 3,
    store: StoreOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Each part of a genome removed alone (each hidden node, each decay function, the
    momentum type, the learning-rate factor of a named optimizer): the fitness change over
    paired seeds, mean ± standard error. A part matters when removing it costs fitness by the
    paired t-test over the seeds (two-sided, level 0.05)."""
    from optevo.simplify import FitnessScorer, ScoreStoreError, ScoringError
    from optevo.simplify import ablate as run_ablate

    set_threads(threads)
    original, schedule = _genome(genome, run)
    config = _fitness(fitness_spec, task_refs)
    if store is None and run is None:
        fail("ablate keeps every fitness result in a store: pass --store FILE (or --run RUN)")
    store_path = store or (run / "simplify.sqlite" if run else Path())
    scores = _open_store(store_path)
    scorer = FitnessScorer(config, schedule, scores)
    extra = []
    if schedule != "one_cycle":
        without = FitnessScorer(config, "one_cycle", scores)
        extra.append((f"learning-rate factor {schedule}", without))
    try:
        with progress() as bar:
            task = bar.add_task("ablating", total=None)
            base, rows = run_ablate(
                original,
                scorer,
                list(range(seeds)),
                extra,
                on_score=lambda n: bar.update(task, completed=n),
            )
    except KeyboardInterrupt:
        _interrupted(scores, store_path)
    except ScoringError as exc:
        fail(f"ablate: {exc}", code=1)
    except ScoreStoreError as exc:
        fail(str(exc))
    finally:
        scores.close()
    from optevo.simplify.ablation_file import ablation_record, verdict, write_ablation

    mean = sum(base) / len(base)
    table = Table(
        title=f"ablation of u = {original.equation()} (fitness {mean:.4f}, {seeds} seeds)"
    )
    for col in ("part removed", "kind", "fitness change", "verdict"):
        table.add_column(col)
    for row in rows:
        table.add_row(row.part, row.kind, f"{row.mean:+.4f} ± {row.se:.4f}", verdict(row))
    console.print(table)
    console.print(f"results in {store_path}")
    if run is not None:
        record = ablation_record(original, genome, config, list(range(seeds)), base, rows)
        path = write_ablation(run, record)
        console.print(f"wrote {path} (optevo report {run} shows it)")
