"""Elimination after a search (SPEC 7.1): the best distinct genomes of a finished run are
re-trained on larger surrogates over several seeds, round after round, and ranked by their
mean validation accuracy.

Every round is a stage of the run (`elim-1`, `elim-2`, ...) evaluated through the run's own
`SearchRun.evaluate`, so its trials and evaluations go into the run's database as they finish,
a killed elimination resumes where it stopped (a request's key is `elim-R/<hash>`), genomes
that behave the same are trained once, and every executor (serial, process pool, Ray) gives
the same result. The protocol is stored in the run's meta (`elimination_json`).

    from optevo.search.elimination import eliminate
    result = eliminate("runs/quick-20260101-120000")
    [ev.canonical_hash[:10] for ev in result.survivors]
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from optevo.fitness import FitnessConfig
from optevo.search.api import leaderboard, searched
from optevo.search.config import ConfigError, ExecutorConfig, RunConfig, stored_config
from optevo.search.elimination_config import (
    EliminationConfig,
    check_rounds,
    elimination_protocol,
)
from optevo.search.executors import Executor, make_executor
from optevo.search.preflight import check_devices
from optevo.search.records import Evaluation, Request, elimination_stage
from optevo.search.runner import Event, SearchRun
from optevo.search.store import DB_NAME, RunStore, StoredDataError, StoreError

META_CONFIG = "elimination_json"
META_STARTED = "elimination_started"
META_FINISHED = "elimination_finished"


class EliminationError(StoreError):
    """A run that cannot be eliminated (no finished search, nothing to rank, another
    elimination protocol stored)."""


class NoSurvivorsError(EliminationError):
    """A round in which no genome got a fitness (every one failed its screen, diverged or
    errored): there is no winner, and nothing is stored as the survivors. The round's
    results stay stored (running the command again reads them back)."""


@dataclass(frozen=True)
class RoundResult:
    """One round: the genomes that entered it (their evaluations in the previous stage) and
    their ranking in this round, best first (shorter than `entering` while it runs)."""

    number: int
    stage: str
    fitness: FitnessConfig
    entering: list[Evaluation]
    ranking: list[Evaluation]
    advancing: int

    @property
    def finished(self) -> bool:
        return len(self.ranking) == len(self.entering)

    @property
    def failed(self) -> bool:
        """A finished round in which no genome got a fitness: it has no winner."""
        return self.finished and all(ev.fitness is None for ev in self.ranking)

    def previous(self, ev: Evaluation) -> Evaluation | None:
        """The evaluation this genome entered the round with (search, or the round before)."""
        return next(
            (
                e
                for e in self.entering
                if e.canonical_hash == ev.request.parent_hash
                and e.request.schedule == ev.request.schedule
            ),
            None,
        )


@dataclass(frozen=True)
class EliminationResult:
    run_dir: Path
    config: EliminationConfig
    rounds: list[RoundResult]
    finished: bool

    @property
    def survivors(self) -> list[Evaluation]:
        """The best `config.survivors` of the last round (empty until it has finished)."""
        if not self.finished or not self.rounds:
            return []
        return self.rounds[-1].ranking[: self.config.survivors]

    def planned_requests(self) -> int:
        """Evaluations the whole elimination makes (fewer when the search had fewer)."""
        if not self.rounds:
            return 0
        total, entering = 0, len(self.rounds[0].entering)
        for n in range(1, len(self.config.rounds) + 1):
            total += entering
            entering = min(entering, self.config.advancing(n))
        return total


def search_candidates(store: RunStore) -> list[Evaluation]:
    """The search's distinct genomes with a fitness, best first: one per canonical form and
    schedule (its first evaluation at the highest funnel rung it reached), and of genomes that
    behave alike only the best."""
    out: list[Evaluation] = []
    seen: set[tuple[str, str]] = set()
    for standing in leaderboard(searched(store.evaluations())):
        ev = standing.evaluation
        key = (ev.behaviour_hash, ev.request.schedule)
        if key in seen:
            continue
        seen.add(key)
        out.append(ev)
    return out


def eliminate(
    run_dir: str | Path | RunStore,
    config: EliminationConfig | None = None,
    on_event: Callable[[Event], None] | None = None,
    executor: Executor | None = None,
    executor_config: ExecutorConfig | None = None,
) -> EliminationResult:
    """Run (or continue) the elimination of the finished search in `run_dir`.

    `config`: the protocol (default: the run config's `elimination`, else the protocol stored
    by an earlier call, else `elimination_protocol(run fitness, "auto")`). A run that already
    holds an elimination continues it; another protocol is refused. `executor_config`
    replaces the run's executor section (serial, process pool, Ray); `executor` is used as
    given (tests). `run_dir` may be the run's store, already opened (locked) by the caller;
    it is closed at the end. A new protocol whose rounds cannot work (`check_rounds`) or
    whose devices are not here is refused before it is stored; a round in which no genome
    gets a fitness raises NoSurvivorsError."""
    store = run_dir if isinstance(run_dir, RunStore) else RunStore.open(run_dir)
    with store:
        run_config = store.run_config()
        check_search(store, run_config)
        elim = _protocol(store, run_config, config)
        if store.get_meta(META_CONFIG) is None:
            if executor is None:
                with_rounds = run_config.model_copy(update={"elimination": elim})
                stages = [elimination_stage(n) for n in range(1, len(elim.rounds) + 1)]
                check_devices(with_rounds, stages)
            store.set_meta(META_CONFIG, elim.model_dump_json())
        store.set_meta(META_STARTED, repr(time.time()))
        worker_config = run_config.model_copy(
            update={
                "elimination": elim,
                "executor": executor_config or run_config.executor,
            }
        )
        own = executor is None
        executor = executor or make_executor(worker_config)
        try:
            run = SearchRun(worker_config, store, executor, on_event)
            rounds = _rounds(store, elim, run.evaluate)
        finally:
            if own:
                executor.close()
        store.set_meta(META_FINISHED, repr(time.time()))
        return EliminationResult(store.run_dir, elim, rounds, finished=True)


def read_elimination(run_dir: str | Path) -> EliminationResult | None:
    """The elimination stored in `run_dir` as it stands (None when none was started); readable
    while another process runs it."""
    with RunStore.open(run_dir, lock=False) as store:
        return stored_elimination(store)


def stored_elimination(store: RunStore) -> EliminationResult | None:
    elim = stored_protocol(store)
    if elim is None:
        return None
    rounds = _rounds(store, elim, None)
    finished = (
        store.get_meta(META_FINISHED) is not None
        and len(rounds) == len(elim.rounds)
        and all(r.finished and not r.failed for r in rounds)
    )
    return EliminationResult(store.run_dir, elim, rounds, finished)


def stored_protocol(store: RunStore) -> EliminationConfig | None:
    """The elimination protocol stored in the run (None when none was started); a
    ConfigError naming the database file when it cannot be read."""
    raw = store.get_meta(META_CONFIG)
    if raw is None:
        return None
    source = f"{store.run_dir / DB_NAME} (elimination)"
    if not isinstance(raw, str):
        raise StoredDataError(f"{source}: the stored protocol is not text")
    try:
        return stored_config(EliminationConfig, raw, source)
    except ConfigError as exc:
        raise StoredDataError(str(exc)) from None


# ----------------------------------------------------------------------------------------------


def check_search(store: RunStore, config: RunConfig) -> None:
    """EliminationError unless the run's search has finished with a genome to rank."""
    if store.get_meta("finished") is None:
        done = store.count("search")
        planned = config.strategy.planned_evaluations()
        raise EliminationError(
            f"{store.run_dir} holds no finished search ({done} of about {planned} search "
            f"evaluations stored); finish it first: optevo search --resume {store.run_dir}"
        )
    if not search_candidates(store):
        raise EliminationError(
            f"{store.run_dir}: no genome of the search has a fitness (every candidate failed); "
            "there is nothing to eliminate"
        )


