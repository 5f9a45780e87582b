"""Edits that make a genome smaller, and how big a genome is.

An edit is one of: remove a hidden node by routing one of its inputs through,
replace a subtree by a node or operand it reads (a substitution, scored only when the values
match: `simplify.probe`), replace a node's operation by identity (a
dropout dropped, an operation removed), set a decay function to 1, set the momentum type to
none. Every edit yields a valid genome or is not
offered; inactive nodes are pruned from the result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from optevo.space.decay import DecayGenome
from optevo.space.genome import Genome
from optevo.space.graph import OUTPUT, Node, hidden_ref, parse_hidden
from optevo.space.ops import UPDATE_UNARY

IDENTITY = "identity"
DROPOUTS = ("drop0.5", "drop0.3", "drop0.1")


@dataclass(frozen=True)
class Edit:
    """One edit: what it does (for tables and logs), its kind and the genome it gives."""

    description: str
    kind: str
    genome: Genome
    decay: DecayGenome | None = None
    """For a decay edit: the decay function it sets to 1."""
    node: str | None = None
    """For a subtree edit: the hidden node (`h<i>`) replaced, ..."""
    ref: str | None = None
    """... and the operand or deeper hidden node that replaces it (see `simplify.probe`)."""


def active_hidden(genome: Genome) -> list[int]:
    """Indices of the active hidden nodes, in dependency order."""
    out = []
    for name in genome.active_names():
        idx = parse_hidden(name)
        if idx is not None:
            out.append(idx)
    return out


def size(genome: Genome) -> int:
    """Active nodes of the update (the output included), plus the active nodes of every
    active decay function, plus one for a momentum type."""
    total = len(genome.active_names())
    total += sum(len(d.active_names()) for d in genome.decay_functions())
    return total + (0 if genome.momentum == "none" else 1)


def cost(genome: Genome) -> tuple[int, int]:
    """What simplification lowers: the size, then the active nodes that compute something
    (an operation replaced by identity is simpler at the same size)."""
    nodes = [genome.node(name) for name in genome.active_names()]
    return size(genome), sum(1 for n in nodes if n.op != IDENTITY)


def prune(genome: Genome) -> Genome:
    """The same genome with its inactive hidden nodes removed (references renumbered)."""
    keep = sorted(active_hidden(genome))
    if len(keep) == len(genome.hidden):
        return genome
    renumber = {hidden_ref(old): hidden_ref(new) for new, old in enumerate(keep)}

    def fix(node: Node) -> Node:
        return node.replace(inputs=tuple(renumber.get(r, r) for r in node.inputs))

    return Genome(
        tuple(fix(genome.hidden[i]) for i in keep),
        fix(genome.output),
        genome.momentum,
        genome.flipped,
        genome.constants,
    )


def _valid(build: object) -> Genome | None:
    try:
        genome = build() if callable(build) else None
    except ValueError:
        return None
    return None if genome is None else prune(genome)


def route_through(genome: Genome, index: int, via: int) -> Genome | None:
    """Hidden node `index` removed: every reader reads the node's input `via` instead (with
    the reader's own decay function on that connection), or None if that is not a valid
    genome (e.g. the output would read no hidden node, or a binary node twice the same)."""
    node = genome.hidden[index]
    target = node.inputs[via]
    ref = hidden_ref(index)

    def reroute(n: Node) -> Node:
        return n.replace(inputs=tuple(target if r == ref else r for r in n.inputs))

    def build() -> Genome:
        hidden = tuple(reroute(n) for n in genome.hidden)
        return Genome(
            hidden, reroute(genome.output), genome.momentum, genome.flipped, genome.constants
        )

    return _valid(build)


def with_node(genome: Genome, name: str, node: Node) -> Genome | None:
    """The genome with node `name` (`h<i>` or `out`) replaced, or None if invalid."""

    def build() -> Genome:
        if name == OUTPUT:
            return Genome(genome.hidden, node, genome.momentum, genome.flipped, genome.constants)
        idx = parse_hidden(name)
        assert idx is not None
        hidden = tuple(node if i == idx else n for i, n in enumerate(genome.hidden))
        return Genome(hidden, genome.output, genome.momentum, genome.flipped, genome.constants)

    return _valid(build)


def to_identity(genome: Genome, name: str, via: int = 0) -> Genome | None:
    """Node `name`'s operation replaced by identity of its input `via` (decay kept)."""
    node = genome.node(name)
    if IDENTITY not in UPDATE_UNARY:
        return None
    return with_node(genome, name, Node(IDENTITY, (node.inputs[via],), (node.decays[via],)))


def without_decay(genome: Genome, name: str, connection: int) -> Genome | None:
    """The decay function on connection `connection` of node `name` set to 1 (removed)."""
    node = genome.node(name)
    decays = tuple(None if i == connection else d for i, d in enumerate(node.decays))
    return with_node(genome, name, node.replace(decays=decays))


