"""What the commands share: the Typer app, the console, genome and override parsing."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
import yaml
from rich.console import Console

from optevo import Genome, library

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Neural optimizer search: evolve, check, evaluate and use optimizers.",
)
console = Console()
err_console = Console(stderr=True)


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


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--set takes KEY=VALUE, got {pair!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def fail(message: str, code: int = 2) -> NoReturn:
    """A user error: one clear line on stderr, no traceback, a non-zero exit."""
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def genome_from_run(run_dir: Path, genome_hash: str) -> Genome:
    """The genome of run `run_dir` whose hash starts with `genome_hash`; user errors exit."""
    from optevo.search.config import ConfigError
    from optevo.search.inspect import find_genome
    from optevo.search.store import StoreError

    try:
        return find_genome(run_dir, genome_hash)
    except (ConfigError, StoreError) as exc:
        fail(str(exc))
