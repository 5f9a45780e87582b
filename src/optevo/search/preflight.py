"""Checks of a run's stages before anything is written or trained: a device that is not here,
a data root that is not a directory, a data set that cannot be loaded or a batch larger than
it would make every evaluation an `error` (and the run would be finished for good). Each
problem is one ConfigError naming the field (`fitness.device`, `init_fitness.data_root`,
`elimination round 2, fitness.batch_size`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from optevo.config import ConfigError
from optevo.fitness.config import SingleTaskFitness
from optevo.search.config import RunConfig
from optevo.search.records import elimination_round

if TYPE_CHECKING:
    from optevo.search.worker import Worker


def stage_field(config: RunConfig, stage: str) -> str:
    """The configuration field that holds a stage's fitness protocol."""
    number = elimination_round(stage)
    if number is not None:
        return f"elimination round {number}, fitness"
    if stage == "init" and config.init_fitness is not None:
        return "init_fitness"
    if stage == "final" and config.final_fitness is not None:
        return "final_fitness"
    return "fitness"


def runs_here(config: RunConfig) -> bool:
    """Whether the evaluations run on this machine (everything but a Ray cluster at an
    address, whose workers may have devices this machine lacks)."""
    return not (config.executor.kind == "ray" and config.executor.address is not None)


def check_devices(config: RunConfig, stages: Iterable[str]) -> None:
    """ConfigError naming the field when a stage's device is not here (on this machine)."""
    from optevo.fitness import check_device

    if not runs_here(config):
        return
    for stage in _search_first(stages):
        try:
            check_device(config.stage_fitness(stage).device)
        except ValueError as exc:
            raise ConfigError(f"{stage_field(config, stage)}.device: {exc}") from None


def _search_first(stages: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(stages, key=lambda s: s != "search"))


def check_stages(config: RunConfig, worker: Worker, stages: Iterable[str]) -> None:
    """Every check of this module for `stages`; the worker keeps the data sets it loaded.
    The search stage first: `init_fitness` and `final_fitness` start from `fitness`, so a
    problem they inherit is reported where it was written."""
    stages = _search_first(stages)
    check_devices(config, stages)
    for stage in stages:
        cfg = config.stage_fitness(stage)
        if not isinstance(cfg, SingleTaskFitness):  # a suite's tasks read their own data
            continue
        field = stage_field(config, stage)
        if cfg.data_root is not None:
            root = Path(cfg.data_root)
            if root.exists() and not root.is_dir():
                raise ConfigError(f"{field}.data_root: {root} is a file, not a directory")
        try:
            data = worker.data(cfg)
        except (FileNotFoundError, ValueError, OSError) as exc:
            where = f"{field}.data_root" if cfg.data_root is not None else f"{field}.dataset"
            raise ConfigError(f"{where}: cannot load the {stage} data set: {exc}") from None
        n = len(data.train[1])
        if cfg.batch_size > n:
            raise ConfigError(
                f"{field}.batch_size: {cfg.batch_size} exceeds the {n} training images of "
                f"{cfg.dataset}"
            )