def without_momentum(genome: Genome) -> Genome | None:
    if genome.momentum == "none":
        return None
    return _valid(
        lambda: Genome(genome.hidden, genome.output, "none", genome.flipped, genome.constants)
    )


def descendants(genome: Genome, index: int) -> list[str]:
    """Every reference (operand or hidden node) hidden node `index` reads, directly or not,
    below its own inputs (its inputs' inputs and deeper), in a stable order."""
    out: list[str] = []
    stack = [r for r in genome.hidden[index].inputs]
    seen: set[str] = set()
    while stack:
        ref = stack.pop()
        if ref in seen:
            continue
        seen.add(ref)
        idx = parse_hidden(ref)
        if idx is not None:
            stack.extend(genome.hidden[idx].inputs)
        if ref not in genome.hidden[index].inputs:
            out.append(ref)
    return sorted(out)


EDIT_NODE_BUDGET = 100_000
"""The most nodes the candidate genomes of one round may hold together (memory: each is a
copy of the genome). A genome of the search's size (4-10 nodes) is far below it; a long chain
has a quadratic number of subtree edits (a 200-node chain: 20,000 copies of 200 nodes), which
past the budget are left out, so a round holds at most ~100,000 nodes (~40 MB)."""


def candidate_edits(
    genome: Genome, node_budget: int = EDIT_NODE_BUDGET, deadline: float | None = None
) -> list[Edit]:
    """Every edit of the genome that gives a valid, different genome, the smallest result
    first (`cost`: so the first acceptable one is the one that removes the most). Subtree
    replacements stop once the candidates hold `node_budget` nodes (see EDIT_NODE_BUDGET) or
    at `deadline` (a `time.perf_counter()` value)."""
    edits: list[Edit] = []
    seen: set[str] = {genome.canonical_hash()}
    per_edit = max(1, len(genome.hidden) + 1)

    def offer(
        description: str,
        kind: str,
        result: Genome | None,
        decay: DecayGenome | None = None,
        node: str | None = None,
        ref: str | None = None,
    ) -> None:
        if result is None:
            return
        key = result.canonical_hash()
        if key in seen and kind != "decay":
            return
        seen.add(key)
        edits.append(Edit(description, kind, result, decay, node, ref))

    for idx in active_hidden(genome):
        node = genome.hidden[idx]
        for via, ref in enumerate(node.inputs):
            what = f"remove h{idx} ({node.op}), reading {ref} instead"
            offer(what, "route", route_through(genome, idx, via))

    def full() -> bool:
        late = deadline is not None and time.perf_counter() > deadline
        return late or len(edits) * per_edit >= node_budget

    for idx in active_hidden(genome):
        if full():
            break
        for ref in descendants(genome, idx):
            if full():
                break
            what = f"h{idx}: its subtree -> {ref}"
            name = hidden_ref(idx)
            result = with_node(genome, name, Node(IDENTITY, (ref,)))
            offer(what, "subtree", result, node=name, ref=ref)
    for name in genome.active_names():
        node = genome.node(name)
        if node.op == IDENTITY:
            continue
        kind = "dropout" if node.op in DROPOUTS else "identity"
        for via, ref in enumerate(node.inputs):
            what = "drop the dropout" if kind == "dropout" else f"{node.op} -> identity"
            offer(f"{name}: {what} of {ref}", kind, to_identity(genome, name, via))
    for name in genome.active_names():
        node = genome.node(name)
        for i, decay in enumerate(node.decays):
            if decay is not None:
                offer(
                    f"{name}: decay function on {node.inputs[i]} -> 1",
                    "decay",
                    without_decay(genome, name, i),
                    decay,
                )
    offer(f"momentum {genome.momentum} -> none", "momentum", without_momentum(genome))
    edits.sort(key=lambda e: cost(e.genome))
    return edits


def part_removals(genome: Genome) -> list[Edit]:
    """Each part of the genome removed alone (the ablation): each active hidden node
    (routed through its first input that gives a valid genome; else replaced by identity),
    each decay function (set to 1), the momentum type (set to none)."""
    parts: list[Edit] = []
    for idx in active_hidden(genome):
        node = genome.hidden[idx]
        removed = None
        for via, ref in enumerate(node.inputs):
            removed = route_through(genome, idx, via)
            if removed is not None:
                what = f"h{idx} = {node.op}(...) (reading {ref} instead)"
                parts.append(Edit(what, "node", removed))
                break
        if removed is None:
            alt = to_identity(genome, hidden_ref(idx))
            if alt is not None:
                parts.append(Edit(f"h{idx} = {node.op}(...) (as identity)", "node", alt))
    for name in genome.active_names():
        node = genome.node(name)
        for i, decay in enumerate(node.decays):
            if decay is not None:
                result = without_decay(genome, name, i)
                if result is not None:
                    what = f"decay on {name}.{node.inputs[i]}: {decay}"
                    parts.append(Edit(what, "decay", result, decay))
    result = without_momentum(genome)
    if result is not None:
        parts.append(Edit(f"momentum ({genome.momentum})", "momentum", result))
    return parts
