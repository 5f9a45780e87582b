"""Size limits on genomes, and how error messages quote untrusted input.

The search draws genomes of 4 hidden nodes (decay functions: 1), and the paper's optimizers
have at most a handful. The limits sit orders of magnitude above that and orders below what
would make a hostile genome expensive: every traversal is linear in the node count, so a
genome at the limits parses, renders, hashes and compiles in well under a second.
"""

from __future__ import annotations

from typing import Any

MAX_GENOME_BYTES = 1 << 20
"""Largest genome JSON text accepted (1 MiB; the paper's genomes take under 1 KB)."""

MAX_HIDDEN_NODES = 1000
"""Most hidden nodes in one graph: the update graph or one decay function."""

MAX_TOTAL_NODES = 10_000
"""Most nodes in a whole genome: the update graph plus every decay function on every
connection (counted per connection, as JSON spells them)."""

MAX_NAME_LENGTH = 32
"""Longest operation name, operand name or node reference (the longest real one has 15)."""

QUOTE_LENGTH = 40
"""Error messages quote at most this many characters of an offending string."""


def quote(value: Any) -> str:
    """An offending value for an error message: a string as `repr` of a short prefix (with
    its full length when cut), anything else by its kind, never the whole input."""
    if not isinstance(value, str):
        return kind(value)
    if len(value) <= QUOTE_LENGTH:
        return repr(value)
    return f"{value[:QUOTE_LENGTH]!r}... ({len(value):,} characters)"


def kind(obj: Any) -> str:
    """What a parsed JSON value is, in words (for "expected X, got Y" messages)."""
    return {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(obj), type(obj).__name__)


def quote_all(values: list[Any], most: int = 5) -> str:
    """Up to `most` quoted values, then how many more there are."""
    shown = ", ".join(quote(v) for v in values[:most])
    extra = len(values) - most
    return f"[{shown}{f', and {extra:,} more' if extra > 0 else ''}]"
