"""The `optevo` command line (Typer + Rich). One module per group of commands."""

from __future__ import annotations

from optevo.cli import (  # noqa: F401 - they register their commands
    bench,
    eliminate,
    evaluate,
    genomes,
    plot,
    report,
    search,
    simplify,
    tasks,
    validate,
)
from optevo.cli.common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
