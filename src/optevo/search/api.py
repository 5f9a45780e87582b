"""Start, resume and finish a search run; read its leaderboard.

from optevo.search import run_preset, start_search
summary = start_search(run_preset("tiny"), "runs/tiny")
summary.final[0].name, summary.final[0].fitness
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from optevo import library
from optevo.search.config import RunConfig
from optevo.search.executors import Executor, make_executor
from optevo.search.records import Evaluation, Request
from optevo.search.runner import Event, SearchRun
from optevo.search.store import RunStore, StoreError
from optevo.search.strategies import run_strategy


@dataclass(frozen=True)
class Standing:
    """One row of a leaderboard: a distinct genome (or named optimizer) and its result."""

    name: str
    evaluation: Evaluation
    times_seen: int = 1

    @property
    def fitness(self) -> float | None:
        return self.evaluation.fitness

    @property
    def fitness_std(self) -> float | None:
        return self.evaluation.fitness_std


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    config: RunConfig
    finished: bool
    counts: dict[str, int]
    status_counts: dict[str, int]
    leaderboard: list[Standing]
    final: list[Standing]


def planned_evaluations(config: RunConfig) -> int:
    """Requests the run will make before redraws (duplicates included)."""
    final = 0
    if config.final.enabled:
        final = config.final.top + len(config.final.baselines)
    return config.strategy.planned_evaluations() + final


def start_search(
    config: RunConfig,
    run_dir: str | Path,
    on_event: Callable[[Event], None] | None = None,
    executor: Executor | None = None,
) -> RunSummary:
    """A new run in `run_dir` (refused if it already holds one), run to the end."""
    store = RunStore.create(run_dir, config.to_yaml(), config.model_dump_json())
    with store:
        return _execute(store, config, on_event, executor)


def resume_search(
    run_dir: str | Path,
    on_event: Callable[[Event], None] | None = None,
    executor: Executor | None = None,
    config: RunConfig | None = None,
) -> RunSummary:
    """Continue the run in `run_dir` from where it stopped (its stored configuration; an
    executor section in `config` may replace the stored one, nothing else may change)."""
    store = RunStore.open(run_dir)
    with store:
        stored = store.run_config()
        if config is not None:
            if config.model_copy(update={"executor": stored.executor}) != stored:
                raise StoreError(
                    f"{run_dir} was started with another configuration; resume it without "
                    "--config/--preset/--set (only the executor may change)"
                )
            stored = config
        return _execute(store, stored, on_event, executor)


def load_config(run_dir: str | Path) -> RunConfig:
    with RunStore.open(run_dir, lock=False) as store:
        return store.run_config()


def _execute(
    store: RunStore,
    config: RunConfig,
    on_event: Callable[[Event], None] | None,
    executor: Executor | None,
) -> RunSummary:
    own = executor is None
    executor = executor or make_executor(config)
    try:
        run = SearchRun(config, store, executor, on_event)
        store.set_meta("started", repr(time.time()))
        run_strategy(run)
        if config.final.enabled:
            final_stage(run)
        store.set_meta("finished", repr(time.time()))
    finally:
        if own:
            executor.close()
    return summarize(store, config)


def final_stage(run: SearchRun) -> list[Evaluation]:
    """Re-evaluate the best `final.top` distinct genomes of the search and the baselines over
    `final.seeds` fresh training seeds (not the seeds they were selected on)."""
    cfg = run.config.final
    top = [s.evaluation for s in leaderboard(run.store.evaluations("search"))][: cfg.top]
    requests = [
        Request(
            f"final/top{i + 1}",
            ev.genome,
            "final",
            name=f"#{i + 1} {ev.canonical_hash[:10]}",
            parent_hash=ev.canonical_hash,
            schedule=ev.request.schedule,
        )
        for i, ev in enumerate(top)
    ]
    for name in cfg.baselines:
        entry = library.get(name)
        requests.append(
            Request(
                f"final/{name}",
                entry.genome,
                "final",
                name=name,
                schedule=entry.lr_schedule or "one_cycle",
            )
        )
    return run.evaluate(requests)


def leaderboard(evaluations: list[Evaluation]) -> list[Standing]:
    """Distinct genomes (by canonical hash and schedule) with a fitness, best first; each
    genome's first trained evaluation stands for it."""
    firsts: dict[tuple[str, str], Evaluation] = {}
    seen: Counter[tuple[str, str]] = Counter()
    for ev in evaluations:
        key = (ev.canonical_hash, ev.request.schedule)
        seen[key] += 1
        if key not in firsts:
            firsts[key] = ev
    rows = [ev for ev in firsts.values() if ev.fitness is not None]
    rows.sort(key=lambda ev: ev.rank_key(), reverse=True)
    return [
        Standing(
            ev.request.name or ev.canonical_hash[:10],
            ev,
            seen[(ev.canonical_hash, ev.request.schedule)],
        )
        for ev in rows
    ]


def summarize(store: RunStore, config: RunConfig | None = None) -> RunSummary:
    if config is None:
        config = store.run_config()
    evaluations = store.evaluations()
    search = [e for e in evaluations if e.request.stage in ("init", "search")]
    counts = {
        "requested": len(search),
        "trained": sum(e.duplicate_of is None for e in search),
        "duplicates": sum(e.duplicate_of is not None for e in search),
        "screen_redraws": sum((e.request.attempt or 0) > 0 for e in search),
        "init": sum(e.request.stage == "init" for e in search),
        "planned": config.strategy.planned_evaluations(),
        "final": sum(e.request.stage == "final" for e in evaluations),
        "final_planned": (
            config.final.top + len(config.final.baselines) if config.final.enabled else 0
        ),
    }
    status_counts = dict(Counter(e.status for e in search))
    final = [e for e in evaluations if e.request.stage == "final"]
    return RunSummary(
        run_dir=store.run_dir,
        config=config,
        finished=store.get_meta("finished") is not None,
        counts=counts,
        status_counts=status_counts,
        leaderboard=leaderboard([e for e in search if e.request.stage == "search"]),
        final=leaderboard(final),
    )


def read_summary(run_dir: str | Path) -> RunSummary:
    """The summary of a run directory (readable while another process runs it)."""
    with RunStore.open(run_dir, lock=False) as store:
        return summarize(store)
