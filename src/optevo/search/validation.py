"""A search run's validation stage (`RunConfig.validation`): `optevo validate` on the run's best
genomes, beside named optimizers and the baselines, into RUN/validate/ (what `optevo report`
shows). Run at the end of `start_search`/`resume_search`, or by the CLI with a progress bar;
every run is stored as it ends, so a killed run's stage goes on where it stopped."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from optevo.fitness.spec import resolve_device
from optevo.optim.spec import OptimizerSpec, baselines, named
from optevo.search.config import RunConfig
from optevo.search.named import from_run
from optevo.transfer.protocol import TransferEvent
from optevo.validate.run import TaskResult, ValidateConfig, run_validate

VALIDATE_DIR = "validate"
"""The stage's results folder inside the run (the one `optevo validate --run` uses)."""
DONE_META = "validated"
"""The run store's meta key set when the stage has finished."""


def stage_config(run_dir: str | Path, config: RunConfig) -> ValidateConfig:
    """What the stage validates: the run's best genomes, the named ones, the baselines."""
    cfg = config.validation
    if cfg is None:
        raise ValueError("the run's configuration has no validate stage")
    specs: list[OptimizerSpec] = from_run(run_dir, cfg.top)
    labels = {s.label for s in specs}
    specs += [s for s in named(cfg.named) if s.label not in labels]
    if cfg.baselines:
        labels = {s.label for s in specs}
        specs += [b for b in baselines() if b.label not in labels]
    return ValidateConfig(
        tuple(specs),
        cfg.tasks,
        seeds=cfg.seeds,
        scale=cfg.scale,
        device=resolve_device(config.fitness.device),
        command=f"optevo search --resume {run_dir}",
    )


def run_stage(
    run_dir: str | Path,
    config: RunConfig,
    on_event: Callable[[TransferEvent], None] | None = None,
) -> list[TaskResult]:
    """Validate the run's best genomes into RUN/validate/ (resumable; in the run's worker
    processes when its executor is a process pool). A run in which no genome has a fitness
    has nothing to validate: a warning, and nothing is run."""
    from optevo.search.api import read_summary

    summary = read_summary(run_dir)
    if not summary.leaderboard:
        warnings.warn(
            f"{run_dir}: no genome of the search has a fitness; the validation stage is skipped",
            stacklevel=2,
        )
        return []
    # The run's process pool size, one process per (task, optimizer) pair at a time.
    executor = config.executor
    jobs = executor.workers if executor.kind == "process" else 1
    threads = executor.threads or 1
    return run_validate(
        stage_config(run_dir, config),
        Path(run_dir) / VALIDATE_DIR,
        on_event,
        jobs=jobs,
        threads=threads,
    )
