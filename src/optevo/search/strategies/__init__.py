"""Search strategies. Each asks its `SearchRun` for whole batches of candidates (the initial
population, all children of a time-step), never one at a time, so an executor can spread or
pack a batch as it likes.

They are registered by the `kind` of their configuration in `STRATEGIES`. Adding a strategy:
its module here (a class built from its configuration, with `run(run)`), its entry in
`STRATEGIES`, and its configuration in `optevo.search.config` (a member of `StrategyConfig`;
a test checks the two agree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from optevo.search.config import ConfigError
from optevo.search.records import Evaluation
from optevo.search.runner import SearchRun
from optevo.search.strategies.base import seed_genomes
from optevo.search.strategies.particle import ParticleSearch
from optevo.search.strategies.random_search import RandomSearch
from optevo.search.strategies.regularized import RegularizedEvolution


class Strategy(Protocol):
    def run(self, run: SearchRun) -> list[Evaluation]: ...


STRATEGIES: dict[str, Callable[[Any], Strategy]] = {
    "particle": ParticleSearch,
    "regularized": RegularizedEvolution,
    "random": RandomSearch,
}
"""The strategies by the `kind` of their configuration (each built from that configuration)."""


def run_strategy(run: SearchRun) -> None:
    """Run the strategy the run's configuration names."""
    cfg = run.config.strategy
    factory = STRATEGIES.get(cfg.kind)
    if factory is None:
        known = ", ".join(STRATEGIES)
        raise ConfigError(f"strategy.kind: unknown strategy {cfg.kind!r}; known: {known}")
    factory(cfg).run(run)


__all__ = [
    "STRATEGIES",
    "ParticleSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "Strategy",
    "run_strategy",
    "seed_genomes",
]
