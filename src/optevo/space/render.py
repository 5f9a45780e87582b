"""Readable text and sympy forms of a graph's active part, from the operation table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optevo.space.graph import Node, parse_hidden
from optevo.space.ops import OPERATIONS


def graph_text(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], str],
    decay: Callable[[Any], str] | None = None,
) -> str:
    """The output node as one expression; `decay(d)` names the factor of a decayed connection."""

    def conn(ref: str, d: Any) -> str:
        inner = expr(ref)
        return inner if d is None or decay is None else f"{decay(d)}*{inner}"

    def node_text(node: Node) -> str:
        args = [conn(r, d) for r, d in zip(node.inputs, node.decays, strict=True)]
        return OPERATIONS[node.op].text.format(*args)

    def expr(ref: str) -> str:
        idx = parse_hidden(ref)
        return leaf(ref) if idx is None else node_text(hidden[idx])

    return node_text(output)


def graph_sympy(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], Any],
    decay: Callable[[Any], Any] | None = None,
) -> Any:
    """The output node as a sympy expression; `decay(d)` gives a decayed connection's factor."""

    def conn(ref: str, d: Any) -> Any:
        inner = expr(ref)
        return inner if d is None or decay is None else decay(d) * inner

    def node_sym(node: Node) -> Any:
        args = [conn(r, d) for r, d in zip(node.inputs, node.decays, strict=True)]
        return OPERATIONS[node.op].sym(*args)

    def expr(ref: str) -> Any:
        idx = parse_hidden(ref)
        return leaf(ref) if idx is None else node_sym(hidden[idx])

    return node_sym(output)
