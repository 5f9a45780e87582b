"""Readable text and sympy forms of a graph's active part, from the operation table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optevo.space.graph import Node, fold_graph
from optevo.space.ops import OPERATIONS


def graph_text(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], str],
    decay: Callable[[Any], str] | None = None,
) -> str:
    """The output node as one expression; `decay(d)` names the factor of a decayed connection."""
    return fold_graph(
        hidden,
        output,
        leaf,
        lambda op, args: OPERATIONS[op].text.format(*args),
        lambda d, inner: inner if decay is None else f"{decay(d)}*{inner}",
    )


def graph_sympy(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], Any],
    decay: Callable[[Any], Any] | None = None,
) -> Any:
    """The output node as a sympy expression; `decay(d)` gives a decayed connection's factor."""
    return fold_graph(
        hidden,
        output,
        leaf,
        lambda op, args: OPERATIONS[op].sym(*args),
        lambda d, inner: inner if decay is None else decay(d) * inner,
    )
