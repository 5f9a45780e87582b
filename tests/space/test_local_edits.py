"""`Genome.propose_local_edit`: each kind of local edit does what it says, every child is a
valid genome (the constructor checks every rule), and the edits are pure functions of the
generator."""

from __future__ import annotations

import numpy as np
import pytest

from optevo import Genome, Node, library
from optevo.space.config import DEFAULT_SPACE, EXTENDED_SPACE, SpaceConfig
from optevo.space.constants import LOCAL_EDITS
from optevo.space.genes import GENES
from optevo.space.graph import OUTPUT, parse_hidden
from optevo.space.limits import MAX_HIDDEN_NODES

PARENTS = [library.genome(n) for n in library.names()]


def only(kind: str, space: SpaceConfig = EXTENDED_SPACE) -> SpaceConfig:
    """The space with local edits of one kind only."""
    return space.model_copy(update={"local_weights": tuple(float(k == kind) for k in LOCAL_EDITS)})


def output_reads_hidden(genome: Genome) -> bool:
    return any(parse_hidden(r) is not None for r in genome.output.inputs)


def children(kind: str, space: SpaceConfig = EXTENDED_SPACE, seeds: int = 6):
    """(parent, child) for every library genome and a few seeds; child None where the edit
    did not apply."""
    for i, parent in enumerate(PARENTS):
        for seed in range(seeds):
            rng = np.random.default_rng(1000 * i + seed)
            yield parent, parent.propose_local_edit(rng, only(kind, space))


def changed_nodes(a: Genome, b: Genome) -> list[str]:
    names = [f"h{i}" for i in range(max(len(a.hidden), len(b.hidden)))] + [OUTPUT]
    out = []
    for name in names:
        try:
            if a.node(name) != b.node(name):
                out.append(name)
        except KeyError:
            out.append(name)
    return out


@pytest.mark.parametrize("space", [DEFAULT_SPACE, EXTENDED_SPACE], ids=["paper", "extended"])
def test_every_child_is_valid_and_unflipped(space: SpaceConfig) -> None:
    kinds: dict[str, int] = {}
    draws = np.random.default_rng(123)
    proposals = [Genome.propose(draws, space) for _ in range(40)]
    for i, parent in enumerate([*PARENTS, *(g for g in proposals if g is not None)]):
        rng = np.random.default_rng(i)
        for _ in range(25):
            child = parent.with_flipped(True).propose_local_edit(rng, space)
            if child is None:
                continue
            assert isinstance(child, Genome) and not child.flipped
            assert output_reads_hidden(child) and len(child.hidden) <= MAX_HIDDEN_NODES
            assert Genome.from_json(child.to_json()) == child
            if space.kind == "paper":
                assert child.constants == parent.constants  # no constant edits in the paper's
            kinds[_kind(parent, child)] = kinds.get(_kind(parent, child), 0) + 1
    expected = {"graph", "decay", "momentum"} | (
        {"constant"} if space.kind == "extended" else set()
    )
    assert set(kinds) == expected, kinds


def _kind(parent: Genome, child: Genome) -> str:
    if child.constants != parent.constants:
        return "constant"
    if child.momentum != parent.momentum:
        return "momentum"
    if [n.op for n in child.hidden] == [n.op for n in parent.hidden] and [
        n.inputs for n in (*child.hidden, child.output)
    ] == [n.inputs for n in (*parent.hidden, parent.output)]:
        return "decay"
    return "graph"


def test_edits_are_pure_functions_of_the_generator() -> None:
    for parent in PARENTS[::5]:
        a = [parent.propose_local_edit(np.random.default_rng(9), EXTENDED_SPACE) for _ in range(3)]
        b = [parent.propose_local_edit(np.random.default_rng(9), EXTENDED_SPACE) for _ in range(3)]
        assert a == b


def test_replace_changes_one_operation_keeping_its_arity() -> None:
    n = 0
    for parent, child in children("replace"):
        if child is None:
            continue
        (name,) = changed_nodes(parent, child)
        old, new = parent.node(name), child.node(name)
        assert new.op != old.op and new.arity == old.arity and new.inputs == old.inputs
        n += 1
    assert n > len(PARENTS)


def test_connection_changes_one_node_s_inputs() -> None:
    for parent, child in children("connection"):
        if child is None:
            continue
        (name,) = changed_nodes(parent, child)
        old, new = parent.node(name), child.node(name)
        assert new.op == old.op and new.inputs != old.inputs
        assert name in parent.active_names()


