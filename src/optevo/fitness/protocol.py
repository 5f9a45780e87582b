"""Fitness of a genome (SPEC 5): learning-rate screen, rejection thresholds, full run with
early stopping; fitness = best validation accuracy.

    from optevo.fitness import fitness, fitness_many, preset
    result = fitness("Adam", preset("quick"))
    result.fitness, result.status, result.best_lr
    results = fitness_many([g1, g2, "Adam"], preset("paper"))

`fitness_many` packs a batch of candidates: the screen trains candidates x learning rates as
the copies of one packed model (each genome's compiled rule on its own rows, copies of one
genome sharing one rule evaluation); each candidate's rejection decisions follow; the full
runs of the survivors, each at its own best rate, are packed the same way. Early stops retire
copies without stalling the others. The result of every candidate means what `fitness()`
returns for it; only floating-point summation order differs (tests/fitness/test_packing.py
states the tolerance). A chunk that raises inside packed training is evaluated again one
candidate at a time, so one faulty genome cannot take the others with it.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TypeVar

from optevo.data import ImageSet, load
from optevo.fitness.config import FitnessConfig, SingleTaskFitness, SuiteFitness
from optevo.fitness.loop import train_copies, train_packed
from optevo.fitness.result import FitnessResult, RunResult
from optevo.fitness.spec import CopySpec, StopRule, TrainSpec, resolve_device
from optevo.optim.spec import genome_of
from optevo.schedules import BASE_SCHEDULE, SCHEDULE_NAMES
from optevo.space.genome import Genome

T = TypeVar("T")


def guarded(run: Callable[[], T], on_error: Callable[[str], T]) -> T:
    """The one place an exception becomes a result: `run()`, or `on_error(message)` when it
    raises. Ctrl-C and SystemExit stop the caller; everything else, MemoryError included, is
    the candidate's failure (its memory is freed when the frames unwind, and a genome that
    needs more than there is must not stop a search, nor stop it again on every resume).
    A worker process the kernel kills for memory is reported by its executor instead."""
    try:
        return run()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        return on_error(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")


@functools.lru_cache(maxsize=4)
def _dataset(name: str, root: str | None, val_size: int | None, seed: int) -> ImageSet:
    return load(name, root, val_size, seed)


def dataset_for(config: SingleTaskFitness) -> ImageSet:
    """The config's data set (loaded once per process and kept in memory)."""
    return _dataset(config.dataset, config.data_root, config.val_size, config.split_seed)


def resolve(genome: Genome | str, schedule: str | None) -> tuple[Genome, str]:
    """A genome and its schedule: a named optimizer brings its own learning-rate factor."""
    if isinstance(genome, str):
        genome, own = genome_of(genome)
        sched = schedule or own
    elif isinstance(genome, Genome):
        sched = schedule or BASE_SCHEDULE
    else:
        raise TypeError(f"genome must be a Genome or a named optimizer, got {type(genome)}")
    if sched not in SCHEDULE_NAMES:
        raise ValueError(f"unknown schedule {sched!r}; known: {SCHEDULE_NAMES}")
    return genome, sched


def fitness(
    genome: Genome | str,
    config: FitnessConfig,
    schedule: str | None = None,
    data: ImageSet | None = None,
) -> FitnessResult:
    """Evaluate a genome (or a named optimizer, with its learning-rate factor) by SPEC 5.

    1. Screen: train at every `screen_lrs` for `screen_steps` of the full run's schedule,
       batched; a run below `screen_min_acc` training accuracy after `screen_stop_epoch`
       epochs stops. No rate reaching `screen_min_acc` -> "failed_screen".
    2. Best screen accuracy below `threshold_acc` -> "failed_threshold".
    3. Full run at the best rate, validated every epoch; from `full_stop_after` steps on, an
       epoch below `full_min_acc` training accuracy stops it. Fitness = best validation
       accuracy. A non-finite loss ends a run ("diverged" if it ends the full run).
    Errors inside the evaluation are caught and returned as status "error".

    A `SuiteFitness` is the paired multi-task fitness instead (`optevo.fitness.suite`).
    """
    t0 = time.perf_counter()
    g, sched = resolve(genome, schedule)
    if isinstance(config, SuiteFitness):  # the paired multi-task fitness; `data` is not used
        from optevo.fitness.suite import suite_fitness

        result = guarded(lambda: suite_fitness(g, sched, config), FitnessResult.failure)
    else:
        dataset = data if data is not None else dataset_for(config)
        result = guarded(lambda: _protocol(g, sched, config, dataset), FitnessResult.failure)
    result.seconds = time.perf_counter() - t0
    return result


