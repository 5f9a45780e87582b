"""`optevo eliminate RUNDIR`: the elimination rounds of SPEC 7.1 on a finished search."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from optevo.cli.common import (
    AddressOption,
    ExecutorOption,
    ThreadsOption,
    WorkersOption,
    app,
    connect_executor,
    console,
    executor_options,
    executor_text,
    fail,
)
from optevo.cli.common import (
    progress as progress_bar,
)
from optevo.search.config import ConfigError, ExecutorConfig, RunConfig
from optevo.search.elimination import (
    EliminationResult,
    NoSurvivorsError,
    check_search,
    eliminate,
    read_elimination,
    search_candidates,
    stored_elimination,
)
from optevo.search.elimination_config import (
    PROTOCOLS,
    EliminationConfig,
    elimination_protocol,
)
from optevo.search.executors import Executor, ExecutorError
from optevo.search.preflight import check_stages
from optevo.search.records import elimination_round
from optevo.search.runner import Event
from optevo.search.store import RunStore, StoreError
from optevo.search.worker import Worker


def _int_list(option: str, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        fail(f"{option} takes comma-separated whole numbers, e.g. 50,24,12,6; got {text!r}")
    if not values:
        fail(f"{option} needs at least one number")
    return values


@app.command("eliminate")
def eliminate_command(
    run_dir: Annotated[Path, typer.Argument(help="the run directory of a finished search")],
    protocol: Annotated[
        str | None,
        typer.Option(
            help="paper (50->24->12->6 at bases 64/96/128, 16,000 steps), scaled (the "
            "paper's ratios on the run's own surrogate, 8->4->2->1) or auto (paper for "
            "paper-sized runs)"
        ),
    ] = None,
    tops: Annotated[
        str | None,
        typer.Option(help="genomes entering each round, then the survivors, e.g. 50,24,12,6"),
    ] = None,
    bases: Annotated[
        str | None, typer.Option(help="ConvNet base width of each round, e.g. 64,96,128")
    ] = None,
    steps: Annotated[
        str | None, typer.Option(help="training steps: one value, or one per round")
    ] = None,
    seeds: Annotated[
        int | None, typer.Option(min=1, max=100, help="training seeds per genome and round")
    ] = None,
    workers: WorkersOption = None,
    executor: ExecutorOption = None,
    address: AddressOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Rank a finished search's best genomes in elimination rounds (SPEC 7.1).

    Each round re-trains the genomes on a larger surrogate over several seeds and keeps the
    best by mean validation accuracy. Stored in the run's database: run it again to continue
    after a crash or Ctrl-C."""
    with ExitStack() as stack:
        try:
            # The lock first: a run in use is refused at once, before any data is loaded.
            store = stack.enter_context(RunStore.open(run_dir))
            run_config = store.run_config()
            check_search(store, run_config)
            available = len(search_candidates(store))
            elim = _protocol(run_config, protocol, tops, bases, steps, seeds)
            ex = executor_options(run_config.executor, executor, workers, address, threads)
            stored = stored_elimination(store)
            if stored is not None and elim is not None and elim != stored.config:
                fail(
                    f"{run_dir} already holds an elimination ({stored.config.describe()}); "
                    "continue it without protocol options, or copy the run directory to try "
                    "another"
                )
            shown = (
                elim
                or (stored.config if stored else None)
                or run_config.elimination
                or _auto(run_config)
            )
            config = run_config.model_copy(update={"elimination": shown, "executor": ex})
            worker = Worker(config)
            check_stages(config, worker, tuple(s for s in config.stages() if elimination_round(s)))
        except (ConfigError, StoreError) as exc:
            fail(str(exc))
        console.print(
            f"elimination of {run_dir}: {shown.protocol}, {shown.describe()}; "
            f"{available} distinct genomes with a fitness in the search; "
            f"executor: {executor_text(ex)}"
        )
        evaluator = connect_executor(config, worker)
        del worker
        try:
            result = _run_with_progress(store, elim, ex, evaluator, shown, available)
        finally:
            evaluator.close()
    print_elimination(result)


