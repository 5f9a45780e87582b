"""Simplification and ablation (issue 17): each exact rule, no fitness call for what the
exact pass removes, the noise-aware acceptance rule against an injected deterministic
fitness, ablation rows for a known inert part."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optevo import library
from optevo.fingerprint import behaviour_hash
from optevo.search.candidates import random_genome
from optevo.simplify import (
    Paired,
    ablate,
    candidate_edits,
    exact_pass,
    part_removals,
    simplify,
    size,
)
from optevo.space.decay import DecayGenome
from optevo.space.genome import Genome
from optevo.space.graph import Node

DECAY = DecayGenome((Node("tanh", ("lin_dec",)),), Node("sigmoid", ("h0",)))


def G(*hidden: Node, out: Node, momentum: str = "none") -> Genome:
    return Genome(tuple(hidden), out, momentum)


class CountingScorer:
    """A deterministic fitness: `value(genome)` plus a tiny seed-dependent wobble."""

    def __init__(self, value) -> None:  # type: ignore[no-untyped-def]
        self.value = value
        self.calls = 0

    def score(self, genome: Genome, seed: int) -> float:
        self.calls += 1
        return float(self.value(genome)) + 1e-4 * ((seed * 7919) % 5)


def never(genome: Genome) -> float:
    raise AssertionError("the exact pass must not train")


@pytest.mark.parametrize(
    ("genome", "expected"),
    [
        # x * 1 -> x
        (G(Node("mul", ("g", "one")), Node("tanh", ("h0",)), out=Node("add", ("h1", "v"))),
         "tanh(g) + v"),
        # -(-x) -> x
        (G(Node("neg", ("g",)), Node("neg", ("h0",)), out=Node("add", ("h1", "v"))), "g + v"),
        # max(x, x) -> x
        (G(Node("identity", ("v",)), Node("identity", ("v",)), out=Node("max", ("h0", "h1"))),
         "v"),
        # an identity chain
        (G(Node("identity", ("g",)), Node("identity", ("h0",)), Node("sqrt", ("h1",)),
           out=Node("identity", ("h2",))), "sqrt(|g|)"),
        # |exp(x)| -> exp(x)
        (G(Node("exp", ("v",)), Node("abs", ("h0",)), out=Node("div", ("g", "h1"))),
         "g / (exp(v) + eps)"),
    ],
)
def test_each_exact_rule(genome: Genome, expected: str) -> None:
    result = exact_pass(genome, horizon=100)
    assert result.genome.equation() == expected
    assert size(result.genome) < size(genome)
    assert behaviour_hash(result.genome) == behaviour_hash(genome)


def test_an_inactive_branch_is_dropped_with_no_fitness_call() -> None:
    # h1 and h2 are never read by the output: a branch whose output is never read
    genome = G(
        Node("sign_g" and "abs", ("g",)),
        Node("exp", ("s",)),
        Node("mul", ("h1", "lam")),
        out=Node("add", ("h0", "v")),
    )
    scorer = CountingScorer(never)
    result = simplify(genome, scorer, [0, 1, 2], horizon=100, max_evaluations=0)
    assert len(result.genome.hidden) == 1 and result.genome.equation() == genome.equation()
    assert result.exact_applied[0] == "removed inactive nodes"
    assert scorer.calls == 0 and result.evaluations == 0 and result.budget_spent


def test_a_decay_function_is_removed_only_when_it_is_one_over_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    genome = G(Node("tanh", ("g",), (DECAY,)), out=Node("add", ("h0", "v")))
    assert exact_pass(genome, 100).genome == genome  # sigmoid(tanh(lin_dec)) is not 1
    real = DecayGenome.table

    def ones_for_decay(self: DecayGenome, T: int) -> np.ndarray:
        return np.ones(T) if self == DECAY else real(self, T)

    monkeypatch.setattr(DecayGenome, "table", ones_for_decay)
    simplified = exact_pass(genome, 100).genome
    assert simplified.equation() == "tanh(g) + v" and simplified.decay_functions() == []


def test_every_edit_is_valid_and_offers_what_the_issue_lists() -> None:
    rng = np.random.default_rng(3)
    kinds: set[str] = set()
    for _ in range(30):
        genome = random_genome(rng)
        for edit in candidate_edits(genome):
            Genome.from_json(edit.genome.to_json())  # valid
            assert edit.genome.canonical_hash() != genome.canonical_hash()
            kinds.add(edit.kind)
    assert {"route", "subtree", "identity", "decay", "momentum"} <= kinds


def test_the_acceptance_rule_against_a_deterministic_fitness() -> None:
    # u = tanh(g) * sqrt(|v|) with a decay function; the fitness only cares about sqrt:
    # removing it costs 0.05 (far beyond 2 standard errors of the 1e-4 wobble), anything
    # else costs nothing.
    genome = G(
        Node("tanh", ("g",)),
        Node("abs", ("v",), (DECAY,)),
        Node("sqrt", ("h1",)),
        out=Node("mul", ("h0", "h2")),
        momentum="nesterov",
    )

    def value(g: Genome) -> float:
        return 0.9 if "sqrt" in g.equation() else 0.85

    scorer = CountingScorer(value)
    result = simplify(genome, scorer, [0, 1, 2], horizon=100)
    assert "sqrt" in result.genome.equation()
    assert size(result.genome) < size(genome)
    assert result.genome.momentum == "none" and result.genome.decay_functions() == []
    assert all(step.mean >= -2 * step.se for step in result.steps)
    assert all(step.how == "equivalent" for step in result.steps)
    # the rule itself: equivalence within ± tolerance by the TOST (issue 27: two-sided)
    assert not Paired((-0.05, -0.05, -0.05)).kept()
    assert Paired((0.0, 0.0, 0.0)).kept()
    # mean -0.0007 but too noisy to call equivalent: the 90% interval, -0.0007 ± t(0.95, 2)
    # 2.920 x se 0.00581 = [-0.0177, +0.0163], is not inside ± 0.005 (the old one-sided rule
    # kept it: within 2 standard errors)
    assert not Paired((-0.01, 0.01, -0.002)).kept()
    assert Paired((-0.01, 0.01, -0.002)).kept(tolerance=0.02)  # inside ± 0.02
    assert not Paired((-0.011, -0.010, -0.012)).kept()
    # an edit that is better beyond noise is a different optimizer: kept only with improve
    better = Paired((0.020, 0.021, 0.019))
    assert better.verdict() is None and better.verdict(improve=True) == "improved"
    # within ± 0.005 by hand: mean 0.000167, sd 0.001041, se 0.000601, half-width
    # 2.920 x 0.000601 = 0.001755: [-0.00159, +0.00192] inside ± 0.005
    assert Paired((0.001, -0.001, 0.0005)).verdict() == "equivalent"
    # one seed where the current genome failed (scored 0): not equivalent at any tolerance
    # the interval does not fit in
    assert not Paired((0.0, -0.96, -0.96)).kept()
    assert not Paired((0.0, -0.96, -0.96)).kept(tolerance=1.0)  # [-1.57, +0.29]
    assert Paired((0.0, -0.96, -0.96)).kept(tolerance=1.6)
    with pytest.raises(ValueError, match="at least 3 paired seeds"):
        Paired((0.0, 0.0)).kept()


def test_the_budget_stops_the_noisy_pass_and_keeps_what_was_found() -> None:
    genome = library.genome("Opt6")
    scorer = CountingScorer(lambda g: 0.5)
    result = simplify(genome, scorer, [0, 1, 2], horizon=100, max_evaluations=3)
    assert result.evaluations == 3 and result.budget_spent and scorer.calls == 3


def test_ablation_rows_for_a_genome_with_a_known_inert_part() -> None:
    # the decay function is inert to this fitness, the sqrt node is not
    genome = G(
        Node("sqrt", ("s",)),
        Node("div", ("v", "h0"), (DECAY, None)),
        out=Node("identity", ("h1",)),
        momentum="momentum",
    )

    def value(g: Genome) -> float:
        return 0.9 if "sqrt" in g.equation() else 0.6

    parts = {p.kind for p in part_removals(genome)}
    assert parts == {"node", "decay", "momentum"}
    base, rows = ablate(genome, CountingScorer(value), [0, 1, 2])
    assert base == pytest.approx((0.9, 0.9004, 0.9003))  # the wobble: 1e-4 * (7919 s mod 5)
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    assert [r.mean for r in by_kind["decay"]] == [pytest.approx(0.0)]
    assert [r.mean for r in by_kind["momentum"]] == [pytest.approx(0.0)]
    sqrt_row = next(r for r in by_kind["node"] if "sqrt" in r.part)
    assert sqrt_row.mean == pytest.approx(-0.3) and sqrt_row.se == pytest.approx(0.0)


@pytest.mark.slow
def test_final_simplify_shows_the_readable_form_beside_the_original(tmp_path: Path) -> None:
    from helpers.search import micro_config
    from optevo.search import RunStore, start_search

    redundant = G(
        Node("neg", ("v",)),
        Node("neg", ("h0",)),
        Node("exp", ("s",)),
        Node("abs", ("h2",)),
        out=Node("div", ("h1", "h3")),
    )
    path = tmp_path / "redundant.json"
    path.write_text(redundant.to_json())
    config = micro_config(
        strategy={
            "kind": "particle",
            "particles": 1,
            "time_steps": 0,
            "mutations": 1,
            "init_factor": 0,
            "seed_genomes": [str(path)],
        },
        final={"top": 1, "baselines": [], "seeds": 2, "simplify": True},
    )
    start_search(config, tmp_path / "run")
    with RunStore.open(tmp_path / "run", lock=False) as store:
        final = {ev.request.name: ev for ev in store.evaluations("final")}
    original = next(ev for name, ev in final.items() if not name.endswith("simplified"))
    simplified = next(ev for name, ev in final.items() if name.endswith("simplified"))
    assert simplified.genome.equation() == "v / (exp(s) + eps)"
    assert original.genome.equation() == redundant.equation()
    # the same behaviour: its result is the original's, reused, not trained again
    assert simplified.duplicate_of == original.key
    assert simplified.fitness == original.fitness


def test_the_exact_pass_keeps_an_extended_genomes_constants() -> None:
    # AdamW with a redundant identity chain: the simplified form is AdamW, constants and all.
    from optevo import library

    adamw = library.genome("AdamW")
    padded = Genome(
        (Node("identity", ("s",)), Node("sqrt", ("h0",)), *adamw.hidden[2:]),
        Node("div", ("v", "h1")),
        adamw.momentum,
        adamw.flipped,
        adamw.constants,
    )
    result = exact_pass(padded, horizon=100)
    assert result.genome.constants == adamw.constants
    got = {n: result.genome.constant(n) for n in result.genome.live_constants()}
    assert got == {"beta_v": 0.9, "beta_s": 0.999, "eps": 1e-8, "wd": 0.01}
    assert behaviour_hash(result.genome) == behaviour_hash(adamw)
