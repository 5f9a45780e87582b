"""Search strategies. Each asks its `SearchRun` for whole batches of candidates (the initial
population, all children of a time-step), never one at a time, so an executor can spread or
pack a batch as it likes."""

from __future__ import annotations

from optevo.search.config import (
    ParticleStrategy,
    RandomStrategy,
    RegularizedStrategy,
)
from optevo.search.runner import SearchRun
from optevo.search.strategies.base import seed_genomes
from optevo.search.strategies.particle import ParticleSearch
from optevo.search.strategies.random_search import RandomSearch
from optevo.search.strategies.regularized import RegularizedEvolution


def run_strategy(run: SearchRun) -> None:
    """Run the strategy the run's configuration names."""
    cfg = run.config.strategy
    if isinstance(cfg, ParticleStrategy):
        ParticleSearch(cfg).run(run)
    elif isinstance(cfg, RegularizedStrategy):
        RegularizedEvolution(cfg).run(run)
    elif isinstance(cfg, RandomStrategy):
        RandomSearch(cfg).run(run)
    else:  # pragma: no cover - the config's union is closed
        raise TypeError(f"unknown strategy {cfg!r}")


__all__ = [
    "ParticleSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "run_strategy",
    "seed_genomes",
]
