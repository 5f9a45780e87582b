"""A worker evaluates trials of one run. Every executor (in-process, process pool, Ray) runs
the same `Worker`: it is built from the run's configuration, loads each data set it needs
once and keeps it (an instance attribute, not a process-global cache), and turns a `Trial`
into a `FitnessResult` record. Nothing here depends on where it runs."""

from __future__ import annotations

import socket
import traceback
from typing import Any

from optevo.data import Dataset, load
from optevo.fitness import FitnessConfig, FitnessResult, fitness, fitness_many
from optevo.search.config import RunConfig
from optevo.search.records import Trial
from optevo.space.genome import Genome


class Worker:
    """Runs trials for one run configuration."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.stage_configs: dict[str, FitnessConfig] = {
            stage: config.stage_fitness(stage) for stage in config.stages()
        }
        self._data: dict[tuple[Any, ...], Dataset] = {}
        self.host = socket.gethostname()

    @classmethod
    def from_json(cls, config_json: str) -> Worker:
        return cls(RunConfig.model_validate_json(config_json))

    def data(self, cfg: FitnessConfig) -> Dataset:
        key = (cfg.dataset, cfg.data_root, cfg.val_size, cfg.split_seed)
        if key not in self._data:
            self._data[key] = load(cfg.dataset, cfg.data_root, cfg.val_size, cfg.split_seed)
        return self._data[key]

    def run_many(self, trials: list[Trial]) -> list[dict[str, Any]]:
        """Several trials at once: those of one stage and seed are packed into batched models
        (`fitness_many`); results in the order of `trials`."""
        if len(trials) == 1:
            return [self.run(trials[0])]
        out: list[dict[str, Any] | None] = [None] * len(trials)
        groups: dict[tuple[str, int], list[int]] = {}
        for i, t in enumerate(trials):
            groups.setdefault((t.stage, t.seed), []).append(i)
        for (stage, seed), members in groups.items():
            try:
                cfg = self.stage_configs[stage].model_copy(
                    update={"seed": seed, "layout": "packed"}
                )
                genomes = [Genome.from_json(trials[i].genome_json) for i in members]
                schedules = [trials[i].schedule for i in members]
                results = [
                    r.to_dict() for r in fitness_many(genomes, cfg, schedules, self.data(cfg))
                ]
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # one trial at a time: each gets its own error
                results = [self.run(trials[i]) for i in members]
            for i, r in zip(members, results, strict=True):
                r["host"] = self.host
                out[i] = r
        return [r for r in out if r is not None]

    def run(self, trial: Trial) -> dict[str, Any]:
        """The trial's FitnessResult as a dict; any failure is an `error` record."""
        try:
            cfg = self.stage_configs[trial.stage].model_copy(update={"seed": trial.seed})
            genome = Genome.from_json(trial.genome_json)
            result = fitness(genome, cfg, schedule=trial.schedule, data=self.data(cfg))
            out = result.to_dict()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            out = error_result(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
        out["host"] = self.host
        return out


def error_result(message: str) -> dict[str, Any]:
    """The record of a trial that could not be evaluated (status `error`)."""
    return FitnessResult(None, "error", error=message).to_dict()
