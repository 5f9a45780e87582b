"""Accepting candidates (SPEC 1.4, 1.5, 3, 6): random valid genomes, children by mutation
until valid, the integrity check with the run's sphere, and duplicate-aware redraws.

`optevo.space` only proposes structures; this module decides which proposals a search may
evaluate. Every function is a pure function of its `numpy.random.Generator`, so a run that
derives one generator per place in the run draws the same candidates on every executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from optevo.integrity import DEFAULT_SPHERE, SphereConfig, check
from optevo.space.config import DEFAULT_SPACE, SpaceConfig
from optevo.space.genome import Genome


class NoValidCandidateError(RuntimeError):
    """No acceptable candidate within the configured number of draws."""


@dataclass(frozen=True)
class Drawn:
    """An accepted candidate and how many proposals it took (1 = the first one passed)."""

    genome: Genome
    proposals: int
    integrity_rejections: int
    duplicate_rejections: int


def integrity_checked(genome: Genome, sphere: SphereConfig = DEFAULT_SPHERE) -> Genome | None:
    """The genome with `flipped` set as SPEC 3's check says, or None when it fails."""
    result = check(genome, sphere)
    if not result.passed:
        return None
    return genome.with_flipped(result.flipped)


def draw_random(
    rng: np.random.Generator,
    space: SpaceConfig = DEFAULT_SPACE,
    sphere: SphereConfig = DEFAULT_SPHERE,
    is_new: Callable[[Genome], bool] | None = None,
) -> Drawn:
    """Draw SPEC 1.4 genomes until one is acyclic, passes the check and (optionally) is new."""
    integrity = duplicates = 0
    for tries in range(1, space.max_tries + 1):
        proposal = Genome.propose(rng, space)
        if proposal is None:
            continue
        genome = integrity_checked(proposal, sphere)
        if genome is None:
            integrity += 1
            continue
        if is_new is not None and not is_new(genome):
            duplicates += 1
            continue
        return Drawn(genome, tries, integrity, duplicates)
    raise NoValidCandidateError(f"no valid random genome in {space.max_tries} draws")


def draw_child(
    parent: Genome,
    rng: np.random.Generator,
    space: SpaceConfig = DEFAULT_SPACE,
    sphere: SphereConfig = DEFAULT_SPHERE,
    is_new: Callable[[Genome], bool] | None = None,
    local: bool = False,
) -> Drawn:
    """Mutate `parent` once (SPEC 1.5; with `local`, one local edit instead:
    `Genome.propose_local_edit`) until the child differs from it, is acyclic, passes the
    integrity check and (optionally) is new to the caller (`is_new`)."""
    integrity = duplicates = 0
    unflipped = parent.with_flipped(False)
    propose = parent.propose_local_edit if local else parent.propose_mutation
    for tries in range(1, space.max_tries + 1):
        child = propose(rng, space)
        if child is None or child == unflipped:
            continue
        checked = integrity_checked(child, sphere)
        if checked is None:
            integrity += 1
            continue
        if checked == parent or (is_new is not None and not is_new(checked)):
            duplicates += 1
            continue
        return Drawn(checked, tries, integrity, duplicates)
    raise NoValidCandidateError(
        f"no valid mutation of this genome in {space.max_tries} draws:\n{parent}"
    )


def random_genome(
    rng: np.random.Generator,
    space: SpaceConfig = DEFAULT_SPACE,
    sphere: SphereConfig = DEFAULT_SPHERE,
) -> Genome:
    """A random genome (SPEC 1.4) that passes the integrity check; `flipped` set by it."""
    return draw_random(rng, space, sphere).genome


def mutate_genome(
    parent: Genome,
    rng: np.random.Generator,
    space: SpaceConfig = DEFAULT_SPACE,
    sphere: SphereConfig = DEFAULT_SPHERE,
) -> Genome:
    """A child of `parent` by one SPEC 1.5 mutation that passes the integrity check."""
    return draw_child(parent, rng, space, sphere).genome
