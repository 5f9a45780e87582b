"""The exact pass: edits that provably or measurably change nothing, with no training.

An edit is kept when the edited genome has the same canonical form, or the same behaviour
(`optevo.fingerprint.behaviour_hash`: the same updates, to float32, on a fixed stream
of gradients and weights over a short run, momentum type included), and, for a decay
function set to 1, when that function is 1 at every step of the run it will be used in.
This removes inactive branches, `x*1`, `x+0`, `-(-x)`, `max(x,x)`, identity chains, decay
functions constant at 1, and dropout-free no-ops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from optevo.fingerprint import behaviour_hash
from optevo.simplify.edits import Edit, candidate_edits, cost, prune, size
from optevo.space.genome import Genome

EXACT_SECONDS = 60.0
"""The exact pass's time limit: past it, it stops with what it has applied (`complete` False).
Genomes of the search's size finish in well under a second; a 200-node chain, whose every
round checks thousands of edits, would otherwise run for many minutes."""


@dataclass(frozen=True)
class ExactResult:
    original: Genome
    genome: Genome
    applied: tuple[str, ...] = field(default=())
    seconds: float = 0.0
    complete: bool = True
    """False when the pass stopped at its time limit (more exact edits may exist)."""

    @property
    def removed(self) -> int:
        return size(self.original) - size(self.genome)


def _decay_is_one(edit: Edit, horizon: int) -> bool:
    """A decay edit is exact when the removed function is 1 at every step of the run."""
    return edit.decay is not None and bool(
        np.allclose(edit.decay.table(horizon), 1.0, rtol=0.0, atol=1e-12)
    )


def same_behaviour(a: Genome, b: Genome) -> bool:
    """Same canonical form, or the same updates on the fixed stream (and momentum type)."""
    return a.canonical_hash() == b.canonical_hash() or behaviour_hash(a) == behaviour_hash(b)


def exact_pass(genome: Genome, horizon: int = 1000, seconds: float = EXACT_SECONDS) -> ExactResult:
    """Apply exact edits, smallest result first, until none is left or `seconds` have passed
    (then `complete` is False). `horizon`: the run length (steps) the decay functions are
    checked over. Memory is bounded by `candidate_edits`'s node budget."""
    t0 = time.perf_counter()
    current = prune(genome)
    applied: list[str] = []
    if current is not genome:
        applied.append("removed inactive nodes")
    progress = True
    while progress:
        progress = False
        for edit in candidate_edits(current, deadline=t0 + seconds):
            if time.perf_counter() - t0 > seconds:
                return ExactResult(
                    genome, current, tuple(applied), time.perf_counter() - t0, complete=False
                )
            if cost(edit.genome) >= cost(current):
                continue
            if edit.kind == "decay":
                exact = _decay_is_one(edit, horizon)
            else:
                exact = same_behaviour(current, edit.genome)
            if exact:
                current = edit.genome
                applied.append(edit.description)
                progress = True
                break
    return ExactResult(genome, current, tuple(applied), time.perf_counter() - t0)
