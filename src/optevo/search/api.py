"""Start, resume and finish a search run; read its leaderboard.

from optevo.search import run_preset, start_search
summary = start_search(run_preset("tiny"), "runs/tiny")
summary.final[0].name, summary.final[0].fitness
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from optevo.config import ConfigError, safe_load
from optevo.optim.spec import genome_of
from optevo.search.config import RunConfig
from optevo.search.executors import Executor, make_executor
from optevo.search.preflight import check_devices
from optevo.search.records import Evaluation, Request, funnel_rung
from optevo.search.runner import BudgetSpent, Event, SearchRun
from optevo.search.store import RunStore, StoreError
from optevo.search.strategies import run_strategy
from optevo.tasks.user import changed_files, task_file_hashes

if TYPE_CHECKING:
    from optevo.transfer.protocol import TransferEvent

CONFIG_YAML = "config.yaml"
MAX_CONFIG_YAML_BYTES = 1 << 20


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
    """Requests the run will make before redraws (duplicates included); with a funnel, its
    rungs' share of the search's candidates (rung k: the product of the keep fractions up to
    it, rounded up)."""
    final = 0
    if config.final.enabled:
        final = config.final.top + len(config.final.baselines)
    search = config.strategy.planned_evaluations()
    rungs = 0
    if config.funnel is not None:
        share = 1.0
        for rung in config.funnel.rungs:
            share *= rung.keep
            rungs += math.ceil(search * share - 1e-9)
    return search + rungs + final


def start_search(
    config: RunConfig,
    run_dir: str | Path,
    on_event: Callable[[Event], None] | None = None,
    executor: Executor | None = None,
    on_validate: Callable[[TransferEvent], None] | None = None,
) -> RunSummary:
    """A new run in `run_dir` (refused if it already holds one), run to the end: the search,
    the final re-evaluation and the validation stage (`on_validate` sees its events). A device
    that is not here (`fitness.device: cuda` without CUDA) is refused before anything is
    written, when the evaluations run on this machine (`executor` None, not a Ray cluster)."""
    if executor is None:
        check_devices(config, config.stages())
    store = RunStore.create(run_dir, config.to_yaml(), config.model_dump_json())
    with store:
        hashes = task_file_hashes(config.task_names())
        if hashes:
            store.set_meta(TASK_FILES_META, json.dumps(hashes, sort_keys=True))
        return _execute(store, config, on_event, executor, on_validate)


TASK_FILES_META = "task_files"
"""The run's meta key holding the SHA-256 of each of your own task files when it began."""


def changed_task_files(store: RunStore) -> list[str]:
    """Your own tasks of the run whose file changed since the run began (loaded ones)."""
    text = store.get_meta(TASK_FILES_META)
    if not text:
        return []
    try:
        stored = json.loads(text)
    except ValueError:
        return []
    return changed_files(stored) if isinstance(stored, dict) else []


def resume_search(
    run_dir: str | Path | RunStore,
    on_event: Callable[[Event], None] | None = None,
    executor: Executor | None = None,
    config: RunConfig | None = None,
    on_validate: Callable[[TransferEvent], None] | None = None,
) -> RunSummary:
    """Continue the run in `run_dir` from where it stopped (its stored configuration; an
    executor section in `config` may replace the stored one, nothing else may change).
    `run_dir` may be the run's store, already opened (locked) by the caller; it is closed
    at the end. A `config.yaml` that no longer says what the run uses is rewritten (a
    warning)."""
    store = run_dir if isinstance(run_dir, RunStore) else RunStore.open(run_dir)
    with store:
        stored = store.run_config()
        message = restore_config_yaml(store, stored)
        if message is not None:
            warnings.warn(message, stacklevel=2)
        for ref in changed_task_files(store):
            warnings.warn(task_file_warning(ref), TaskFileChangedWarning, stacklevel=2)
        if config is not None:
            if config.model_copy(update={"executor": stored.executor}) != stored:
                raise StoreError(
                    f"{run_dir} was started with another configuration; resume it without "
                    "--config/--preset/--set (only the executor may change)"
                )
            stored = config
        return _execute(store, stored, on_event, executor, on_validate)


class TaskFileChangedWarning(UserWarning):
    """One of your own task files changed since the run began."""


def task_file_warning(ref: str) -> str:
    return (
        f"task {ref}: its file changed since the run began; the run goes on with the file as "
        "it is now (scores before and after may not compare)"
    )


def restore_config_yaml(store: RunStore, config: RunConfig) -> str | None:
    """Rewrite the run's `config.yaml` from its stored configuration (`config`) when it says
    something else (edited, damaged, missing); returns the one-line warning then, else None.
    What runs is always the stored configuration: the YAML file is only its copy to read."""
    path = store.run_dir / CONFIG_YAML
    wanted = config.to_yaml()
    if path.is_file() and path.stat().st_size <= MAX_CONFIG_YAML_BYTES:
        try:
            written = safe_load(path.read_text(), str(path))
            if written == config.model_dump(mode="json"):
                return None
            # the same configuration in an older form (e.g. written before the fitness
            # protocols were two types: its single-task fitness lists `tasks: []`)
            if isinstance(written, dict) and RunConfig.model_validate(written) == config:
                return None
        except (ConfigError, OSError, UnicodeDecodeError, ValueError):
            pass
        what = "differs from the run's stored configuration"
    elif path.exists() and not path.is_file():
        return f"{path} is not a file; the run's stored configuration is used"
    else:
        what = "is missing" if not path.exists() else "is too large to be the run's configuration"
    try:
        path.write_text(wanted)
    except OSError as exc:
        return f"{path} {what}; the stored one is used (cannot rewrite it: {exc.strerror})"
    return f"{path} {what}; the stored one is used and {CONFIG_YAML} was rewritten from it"


