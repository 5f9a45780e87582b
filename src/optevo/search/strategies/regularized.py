"""Regularized evolution (Real et al. 2019) on the same interfaces and budget accounting as
the particle GA: a population of `population` genomes; each round breeds `batch` children,
each from the best of `tournament` members sampled without replacement (mutation only), and
evaluates them as one batch; each child joins the population and the oldest member dies
(aging). Stops when `budget` candidates have been evaluated (the initial population counts).
"""

from __future__ import annotations

from collections import deque

from optevo.fingerprint import SeenSet
from optevo.search.config import RegularizedStrategy
from optevo.search.records import Evaluation, Request
from optevo.search.runner import SearchRun
from optevo.search.strategies.base import best, seed_genomes


class RegularizedEvolution:
    def __init__(self, config: RegularizedStrategy) -> None:
        self.config = config

    def run(self, run: SearchRun) -> list[Evaluation]:
        """Run the search; returns the final population (oldest first)."""
        cfg = self.config
        size = min(cfg.population, cfg.budget)
        seen = SeenSet()
        if cfg.seed_genomes:
            seeds = seed_genomes(cfg.seed_genomes)
            starts = [seeds[i % len(seeds)] for i in range(size)]
            extra = [run.draw_child(g, run.rng("init", i)) for i, g in enumerate(starts)]
            genomes = [d.genome for d in extra]
        else:
            genomes = [run.draw_random(run.rng("init", i), seen.is_new).genome for i in range(size)]
        for g in genomes:
            seen.add(g)
        initial = run.evaluate(
            [Request(f"init/{i:05d}", g, "search") for i, g in enumerate(genomes)]
        )
        population = deque(initial)
        spent = len(initial)
        r = 0
        while spent < cfg.budget:
            r += 1
            n = min(cfg.batch, cfg.budget - spent)
            requests = []
            for b in range(n):
                rng = run.rng("tournament", r, b)
                picks = rng.choice(len(population), size=cfg.tournament, replace=False)
                parent = best([population[int(i)] for i in sorted(picks)])
                drawn = run.draw_child(parent.genome, run.rng("child", r, b), seen.is_new)
                seen.add(drawn.genome)
                requests.append(
                    Request(
                        f"r{r:05d}/c{b:03d}",
                        drawn.genome,
                        "search",
                        time_step=r,
                        child=b,
                        parent_hash=parent.canonical_hash,
                        proposals=drawn.proposals,
                        integrity_rejections=drawn.integrity_rejections,
                        duplicate_rejections=drawn.duplicate_rejections,
                    )
                )
            for child in run.evaluate(requests):
                population.append(child)
                population.popleft()
            spent += n
        return list(population)
