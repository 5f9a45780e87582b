"""What the commands share: the Typer app, the console, genome and override parsing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from optevo import Genome
from optevo.jsonio import OutputError, check_output
from optevo.space.limits import quote

if TYPE_CHECKING:
    from optevo.search.config import ExecutorConfig, RunConfig
    from optevo.search.executors import Executor
    from optevo.search.worker import Worker

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Neural optimizer search: evolve, check, evaluate and use optimizers.",
)
console = Console(emoji=False)  # ":name:" in a task reference or a message is text
err_console = Console(stderr=True, emoji=False)

# The executor options of the commands that run evaluations (search, eliminate).
WorkersOption = Annotated[
    int | None, typer.Option(min=1, help="parallel evaluations (implies --executor process)")
]
ExecutorOption = Annotated[
    str | None, typer.Option(help="serial, process, ray or gpu (packs each batch)")
]
AddressOption = Annotated[
    str | None, typer.Option(help="Ray cluster address (with --executor ray)")
]
ThreadsOption = Annotated[
    int | None, typer.Option(min=1, max=1024, help="torch threads per evaluation")
]


def load_genome(spec: str, command: str | None = None) -> Genome:
    """A genome from a library name ("Opt6") or a JSON file path (`optevo.optim.spec`'s
    reader); any problem is `fail` (naming `command`, when given, for an empty name)."""
    return load_named(spec, command)[0]


def load_named(spec: str, command: str | None = None) -> tuple[Genome, str]:
    """`load_genome` with the genome's schedule (a named optimizer brings its learning-rate
    factor; `optevo.optim.spec.genome_of`)."""
    from optevo.optim.spec import genome_of

    try:
        return genome_of(spec)
    except ValueError as exc:
        where = f"{command}: " if command and not spec.strip() else ""
        fail(f"{where}{exc}")


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`--set KEY=VALUE` pairs, each value read as YAML; a malformed one is `fail`."""
    from optevo.config import ConfigError, parse_assignments

    try:
        return parse_assignments(pairs)
    except ConfigError as exc:
        fail(str(exc))


def read_only() -> None:
    """A command that only reads runs and genomes: no task file of the user's is imported in
    this process (`optevo.tasks.user.forbid_imports`)."""
    from optevo.tasks.user import forbid_imports

    forbid_imports()


def check_seed(seed: int) -> None:
    """Seeds of numpy generators are whole numbers >= 0."""
    if seed < 0:
        fail(f"--seed must be 0 or more, got {seed}")


def check_output_path(path: Path) -> None:
    """`fail` now, before any work, if results could not be written to `path`."""
    try:
        check_output(path)
    except OutputError as exc:
        fail(str(exc))


def fail(message: str, code: int = 2) -> NoReturn:
    """A user error: one clear line on stderr, no traceback, a non-zero exit; a message that
    echoes a huge argument is cut in the middle (its end says what is wrong)."""
    from optevo.config import cut_middle

    line = escape(cut_middle(message))
    err_console.print(f"[red]error:[/red] {line}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def set_threads(threads: int | None) -> None:
    """torch's CPU threads (None: torch's choice); more than the machine's CPUs is `fail`."""
    if threads is None:
        return
    import torch

    cpus = os.cpu_count() or 1
    if threads > cpus:
        fail(f"--threads {threads}: more than the {cpus} CPUs of this machine")
    torch.set_num_threads(threads)


def genome_from_run(run_dir: Path, genome_hash: str) -> Genome:
    """The genome of run `run_dir` whose hash starts with `genome_hash`; user errors exit."""
    from optevo.search.config import ConfigError
    from optevo.search.inspect import find_genome
    from optevo.search.store import StoreError

    try:
        return find_genome(run_dir, genome_hash)
    except (ConfigError, StoreError) as exc:
        fail(str(exc))


def executor_overrides(
    kind: str | None, workers: int | None, address: str | None, threads: int | None
) -> dict[str, object]:
    """The executor fields the command line's options set (the one statement of the rule
    that `--workers` > 1 without `--executor` means the process pool); an unknown
    `--executor` is a ConfigError naming the option."""
    from typing import get_args

    from optevo.search.config import ConfigError, ExecutorKind

    out: dict[str, object] = {}
    known = get_args(ExecutorKind)
    if kind is not None and kind not in known:
        raise ConfigError(
            f"--executor: unknown executor kind {quote(kind)}; known: {', '.join(known)}"
        )
    if kind is not None:
        out["kind"] = kind
    elif workers is not None and workers > 1:
        out["kind"] = "process"
    for key, value in (("workers", workers), ("address", address), ("threads", threads)):
        if value is not None:
            out[key] = value
    return out


def executor_options(
    stored: ExecutorConfig,
    kind: str | None,
    workers: int | None,
    address: str | None,
    threads: int | None,
) -> ExecutorConfig:
    """`stored` with the executor options of the command line applied (`executor_overrides`)."""
    from optevo.config import build
    from optevo.search.config import ExecutorConfig

    raw = {**stored.model_dump(), **executor_overrides(kind, workers, address, threads)}
    return build(ExecutorConfig, raw, "executor")


def executor_text(executor: ExecutorConfig) -> str:
    """`process x 2`, `serial`: how a run's evaluations execute, for the header line."""
    return executor.kind + (f" x {executor.workers}" if executor.kind != "serial" else "")


def connect_executor(config: RunConfig, worker: Worker) -> Executor:
    """The run's executor (a Ray cluster is connected to here, before any run directory is
    made); a cluster that cannot be reached is `fail`. Pool and Ray workers load their own
    data; the serial executor reuses `worker`."""
    from optevo.search.executors import ExecutorError, make_executor

    try:
        return make_executor(config, worker)
    except ExecutorError as exc:
        fail(str(exc))


def progress(*extra: ProgressColumn) -> Progress:
    """The progress bar of every long command: spinner, description, bar, done/total,
    elapsed, ETA, then `extra` columns."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        *extra,
        console=console,
    )
