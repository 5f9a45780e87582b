"""Many candidates at once: the fitness protocol of SPEC 5 for a batch of genomes, packed into
one batched model per stage.

    results = fitness_many([g1, g2, "Adam"], preset("paper"))

The screen trains candidates x learning rates as the copies of one grouped model (each
genome's compiled rule on its own rows, copies of one genome sharing one rule evaluation);
each candidate's rejection decisions follow; the full runs of the survivors, each at its own
best rate, are packed the same way. Early stops retire copies without stalling the others.
The result of every candidate means what `fitness()` returns for it (same statuses, same
protocol); only floating-point summation order differs, so numbers agree to within the
training's sensitivity to it (tests/fitness/test_packing.py states the tolerance).

A chunk of candidates that raises inside packed training is evaluated again one candidate at
a time with `fitness()`, so one faulty genome cannot take the others with it.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence

from optevo.data import Dataset
from optevo.evaluate import (
    FitnessConfig,
    FitnessResult,
    _resolve,
    _spec,
    dataset_for,
    fitness,
    full_outcome,
    screen_outcome,
)
from optevo.schedules import SCHEDULE_NAMES
from optevo.space.genome import Genome
from optevo.train import CopySpec, resolve_device, train_packed


def fitness_many(
    genomes: Sequence[Genome | str],
    config: FitnessConfig,
    schedules: Sequence[str | None] | None = None,
    data: Dataset | None = None,
) -> list[FitnessResult]:
    """Evaluate every genome (or named optimizer) by SPEC 5, packed `config.pack_copies`
    model copies at a time. `config.strategy` "sequential" (and "auto" off CUDA, where one
    model already fills the cores) evaluates them one by one with `fitness()`."""
    if schedules is None:
        schedules = [None] * len(genomes)
    if len(schedules) != len(genomes):
        raise ValueError(f"{len(genomes)} genomes but {len(schedules)} schedules")
    items = [_resolve(g, s) for g, s in zip(genomes, schedules, strict=True)]
    for _, sched in items:
        if sched not in SCHEDULE_NAMES:
            raise ValueError(f"unknown schedule {sched!r}; known: {SCHEDULE_NAMES}")
    if not items:
        return []
    data = data if data is not None else dataset_for(config)
    on_gpu = resolve_device(config.device).startswith("cuda")
    if config.strategy == "sequential" or (config.strategy == "auto" and not on_gpu):
        # On a CPU one model already fills the cores: packing does not pay there.
        return [fitness(g, config, s, data) for g, s in items]
    per_chunk = max(1, config.pack_copies // len(config.screen_lrs))
    out: list[FitnessResult] = []
    for start in range(0, len(items), per_chunk):
        out.extend(_chunk(items[start : start + per_chunk], config, data))
    return out


def _chunk(
    items: list[tuple[Genome, str]], config: FitnessConfig, data: Dataset
) -> list[FitnessResult]:
    t0 = time.perf_counter()
    try:
        results = _packed_protocol(items, config, data)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception:  # one faulty genome must not take the others with it
        trace = traceback.format_exc(limit=3)
        results = [fitness(g, config, s, data) for g, s in items]
        for r in results:
            if r.status == "error" and r.error:
                r.error += f"\n(packed training of its chunk failed first:\n{trace})"
        return results
    seconds = (time.perf_counter() - t0) / len(items)
    for r in results:
        r.seconds = seconds
    return results


def _packed_protocol(
    items: list[tuple[Genome, str]], config: FitnessConfig, data: Dataset
) -> list[FitnessResult]:
    lrs = config.screen_lrs
    copies = [CopySpec(g, lr, config.seed, s) for g, s in items for lr in lrs]
    screen_spec = _spec(config, "one_cycle", screen=True)
    runs = train_packed(copies, data, screen_spec, strategy="grouped")
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
        full_spec = _spec(config, "one_cycle", screen=False)
        fulls = train_packed(full_copies, data, full_spec, strategy="grouped")
        for i, full in zip(survivors, fulls, strict=True):
            screen_runs = runs[i * len(lrs) : (i + 1) * len(lrs)]
            results[i] = full_outcome(screen_runs, best_lrs[i], full)
    return [r for r in results if r is not None]
