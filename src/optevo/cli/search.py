"""`optevo search`, `optevo status`, `optevo export`: run a search, read a run, take a genome
out of it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from optevo.cli.common import (
    AddressOption,
    ExecutorOption,
    ThreadsOption,
    WorkersOption,
    app,
    connect_executor,
    console,
    err_console,
    executor_options,
    executor_overrides,
    executor_text,
    fail,
    parse_overrides,
    read_only,
)
from optevo.search.api import (
    RunSummary,
    Standing,
    TaskFileChangedWarning,
    planned_evaluations,
    read_summary,
    restore_config_yaml,
    resume_search,
    start_search,
)
from optevo.search.config import (
    ConfigError,
    RunConfig,
    load_run_config,
    run_preset,
    run_preset_names,
)
from optevo.search.executors import Executor, ExecutorError
from optevo.search.inspect import find_genome
from optevo.search.preflight import check_stages
from optevo.search.records import elimination_round
from optevo.search.runner import Event, SearchFailingError, timestamp
from optevo.search.store import RunStore, StoreError
from optevo.search.worker import Worker

if TYPE_CHECKING:
    from optevo.transfer.protocol import TransferEvent


@app.command()
def search(
    preset_name: Annotated[
        str | None,
        typer.Option("--preset", help=f"a whole-run preset: {', '.join(run_preset_names())}"),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="a run config YAML (may name a preset)")
    ] = None,
    run_dir: Annotated[
        Path | None,
        typer.Option("--run-dir", help="where the run is stored (default runs/NAME-TIME)"),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option("--resume", help="continue the run stored in this directory"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="the run seed")] = None,
    workers: WorkersOption = None,
    executor: ExecutorOption = None,
    address: AddressOption = None,
    threads: ThreadsOption = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="override a field, e.g. --set strategy.particles=4 (repeatable)"
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task",
            help="search on this task instead (repeatable): a registry task, or your own as "
            "FILE.py:NAME or package.module:NAME (optevo.tasks.user)",
        ),
    ] = None,
) -> None:
    """Search for optimizers (SPEC 6). With no options: the `main` preset (a short discovery
    on the paired suite fitness: Fashion-MNIST and five small tasks against Adam), about 20
    minutes on a 2-core CPU. With --task: the preset's strategy and budget on the paired
    fitness against Adam on those tasks (every fitness of the run: search, funnel, final)."""
    overrides = parse_overrides(set_ or [])
    if seed is not None:
        overrides["seed"] = seed
    if resume is not None and (preset_name or config or overrides or run_dir or task):
        fail(
            "--resume continues a stored run: drop --preset/--config/--set/--seed/--run-dir/"
            "--task"
        )
    with ExitStack() as stack:
        store: RunStore | None = None
        try:
            if resume is not None:
                # The lock first: a run in use is refused at once, before any data is loaded.
                store = stack.enter_context(_open_for_resume(resume))
                cfg = _stored_config(store, executor, workers, address, threads)
                target = resume
            else:
                chosen = executor_overrides(executor, workers, address, threads)
                executor_fields = {f"executor.{k}": v for k, v in chosen.items()}
                cfg = _new_config(preset_name, config, {**overrides, **executor_fields})
                cfg = _with_tasks(cfg, task or [])
                target = run_dir or Path("runs") / f"{cfg.name}-{timestamp()}"
            _announce_task_code(cfg, store)
            worker = _check_data(cfg)
        except (ConfigError, StoreError) as exc:
            fail(str(exc))
        budget = (
            f"{planned_evaluations(cfg)} evaluations planned"
            if cfg.budget_steps is None
            else f"a budget of {cfg.budget_steps:,} optimizer steps"
        )
        console.print(
            f"run directory: {target}\n"
            f"strategy: {cfg.strategy.kind}, {budget}; fitness: {cfg.fitness.describe()}; "
            f"executor: {executor_text(cfg.executor)}",
            highlight=False,
        )
        if cfg.funnel is not None:
            console.print(f"funnel: {cfg.funnel.describe()}", highlight=False)
        evaluator = connect_executor(cfg, worker)
        del worker
        try:
            summary = _run_with_progress(cfg, target, store, evaluator)
        except SearchFailingError as exc:
            fail(f"{target}: {exc}", code=1)
        finally:
            evaluator.close()
    print_summary(summary)


MAIN_PRESET = "main"
"""The main job: what `optevo search` (and `make run`) runs with no --preset or --config."""


def _new_config(
    preset_name: str | None, config: Path | None, overrides: dict[str, object]
) -> RunConfig:
    if config is not None:
        if preset_name is not None:
            fail("give --preset or --config, not both (a config file may name its preset)")
        return load_run_config(config, overrides)
    return run_preset(preset_name or MAIN_PRESET, **overrides)


def _with_tasks(cfg: RunConfig, names: list[str]) -> RunConfig:
    """`cfg` on the tasks of `--task` (each loaded now: a bad one is one line)."""
    from optevo.tasks.user import TaskLoadError

    try:
        return cfg.with_tasks(names)
    except (TaskLoadError, ValueError) as exc:
        raise ConfigError(f"--task: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return str(exc).splitlines()[0]


def _announce_task_code(cfg: RunConfig, store: RunStore | None) -> None:
    """Say which of the user's task files this run imports; on --resume, warn about a file
    changed since the run began."""
    from optevo.search.api import changed_task_files, task_file_warning
    from optevo.tasks.user import is_reference, load_task

    refs = [n for n in cfg.task_names() if is_reference(n)]
    for ref in refs:
        load_task(ref)
    if refs:
        console.print(f"task code imported: {', '.join(refs)}", highlight=False)
    if store is not None:
        for ref in changed_task_files(store):
            err_console.print(
                f"[yellow]warning:[/yellow] {escape(task_file_warning(ref))}", soft_wrap=True
            )


def _open_for_resume(run_dir: Path) -> RunStore:
    """The run's store, locked; every refusal names --resume and the directory."""
    try:
        return RunStore.open(run_dir)
    except StoreError as exc:
        message = str(exc).removesuffix(f": {run_dir}")
        raise StoreError(f"--resume {run_dir}: {message}") from None


