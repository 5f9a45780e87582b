"""The mutation-only particle-based genetic algorithm (SPEC 6).

1. Enlarged initial population: `init_factor * N` random valid genomes on the cheaper
   surrogate; the best N distinct ones become the particles (or the particles start from the
   seed genomes, cycled; with `seeded`, that many do and the rest come from an initial
   population of `init_factor` times their number).
2. Every particle is re-evaluated on the search surrogate (time-step 0).
3. For each time-step: every particle makes M children by one mutation each (redrawn until
   it passes the integrity check and is new to this particle's history); a child the
   learning-rate screen rejects is replaced by a new mutation up to `screen_redraws` times;
   then the particle moves to its best child (aging: the parent is not kept, even if better).
Particles never compete: each time-step's children, of all particles, are one batch.

With `restart_after`, when the run's incumbent (its best evaluation) has not improved for that
many evaluations, every particle moves to the incumbent after the time-step (a restart from
the best program, as in Lion's search).
"""

from __future__ import annotations

from optevo.search.config import ParticleStrategy
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

INIT_CHUNK = 1024
"""The enlarged initial population is drawn and evaluated this many genomes at a time (one
batch for the paper's populations of up to 1,000)."""


def _best_distinct(evaluations: list[Evaluation], n: int) -> list[Evaluation]:
    """The first `n` of `evaluations` ranked best first (ties keep their order), skipping a
    genome that duplicates a better one (particles start apart)."""
    out: list[Evaluation] = []
    seen = Seen()
    for ev in ranked(evaluations):
        if not seen.is_new(ev.genome, ev.request.schedule):
            continue
        seen.add(ev.genome, ev.request.schedule)
        out.append(ev)
        if len(out) == n:
            break
    return out


class ParticleSearch:
    def __init__(self, config: ParticleStrategy) -> None:
        self.config = config

    def run(self, run: SearchRun) -> list[Evaluation]:
        """Run the search; returns each particle's final position."""
        cfg = self.config
        starts = self._starting_points(run)
        current = run.evaluate(
            [
                Request(
                    f"p{p:03d}/t00",
                    s.genome,
                    "search",
                    particle=p,
                    time_step=0,
                    name=s.name,
                    schedule=s.schedule,
                )
                for p, s in enumerate(starts)
            ]
        )
        for p, ev in enumerate(current):
            run.record_particle(p, 0, ev.key)
        histories = [Seen([s]) for s in starts]
        incumbent = Incumbent(cfg.restart_after)
        incumbent.observe(current)
        for t in range(1, cfg.time_steps + 1):
            current = self._time_step(run, t, current, histories, incumbent)
            if incumbent.stalled():
                assert incumbent.best is not None
                current = [incumbent.best] * len(current)
                for history in histories:
                    history.add(incumbent.best.genome, incumbent.best.request.schedule)
            for p, ev in enumerate(current):
                run.record_particle(p, t, ev.key)
        return current

    def _starting_points(self, run: SearchRun) -> list[Start]:
        cfg = self.config
        n_random = cfg.random_particles()
        seeded: list[Start] = []
        if cfg.seed_genomes:
            seeds = seed_starts(cfg.seed_genomes)
            n_seeded = cfg.particles - n_random
            if cfg.seeds_ranked():
                seeded = self._best_seeds(run, seeds, n_seeded)
            else:
                seeded = [seeds[p % len(seeds)] for p in range(n_seeded)]
        if n_random == 0:
            return seeded
        if cfg.init_factor == 0:
            drawn = [Start(run.draw_random(run.rng("particle", p)).genome) for p in range(n_random)]
            return [*seeded, *drawn]
        # Drawn and evaluated INIT_CHUNK at a time, keeping only the best `n_random` distinct
        # genomes so far: the same choice as ranking the whole population at once.
        size = cfg.init_factor * n_random
        best_so_far: list[Evaluation] = []
        for start in range(0, size, INIT_CHUNK):
            drawn_init = [
                (i, run.draw_random(run.rng("init", i)))
                for i in range(start, min(size, start + INIT_CHUNK))
            ]
            evals = run.evaluate(
                [
                    Request(
                        f"init/{i:05d}",
                        d.genome,
                        "init",
                        proposals=d.proposals,
                        integrity_rejections=d.integrity_rejections,
                    )
                    for i, d in drawn_init
                ]
            )
            best_so_far = _best_distinct([*best_so_far, *evals], n_random)
        chosen = [start_of(ev) for ev in best_so_far]
        # Fewer distinct genomes than particles (a tiny population): cycle through them.
        distinct = list(chosen)
        while len(chosen) < n_random:
            chosen.append(distinct[len(chosen) % len(distinct)])
        return [*seeded, *chosen]

    def _best_seeds(self, run: SearchRun, seeds: list[Start], n: int) -> list[Start]:
        """More seed genomes than seeded particles: every seed is evaluated in the initial
        population, and the best `n` distinct ones start."""
        evals = run.evaluate(
            [
                Request(f"seed/{j:03d}", s.genome, "init", name=s.name, schedule=s.schedule)
                for j, s in enumerate(seeds)
            ]
        )
        return [start_of(ev) for ev in _best_distinct(evals, n)]

    def _time_step(
        self,
        run: SearchRun,
        t: int,
        current: list[Evaluation],
        histories: list[Seen],
        incumbent: Incumbent,
    ) -> list[Evaluation]:
        cfg = self.config
        slots = [(p, j) for p in range(len(current)) for j in range(cfg.mutations)]
        children: dict[tuple[int, int], Evaluation] = {}
        todo = slots
        for attempt in range(cfg.screen_redraws + 1):
            requests = [
                self._child(run, t, p, j, attempt, current[p], histories[p]) for p, j in todo
            ]
            evaluated = run.evaluate(requests)
            incumbent.observe(evaluated)
            for slot, ev in zip(todo, evaluated, strict=True):
                children[slot] = ev
            todo = [s for s in todo if children[s].status == "failed_screen"]
            if not todo:
                break
        moved = []
        for p in range(len(current)):
            moved.append(best([children[(p, j)] for j in range(cfg.mutations)]))
        return moved

    def _child(
        self,
        run: SearchRun,
        t: int,
        p: int,
        j: int,
        attempt: int,
        parent: Evaluation,
        history: Seen,
    ) -> Request:
        rng = run.rng("child", p, t, j, attempt)
        drawn, schedule = draw_child(run, start_of(parent), rng, history)
        return Request(
            f"p{p:03d}/t{t:02d}/c{j:02d}/a{attempt}",
            drawn.genome,
            "search",
            schedule=schedule,
            particle=p,
            time_step=t,
            child=j,
            attempt=attempt,
            parent_hash=parent.canonical_hash,
            proposals=drawn.proposals,
            integrity_rejections=drawn.integrity_rejections,
            duplicate_rejections=drawn.duplicate_rejections,
        )
