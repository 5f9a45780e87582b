"""Behaviour fingerprints and duplicate detection (SPEC 6), in the compile layer.

Two genomes are the same optimizer if their canonical forms match, or if their update rules
behave the same on a fixed stream of gradients and weights.

The canonical form already ignores inactive nodes and the order of commutative inputs; the
behaviour hash also catches algebraic identities the canonical form cannot see (`-(-x)` and
`x`, `max(x, x)` and `x`, `x * 1` and `x`). It runs the compiled rule for `STEPS` steps on
`SIZE` entries in two parameter tensors, gradients and weights spanning six orders of
magnitude and both signs, decay functions read over a run of `STEPS` steps, and hashes the
updates rounded to float32 together with the momentum type. The update carries a genome's
constants (EMA rates, eps, ...); the one constant that acts beside it, the decoupled weight
decay of the extended space, is hashed with the momentum type when it is on (so a genome of
the paper's space hashes as it always did).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from optevo.compile import compile_genome
from optevo.space.genome import Genome
from optevo.space.ops import OpContext

STEPS = 12
SIZE = 48
SEGMENTS = (32, 16)
STREAM_SEED = 20_240_611


@functools.cache
def _stream() -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    gen = torch.Generator().manual_seed(STREAM_SEED)

    def draw(lo: float, hi: float) -> torch.Tensor:
        mag = 10.0 ** (lo + (hi - lo) * torch.rand(SIZE, generator=gen, dtype=torch.float64))
        sign = torch.where(torch.rand(SIZE, generator=gen) < 0.5, -1.0, 1.0).double()
        return mag * sign

    steps = []
    for k in range(STEPS):
        g = draw(-4.0, 1.5)
        if k % 3 == 2:
            g[::11] = 0.0  # exact zeros: sign, division and max/min behave differently there
        steps.append((g, draw(-2.0, 1.0)))
    return tuple(steps)


def update_stream(genome: Genome) -> np.ndarray:
    """The genome's updates on the fixed stream, float64, shape (STEPS, SIZE): what the
    behaviour hash hashes (before rounding), and what simplify's value probe compares. The
    momentum type, the sign flip's origin and the decoupled weight decay are not in it (the
    update carries the flip; the hash adds the momentum type and weight decay beside)."""
    rule = compile_genome(genome)
    tables = [np.asarray(t, dtype=np.float64) for t in rule.decay_tables(STEPS)]
    like = torch.zeros(SIZE, dtype=torch.float64)
    state = rule.init_state(like)
    ctx = OpContext(generator=torch.Generator().manual_seed(STREAM_SEED), segments=SEGMENTS)
    out = np.empty((STEPS, SIZE), dtype=np.float64)
    with torch.no_grad(), np.errstate(all="ignore"):
        for k, (g, w) in enumerate(_stream()):
            decays = [float(t[k]) for t in tables]
            u = rule.update(g, state, k, decays, w, ctx).expand(SIZE)
            out[k] = u.to(torch.float64).numpy()
    return out


@functools.lru_cache(maxsize=65536)
def behaviour_hash(genome: Genome) -> str:
    """SHA-256 of the genome's updates on the fixed stream (float32-rounded) and momentum."""
    digest = hashlib.sha256(genome.momentum.encode())
    wd = genome.constant("wd")
    if wd != 0.0:
        digest.update(f"|wd={wd!r}".encode())
    with np.errstate(all="ignore"):
        for row in update_stream(genome):
            values = row.astype(np.float32)
            values[np.isnan(values)] = np.nan  # one NaN bit pattern
            values += np.float32(0.0)  # -0.0 -> 0.0
            digest.update(values.tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class Identity:
    """The two fingerprints of a genome: canonical form and behaviour."""

    canonical: str
    behaviour: str

    @classmethod
    def of(cls, genome: Genome) -> Identity:
        return cls(genome.canonical_hash(), behaviour_hash(genome))


class SeenSet:
    """Genomes seen so far (e.g. one particle's history): a new genome matches none of them
    by canonical form and none by behaviour."""

    def __init__(self, genomes: Iterable[Genome] = ()) -> None:
        self.canonical: set[str] = set()
        self.behaviour: set[str] = set()
        for g in genomes:
            self.add(g)

    def add(self, genome: Genome) -> None:
        ident = Identity.of(genome)
        self.canonical.add(ident.canonical)
        self.behaviour.add(ident.behaviour)

    def __contains__(self, genome: object) -> bool:
        if not isinstance(genome, Genome):
            return False
        if genome.canonical_hash() in self.canonical:
            return True
        return behaviour_hash(genome) in self.behaviour

    def is_new(self, genome: Genome) -> bool:
        return genome not in self