def _stored_config(
    store: RunStore,
    kind: str | None,
    workers: int | None,
    address: str | None,
    threads: int | None,
) -> RunConfig:
    cfg = store.run_config()
    message = restore_config_yaml(store, cfg)
    if message is not None:
        err_console.print(f"[yellow]warning:[/yellow] {escape(message)}", soft_wrap=True)
    ex = executor_options(cfg.executor, kind, workers, address, threads)
    return cfg.model_copy(update={"executor": ex})


def _check_data(cfg: RunConfig) -> Worker:
    """Check every stage before any work (its device, data root, data set, batch size), so
    a problem is one clear line naming the field (not an `error` per candidate, a run finished
    for good). The in-process worker keeps the data sets."""
    worker = Worker(cfg)
    check_stages(cfg, worker, tuple(s for s in cfg.stages() if not elimination_round(s)))
    return worker


def _run_with_progress(
    cfg: RunConfig, target: Path, store: RunStore | None, executor: Executor
) -> RunSummary:
    budget = cfg.budget_steps  # a step budget: the bar counts optimizer steps
    planned = planned_evaluations(cfg) if budget is None else budget
    best: list[tuple[int, float]] = []  # (funnel rung, fitness): the highest rung's best
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("best {task.fields[best]}"),
    )
    with Progress(*columns, console=console) as progress:
        what = "evaluating" if budget is None else "optimizer steps"
        task = progress.add_task(what, total=planned, best="-")

        def on_event(event: Event) -> None:
            ev = event.evaluation
            if ev.request.stage != "final" and ev.fitness is not None:
                best.append((ev.rung, ev.fitness))
            if budget is None:
                done = progress.tasks[0].completed + 1
            else:
                done = min(event.steps, budget) if ev.request.stage != "final" else budget
            top = max(best) if best else None
            shown = "-" if top is None else f"{top[1]:.4f}"
            if top is not None and cfg.funnel is not None:
                shown += f" (rung {top[0]})"
            progress.update(
                task,
                completed=done,
                total=max(planned, done),
                description=f"{ev.request.stage} {ev.key}",
                best=shown,
            )

        validating: list[Callable[[TransferEvent], None]] = []

        def on_validate(event: TransferEvent) -> None:
            # the validation stage (RUN/validate): `optevo validate`'s bar, on this display
            if not validating:
                from optevo.cli.validate import _Bar

                validating.append(_Bar(progress, best="-"))
            validating[0](event)

        try:
            if store is not None:
                with warnings.catch_warnings():  # said once already (_announce_task_code)
                    warnings.simplefilter("ignore", TaskFileChangedWarning)
                    return resume_search(
                        store, on_event, executor, config=cfg, on_validate=on_validate
                    )
            return start_search(cfg, target, on_event, executor, on_validate=on_validate)
        except (ConfigError, StoreError, ExecutorError) as exc:
            progress.stop()
            fail(str(exc))
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                f"[yellow]interrupted[/yellow]: every finished evaluation is stored in "
                f"{target}; continue with: optevo search --resume {target}"
            )
            raise typer.Exit(130) from None
    raise AssertionError("unreachable")


# ----------------------------------------------------------------------------------------------


def leaderboard_table(rows: list[Standing], title: str, limit: int = 10) -> Table:
    """A leaderboard; with a "rung" column when a funnel promoted any of its genomes (a genome
    ranks by the highest rung it reached, then by its fitness there)."""
    table = Table(title=title)
    funnel = any(s.evaluation.rung > 0 for s in rows)
    columns = ("rank", "name", *(("rung",) if funnel else ()), "fitness", "status", "seen")
    for col in (*columns, "best lr", "update u"):
        table.add_column(col)
    for i, s in enumerate(rows[:limit], 1):
        ev = s.evaluation
        table.add_row(
            str(i),
            s.name,
            *((str(ev.rung),) if funnel else ()),
            s.evaluation.fitness_text,
            ev.status,
            str(s.times_seen),
            "-" if ev.best_lr is None else f"{ev.best_lr:g}",
            ev.genome.equation()
            + ("" if ev.genome.momentum == "none" else f"  [{ev.genome.momentum}]"),
        )
    return table