def _auto(run_config: RunConfig) -> EliminationConfig:
    try:
        return elimination_protocol(run_config.fitness, "auto")
    except ValueError as exc:
        raise ConfigError(f"elimination (auto): {exc}") from None


def _protocol(
    run_config: RunConfig,
    protocol: str | None,
    tops: str | None,
    bases: str | None,
    steps: str | None,
    seeds: int | None,
) -> EliminationConfig | None:
    """The protocol the options ask for; None when none is given (continue the stored one,
    or the run config's, or `auto`)."""
    if protocol is None and tops is None and bases is None and steps is None and seeds is None:
        return None
    if protocol is not None and protocol not in PROTOCOLS:
        fail(f"unknown --protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    try:
        return elimination_protocol(
            run_config.fitness,
            protocol or "auto",
            tops=_int_list("--tops", tops),
            bases=_int_list("--bases", bases),
            steps=_int_list("--steps", steps),
            seeds=seeds,
        )
    except ValueError as exc:
        # "tops: ..." blames an option: named as given ("--tops 5,10: ...") when it was.
        message = str(exc)
        option, sep, rest = message.partition(": ")
        given = {"tops": tops, "bases": bases, "steps": steps}.get(option)
        if sep and given is not None:
            message = f"--{option} {given}: {rest}"
        elif sep and option in ("tops", "bases", "steps"):
            message = f"elimination {message}"
        raise ConfigError(message) from None


def _run_with_progress(
    store: RunStore,
    elim: EliminationConfig | None,
    ex: ExecutorConfig,
    executor: Executor,
    shown: EliminationConfig,
    available: int,
) -> EliminationResult:
    planned, entering = 0, min(available, shown.rounds[0].candidates)
    for n in range(1, len(shown.rounds) + 1):
        planned += entering
        entering = min(entering, shown.advancing(n))
    with progress_bar() as progress:
        task = progress.add_task("eliminating", total=planned)

        def on_event(event: Event) -> None:
            ev = event.evaluation
            progress.update(task, advance=1, description=f"{ev.request.stage} {ev.key}")

        run_dir = store.run_dir
        try:
            return eliminate(store, elim, on_event, executor, ex)
        except NoSurvivorsError as exc:
            progress.stop()
            stored = read_elimination(run_dir)
            if stored is not None:
                print_elimination(stored)
            fail(str(exc), code=1)
        except (ConfigError, StoreError, ExecutorError) as exc:
            progress.stop()
            fail(str(exc))
        except KeyboardInterrupt:
            progress.stop()
            console.print(
                f"[yellow]interrupted[/yellow]: every finished evaluation is stored in "
                f"{run_dir}; continue with: optevo eliminate {run_dir}"
            )
            raise typer.Exit(130) from None
    raise AssertionError("unreachable")


def print_elimination(result: EliminationResult) -> None:
    for rnd in result.rounds:
        last = rnd.number == len(result.config.rounds)
        table = Table(
            title=(
                f"round {rnd.number}: {rnd.fitness.size_label}, mean ± std over "
                f"{result.config.seeds} seeds"
            )
        )
        for col in ("rank", "genome", "mean ± std", "previous", "status", "update u", ""):
            table.add_column(col)
        for i, ev in enumerate(rnd.ranking, 1):
            before = rnd.previous(ev)
            mark = "survives" if last else "goes on"
            table.add_row(
                str(i),
                ev.canonical_hash[:10],
                ev.fitness_text,
                "-" if before is None else before.fitness_text,
                ev.status,
                ev.genome.equation()
                + ("" if ev.genome.momentum == "none" else f"  [{ev.genome.momentum}]"),
                mark if i <= rnd.advancing and rnd.finished else "",
            )
        console.print(table)
    if result.finished:
        names = ", ".join(ev.canonical_hash[:10] for ev in result.survivors)
        console.print(f"survivors ({len(result.survivors)}): {names}")
