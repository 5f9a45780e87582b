"""A search run: the strategy asks for batches of candidates, the run answers from the store
(resume), from earlier results (duplicates) or by handing trials to the executor, and stores
every trial and evaluation the moment it finishes.

Determinism: every random stream derives from the run seed and a place in the run
(`SearchRun.rng("child", particle, step, j, attempt)`), every training seed from the run seed
and the seed's index, and a batch's results come back in request order. So a strategy replayed
on a store that already holds part of the run asks for exactly the same candidates, and the run
ends exactly as an uninterrupted one would, whatever the executor.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from optevo.fingerprint import Identity
from optevo.fitness.result import ERROR_STREAK
from optevo.integrity import SphereConfig
from optevo.search.candidates import Drawn, draw_child, draw_random
from optevo.search.config import RunConfig
from optevo.search.executors import Executor
from optevo.search.funnel import Ladder
from optevo.search.records import (
    Evaluation,
    Request,
    Trial,
    TrialResult,
    aggregate,
    elimination_round,
    funnel_rung,
    rung_stage,
)
from optevo.search.store import RunStore
from optevo.space.config import SpaceConfig
from optevo.space.genome import Genome


@dataclass(frozen=True)
class Event:
    """One finished request, as the progress display sees it. `source`: "trained" (run by
    the executor), "duplicate" (reused an earlier result) or "stored" (read back on resume).
    `steps`: the optimizer steps the search has spent so far (`RunConfig.budget_steps`)."""

    evaluation: Evaluation
    source: str
    steps: int = 0


def derive_seed(run_seed: int, *place: int | str) -> int:
    """A 31-bit seed for a place in the run (stable across Python versions and machines)."""
    text = "/".join(str(p) for p in (run_seed, *place)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little") & 0x7FFFFFFF


class BudgetSpent(Exception):  # noqa: N818 (a stop signal, not an error)
    """The search has trained `RunConfig.budget_steps` optimizer steps: it stops here."""


class SearchFailingError(RuntimeError):
    """Every recent evaluation failed with the same error (a problem of the run's
    configuration, such as a suite task too small for Adam's reference run to learn): the run
    stops instead of spending its budget on errors."""



SPENDING_STAGES = ("init", "search")
"""Stages whose training counts against `budget_steps` (with the funnel's rungs)."""


class SearchRun:
    """The services a strategy uses: seeded random streams, candidate drawing with the run's
    space and sphere, and `evaluate` for a batch of requests."""

    def __init__(
        self,
        config: RunConfig,
        store: RunStore,
        executor: Executor,
        on_event: Callable[[Event], None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.executor = executor
        self.on_event = on_event
        self.space: SpaceConfig = config.search_space()
        self.sphere: SphereConfig = config.sphere
        funnel = config.funnel
        self.ladder = None if funnel is None else Ladder(len(funnel.rungs))
        self.steps = 0
        """Optimizer steps the search's candidates trained so far (stored ones included: a
        resumed run counts as the uninterrupted one did, in the same order)."""
        self.streak: tuple[str, int] = ("", 0)
        """(error message, how many evaluations in a row failed with it)."""
        self._fidelity: dict[str, tuple[str, ...]] = {}
        self.searched = False
        """Whether a search-stage batch has been evaluated: the step budget never stops a
        run before its first one (a leaderboard needs it), however much the initial
        population spent."""

    # -- randomness -------------------------------------------------------------------------

    def rng(self, *place: int | str) -> np.random.Generator:
        """The generator of one place in the run, e.g. rng("child", p, t, j, attempt)."""
        words = [self.config.seed] + [derive_seed(0, p) for p in place]
        return np.random.default_rng(np.random.SeedSequence(words))

    def training_seeds(self, stage: str) -> list[int]:
        rung = funnel_rung(stage)
        if stage == "final":
            n, group = self.config.final.seeds, "final"
        elif rung:  # a funnel rung: fresh seeds, not those the candidate was promoted on
            if self.config.funnel is None or rung > len(self.config.funnel.rungs):
                raise ValueError(f"stage {stage!r}: the run's configuration has no such rung")
            n, group = self.config.funnel.rungs[rung - 1].seeds, stage
        elif elimination_round(stage) is not None:
            if self.config.elimination is None:
                raise ValueError(f"stage {stage!r}: the run's configuration holds no elimination")
            n, group = self.config.elimination.seeds, stage  # fresh seeds in every round
        else:
            n, group = self.config.strategy.seeds_per_candidate, "fitness"
        return [derive_seed(self.config.seed, group, i) for i in range(n)]

    def same_fidelity(self, stage: str) -> tuple[str, ...]:
        """The stages whose evaluations are interchangeable with `stage`'s: the same fitness
        protocol on the same training seeds (`stage` first). A genome is trained at most once
        per fidelity, whichever stage asks (e.g. the particle GA's initial population and its
        first time-step, when both use the search fitness)."""
        if stage not in self._fidelity:

            def key(name: str) -> tuple[str, tuple[int, ...]]:
                fit = self.config.stage_fitness(name).model_dump_json()
                return fit, tuple(self.training_seeds(name))

            try:
                mine = key(stage)
                others = [s for s in self.config.stages() if s != stage and key(s) == mine]
            except ValueError:  # a stage this configuration does not hold: itself only
                others = []
            self._fidelity[stage] = (stage, *others)
        return self._fidelity[stage]

    # -- candidates -------------------------------------------------------------------------

    def draw_random(
        self, rng: np.random.Generator, is_new: Callable[[Genome], bool] | None = None
    ) -> Drawn:
        return draw_random(rng, self.space, self.sphere, is_new)

    def draw_child(
        self,
        parent: Genome,
        rng: np.random.Generator,
        is_new: Callable[[Genome], bool] | None = None,
    ) -> Drawn:
        local = self.config.strategy.mutation == "local"
        return draw_child(parent, rng, self.space, self.sphere, is_new, local)

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, requests: Sequence[Request]) -> list[Evaluation]:
        """Evaluate a batch; results in request order. A request whose key the store holds
        is read back; one whose genome (by canonical form or behaviour, same stage and
        schedule) was trained before reuses that result as a duplicate; the rest become one
        trial per training seed, run by the executor as one batch. With a funnel, the
        batch's search-stage candidates then climb its rungs (`optevo.search.funnel`), and
        each comes back as its evaluation at the highest rung it reached."""
        budget = self.config.budget_steps
        spending = any(r.stage in SPENDING_STAGES for r in requests)
        if budget is not None and spending and self.searched and self.steps >= budget:
            raise BudgetSpent(f"{self.steps:,} steps trained, the budget is {budget:,}")
        results = self._evaluate(requests)
        self.searched = self.searched or any(r.stage == "search" for r in requests)
        if self.ladder is not None:
            results = self._climb(requests, results)
        self._watch_errors(results)
        return results

    def _watch_errors(self, results: Sequence[Evaluation]) -> None:
        """Raise `SearchFailingError` once `ERROR_STREAK` evaluations in a row failed with the same
        error message (its first line); any other outcome resets the count. A resumed run
        replays the same results in the same order, so it stops at the same place."""
        for ev in results:
            message = (ev.error or "").strip().split("\n", 1)[0] if ev.status == "error" else ""
            count = self.streak[1] + 1 if message and message == self.streak[0] else 1
            self.streak = (message, count if message else 0)
        message, count = self.streak
        if count >= ERROR_STREAK:
            raise SearchFailingError(
                f"the last {count} evaluations all failed with the same error, so the run "
                f"stopped (fix the configuration and start a new run): {message}"
            )

    def _climb(self, requests: Sequence[Request], results: list[Evaluation]) -> list[Evaluation]:
        assert self.config.funnel is not None and self.ladder is not None
        current = list(results)
        entrants = [i for i, r in enumerate(requests) if r.stage == "search"]
        for rung, cfg in enumerate(self.config.funnel.rungs, 1):
            if not entrants:
                break
            keys = [
                current[i].rank_key() if current[i].fitness is not None else None for i in entrants
            ]
            chosen = [entrants[j] for j in self.ladder.promote(rung, cfg.keep, keys)]
            stage = rung_stage(rung)
            promoted = [
                replace(requests[i], key=f"{requests[i].key}/{stage}", stage=stage) for i in chosen
            ]
            for i, ev in zip(chosen, self._evaluate(promoted), strict=True):
                current[i] = ev
            entrants = chosen
        return current

    def _evaluate(self, requests: Sequence[Request]) -> list[Evaluation]:
        keys = [r.key for r in requests]
        if len(set(keys)) != len(keys):
            raise ValueError("a batch names the same key twice")
        out: dict[int, Evaluation] = {}
        identities: dict[int, Identity] = {}
        leaders: dict[tuple[str, str, str], int] = {}  # first of each genome in this batch
        followers: dict[int, list[int]] = {}
        to_train: list[int] = []
        for i, req in enumerate(requests):
            stored = self.store.get(req.key)
            if stored is not None:
                out[i] = stored
                if stored.duplicate_of is None:
                    self._spend(req.stage, self.store.trials(req.key).values())
                self._emit(stored, "stored")
                continue
            ident = Identity.of(req.genome)
            identities[i] = ident
            same = self.same_fidelity(req.stage)
            earlier = self.store.find_trained(same, req.schedule, ident.canonical, ident.behaviour)
            if earlier is not None:
                out[i] = self._store_duplicate(req, ident, earlier)
                continue
            by_canonical = (same[0], req.schedule, "c" + ident.canonical)
            by_behaviour = (same[0], req.schedule, "b" + ident.behaviour)
            leader = leaders.get(by_canonical, leaders.get(by_behaviour))
            if leader is not None:
                followers.setdefault(leader, []).append(i)
                continue
            leaders[by_canonical] = leaders[by_behaviour] = i
            to_train.append(i)

        trials: list[Trial] = []
        partial: dict[str, dict[int, TrialResult]] = {}
        index_of = {requests[i].key: i for i in to_train}
        for i in to_train:
            req = requests[i]
            seeds = self.training_seeds(req.stage)
            done = self.store.trials(req.key)
            partial[req.key] = done
            genome_json = req.genome.to_json()
            for s, seed in enumerate(seeds):
                if s not in done:
                    trials.append(Trial(req.key, s, seed, req.stage, genome_json, req.schedule))
            if len(done) >= len(seeds):
                out[i] = self._finish(req, identities[i], done, len(seeds))
                self._resolve(out[i], followers.get(i, []), requests, identities, out)

        def on_done(trial: Trial, result: TrialResult) -> None:
            self.store.put_trial(trial.key, trial.seed_index, trial.seed, result)
            done = partial[trial.key]
            done[trial.seed_index] = result
            i = index_of[trial.key]
            n = len(self.training_seeds(trial.stage))
            if len(done) == n:
                out[i] = self._finish(requests[i], identities[i], done, n)
                self._resolve(out[i], followers.get(i, []), requests, identities, out)

        if trials:
            self.executor.run(trials, on_done)
        missing = [requests[i].key for i in range(len(requests)) if i not in out]
        if missing:
            raise RuntimeError(f"the executor returned no result for {missing[:3]}")
        return [out[i] for i in range(len(requests))]

    def _finish(
        self, req: Request, ident: Identity, done: dict[int, TrialResult], n: int
    ) -> Evaluation:
        results = [done[s] for s in range(n)]
        self._spend(req.stage, results)
        ev = aggregate(req, ident.canonical, ident.behaviour, results)
        ev = self.store.put_evaluation(ev)
        self._emit(ev, "trained")
        return ev

    def _spend(self, stage: str, results: Iterable[TrialResult]) -> None:
        if stage in SPENDING_STAGES or funnel_rung(stage):
            self.steps += sum(r.result.steps for r in results)

    def _resolve(
        self,
        leader: Evaluation,
        followers: list[int],
        requests: Sequence[Request],
        identities: dict[int, Identity],
        out: dict[int, Evaluation],
    ) -> None:
        for j in followers:
            out[j] = self._store_duplicate(requests[j], identities[j], leader)

    def _store_duplicate(self, req: Request, ident: Identity, earlier: Evaluation) -> Evaluation:
        ev = replace(
            earlier,
            request=req,
            canonical_hash=ident.canonical,
            behaviour_hash=ident.behaviour,
            seconds=0.0,
            host="",
            duplicate_of=earlier.key,
        )
        ev = self.store.put_evaluation(ev)
        self._emit(ev, "duplicate")
        return ev

    def _emit(self, ev: Evaluation, source: str) -> None:
        if self.on_event is not None:
            self.on_event(Event(ev, source, self.steps))

    # -- particles --------------------------------------------------------------------------

    def record_particle(self, particle: int, time_step: int, key: str) -> None:
        self.store.put_particle(particle, time_step, key)


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")
