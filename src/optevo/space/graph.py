"""What the weight-update graph and the decay graphs share: nodes, references, the active
subgraph, cycle detection and the canonical form.

A graph is a tuple of hidden nodes plus one output node. An input reference is either the
name of an operand (a leaf) or `h<i>`, the i-th hidden node.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optevo.space.limits import MAX_HIDDEN_NODES, quote
from optevo.space.ops import OPERATIONS

if TYPE_CHECKING:
    from optevo.space.decay import DecayGenome

OUTPUT = "out"
"""Name of the output node in paths and error messages."""


def hidden_ref(i: int) -> str:
    """The reference string of hidden node i."""
    return f"h{i}"


_HIDDEN_REF = re.compile(r"h(?:0|[1-9][0-9]*)", re.ASCII)
_MAX_INDEX_DIGITS = 9


def parse_hidden(ref: str) -> int | None:
    """Index of a hidden-node reference `h<i>` (ASCII digits, no leading zero), or None if
    `ref` is not one. An index too long to be real reads as `sys.maxsize` (a missing node)."""
    if not isinstance(ref, str) or _HIDDEN_REF.fullmatch(ref) is None:
        return None
    return int(ref[1:]) if len(ref) <= 1 + _MAX_INDEX_DIGITS else sys.maxsize


@dataclass(frozen=True)
class Node:
    """One node: an operation applied to one or two input references.

    `decays[i]` is the decay function on connection i (None: no decay). In a decay graph
    every entry is None.
    """

    op: str
    inputs: tuple[str, ...]
    decays: tuple[DecayGenome | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.decays:
            object.__setattr__(self, "decays", (None,) * len(self.inputs))

    @property
    def arity(self) -> int:
        return len(self.inputs)

    def replace(self, **changes: Any) -> Node:
        fields = {"op": self.op, "inputs": self.inputs, "decays": self.decays, **changes}
        return Node(**fields)


class GraphError(ValueError):
    """A graph that breaks a rule of the search space."""


def validate_graph(
    hidden: tuple[Node, ...],
    output: Node,
    operands: Mapping[str, Any],
    unary: tuple[str, ...],
    binary: tuple[str, ...],
    where: str,
) -> None:
    """Check every rule of SPEC 1/2 that does not need evaluation; raise GraphError if broken.

    Rules: at most `MAX_HIDDEN_NODES` hidden nodes, known operation of the right arity and
    part of the space, known operand or an existing hidden node, no node reading itself, a
    binary node's inputs differ, decay list aligned with the inputs, the output node reads a
    hidden node (unary) or at least one (binary), and the active graph is acyclic. Messages
    quote at most a short prefix of an offending string.
    """
    if not hidden:
        raise GraphError(f"{where}: needs at least one hidden node")
    if len(hidden) > MAX_HIDDEN_NODES:
        raise GraphError(
            f"{where}: {len(hidden):,} hidden nodes, more than the limit of {MAX_HIDDEN_NODES:,}"
        )
    for name, node in _named_nodes(hidden, output):
        path = f"{where}.{name}"
        if not isinstance(node.op, str) or node.op not in OPERATIONS:
            raise GraphError(f"{path}: unknown operation {quote(node.op)}")
        arity = OPERATIONS[node.op].arity
        allowed = unary if arity == 1 else binary
        if node.op not in allowed:
            raise GraphError(f"{path}: operation {node.op!r} is not allowed here")
        if len(node.inputs) != arity:
            raise GraphError(
                f"{path}: operation {node.op!r} takes {arity} input(s), got {len(node.inputs)}"
            )
        if len(node.decays) != len(node.inputs):
            raise GraphError(
                f"{path}: {len(node.decays)} decay function(s) for {len(node.inputs)} "
                "connection(s): a decay function on a missing connection"
            )
        for ref in node.inputs:
            idx = parse_hidden(ref)
            if idx is None:
                if not isinstance(ref, str) or ref not in operands:
                    raise GraphError(f"{path}: unknown operand {quote(ref)}")
            elif idx >= len(hidden):
                raise GraphError(f"{path}: reference to missing node {quote(ref)}")
            elif name == ref:
                raise GraphError(f"{path}: a node cannot read itself")
        if arity == 2 and node.inputs[0] == node.inputs[1]:
            raise GraphError(f"{path}: the two inputs of a binary node must differ")
    hidden_inputs = [parse_hidden(r) is not None for r in output.inputs]
    if not any(hidden_inputs):
        raise GraphError(f"{where}.{OUTPUT}: the output node must read a hidden node")
    order = active_order(hidden, output)
    if order is None:
        raise GraphError(f"{where}: the active graph has a cycle")


def _named_nodes(hidden: tuple[Node, ...], output: Node) -> Iterator[tuple[str, Node]]:
    for i, node in enumerate(hidden):
        yield hidden_ref(i), node
    yield OUTPUT, output


def _index(ref: str, n: int) -> int | None:
    idx = parse_hidden(ref)
    return idx if idx is not None and idx < n else None


def active_order(hidden: tuple[Node, ...], output: Node) -> tuple[int, ...] | None:
    """Indices of the active hidden nodes in dependency order, or None if they form a cycle.

    Only nodes that reach the output are visited, so a cycle among inactive nodes is fine.
    The order is that of a depth-first walk from the output's inputs, children in input
    order (a node after everything it reads); the walk uses an explicit stack, so a deep
    graph cannot exhaust Python's recursion limit, and visits every node once.
    """
    n = len(hidden)
    order: list[int] = []
    state: dict[int, int] = {}  # 1 = on the current path, 2 = done
    for ref in output.inputs:
        root = _index(ref, n)
        if root is None or root in state:
            continue
        state[root] = 1
        stack = [(root, 0)]
        while stack:
            idx, pos = stack[-1]
            inputs = hidden[idx].inputs
            if pos == len(inputs):
                stack.pop()
                state[idx] = 2
                order.append(idx)
                continue
            stack[-1] = (idx, pos + 1)
            child = _index(inputs[pos], n)
            if child is None:
                continue
            mark = state.get(child)
            if mark == 1:
                return None
            if mark is None:
                state[child] = 1
                stack.append((child, 0))
    return tuple(order)


def fold_graph(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], Any],
    apply: Callable[[str, list[Any]], Any],
    decayed: Callable[[Any, Any], Any],
    order: tuple[int, ...] | None = None,
    computed: Callable[[int, Any], Any] | None = None,
) -> Any:
    """Evaluate the output node symbolically: `leaf(ref)` for operands, `apply(op, args)` for
    nodes and `decayed(decay, value)` for a connection that carries a decay function.

    Each active node is applied once, in dependency order (`order`, default
    `active_order`), and its value reused by every node that reads it: the cost is linear
    in the node count however much the graph shares. `computed(i, value)`, if given, sees
    hidden node i's value and returns what its readers get instead. The active graph must
    be acyclic.
    """
    if order is None:
        order = active_order(hidden, output)
        if order is None:
            raise GraphError("the active graph has a cycle")
    values: dict[int, Any] = {}

    def conn(ref: str, decay: Any) -> Any:
        idx = parse_hidden(ref)
        inner = leaf(ref) if idx is None else values[idx]
        return inner if decay is None else decayed(decay, inner)

    def node_value(node: Node) -> Any:
        return apply(node.op, [conn(r, d) for r, d in zip(node.inputs, node.decays, strict=True)])

    for idx in order:
        value = node_value(hidden[idx])
        values[idx] = value if computed is None else computed(idx, value)
    return node_value(output)


CANONICAL_INLINE_LIMIT = 1 << 14
"""The canonical form spells the active graph as one nested expression up to this many
characters (every genome the search or the library produces: theirs stay under 1,000).
A larger one (a graph that shares subexpressions many times over) is named by a Merkle
digest instead, `dag:<sha256>`, computed in time linear in the node count."""

DAG_PREFIX = "dag:"


def canonical_expr(hidden: tuple[Node, ...], output: Node) -> str:
    """The canonical form of the active graph as one nested expression.

    Inactive nodes do not appear; a commutative operation's inputs (with their decay
    functions) are sorted, so `x+y` and `y+x` print the same. The active graph must be
    acyclic. Past `CANONICAL_INLINE_LIMIT` characters the form is `dag:<digest>`: each node's
    digest hashes its operation and its inputs' digests (sorted when commutative), so two
    graphs get the same digest exactly when their nested forms would be equal.
    """
    order = active_order(hidden, output)
    if order is None:
        raise GraphError("the active graph has a cycle")
    decay_form = functools.cache(lambda decay: decay.canonical())

    def length(op: str, args: list[int]) -> int:
        return len(op) + 2 + sum(args) + len(args) - 1

    size = fold_graph(
        hidden, output, len, length, lambda d, inner: len(decay_form(d)) + 3 + inner, order
    )
    if size <= CANONICAL_INLINE_LIMIT:
        nested: str = fold_graph(
            hidden,
            output,
            lambda ref: ref,
            _nested,
            lambda d, inner: f"[{decay_form(d)}]*{inner}",
            order,
        )
        return nested
    digest: str = fold_graph(
        hidden,
        output,
        lambda ref: ref,
        _digest,
        lambda d, inner: f"[{decay_form(d)}]*{inner}",
        order,
    )
    return DAG_PREFIX + digest[1:]


def _nested(op: str, args: list[str]) -> str:
    if OPERATIONS[op].commutative:
        args = sorted(args)
    return f"{op}({','.join(args)})"


def _digest(op: str, args: list[str]) -> str:
    # "#" marks a digest: operand names and decay factors never start with it.
    return "#" + hashlib.sha256(_nested(op, args).encode()).hexdigest()


class GraphMixin:
    """Queries shared by the update graph and decay graphs (which hold `hidden` and `output`)."""

    hidden: tuple[Node, ...]
    output: Node

    def node(self, name: str) -> Node:
        """The node called `name` (`h<i>` or `out`)."""
        if name == OUTPUT:
            return self.output
        idx = parse_hidden(name)
        if idx is None or idx >= len(self.hidden):
            raise KeyError(name)
        return self.hidden[idx]

    @functools.cached_property
    def _active_order(self) -> tuple[int, ...]:
        return active_order(self.hidden, self.output) or ()

    def active_names(self) -> tuple[str, ...]:
        """The active nodes (those that reach the output), in dependency order, output last."""
        return (*(hidden_ref(i) for i in self._active_order), OUTPUT)