def load_config(run_dir: str | Path) -> RunConfig:
    with RunStore.open(run_dir, lock=False) as store:
        return store.run_config()


def _execute(
    store: RunStore,
    config: RunConfig,
    on_event: Callable[[Event], None] | None,
    executor: Executor | None,
    on_validate: Callable[[TransferEvent], None] | None = None,
) -> RunSummary:
    own = executor is None
    executor = executor or make_executor(config)
    try:
        run = SearchRun(config, store, executor, on_event)
        store.set_meta("started", repr(time.time()))
        try:
            run_strategy(run)
        except BudgetSpent as spent:
            store.set_meta("budget_spent", str(spent))
        if config.final.enabled:
            final_stage(run)
    finally:
        if own:
            executor.close()
    if config.validation is not None:
        from optevo.search.validation import DONE_META, run_stage

        if store.get_meta(DONE_META) is None:
            run_stage(store.run_dir, config, on_validate)
            store.set_meta(DONE_META, repr(time.time()))
    store.set_meta("finished", repr(time.time()))
    return summarize(store, config)


def final_stage(run: SearchRun) -> list[Evaluation]:
    """Re-evaluate the best `final.top` distinct genomes of the search and the baselines over
    `final.seeds` fresh training seeds (not the seeds they were selected on)."""
    cfg = run.config.final
    top = [s.evaluation for s in leaderboard(searched(run.store.evaluations()))][: cfg.top]
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
    if cfg.simplify:
        from optevo.simplify import exact_pass

        horizon = run.config.stage_fitness("final").horizon
        for i, ev in enumerate(top):
            simplified = exact_pass(ev.genome, horizon).genome
            if simplified.canonical_hash() == ev.canonical_hash:
                continue
            requests.append(
                Request(
                    f"final/top{i + 1}-simplified",
                    simplified,
                    "final",
                    name=f"#{i + 1} {ev.canonical_hash[:10]} simplified",
                    parent_hash=ev.canonical_hash,
                    schedule=ev.request.schedule,
                )
            )
    for name in cfg.baselines:
        genome, schedule = genome_of(name)
        requests.append(
            Request(f"final/{name}", genome, "final", name=name, schedule=schedule)
        )
    return run.evaluate(requests)


def searched(evaluations: list[Evaluation]) -> list[Evaluation]:
    """The search's evaluations: the search stage and, with a funnel, its rungs."""
    return [e for e in evaluations if funnel_rung(e.request.stage) is not None]


def leaderboard(evaluations: list[Evaluation]) -> list[Standing]:
    """Distinct genomes (by canonical hash and schedule) with a fitness, best first; each
    genome's first evaluation at the highest funnel rung it reached stands for it (its
    first evaluation, without a funnel); `times_seen` counts its search-stage requests."""
    firsts: dict[tuple[str, str], Evaluation] = {}
    seen: Counter[tuple[str, str]] = Counter()
    for ev in evaluations:
        key = (ev.canonical_hash, ev.request.schedule)
        if ev.rung == 0:
            seen[key] += 1
        if key not in firsts or ev.rank_key()[0] > firsts[key].rank_key()[0]:
            firsts[key] = ev
    rows = [ev for ev in firsts.values() if ev.fitness is not None]
    rows.sort(key=lambda ev: ev.rank_key(), reverse=True)
    return [
        Standing(
            ev.request.name or ev.canonical_hash[:10],
            ev,
            max(1, seen[(ev.canonical_hash, ev.request.schedule)]),
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
    for e in evaluations:
        if e.rung > 0:
            counts[e.request.stage] = counts.get(e.request.stage, 0) + 1
    status_counts = dict(Counter(e.status for e in search))
    final = [e for e in evaluations if e.request.stage == "final"]
    return RunSummary(
        run_dir=store.run_dir,
        config=config,
        finished=store.get_meta("finished") is not None,
        counts=counts,
        status_counts=status_counts,
        leaderboard=leaderboard(searched(evaluations)),
        final=final_standings(final),
    )


def final_standings(evaluations: list[Evaluation]) -> list[Standing]:
    """The final stage's rows, best first: one per request, a baseline beside a found genome
    even when the two are the same optimizer (the search found its own seed, e.g. Adam: both
    rows, same numbers, so the table and the verdict still show Adam)."""
    rows = [ev for ev in evaluations if ev.fitness is not None]
    rows.sort(key=lambda ev: ev.rank_key(), reverse=True)
    return [Standing(ev.request.name or ev.canonical_hash[:10], ev) for ev in rows]


def read_summary(run_dir: str | Path) -> RunSummary:
    """The summary of a run directory (readable while another process runs it)."""
    with RunStore.open(run_dir, lock=False) as store:
        return summarize(store)
