"""The `optevo` console script. The command line needs the `search` extra (Typer, Rich,
pydantic, ...), which a user of the drop-in optimizers alone does not install: without it the
command says so in one line instead of a traceback."""

from __future__ import annotations

import sys

SEARCH_EXTRA: frozenset[str] = frozenset(
    {"scipy", "sympy", "pydantic", "yaml", "typer", "rich", "matplotlib", "sklearn", "PIL"}
)
"""The top-level modules of the `search` extra's packages (pyproject.toml)."""


def main() -> None:
    try:
        from optevo.cli import main as cli_main
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing not in SEARCH_EXTRA:
            raise
        sys.stderr.write(
            f"optevo: the command line needs the search extra ({missing} is not installed): "
            "pip install 'optevo[search]'\n"
        )
        raise SystemExit(1) from None
    cli_main()
