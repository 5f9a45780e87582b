"""A worker evaluates trials of one run. Every executor (in-process, process pool, Ray) runs
the same `Worker`: it is built from the run's configuration, loads each data set it needs
once and keeps it (an instance attribute, not a process-global cache), and turns a `Trial`
into a `TrialResult`. Nothing here depends on where it runs.

A failure inside an evaluation becomes an `error` result in one place only:
`optevo.fitness.guarded` (Ctrl-C and SystemExit stop the worker, anything else, MemoryError
included, is the trial's error)."""

from __future__ import annotations

import functools
import socket
from typing import Any

from optevo.data import ImageSet, load
from optevo.fitness import FitnessConfig, FitnessResult, fitness, fitness_many, guarded
from optevo.fitness.config import SingleTaskFitness
from optevo.search.config import RunConfig, stored_run_config
from optevo.search.records import Trial, TrialResult
from optevo.space.genome import Genome


class Worker:
    """Runs trials for one run configuration."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.stage_configs: dict[str, FitnessConfig] = {
            stage: config.stage_fitness(stage) for stage in config.stages()
        }
        self._data: dict[tuple[Any, ...], ImageSet] = {}
        self.host = socket.gethostname()

    @classmethod
    def from_json(cls, config_json: str) -> Worker:
        """A worker of the run configuration an executor sent (its JSON)."""
        return cls(stored_run_config(config_json, source="the worker's run configuration"))

    def data(self, cfg: SingleTaskFitness) -> ImageSet:
        key = (cfg.dataset, cfg.data_root, cfg.val_size, cfg.split_seed)
        if key not in self._data:
            self._data[key] = load(cfg.dataset, cfg.data_root, cfg.val_size, cfg.split_seed)
        return self._data[key]

    def data_for(self, cfg: FitnessConfig) -> ImageSet | None:
        """The data set a stage trains on; None for a suite fitness (its tasks load their own
        data, once per process, and Adam's reference runs on them are kept there too)."""
        return self.data(cfg) if isinstance(cfg, SingleTaskFitness) else None

    def run_many(self, trials: list[Trial]) -> list[TrialResult]:
        """Several trials at once: those of one stage and seed are packed into batched models
        (`fitness_many`); results in the order of `trials`. A group whose packed evaluation
        fails is evaluated one trial at a time, so each trial gets its own error."""
        if len(trials) == 1:
            return [self.run(trials[0])]
        out: dict[int, TrialResult] = {}
        groups: dict[tuple[str, int], list[int]] = {}
        for i, t in enumerate(trials):
            groups.setdefault((t.stage, t.seed), []).append(i)
        for (stage, seed), members in groups.items():
            pack = functools.partial(self._packed, stage, seed, members, trials)
            packed = guarded(pack, _no_results)
            if packed is None:
                singles = [self.run(trials[i]) for i in members]
            else:
                singles = [TrialResult(r, self.host) for r in packed]
            out.update(zip(members, singles, strict=True))
        return [out[i] for i in range(len(trials))]

    def _packed(
        self, stage: str, seed: int, members: list[int], trials: list[Trial]
    ) -> list[FitnessResult] | None:
        base = self.stage_configs[stage]
        packed = {"layout": "packed"} if isinstance(base, SingleTaskFitness) else {}
        cfg = base.model_copy(update={"seed": seed, **packed})
        genomes = [Genome.from_json(trials[i].genome_json) for i in members]
        schedules = [trials[i].schedule for i in members]
        return fitness_many(genomes, cfg, schedules, self.data_for(cfg))

    def run(self, trial: Trial) -> TrialResult:
        """The trial's result; any failure is an `error` result."""

        def evaluate() -> FitnessResult:
            cfg = self.stage_configs[trial.stage].model_copy(update={"seed": trial.seed})
            genome = Genome.from_json(trial.genome_json)
            return fitness(genome, cfg, schedule=trial.schedule, data=self.data_for(cfg))

        return TrialResult(guarded(evaluate, FitnessResult.failure), self.host)


def _no_results(message: str) -> list[FitnessResult] | None:
    """A packed group that failed: its trials are run one at a time instead."""
    return None
