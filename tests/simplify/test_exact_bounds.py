"""Issue 27 G7: `simplify --exact-only` on a long chain genome (within the size limits) grew to
2.5 GB in 100 s, since a chain has a quadratic number of subtree edits, each a full copy. The
exact pass is now bounded: candidate genomes hold at most `EDIT_NODE_BUDGET` nodes per round,
and the pass stops at its time limit with `complete` False; small genomes are untouched."""

from __future__ import annotations

import time
from typing import Any

from optevo import library
from optevo.simplify import candidate_edits, exact_pass
from optevo.simplify.edits import EDIT_NODE_BUDGET
from optevo.space.genome import Genome


def chain(n: int) -> Genome:
    hidden: list[dict[str, Any]] = [{"op": "identity", "inputs": ["g"]}]
    for i in range(1, n):
        hidden.append({"op": "add" if i % 2 else "mul", "inputs": [f"h{i - 1}", "v"]})
    return Genome.from_dict(
        {
            "schema": "optevo.genome/1",
            "momentum": "none",
            "flipped": False,
            "hidden": hidden,
            "output": {"op": "identity", "inputs": [f"h{n - 1}"]},
        }
    )


def test_a_rounds_candidates_stay_within_the_node_budget() -> None:
    g = chain(40)  # 40 x 39 / 2 = 780 subtree edits unbounded
    unbounded = candidate_edits(g, node_budget=10**9)
    bounded = candidate_edits(g, node_budget=8_000)
    nodes = sum(len(e.genome.hidden) + 1 for e in bounded)
    assert len(bounded) < len(unbounded) / 3
    assert nodes <= 8_000 + 2 * 41 * 41  # the budget, plus the families that are not cut
    # the cheap families (node routes, identities, momentum) are all still offered
    kinds = {e.kind for e in bounded}
    assert {"route", "identity"} <= kinds
    assert EDIT_NODE_BUDGET >= 100_000


def test_the_exact_pass_stops_at_its_time_limit() -> None:
    g = chain(100)
    start = time.perf_counter()
    result = exact_pass(g, horizon=100, seconds=2.0)
    elapsed = time.perf_counter() - start
    assert not result.complete
    assert elapsed < 2.0 + 20  # the limit, plus one round's bounded edit generation at most
    assert result.genome.hidden  # a valid genome comes back


def test_small_genomes_are_simplified_completely_as_before() -> None:
    for name in ("Opt1", "Opt6", "Adam"):
        result = exact_pass(library.genome(name), horizon=1000)
        assert result.complete
        again = exact_pass(library.genome(name), horizon=1000, seconds=1e9)
        assert again.genome == result.genome and again.applied == result.applied
    # a deadline in the past still offers every cheap edit of a small genome
    g = library.genome("Opt6")
    assert {e.kind for e in candidate_edits(g, deadline=0.0)} >= {"route"}
    assert len(candidate_edits(g)) >= len(candidate_edits(g, deadline=0.0))
