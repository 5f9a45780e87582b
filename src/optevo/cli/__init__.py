"""The `optevo` command line (Typer + Rich). One module per group of commands."""

from __future__ import annotations

from optevo.cli import evaluate, genomes, search  # noqa: F401 - they register their commands
from optevo.cli.common import app


def main() -> None:
    app()


__all__ = ["app", "main"]
