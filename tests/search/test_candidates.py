"""Candidate acceptance lives in the search layer: the space only proposes structures."""

from __future__ import annotations

import numpy as np
import pytest

from optevo import library
from optevo.integrity import SphereConfig, check
from optevo.search.candidates import (
    NoValidCandidateError,
    draw_child,
    draw_random,
    integrity_checked,
    random_genome,
)
from optevo.search.config import run_preset
from optevo.space.config import SpaceConfig
from optevo.space.genome import Genome


def test_random_genomes_pass_the_sphere_they_are_given() -> None:
    # A sphere nobody can pass: 1 step from x0, threshold 0 -> no draw is ever accepted.
    impossible = SphereConfig(steps=1, warmup_steps=0, threshold=0.0)
    space = SpaceConfig(max_tries=30)
    with pytest.raises(NoValidCandidateError, match="30 draws"):
        draw_random(np.random.default_rng(0), space, impossible)
    # A stricter but passable threshold: every accepted genome meets it.
    strict = SphereConfig(threshold=1.0)
    for i in range(20):
        g = random_genome(np.random.default_rng(i), sphere=strict)
        result = check(g, strict)
        assert result.passed and result.flipped == g.flipped
        assert result.best_loss < 1.0


def test_integrity_checked_sets_the_sign_flag() -> None:
    adam = library.genome("Adam")
    assert integrity_checked(adam) == adam
    # Gradient ascent (u = -g with momentum none) passes only with its sign flipped.
    ascent = Genome.from_dict(
        {
            "schema": "optevo.genome/1",
            "momentum": "none",
            "flipped": False,
            "hidden": [{"op": "neg", "inputs": ["g"]}],
            "output": {"op": "identity", "inputs": ["h0"]},
        }
    )
    flipped = integrity_checked(ascent)
    assert flipped is not None and flipped.flipped
    assert check(ascent).flipped


def test_draw_child_respects_is_new_and_counts_rejections() -> None:
    parent = library.genome("Opt6")
    first = draw_child(parent, np.random.default_rng(3))
    again = draw_child(parent, np.random.default_rng(3), is_new=lambda g: g != first.genome)
    assert again.genome != first.genome
    assert again.duplicate_rejections >= 1
    assert again.proposals >= again.duplicate_rejections + again.integrity_rejections + 1


def test_decay_only_scope_changes_nothing_but_decay_genes() -> None:
    config = run_preset("adam-schedules")
    space = config.search_space()
    adam = library.genome("Adam")
    rng = np.random.default_rng(0)
    changed = 0
    for _ in range(40):
        child = draw_child(adam, rng, space, config.sphere).genome
        assert child.momentum == adam.momentum
        shape = [(n.op, n.inputs) for n in (*child.hidden, child.output)]
        assert shape == [(n.op, n.inputs) for n in (*adam.hidden, adam.output)]
        changed += child.decay_functions() != adam.decay_functions()
    assert changed == 40
