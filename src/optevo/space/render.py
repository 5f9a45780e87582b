"""Readable text and sympy forms of a graph's active part, from the operation table.

A graph is spelled as one expression when that stays small (every genome the search or the
library produces). A graph whose expression would be large or deep, because it shares
subexpressions many times over or is a long chain, is spelled in pieces instead: shared and
deep nodes are named `h<i>` and defined after the expression, so the text grows linearly
with the node count (a 60-node Fibonacci-shaped graph would otherwise print 10^12 terms).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from optevo.space.graph import (
    GraphError,
    Node,
    active_order,
    fold_graph,
    hidden_ref,
    parse_hidden,
)
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


INLINE_NODES = 64
"""Most nodes one expression (or one named piece) spells out."""

INLINE_DEPTH = 16
"""Deepest nesting one expression (or one named piece) spells out."""


def naming_plan(hidden: tuple[Node, ...], output: Node, order: tuple[int, ...]) -> frozenset[int]:
    """The hidden nodes to name: none when the whole expression has at most `INLINE_NODES`
    nodes and `INLINE_DEPTH` levels; otherwise every node read more than once, plus the
    inputs of any node whose piece would grow past either bound."""
    cap = INLINE_NODES + 1

    def measure(_op: str, args: list[tuple[int, int]]) -> tuple[int, int]:
        return min(cap, 1 + sum(a[0] for a in args)), 1 + max(a[1] for a in args)

    size, depth = fold_graph(
        hidden, output, lambda _r: (1, 0), measure, lambda _d, inner: inner, order
    )
    if size <= INLINE_NODES and depth <= INLINE_DEPTH:
        return frozenset()
    readers: dict[int, int] = {}
    for node in (*(hidden[i] for i in order), output):
        for ref in node.inputs:
            idx = parse_hidden(ref)
            if idx is not None:
                readers[idx] = readers.get(idx, 0) + 1
    named = {i for i, n in readers.items() if n > 1}
    pieces: dict[int, tuple[int, int]] = {}
    for idx in (*order, -1):
        node = output if idx < 0 else hidden[idx]
        kids = [i for i in map(parse_hidden, node.inputs) if i is not None]
        parts = [(1, 0) if i in named else pieces[i] for i in kids]
        size = 1 + len(node.inputs) - len(kids) + sum(p[0] for p in parts)
        depth = 1 + max((p[1] for p in parts), default=0)
        if size > INLINE_NODES or depth > INLINE_DEPTH:
            named.update(kids)
            size, depth = 1 + len(node.inputs), 1
        if idx >= 0:
            pieces[idx] = (size, depth)
    return frozenset(named)


def graph_parts(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], Any],
    apply: Callable[[str, list[Any]], Any],
    decayed: Callable[[Any, Any], Any],
    named: Callable[[int], Any],
) -> tuple[Any, list[tuple[int, Any]]]:
    """The output's value and the definitions of the named nodes (`naming_plan`), outermost
    first; a named node reads as `named(i)` wherever it is used."""
    order = active_order(hidden, output)
    if order is None:
        raise GraphError("the active graph has a cycle")
    plan = naming_plan(hidden, output, order)
    definitions: list[tuple[int, Any]] = []

    def computed(idx: int, value: Any) -> Any:
        if idx not in plan:
            return value
        definitions.append((idx, value))
        return named(idx)

    body = fold_graph(hidden, output, leaf, apply, decayed, order, computed if plan else None)
    return body, definitions[::-1]


def graph_text(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], str],
    decay: Callable[[Any], str] | None = None,
    negate: bool = False,
) -> str:
    """The output node as one line; `decay(d)` names the factor of a decayed connection.

    Parentheses appear only where precedence needs them; `negate` prefixes a minus sign.
    A large graph reads `<expression> where h0 = ...; h3 = ...` (see `naming_plan`)."""
    body, definitions = graph_text_parts(hidden, output, leaf, decay, negate)
    if not definitions:
        return body
    return f"{body} where " + "; ".join(f"{name} = {text}" for name, text in definitions)


def graph_text_parts(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], str],
    decay: Callable[[Any], str] | None = None,
    negate: bool = False,
) -> tuple[str, list[tuple[str, str]]]:
    """The output node's text and the (name, text) definitions of its named nodes."""

    def decayed(d: Any, inner: _Text) -> _Text:
        if decay is None:
            return inner
        body = inner.text if inner.prec >= 2 else f"({inner.text})"
        return _Text(f"{decay(d)}*{body}", 2)

    result, definitions = graph_parts(
        hidden,
        output,
        lambda r: _Text(leaf(r), 3),
        _apply_text,
        decayed,
        lambda i: _Text(hidden_ref(i), 3),
    )
    text = result.text
    if negate:
        text = f"-{text}" if result.prec >= 3 else f"-({text})"
    return text, [(hidden_ref(i), value.text) for i, value in definitions]


def graph_sympy(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], Any],
    decay: Callable[[Any], Any] | None = None,
) -> Any:
    """The output node as a sympy expression; `decay(d)` gives a decayed connection's factor.

    Built once per node (sympy shares the subexpressions); a graph too deep for sympy's
    recursive algorithms is a ValueError."""
    try:
        return fold_graph(hidden, output, leaf, _apply_sympy, _sympy_decayed(decay))
    except RecursionError:
        raise ValueError(
            f"graph too deep for a single symbolic expression ({len(hidden)} hidden nodes); "
            "its LaTeX form names the shared and deep parts"
        ) from None


def graph_sympy_parts(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], Any],
    decay: Callable[[Any], Any] | None = None,
) -> tuple[Any, list[tuple[int, Any]]]:
    """The output node as sympy with large graphs in named pieces (as `graph_text_parts`);
    a named node is the symbol `h_<i>`."""
    import sympy as sp

    return graph_parts(
        hidden,
        output,
        leaf,
        _apply_sympy,
        _sympy_decayed(decay),
        lambda i: sp.Symbol(f"h_{i}", real=True),
    )


def _apply_sympy(op: str, args: list[Any]) -> Any:
    return OPERATIONS[op].sym(*args)


def _sympy_decayed(decay: Callable[[Any], Any] | None) -> Callable[[Any, Any], Any]:
    return lambda d, inner: inner if decay is None else decay(d) * inner


# -- a time cap on typesetting ---------------------------------------------------------------

TYPESET_SECONDS = 5.0
"""The longest a genome's LaTeX may take (sympy's automatic evaluation of nested transcendental
functions, e.g. `1 - tanh(1 - tanh(...)^2)^2` seven deep, grows about 4x per level: minutes
for a 500-byte genome). Past it the LaTeX is a plain "too large to typeset" form."""


class TooLargeToTypeset(BaseException):
    """Raised inside sympy by the time cap. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` inside sympy swallows it; `Genome.to_latex` catches it."""


@contextmanager
def typeset_time_limit(seconds: float = TYPESET_SECONDS) -> Iterator[None]:
    """Raise TooLargeToTypeset in the block once `seconds` have passed (a SIGALRM timer: in
    the main thread of a Unix process, and only when no other timer is running; elsewhere the
    block runs uncapped)."""
    usable = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    )
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise TooLargeToTypeset(f"typesetting took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
