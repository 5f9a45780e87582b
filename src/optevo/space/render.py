"""Readable text and sympy forms of a graph's active part, from the operation table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optevo.space.graph import Node, fold_graph
from optevo.space.ops import OPERATIONS


@dataclass(frozen=True)
class _Text:
    text: str
    prec: int  # 1 sum, 2 product, 3 atom
    op: str | None = None


def _placeholders(name: str, value: _Text) -> dict[str, str]:
    def wrapped(level: int) -> str:
        return value.text if value.prec >= level else f"({value.text})"

    absolute = value.text if value.op == "abs" else f"|{value.text}|"
    return {
        name: value.text,
        **{f"{name}{lvl}": wrapped(lvl) for lvl in (1, 2, 3)},
        name.upper(): absolute,
    }


def _apply_text(op: str, args: list[_Text]) -> _Text:
    row = OPERATIONS[op]
    fields: dict[str, str] = {}
    for name, value in zip("ab", args, strict=False):
        fields.update(_placeholders(name, value))
    if row.prec < 0:  # identity: the input itself
        return args[0]
    return _Text(row.text.format(**fields), row.prec, op)


def graph_text(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], str],
    decay: Callable[[Any], str] | None = None,
    negate: bool = False,
) -> str:
    """The output node as one expression; `decay(d)` names the factor of a decayed connection.

    Parentheses appear only where precedence needs them; `negate` prefixes a minus sign."""

    def decayed(d: Any, inner: _Text) -> _Text:
        if decay is None:
            return inner
        body = inner.text if inner.prec >= 2 else f"({inner.text})"
        return _Text(f"{decay(d)}*{body}", 2)

    result = fold_graph(hidden, output, lambda r: _Text(leaf(r), 3), _apply_text, decayed)
    if negate:
        return f"-{result.text}" if result.prec >= 3 else f"-({result.text})"
    return result.text


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