def verdict(final: list[Standing]) -> str | None:
    """Whether the best found genome beat Adam beyond the seed noise: the paired t-test of
    `optevo.transfer.verdict` over the final re-evaluation's seeds (the same fresh seeds for
    both, in order), two-sided at level 0.05."""
    from optevo.transfer.verdict import ALPHA, compare, format_effect

    adam = next((s for s in final if s.name == "Adam"), None)
    found = [s for s in final if s.name.startswith("#")]
    if adam is None or not found or adam.fitness is None:
        return None
    top = found[0]
    if top.fitness is None:
        return None
    t, a = top.evaluation, adam.evaluation
    same_update = t.canonical_hash == a.canonical_hash or t.behaviour_hash == a.behaviour_hash
    if same_update and t.request.schedule == a.request.schedule:
        return (
            f"best found genome {top.name} is Adam itself (the same update and schedule): "
            "the search found nothing that beat Adam"
        )
    c = compare(dict(enumerate(t.fitness_values)), dict(enumerate(a.fitness_values)), True)
    diff = top.fitness - adam.fitness
    where = {"win": "beyond", "loss": "beyond"}.get(c.verdict, "within")
    side = "above" if diff > 0 else "below"
    test = (
        f"paired t-test p = {c.p:.3g}, {format_effect(c, 3)}"
        if c.p is not None
        else f"fewer than 2 paired seeds: no test ({c.n})"
    )
    return (
        f"best found genome {top.name}: {top.evaluation.fitness_text} vs Adam "
        f"{adam.evaluation.fitness_text} over {len(t.fitness_values)} seeds: "
        f"{diff:+.4f}, {side} Adam {where} the seed noise ({test}; level {ALPHA:g})"
    )


def print_summary(summary: RunSummary) -> None:
    c = summary.counts
    budget = summary.config.budget_steps
    planned = f"of {c['planned']} planned " if budget is None else f"(step budget {budget:,}) "
    rungs = ", ".join(f"{k} {v}" for k, v in c.items() if k.startswith("rung-"))
    console.print(
        f"{summary.run_dir}: {'finished' if summary.finished else 'not finished'}; "
        f"{c['requested']} search evaluations {planned}"
        f"+ {c['screen_redraws']} screen redraws ({c['trained']} trained, "
        f"{c['duplicates']} duplicates reused); "
        + (f"funnel: {rungs}; " if rungs else "")
        + f"final {c['final']}/{c['final_planned']}",
        highlight=False,
    )
    if summary.status_counts:
        console.print(
            "statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.status_counts.items()))
        )
    if summary.leaderboard:
        console.print(leaderboard_table(summary.leaderboard, "search leaderboard (selection seed)"))
    if summary.final:
        seeds = summary.config.final.seeds
        console.print(
            leaderboard_table(
                summary.final, f"final: mean ± std over {seeds} fresh seeds", limit=50
            )
        )
        line = verdict(summary.final)
        if line:
            console.print(line)


@app.command()
def status(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    top: Annotated[int, typer.Option(min=1, help="leaderboard rows")] = 10,
) -> None:
    """The leaderboard and progress of a run (also while it runs)."""
    read_only()
    try:
        summary = read_summary(run_dir)
    except StoreError as exc:
        fail(str(exc))
    print_summary(summary)


@app.command()
def export(
    genome_spec: Annotated[
        str,
        typer.Argument(
            metavar="GENOME",
            help="a genome's hash (a unique prefix) with --run, a named optimizer or a JSON file",
        ),
    ],
    out: Annotated[Path, typer.Option("-o", "--out", help="the file to write")],
    run: Annotated[Path | None, typer.Option("--run", help="the run directory of a hash")] = None,
    format_: Annotated[
        str, typer.Option("--format", help="json (the genome) or python (a standalone optimizer)")
    ] = "json",
    force: Annotated[bool, typer.Option(help="overwrite an existing file")] = False,
) -> None:
    """Write a genome as JSON (for EvolvedOptimizer, show, evaluate) or, with --format python,
    as one readable Python file: a torch.optim.Optimizer that needs only torch."""
    read_only()
    from optevo import library
    from optevo.cli.common import load_genome
    from optevo.space.limits import quote

    if format_ not in ("json", "python"):
        fail(f"--format must be json or python, got {quote(format_)}")
    if run is not None:
        try:
            genome = find_genome(run, genome_spec)
        except (ConfigError, StoreError) as exc:
            fail(str(exc))
    else:
        genome = load_genome(genome_spec)
    if out.exists() and not force:
        fail(f"{out} exists; pass --force to overwrite it")
    if not out.parent.is_dir():
        fail(f"the folder of {out} does not exist")
    if format_ == "python":
        from optevo.export import named_source, python_source

        named = run is None and genome_spec in library.names()
        text = named_source(genome_spec) if named else python_source(genome)
    else:
        text = genome.to_json(indent=2) + "\n"
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror}")
    console.print(f"wrote {out} ({genome.canonical_hash()[:12]}): u = {genome.equation()}")
