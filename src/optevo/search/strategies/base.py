"""What the strategies share: seed genomes and ranking."""

from __future__ import annotations

from collections.abc import Sequence

from optevo.search.config import read_seed_genome
from optevo.search.records import Evaluation
from optevo.space.genome import Genome


def seed_genomes(specs: Sequence[str]) -> list[Genome]:
    """Named optimizers ("Adam") or genome JSON files the search starts from."""
    return [read_seed_genome(spec) for spec in specs]


def best(evaluations: Sequence[Evaluation]) -> Evaluation:
    """The best evaluation by `rank_key`; the first one wins a tie."""
    top = evaluations[0]
    for ev in evaluations[1:]:
        if ev.rank_key() > top.rank_key():
            top = ev
    return top


def ranked(evaluations: Sequence[Evaluation]) -> list[Evaluation]:
    """Best first; ties keep their order."""
    order = sorted(range(len(evaluations)), key=lambda i: evaluations[i].rank_key(), reverse=True)
    return [evaluations[i] for i in order]
