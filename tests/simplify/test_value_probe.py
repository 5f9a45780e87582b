"""Issue 27, item 2: a substitution (a subtree replaced by a different operand) is allowed
only when the subtree's values are measured to match; deletions are always allowed."""

from __future__ import annotations

import numpy as np
import pytest

from optevo.fingerprint import SIZE, STEPS, _stream, behaviour_hash, update_stream
from optevo.simplify import candidate_edits, simplify
from optevo.simplify.probe import (
    is_substitution,
    substitution_matches,
    values_match,
    values_of,
)
from optevo.space.genome import Genome
from optevo.space.graph import Node


def G(*hidden: Node, out: Node) -> Genome:
    return Genome(tuple(hidden), out)


def subtree_edit(genome: Genome, description: str):  # type: ignore[no-untyped-def]
    return next(e for e in candidate_edits(genome) if e.description == description)


def test_an_operands_values_are_the_stream_itself() -> None:
    # g on the fixed stream is the stream's gradient, sign of g its sign: a reference
    # independent of the compiler
    genome = G(Node("sqrt", ("s",)), out=Node("div", ("g", "h0")))
    grads = np.stack([g.numpy() for g, _ in _stream()])
    assert values_of(genome, "g").shape == (STEPS, SIZE)
    np.testing.assert_array_equal(values_of(genome, "g"), grads)
    np.testing.assert_array_equal(values_of(genome, "sign_g"), np.sign(grads))
    # h0 = sqrt(|s|): s is the bias-corrected EMA of g^2 at rate 0.99, by hand
    s = np.zeros(SIZE)
    expected = []
    for k, row in enumerate(grads):
        s = 0.99 * s + 0.01 * row**2
        expected.append(np.sqrt(np.abs(s / (1 - 0.99 ** (k + 1)))))
    np.testing.assert_allclose(values_of(genome, "h0"), np.stack(expected), rtol=1e-12)


def test_the_update_stream_is_what_the_behaviour_hash_hashes() -> None:
    a = G(Node("sqrt", ("s",)), out=Node("div", ("g", "h0")))
    b = G(Node("sqrt", ("s",)), Node("identity", ("h0",)), out=Node("div", ("g", "h1")))
    np.testing.assert_array_equal(update_stream(a), update_stream(b))
    assert behaviour_hash(a) == behaviour_hash(b)


def test_values_match_entry_by_entry() -> None:
    assert values_match(np.array([1.0, -2.0, 0.0]), np.array([1.009, -2.0, 0.0]))
    assert not values_match(np.array([1.0, -2.0]), np.array([1.02, -2.0]))
    assert not values_match(np.array([1.0]), np.array([-1.0]))
    assert values_match(np.array([np.nan, np.inf]), np.array([np.nan, np.inf]))
    assert not values_match(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))
    assert not values_match(np.array([np.inf]), np.array([-np.inf]))
    assert not values_match(np.array([1e-30]), np.array([0.0]))  # relative: 0 only matches 0
    assert not values_match(np.ones(3), np.ones(4))
    assert values_match(np.array([1.0]), np.array([1.04]), rtol=0.05)


def test_a_substitution_whose_values_differ_is_refused() -> None:
    # h1 = tanh(sqrt(|s|)): replacing it by s (an operand two levels down) is another optimizer
    genome = G(Node("sqrt", ("s",)), Node("tanh", ("h0",)), out=Node("add", ("h1", "g")))
    edit = subtree_edit(genome, "h1: its subtree -> s")
    assert is_substitution(edit) and edit.node == "h1" and edit.ref == "s"
    assert not substitution_matches(genome, edit)
    # deletions are not probed: routing h1 through its own input h0
    route = subtree_edit(genome, "remove h1 (tanh), reading h0 instead")
    assert not is_substitution(route) and substitution_matches(genome, route)


def test_a_substitution_whose_values_match_is_allowed() -> None:
    # h1 = |(|s|)| equals s entry by entry (s >= 0): the substitution keeps the optimizer
    genome = G(Node("abs", ("s",)), Node("abs", ("h0",)), out=Node("div", ("g", "h1")))
    edit = subtree_edit(genome, "h1: its subtree -> s")
    assert is_substitution(edit) and substitution_matches(genome, edit)
    # a near match (within 1%): h1 = max(s, 1e-6 w)... is not exact; a value check by
    # hand on the stream decides, and the probe agrees with it
    near = G(Node("add", ("s", "w6")), Node("abs", ("h0",)), out=Node("div", ("g", "h1")))
    edit = subtree_edit(near, "h1: its subtree -> s")
    s_vals = values_of(near, "s")
    h1_vals = values_of(near, "h1")
    bound = 0.01 * np.maximum(abs(h1_vals), abs(s_vals))
    by_hand = bool(np.all(np.abs(h1_vals - s_vals) <= bound))
    assert substitution_matches(near, edit) == by_hand


def test_a_constant_is_a_deletion_not_a_substitution() -> None:
    genome = G(Node("add", ("g", "one")), Node("tanh", ("h0",)), out=Node("mul", ("h1", "v")))
    edit = subtree_edit(genome, "h1: its subtree -> one")
    assert not is_substitution(edit) and substitution_matches(genome, edit)


class Constant:
    """Every genome scores the same on every seed: every edit is equivalent, so without the
    probe the noise-aware pass keeps the smallest edit first, whatever it is."""

    def __init__(self) -> None:
        self.scored: list[str] = []

    def score(self, genome: Genome, seed: int) -> float:
        self.scored.append(genome.equation())
        return 0.5


def test_simplify_never_scores_a_refused_substitution() -> None:
    genome = G(Node("sqrt", ("s",)), Node("tanh", ("h0",)), out=Node("add", ("h1", "g")))
    scorer = Constant()
    result = simplify(genome, scorer, [0, 1, 2], horizon=100)
    # the substitution h1 -> s is the smallest edit of the first round (one identity node),
    # so with no probe the first kept step would be it
    assert candidate_edits(genome)[0].description == "h1: its subtree -> s"
    assert result.steps and not result.steps[0].description.startswith("h1: its subtree")
    assert any("h1: its subtree -> s" in r for r in result.refused)
    # every step kept was a deletion
    assert all("its subtree" not in s.description for s in result.steps)


@pytest.mark.parametrize("rtol", [0.0, 1.0])
def test_the_tolerance_is_the_callers(rtol: float) -> None:
    genome = G(Node("sqrt", ("s",)), Node("tanh", ("h0",)), out=Node("add", ("h1", "g")))
    edit = subtree_edit(genome, "h1: its subtree -> s")
    # tanh(sqrt(s)) vs s: never within 0% (not identical), within 100% only if same sign
    # and |a - b| <= max(|a|, |b|), which holds for any two non-negative numbers
    assert substitution_matches(genome, edit, rtol) == (rtol == 1.0)
