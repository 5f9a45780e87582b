"""Regularized evolution (Real et al. 2019) on the same interfaces and budget accounting as
the particle GA: a population of `population` genomes; each round breeds `batch` children,
each from the best of `tournament` members sampled without replacement (mutation only), and
evaluates them as one batch; each child joins the population and the oldest member dies
(aging). Stops when `budget` candidates have been evaluated (the initial population counts).

Warm start: with `seed_genomes` (e.g. `library`), the seed genomes themselves are evaluated
as they are; the best `population` of them are the first members (all of them when fewer, and
then children of them, one edit each, cycling through the seeds, fill the rest). With
`restart_after`, a population whose incumbent (the best evaluation of the run) has not
improved for that many evaluations is replaced by copies of the incumbent: the next rounds
breed from it alone, until their children have aged the copies out.
"""

from __future__ import annotations

from collections import deque

from optevo.search.config import RegularizedStrategy
from optevo.search.records import Evaluation, Request
from optevo.search.runner import SearchRun
from optevo.search.strategies.base import (
    Incumbent,
    Seen,
    Start,
    best,
    draw_child,
    ranked,
    seed_starts,
    start_of,
)


class RegularizedEvolution:
    def __init__(self, config: RegularizedStrategy) -> None:
        self.config = config

    def run(self, run: SearchRun) -> list[Evaluation]:
        """Run the search; returns the final population (oldest first)."""
        cfg = self.config
        size = min(cfg.population, cfg.budget)
        seen = Seen()
        initial = run.evaluate(self._initial(run, size, seen))
        if len(initial) > size:  # more seed genomes than members: the best of them
            chosen = {id(ev) for ev in ranked(initial)[:size]}
            population = deque(ev for ev in initial if id(ev) in chosen)
        else:
            population = deque(initial)
        incumbent = Incumbent(cfg.restart_after)
        incumbent.observe(initial)
        spent = len(initial)
        r = 0
        while spent < cfg.budget:
            r += 1
            if incumbent.stalled():
                assert incumbent.best is not None
                population = deque([incumbent.best] * len(population))
            n = min(cfg.batch, cfg.budget - spent)
            requests = []
            for b in range(n):
                rng = run.rng("tournament", r, b)
                picks = rng.choice(len(population), size=cfg.tournament, replace=False)
                parent = best([population[int(i)] for i in sorted(picks)])
                drawn, schedule = draw_child(run, start_of(parent), run.rng("child", r, b), seen)
                requests.append(
                    Request(
                        f"r{r:05d}/c{b:03d}",
                        drawn.genome,
                        "search",
                        schedule=schedule,
                        time_step=r,
                        child=b,
                        parent_hash=parent.canonical_hash,
                        proposals=drawn.proposals,
                        integrity_rejections=drawn.integrity_rejections,
                        duplicate_rejections=drawn.duplicate_rejections,
                    )
                )
            children = run.evaluate(requests)
            incumbent.observe(children)
            for child in children:
                population.append(child)
                population.popleft()
            spent += n
        return list(population)

    def _initial(self, run: SearchRun, size: int, seen: Seen) -> list[Request]:
        """The first population's candidates: the distinct seed genomes as they are, then
        children of them up to `size`; random genomes without seeds."""
        if not self.config.seed_genomes:
            genomes = [run.draw_random(run.rng("init", i), seen.is_new).genome for i in range(size)]
            for g in genomes:
                seen.add(g)
            return [Request(f"init/{i:05d}", g, "search") for i, g in enumerate(genomes)]
        seeds: list[Start] = []
        for s in seed_starts(self.config.seed_genomes):
            if seen.is_new(s.genome, s.schedule):
                seen.add(s.genome, s.schedule)
                seeds.append(s)
        requests = [
            Request(f"seed/{j:03d}", s.genome, "search", name=s.name, schedule=s.schedule)
            for j, s in enumerate(seeds)
        ]
        for i in range(max(0, size - len(seeds))):
            parent = seeds[i % len(seeds)]
            drawn, schedule = draw_child(run, parent, run.rng("init", i), seen)
            requests.append(
                Request(
                    f"init/{i:05d}",
                    drawn.genome,
                    "search",
                    schedule=schedule,
                    parent_hash=parent.genome.canonical_hash(),
                    proposals=drawn.proposals,
                    integrity_rejections=drawn.integrity_rejections,
                    duplicate_rejections=drawn.duplicate_rejections,
                )
            )
        return requests
