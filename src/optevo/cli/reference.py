"""The command line as a click command, for the docs site's generated CLI reference
(`docs/reference/cli.md`, rendered by mkdocs-click)."""

from __future__ import annotations

import typer

from optevo.cli import app

command = typer.main.get_command(app)
"""The `optevo` command with every subcommand registered."""