def _protocol(
    store: RunStore, run_config: RunConfig, asked: EliminationConfig | None
) -> EliminationConfig:
    stored = stored_protocol(store)
    wanted = asked or run_config.elimination
    if stored is not None:
        if wanted is not None and wanted != stored:
            raise EliminationError(
                f"{store.run_dir} already holds an elimination ({stored.describe()}); "
                f"continue it without protocol options, or copy the run directory to try "
                f"another ({wanted.describe()})"
            )
        return stored
    if wanted is not None:
        try:
            check_rounds(wanted)
        except ValueError as exc:
            raise ConfigError(f"elimination: {exc}") from None
        return wanted
    return elimination_protocol(run_config.fitness, "auto")


def _request(stage: str, ev: Evaluation) -> Request:
    schedule = ev.request.schedule
    suffix = "" if schedule == "one_cycle" else f"@{schedule}"
    return Request(
        f"{stage}/{ev.canonical_hash[:16]}{suffix}",
        ev.genome,
        stage,
        name=ev.request.name or ev.canonical_hash[:10],
        parent_hash=ev.canonical_hash,
        schedule=schedule,
    )


def _rounds(
    store: RunStore,
    elim: EliminationConfig,
    evaluate: Callable[[Sequence[Request]], list[Evaluation]] | None,
) -> list[RoundResult]:
    """Each round's entrants and ranking; with `evaluate`, missing results are trained, else
    only what the store holds is read (a round without all its results ends the list)."""
    entering = search_candidates(store)[: elim.rounds[0].candidates]
    out: list[RoundResult] = []
    for n, rnd in enumerate(elim.rounds, 1):
        stage = elimination_stage(n)
        requests = [_request(stage, ev) for ev in entering]
        if evaluate is not None:
            results = evaluate(requests)
        else:
            found = [store.get(r.key) for r in requests]
            results = [ev for ev in found if ev is not None]
        ranking = _ranked(results)
        result = RoundResult(n, stage, rnd.fitness, entering, ranking, elim.advancing(n))
        out.append(result)
        if len(results) < len(requests) or not results:
            break
        if result.failed:
            if evaluate is not None:
                statuses = Counter(ev.status for ev in results)
                shown = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
                raise NoSurvivorsError(
                    f"{store.run_dir}: elimination round {n} ({stage}: "
                    f"{rnd.fitness.size_label}): no genome got a "
                    f"fitness ({shown}); nothing survives, no survivors are stored"
                )
            break
        entering = ranking[: elim.advancing(n)]
    return out


def _ranked(evaluations: list[Evaluation]) -> list[Evaluation]:
    """Best mean validation accuracy first (then the best screen accuracy); ties keep the
    order the genomes entered in (their previous rank)."""
    order = sorted(range(len(evaluations)), key=lambda i: evaluations[i].rank_key(), reverse=True)
    return [evaluations[i] for i in order]
