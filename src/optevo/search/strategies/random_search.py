"""Random search: `budget` random valid genomes (none repeated), evaluated in batches of
`batch`; the baseline every other strategy must beat on the same budget. With `seed_genomes`
(e.g. Adam, or `library`), those are evaluated first, in the first batch, beside its random
genomes (each with its own learning-rate schedule), and are never drawn again: a funnel then
measures every random genome against them."""

from __future__ import annotations

from optevo.schedules import BASE_SCHEDULE
from optevo.search.config import RandomStrategy
from optevo.search.records import Evaluation, Request
from optevo.search.runner import SearchRun
from optevo.search.strategies.base import Seen, seed_starts


class RandomSearch:
    def __init__(self, config: RandomStrategy) -> None:
        self.config = config

    def run(self, run: SearchRun) -> list[Evaluation]:
        cfg = self.config
        seen = Seen()
        seeds: list[Request] = []
        for j, start in enumerate(seed_starts(cfg.seed_genomes)):
            if seen.is_new(start.genome, start.schedule):
                seen.add(start.genome, start.schedule)
                seeds.append(
                    Request(
                        f"seed/{j:03d}",
                        start.genome,
                        "search",
                        name=start.name,
                        schedule=start.schedule,
                    )
                )
        out: list[Evaluation] = []
        for start_i in range(0, cfg.budget, cfg.batch):
            requests, seeds = seeds, []
            for i in range(start_i, min(start_i + cfg.batch, cfg.budget)):
                drawn = run.draw_random(run.rng("random", i), seen.checker(BASE_SCHEDULE))
                seen.add(drawn.genome)
                requests.append(
                    Request(
                        f"random/{i:05d}",
                        drawn.genome,
                        "search",
                        child=i,
                        proposals=drawn.proposals,
                        integrity_rejections=drawn.integrity_rejections,
                        duplicate_rejections=drawn.duplicate_rejections,
                    )
                )
            out.extend(run.evaluate(requests))
        return out