def fitness_many(
    genomes: Sequence[Genome | str],
    config: FitnessConfig,
    schedules: Sequence[str | None] | None = None,
    data: ImageSet | None = None,
) -> list[FitnessResult]:
    """Evaluate every genome (or named optimizer) by SPEC 5, packed `config.pack_copies`
    model copies at a time. Layout "sequential" (and "auto" off CUDA, where one model
    already fills the cores) evaluates them one by one with `fitness()`. A suite fitness
    packs the candidates' full runs on its packed-screen tasks
    (`optevo.fitness.suite.suite_fitness_many`)."""
    if schedules is None:
        schedules = [None] * len(genomes)
    if len(schedules) != len(genomes):
        raise ValueError(f"{len(genomes)} genomes but {len(schedules)} schedules")
    items = [resolve(g, s) for g, s in zip(genomes, schedules, strict=True)]
    if not items:
        return []
    if isinstance(config, SuiteFitness):  # full runs packed on the packed-screen tasks
        from optevo.fitness.suite import suite_fitness_many

        t0 = time.perf_counter()
        many = guarded(lambda: suite_fitness_many(items, config), lambda message: None)
        if many is None:  # e.g. Adam's reference failing: each candidate's own error
            return [fitness(g, config, s) for g, s in items]
        for result in many:
            result.seconds = (time.perf_counter() - t0) / len(items)
        return many
    data = data if data is not None else dataset_for(config)
    on_gpu = resolve_device(config.device).startswith("cuda")
    if config.layout == "sequential" or (config.layout == "auto" and not on_gpu):
        return [fitness(g, config, s, data) for g, s in items]
    per_chunk = max(1, config.pack_copies // len(config.screen_lrs))
    out: list[FitnessResult] = []
    for start in range(0, len(items), per_chunk):
        out.extend(_chunk(items[start : start + per_chunk], config, data))
    return out


def train_spec(config: SingleTaskFitness, schedule: str, screen: bool) -> TrainSpec:
    """The training run of the screen (`screen`) or of the full run."""
    if screen:
        stop = (
            StopRule(
                config.screen_stop_epoch * config.epoch_steps, config.screen_min_acc, once=True
            ),
        )
    else:
        stop = (StopRule(config.full_stop_after, config.full_min_acc),)
    return TrainSpec(
        base=config.base,
        total_steps=config.total_steps,
        max_steps=config.screen_steps if screen else None,
        warmup_steps=config.warmup_steps,
        hold_steps=config.hold_steps,
        schedule=schedule,
        batch_size=config.batch_size,
        epoch_steps=config.epoch_steps,
        validate=not screen,
        stop_rules=stop,
        augment=config.augmentation(),
        dropout=config.dropout,
        seed=config.seed,
        device=resolve_device(config.device),
        channels_last=config.channels_last,
        amp=config.amp,
        eval_batch_size=config.eval_batch_size,
        cuda_graphs=config.cuda_graphs,
    )


def _protocol(
    genome: Genome, schedule: str, config: SingleTaskFitness, data: ImageSet
) -> FitnessResult:
    screen_runs = train_copies(
        genome,
        data,
        train_spec(config, schedule, screen=True),
        config.screen_lrs,
        layout=config.layout,
    )
    rejected, best_lr = screen_outcome(screen_runs, config)
    if rejected is not None:
        return rejected
    (full,) = train_copies(
        genome, data, train_spec(config, schedule, screen=False), [best_lr], layout="sequential"
    )
    return full_outcome(screen_runs, best_lr, full)


def screen_outcome(
    screen_runs: list[RunResult], config: SingleTaskFitness
) -> tuple[FitnessResult | None, float]:
    """SPEC 5 steps 1-2 on a genome's screen runs: the rejection (or None) and the best rate."""
    screen = _screen(screen_runs)
    best_lr = max(screen, key=lambda lr: screen[lr])
    best = screen[best_lr]
    if best < config.screen_min_acc:
        return FitnessResult(None, "failed_screen", None, screen, screen_runs), best_lr
    if best < config.threshold_acc:
        return FitnessResult(None, "failed_threshold", best_lr, screen, screen_runs), best_lr
    return None, best_lr


def full_outcome(screen_runs: list[RunResult], best_lr: float, full: RunResult) -> FitnessResult:
    """SPEC 5 step 3: the result of the full run at the best screen rate."""
    screen = _screen(screen_runs)
    runs = [*screen_runs, full]
    if full.status == "diverged":
        return FitnessResult(full.best_val_acc, "diverged", best_lr, screen, runs)
    return FitnessResult(
        full.best_val_acc, "ok", best_lr, screen, runs, stopped_early=full.status == "stopped"
    )


def _screen(screen_runs: list[RunResult]) -> dict[float, float]:
    return {r.lr: (r.final_train_acc if r.status != "diverged" else 0.0) for r in screen_runs}


def _chunk(
    items: list[tuple[Genome, str]], config: SingleTaskFitness, data: ImageSet
) -> list[FitnessResult]:
    t0 = time.perf_counter()
    failure: list[str] = []

    def packed_failed(message: str) -> list[FitnessResult]:
        failure.append(message)
        return []

    results = guarded(lambda: _packed_protocol(items, config, data), packed_failed)
    if failure:  # one faulty genome must not take the others with it
        results = [fitness(g, config, s, data) for g, s in items]
        for r in results:
            if r.status == "error" and r.error:
                r.error += f"\n(packed training of its chunk failed first:\n{failure[0]})"
        return results
    seconds = (time.perf_counter() - t0) / len(items)
    for r in results:
        r.seconds = seconds
    return results


def _packed_protocol(
    items: list[tuple[Genome, str]], config: SingleTaskFitness, data: ImageSet
) -> list[FitnessResult]:
    lrs = config.screen_lrs
    copies = [CopySpec(g, lr, config.seed, s) for g, s in items for lr in lrs]
    runs = train_packed(copies, data, train_spec(config, "one_cycle", screen=True), "packed")
    results: list[FitnessResult | None] = []
    full_copies: list[CopySpec] = []
    survivors: list[int] = []
    best_lrs: list[float] = []
    for i, (genome, sched) in enumerate(items):
        screen_runs = runs[i * len(lrs) : (i + 1) * len(lrs)]
        rejected, best_lr = screen_outcome(screen_runs, config)
        results.append(rejected)
        best_lrs.append(best_lr)
        if rejected is None:
            survivors.append(i)
            full_copies.append(CopySpec(genome, best_lr, config.seed, sched))
    if full_copies:
        full_spec = train_spec(config, "one_cycle", screen=False)
        fulls = train_packed(full_copies, data, full_spec, "packed")
        for i, full in zip(survivors, fulls, strict=True):
            screen_runs = runs[i * len(lrs) : (i + 1) * len(lrs)]
            results[i] = full_outcome(screen_runs, best_lrs[i], full)
    return [r for r in results if r is not None]