def test_insert_puts_a_new_unary_node_on_an_active_connection() -> None:
    n = 0
    for parent, child in children("insert"):
        if child is None:
            continue
        n += 1
        assert len(child.active_names()) == len(parent.active_names()) + 1
        new = [c for c in child.active_names() if c not in parent.active_names()]
        assert len(new) == 1
        node = child.node(new[0])
        assert node.arity == 1 and node.op != "identity"
        # an inactive slot is reused when there is one (the library pads to 4 hidden nodes)
        free = len(parent.hidden) + 1 - len(parent.active_names())
        assert len(child.hidden) == len(parent.hidden) + (free == 0)
    assert n == 6 * len(PARENTS)  # an insert always applies


def test_insert_appends_a_hidden_node_when_every_slot_is_active() -> None:
    full = Genome(
        (Node("abs", ("g",)), Node("exp", ("h0",)), Node("add", ("h1", "v")), Node("neg", ("h2",))),
        Node("identity", ("h3",)),
    )
    child = full.propose_local_edit(np.random.default_rng(0), only("insert", DEFAULT_SPACE))
    assert child is not None and len(child.hidden) == 5 and len(child.active_names()) == 6


def test_delete_bypasses_one_active_hidden_node() -> None:
    n = 0
    for parent, child in children("delete"):
        if child is None:
            continue
        n += 1
        gone = [a for a in parent.active_names() if a not in child.active_names()]
        assert gone and OUTPUT not in gone
        assert child.hidden[: len(parent.hidden)] == tuple(
            child.node(f"h{i}") for i in range(len(parent.hidden))
        )
        assert len(child.hidden) == len(parent.hidden)  # the node stays, inactive
    assert n > len(PARENTS)


def test_delete_rewires_readers_to_an_input_of_the_deleted_node() -> None:
    # u = exp(|g|): deleting h0 = |g| leaves u = exp(g); deleting h1 = exp(h0) is refused (the
    # output would read an operand only), unless the bypass reads h0.
    genome = Genome((Node("abs", ("g",)), Node("exp", ("h0",))), Node("identity", ("h1",)))
    seen = set()
    for seed in range(40):
        child = genome.propose_local_edit(np.random.default_rng(seed), only("delete"))
        if child is not None:
            seen.add(child.equation())
    assert seen == {"exp(g)", "|g|"}


def test_decay_edit_changes_one_decay_function() -> None:
    for parent, child in children("decay", seeds=3):
        assert child is not None  # add, delete or mutate always applies
        (name,) = changed_nodes(parent, child)
        old, new = parent.node(name), child.node(name)
        assert (old.op, old.inputs) == (new.op, new.inputs)
        assert sum(a != b for a, b in zip(old.decays, new.decays, strict=True)) == 1


def test_constant_edit_moves_one_live_constant_in_the_extended_space_only() -> None:
    for parent, child in children("constant", seeds=3):
        if child is None:
            continue
        changed = [n for n in GENES if child.constant(n) != parent.constant(n)]
        assert len(changed) == 1 and changed[0] in parent.live_constants()
        assert (child.hidden, child.output, child.momentum) == (
            parent.hidden, parent.output, parent.momentum
        )  # fmt: skip
    # In the paper's space the constant edit's weight goes to the others (here: momentum).
    paper = SpaceConfig(local_weights=(0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1e-9))
    rng = np.random.default_rng(0)
    for _ in range(50):
        child = PARENTS[0].propose_local_edit(rng, paper)
        assert child is not None and child.constants == PARENTS[0].constants
        assert child.momentum != PARENTS[0].momentum


def test_momentum_edit_changes_the_momentum_type() -> None:
    for parent, child in children("momentum", seeds=2):
        assert child is not None and child.momentum != parent.momentum
        assert (child.hidden, child.output, child.constants) == (
            parent.hidden, parent.output, parent.constants
        )  # fmt: skip


def test_propose_mutation_is_unchanged_by_local_weights() -> None:
    """SPEC 1.5's mutation stays the default and ignores the local edits' weights."""
    adam = library.genome("Adam")
    other = DEFAULT_SPACE.model_copy(update={"local_weights": (0, 0, 1.0, 0, 0, 0, 0)})
    a = [adam.propose_mutation(np.random.default_rng(s)) for s in range(20)]
    b = [adam.propose_mutation(np.random.default_rng(s), other) for s in range(20)]
    assert a == b
