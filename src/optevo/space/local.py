"""The structural local edits of a weight-update graph: insert a node, delete a node.

Pure functions of a `numpy.random.Generator` over a graph (hidden nodes, output node). Each
returns the edited graph, or None when the drawn edit does not apply; whether the result is
acceptable (acyclic, passes the integrity check) is decided by the caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from optevo.space.graph import OUTPUT, Node, active_order, hidden_ref, parse_hidden
from optevo.space.limits import MAX_HIDDEN_NODES
from optevo.space.mutation import GraphSpace, draw_unary, replace_node

if TYPE_CHECKING:
    from optevo.space.decay import DecayGenome

Graph = tuple[tuple[Node, ...], Node]


def _active_names(hidden: tuple[Node, ...], output: Node) -> list[str]:
    order = active_order(hidden, output) or ()
    return [*(hidden_ref(i) for i in order), OUTPUT]


def _node(hidden: tuple[Node, ...], output: Node, name: str) -> Node:
    idx = parse_hidden(name)
    return output if idx is None else hidden[idx]


def insert_node(
    rng: np.random.Generator, space: GraphSpace, hidden: tuple[Node, ...], output: Node
) -> Graph | None:
    """A new unary node (a random operation other than identity) on one active connection,
    drawn uniformly: the connection's reader reads the new node (keeping its decay function),
    the new node reads what the connection read. The node takes the first inactive hidden
    slot, else a new one (None past `MAX_HIDDEN_NODES`)."""
    connections = [
        (name, side)
        for name in _active_names(hidden, output)
        for side in range(_node(hidden, output, name).arity)
    ]
    name, side = connections[int(rng.integers(len(connections)))]
    active = set(active_order(hidden, output) or ())
    free = [i for i in range(len(hidden)) if i not in active]
    if free:
        slot = free[0]
    elif len(hidden) < MAX_HIDDEN_NODES:
        slot = len(hidden)
    else:
        return None
    reader = _node(hidden, output, name)
    others = [op for op in space.unary if op != "identity"]
    if not others:
        return None
    op = draw_unary(rng, space, exclude="identity")
    new = Node(op, (reader.inputs[side],))
    inputs = list(reader.inputs)
    inputs[side] = hidden_ref(slot)
    grown = (*hidden[:slot], new, *hidden[slot + 1 :])
    return replace_node(grown, output, name, reader.replace(inputs=tuple(inputs)))


def delete_node(rng: np.random.Generator, hidden: tuple[Node, ...], output: Node) -> Graph | None:
    """Bypass one active hidden node, drawn uniformly: every active node that reads it reads
    one of its inputs instead (drawn; the other one when the first breaks a rule: a binary
    node reading the same input twice, an output node left without a hidden input). A reader's
    connection keeps its decay function, or takes the bypassed input's. The node itself stays,
    inactive. None when there is no active hidden node or neither input fits."""
    order = active_order(hidden, output) or ()
    if not order:
        return None
    victim = order[int(rng.integers(len(order)))]
    node = hidden[victim]
    sides = list(range(node.arity))
    if len(sides) == 2 and rng.random() < 0.5:
        sides.reverse()
    for side in sides:
        graph = _bypass(hidden, output, victim, node.inputs[side], node.decays[side])
        if graph is not None:
            return graph
    return None


def _bypass(
    hidden: tuple[Node, ...], output: Node, victim: int, ref: str, decay: DecayGenome | None
) -> Graph | None:
    """The graph with every active reader of hidden node `victim` reading `ref` instead, or
    None when a reader would break a rule."""
    target = hidden_ref(victim)
    for name in _active_names(hidden, output):
        node = _node(hidden, output, name)
        if target not in node.inputs:
            continue
        inputs = tuple(ref if r == target else r for r in node.inputs)
        decays = tuple(
            (d if d is not None else decay) if r == target else d
            for r, d in zip(node.inputs, node.decays, strict=True)
        )
        if name == ref or len(set(inputs)) < len(inputs):
            return None  # a node reading itself, or a binary node reading one input twice
        if name == OUTPUT and all(parse_hidden(r) is None for r in inputs):
            return None  # the output node must read a hidden node
        edited = node.replace(inputs=inputs, decays=decays)
        hidden, output = replace_node(hidden, output, name, edited)
    return hidden, output
