"""Random nodes and the graph mutations shared by update and decay graphs (SPEC 1.4, 1.5).

Pure functions of a `numpy.random.Generator`. They build candidate graphs; whether a
candidate is acceptable (acyclic, passes the integrity check) is decided by the caller, which
redraws on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optevo.space.graph import OUTPUT, Node, hidden_ref, parse_hidden

if TYPE_CHECKING:
    from optevo.space.config import SpaceConfig
    from optevo.space.decay import DecayGenome


@dataclass(frozen=True)
class GraphSpace:
    """Which leaves and operations a graph may use, and how its nodes are drawn."""

    operands: tuple[str, ...]
    unary: tuple[str, ...]
    binary: tuple[str, ...]
    n_hidden: int
    hidden_unary_p: float
    output_unary_p: float
    identity_p: float
    operand_p: float

    @property
    def hidden_refs(self) -> tuple[str, ...]:
        return tuple(hidden_ref(i) for i in range(self.n_hidden))


Decayer = Callable[[np.random.Generator], object]
"""Draws the decay function of a new connection (or None)."""


def _choice(rng: np.random.Generator, items: list[str] | tuple[str, ...]) -> str:
    return items[int(rng.integers(len(items)))]


def draw_unary(rng: np.random.Generator, space: GraphSpace, exclude: str | None = None) -> str:
    """A unary operation: identity with probability `identity_p`, else uniform over the rest."""
    others = [op for op in space.unary if op not in ("identity", exclude)]
    if exclude != "identity" and "identity" in space.unary and rng.random() < space.identity_p:
        return "identity"
    return _choice(rng, others)


def draw_binary(rng: np.random.Generator, space: GraphSpace, exclude: str | None = None) -> str:
    return _choice(rng, [op for op in space.binary if op != exclude])


def draw_ref(
    rng: np.random.Generator,
    space: GraphSpace,
    self_ref: str,
    exclude: tuple[str, ...] = (),
    hidden_only: bool = False,
) -> str:
    """An input reference: an operand with probability `operand_p`, else a hidden node.

    Never `self_ref` or anything in `exclude`. Falls back to the other kind when the chosen
    kind has no candidate left.
    """
    banned = {self_ref, *exclude}
    hidden = [r for r in space.hidden_refs if r not in banned]
    if hidden_only:
        if not hidden:
            raise ValueError("no hidden node left to connect to")
        return _choice(rng, hidden)
    operands = [r for r in space.operands if r not in banned]
    if hidden and (not operands or rng.random() >= space.operand_p):
        return _choice(rng, hidden)
    return _choice(rng, operands)


def draw_node(
    rng: np.random.Generator, space: GraphSpace, name: str, decayer: Decayer | None
) -> Node:
    """A random hidden node (`name` = `h<i>`) or output node (`name` = OUTPUT), SPEC 1.4."""
    is_output = name == OUTPUT
    unary_p = space.output_unary_p if is_output else space.hidden_unary_p
    if rng.random() < unary_p:
        inputs: tuple[str, ...] = (draw_ref(rng, space, name, hidden_only=is_output),)
        op = draw_unary(rng, space)
    else:
        if is_output:
            # At least one input is a hidden node, on a random side.
            first = draw_ref(rng, space, name, hidden_only=True)
            second = draw_ref(rng, space, name, exclude=(first,))
            inputs = (first, second) if rng.random() < 0.5 else (second, first)
        else:
            first = draw_ref(rng, space, name)
            inputs = (first, draw_ref(rng, space, name, exclude=(first,)))
        op = draw_binary(rng, space)
    decays = tuple(decayer(rng) if decayer else None for _ in inputs)
    return Node(op, inputs, decays)  # type: ignore[arg-type]


def draw_graph(
    rng: np.random.Generator, space: GraphSpace, decayer: Decayer | None
) -> tuple[tuple[Node, ...], Node]:
    hidden = tuple(draw_node(rng, space, hidden_ref(i), decayer) for i in range(space.n_hidden))
    return hidden, draw_node(rng, space, OUTPUT, decayer)


# ----------------------------------------------------------------------------------------------
# Mutations of one node. Each returns the new node, or None when it does not apply.
# ----------------------------------------------------------------------------------------------


def mutate_operation(rng: np.random.Generator, space: GraphSpace, node: Node) -> Node | None:
    """Another operation of the same arity."""
    if node.arity == 1:
        if len(space.unary) < 2:
            return None
        return node.replace(op=draw_unary(rng, space, exclude=node.op))
    if len(space.binary) < 2:
        return None
    return node.replace(op=draw_binary(rng, space, exclude=node.op))


def mutate_connection(
    rng: np.random.Generator, space: GraphSpace, node: Node, name: str, swap_p: float
) -> Node | None:
    """Re-point one connection; for a binary node, swap its inputs with probability swap_p."""
    if node.arity == 2 and rng.random() < swap_p:
        return node.replace(inputs=node.inputs[::-1], decays=node.decays[::-1])
    side = int(rng.integers(node.arity))
    others = tuple(r for i, r in enumerate(node.inputs) if i != side)
    # The output node must keep reading a hidden node.
    hidden_only = name == OUTPUT and not any(parse_hidden(r) is not None for r in others)
    try:
        new = draw_ref(rng, space, name, exclude=node.inputs, hidden_only=hidden_only)
    except ValueError:
        return None
    inputs = list(node.inputs)
    inputs[side] = new
    return node.replace(inputs=tuple(inputs))


def mutate_arity(rng: np.random.Generator, space: GraphSpace, node: Node, name: str) -> Node:
    """Unary -> binary (a random second input, on either side) or binary -> unary."""
    if node.arity == 1:
        extra = draw_ref(rng, space, name, exclude=node.inputs)
        decays: tuple[DecayGenome | None, DecayGenome | None]
        if rng.random() < 0.5:
            inputs, decays = (node.inputs[0], extra), (node.decays[0], None)
        else:
            inputs, decays = (extra, node.inputs[0]), (None, node.decays[0])
        return Node(draw_binary(rng, space), inputs, decays)
    drop = int(rng.integers(2))
    keep = 1 - drop
    if name == OUTPUT and parse_hidden(node.inputs[keep]) is None:
        keep = drop  # the output node must keep its hidden input
    return Node(draw_unary(rng, space), (node.inputs[keep],), (node.decays[keep],))


GRAPH_MUTATIONS: tuple[str, ...] = ("operation", "connection", "arity")


def mutate_graph_node(
    rng: np.random.Generator,
    space: GraphSpace,
    node: Node,
    name: str,
    kind: str,
    swap_p: float,
) -> Node | None:
    """Apply one of the graph mutations (`operation`, `connection`, `arity`) to `node`."""
    if kind == "operation":
        return mutate_operation(rng, space, node)
    if kind == "connection":
        return mutate_connection(rng, space, node, name, swap_p)
    if kind == "arity":
        return mutate_arity(rng, space, node, name)
    raise ValueError(f"unknown graph mutation {kind!r}")


def replace_node(
    hidden: tuple[Node, ...], output: Node, name: str, node: Node
) -> tuple[tuple[Node, ...], Node]:
    """The graph with node `name` replaced."""
    if name == OUTPUT:
        return hidden, node
    idx = parse_hidden(name)
    assert idx is not None
    return (*hidden[:idx], node, *hidden[idx + 1 :]), output


def pick_weighted(
    rng: np.random.Generator, names: tuple[str, ...], weights: tuple[float, ...]
) -> str:
    p = np.asarray(weights, dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def graph_config_space(
    config: SpaceConfig,
    operands: tuple[str, ...],
    unary: tuple[str, ...],
    binary: tuple[str, ...],
    decay: bool,
) -> GraphSpace:
    """The GraphSpace of an update graph (decay=False) or a decay graph (decay=True)."""
    if decay:
        return GraphSpace(
            operands,
            unary,
            binary,
            config.decay_n_hidden,
            config.decay_unary_p,
            config.decay_unary_p,
            config.identity_p,
            config.operand_p,
        )
    return GraphSpace(
        operands,
        unary,
        binary,
        config.n_hidden,
        config.hidden_unary_p,
        config.output_unary_p,
        config.identity_p,
        config.operand_p,
    )
