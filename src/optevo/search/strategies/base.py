"""What the strategies share: seed genomes and ranking."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from optevo.fingerprint import SeenSet
from optevo.schedules import BASE_SCHEDULE, LR_SCHEDULES
from optevo.search.candidates import Drawn
from optevo.search.config import expand_seed_specs, read_seed_genome
from optevo.search.records import Evaluation
from optevo.space.genome import Genome

if TYPE_CHECKING:
    from optevo.search.runner import SearchRun

LOCAL_SCHEDULES: tuple[str, ...] = (BASE_SCHEDULE, *LR_SCHEDULES)
"""The learning-rate factors a local edit may switch between (`schedule_p`)."""


@dataclass(frozen=True)
class Start:
    """A point a strategy starts from: a genome and its learning-rate schedule."""

    genome: Genome
    schedule: str = BASE_SCHEDULE
    name: str | None = None
    """The library name of a seed genome (the leaderboard shows it)."""


def seed_starts(specs: Sequence[str]) -> list[Start]:
    """Named optimizers ("Adam", "LR6") or genome JSON files the search starts from
    (`library`: every library optimizer), each with its schedule (a library optimizer's own
    learning-rate factor, else the base schedule); a repeated name is read once."""
    from optevo import library

    out = []
    for spec in expand_seed_specs(tuple(specs)):
        genome, schedule = read_seed_genome(spec)
        out.append(Start(genome, schedule, spec if spec in library.names() else None))
    return out


def seed_genomes(specs: Sequence[str]) -> list[Genome]:
    """The genomes of `seed_starts` (their schedules left out)."""
    return [s.genome for s in seed_starts(specs)]


class Seen:
    """Candidates seen so far, per learning-rate schedule: a genome is new under a schedule
    when it matches none seen under that schedule by canonical form or behaviour (Adam under
    LR6 is not Adam)."""

    def __init__(self, starts: Sequence[Start] = ()) -> None:
        self._by: dict[str, SeenSet] = {}
        for s in starts:
            self.add(s.genome, s.schedule)

    def add(self, genome: Genome, schedule: str = BASE_SCHEDULE) -> None:
        self._by.setdefault(schedule, SeenSet()).add(genome)

    def is_new(self, genome: Genome, schedule: str = BASE_SCHEDULE) -> bool:
        seen = self._by.get(schedule)
        return seen is None or seen.is_new(genome)

    def checker(self, schedule: str) -> Callable[[Genome], bool]:
        return lambda genome: self.is_new(genome, schedule)


def draw_child(
    run: SearchRun, parent: Start, rng: np.random.Generator, seen: Seen
) -> tuple[Drawn, str]:
    """A child of `parent` and its schedule, new to `seen` (and added to it): one edit of the
    genome under the parent's schedule, or, with `mutation: local` and probability
    `schedule_p`, the parent's genome under another learning-rate factor."""
    cfg = run.config.strategy
    if cfg.mutation == "local" and cfg.schedule_p > 0 and rng.random() < cfg.schedule_p:
        others = [
            s for s in LOCAL_SCHEDULES if s != parent.schedule and seen.is_new(parent.genome, s)
        ]
        if others:
            schedule = others[int(rng.integers(len(others)))]
            seen.add(parent.genome, schedule)
            return Drawn(parent.genome, 1, 0, 0), schedule
    drawn = run.draw_child(parent.genome, rng, seen.checker(parent.schedule))
    seen.add(drawn.genome, parent.schedule)
    return drawn, parent.schedule


def start_of(ev: Evaluation) -> Start:
    return Start(ev.genome, ev.request.schedule)


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


class Incumbent:
    """The best evaluation so far and how many evaluations have come since it last improved:
    the restart rule (`restart_after`). It reads only evaluation results, so a resumed run
    (which replays the same results in the same order) restarts at the same places."""

    def __init__(self, restart_after: int | None) -> None:
        self.restart_after = restart_after
        self.best: Evaluation | None = None
        self.since = 0
        self.restarts = 0

    def observe(self, evaluations: Sequence[Evaluation]) -> None:
        for ev in evaluations:
            if self.best is None or ev.rank_key() > self.best.rank_key():
                self.best = ev
                self.since = 0
            else:
                self.since += 1

    def stalled(self) -> bool:
        """Whether it is time to restart from `best` (then the count starts again)."""
        if self.restart_after is None or self.best is None or self.since < self.restart_after:
            return False
        self.since = 0
        self.restarts += 1
        return True
