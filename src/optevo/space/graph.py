"""What the weight-update graph and the decay graphs share: nodes, references, the active
subgraph, cycle detection and the canonical form.

A graph is a tuple of hidden nodes plus one output node. An input reference is either the
name of an operand (a leaf) or `h<i>`, the i-th hidden node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optevo.space.ops import OPERATIONS

if TYPE_CHECKING:
    from optevo.space.genome import DecayGenome

OUTPUT = "out"
"""Name of the output node in paths and error messages."""


def hidden_ref(i: int) -> str:
    """The reference string of hidden node i."""
    return f"h{i}"


def parse_hidden(ref: str) -> int | None:
    """Index of a hidden-node reference `h<i>`, or None if `ref` is not one."""
    if len(ref) >= 2 and ref[0] == "h" and ref[1:].isdigit() and (ref[1] != "0" or len(ref) == 2):
        return int(ref[1:])
    return None


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

    Rules: known operation of the right arity and part of the space, known operand or an
    existing hidden node, no node reading itself, a binary node's inputs differ, decay list
    aligned with the inputs, the output node reads a hidden node (unary) or at least one
    (binary), and the active graph is acyclic.
    """
    if not hidden:
        raise GraphError(f"{where}: needs at least one hidden node")
    for name, node in _named_nodes(hidden, output):
        path = f"{where}.{name}"
        if node.op not in OPERATIONS:
            raise GraphError(f"{path}: unknown operation {node.op!r}")
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
                if ref not in operands:
                    raise GraphError(f"{path}: unknown operand {ref!r}")
            elif idx >= len(hidden):
                raise GraphError(f"{path}: reference to missing node {ref!r}")
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


def active_order(hidden: tuple[Node, ...], output: Node) -> tuple[int, ...] | None:
    """Indices of the active hidden nodes in dependency order, or None if they form a cycle.

    Only nodes that reach the output are visited, so a cycle among inactive nodes is fine.
    """
    order: list[int] = []
    state: dict[int, int] = {}  # 1 = on the current path, 2 = done

    def visit(ref: str) -> bool:
        idx = parse_hidden(ref)
        if idx is None or idx >= len(hidden):
            return True
        mark = state.get(idx)
        if mark == 2:
            return True
        if mark == 1:
            return False
        state[idx] = 1
        for child in hidden[idx].inputs:
            if not visit(child):
                return False
        state[idx] = 2
        order.append(idx)
        return True

    for ref in output.inputs:
        if not visit(ref):
            return None
    return tuple(order)


def fold_graph(
    hidden: tuple[Node, ...],
    output: Node,
    leaf: Callable[[str], Any],
    apply: Callable[[str, list[Any]], Any],
    decayed: Callable[[Any, Any], Any],
) -> Any:
    """Evaluate the output node symbolically: `leaf(ref)` for operands, `apply(op, args)` for
    nodes and `decayed(decay, value)` for a connection that carries a decay function."""

    def conn(ref: str, decay: Any) -> Any:
        inner = expr(ref)
        return inner if decay is None else decayed(decay, inner)

    def node_value(node: Node) -> Any:
        return apply(node.op, [conn(r, d) for r, d in zip(node.inputs, node.decays, strict=True)])

    def expr(ref: str) -> Any:
        idx = parse_hidden(ref)
        return leaf(ref) if idx is None else node_value(hidden[idx])

    return node_value(output)


def canonical_expr(hidden: tuple[Node, ...], output: Node) -> str:
    """The canonical form of the active graph as one nested expression.

    Inactive nodes do not appear; a commutative operation's inputs (with their decay
    functions) are sorted, so `x+y` and `y+x` print the same. The active graph must be
    acyclic.
    """

    def apply(op: str, args: list[str]) -> str:
        if OPERATIONS[op].commutative:
            args = sorted(args)
        return f"{op}({','.join(args)})"

    return fold_graph(
        hidden,
        output,
        lambda ref: ref,
        apply,
        lambda decay, inner: f"[{decay.canonical()}]*{inner}",
    )


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

    def active_names(self) -> tuple[str, ...]:
        """The active nodes (those that reach the output), in dependency order, output last."""
        order = active_order(self.hidden, self.output) or ()
        return (*(hidden_ref(i) for i in order), OUTPUT)
