"""One configuration for a whole search run: space, sphere, fitness, strategy, executor, seed.

A run is one pydantic document, loaded from YAML; presets are whole-run documents in
`optevo/configs/search/`. Every error names the field and the value:

    from optevo.search.config import run_preset, load_run_config
    config = run_preset("quick", **{"strategy.particles": 2})
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from optevo.config import (
    ConfigError,
    Float,
    Int,
    M,
    StrictModel,
    build,
    expand_preset,
    from_preset,
    load,
    preset_names,
    short,
)
from optevo.fitness.config import (
    FitnessConfig,
    SingleTaskFitness,
    SuiteFitness,
    TaskRef,
    as_suite,
)
from optevo.integrity import SphereConfig
from optevo.search.elimination_config import EliminationConfig
from optevo.search.funnel import FunnelConfig
from optevo.search.records import (
    STAGES,
    elimination_round,
    elimination_stage,
    funnel_rung,
    rung_stage,
)
from optevo.space.config import SpaceConfig
from optevo.space.constants import LOCAL_EDITS, MUTATIONS
from optevo.space.genome import Genome

__all__ = [
    "ConfigError",
    "ExecutorConfig",
    "FinalConfig",
    "RunConfig",
    "StrategyConfig",
    "load_run_config",
    "run_preset",
    "run_preset_names",
    "stored_config",
    "stored_run_config",
]

MutationScope = Literal["all", "decay-only"]

MAX_POPULATION = 100_000
"""Most particles, population or batch of a strategy (the paper's runs use 25-100): each is
drawn and held in memory at once."""
MAX_PLANNED_EVALUATIONS = 10_000_000
"""Most evaluations a run may plan (the paper's runs plan ~2,300): over it, a typo."""


LIBRARY_SEEDS = "library"
"""`seed_genomes: library` (or the entry `library` in a list): every optimizer of the library,
the paper's named optimizers and the baselines (`optevo list`)."""


def expand_seed_specs(specs: tuple[str, ...]) -> tuple[str, ...]:
    """`specs` with `library` replaced by every library name, repeats dropped (first kept)."""
    from optevo import library

    out: dict[str, None] = {}
    for spec in specs:
        for name in library.names() if spec == LIBRARY_SEEDS else (spec,):
            out.setdefault(name)
    return tuple(out)


def read_seed_genome(spec: str) -> tuple[Genome, str]:
    """A named optimizer ("Adam", "LR6") or a genome JSON file, with its schedule
    (`optevo.optim.spec.genome_of`); ValueError naming the seed and the problem."""
    from optevo.optim.spec import genome_of

    try:
        return genome_of(spec)
    except ValueError as exc:
        raise ValueError(f"seed genome {short(repr(spec), 80)}: {short(str(exc), 160)}") from None


class _Strategy(StrictModel):
    seeds_per_candidate: Int = Field(1, ge=1, le=100)
    """Fitness of a candidate = the mean over this many training seeds (SPEC 6 refinement)."""
    mutation_scope: MutationScope = "all"
    """`decay-only`: children change only decay functions (SPEC 6, Adam schedules)."""
    seed_genomes: tuple[str, ...] = ()
    """Named optimizers or genome JSON files the search starts from, instead of random ones
    (each read and checked with the configuration, before anything is written); `library`
    (alone or as an entry) stands for every optimizer of the library: a warm start from the
    frontier."""
    mutation: Literal["paper", "local"] = "paper"
    """How a child is made from its parent: `paper`, one mutation of SPEC 1.5; `local`, one
    local edit (`Genome.propose_local_edit`: insert, delete or replace one node, change one
    connection, one decay function, one constant of the extended space, or the momentum
    type), the moves of a local search around known-good genomes."""
    schedule_p: Float = Field(0.0, ge=0.0, le=1.0)
    """With `mutation: local`, the probability that a child keeps its parent's genome and
    changes only its learning-rate factor: to another of the base one-cycle schedule and the
    paper's LR1-LR9 (SPEC 7.3). Seed genomes from the library start with their own factor
    (LR6 is Adam with LR6's)."""
    restart_after: Int | None = Field(None, ge=1)
    """Restart from the incumbent (the best evaluation so far) when it has not improved for
    this many evaluations: the population (regularized evolution) or every particle (the
    particle GA) moves to it. None: never. Random search has nothing to restart."""

    @field_validator("seed_genomes", mode="before")
    @classmethod
    def _library_alone(cls, v: Any) -> Any:
        return (v,) if v == LIBRARY_SEEDS else v

    @field_validator("seed_genomes")
    @classmethod
    def _readable(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for spec in expand_seed_specs(v):
            read_seed_genome(spec)
        return v

    def seed_specs(self) -> tuple[str, ...]:
        """The seed genomes, `library` expanded, repeats dropped."""
        return expand_seed_specs(self.seed_genomes)

    @model_validator(mode="after")
    def _bounded(self) -> _Strategy:
        planned = self.planned_evaluations()
        if planned > MAX_PLANNED_EVALUATIONS:
            raise ValueError(
                f"{planned:,} evaluations planned ({self.plan_formula()}), more than the limit "
                f"of {MAX_PLANNED_EVALUATIONS:,}"
            )
        return self

    def planned_evaluations(self) -> int:
        raise NotImplementedError

    def plan_formula(self) -> str:
        return "budget"


class ParticleStrategy(_Strategy):
    """The mutation-only particle GA of SPEC 6."""

    kind: Literal["particle"] = "particle"
    particles: Int = Field(50, ge=1, le=MAX_POPULATION)
    time_steps: Int = Field(5, ge=0)
    mutations: Int = Field(7, ge=1)
    init_factor: Int = Field(10, ge=0)
    """The enlarged initial population has `init_factor * particles` random genomes, evaluated
    on the cheaper surrogate (`RunConfig.init_fitness`); 0 starts from random genomes as they
    are (or from `seed_genomes`)."""
    screen_redraws: Int = Field(4, ge=0)
    """A child the learning-rate screen rejects is replaced by a new mutation up to this often."""
    seeded: Int | None = Field(None, ge=0)
    """With `seed_genomes`: how many particles start from them (cycled when the seeds are
    fewer; when they are more, all seeds are evaluated in the initial population and the best
    start); the others start from the best of an initial population of `init_factor` x their
    number random genomes. None: every particle starts from a seed genome."""

    @model_validator(mode="after")
    def _seeded(self) -> ParticleStrategy:
        if self.seeded is not None:
            if not self.seed_genomes:
                raise ValueError("`seeded` needs seed_genomes (the genomes particles start from)")
            if self.seeded > self.particles:
                raise ValueError(f"seeded ({self.seeded}) exceeds particles ({self.particles})")
        return self

    def random_particles(self) -> int:
        """Particles that start from the random initial population."""
        if not self.seed_genomes:
            return self.particles
        return 0 if self.seeded is None else self.particles - self.seeded

    def seeds_ranked(self) -> bool:
        """Whether the seed genomes outnumber the particles that start from them: then all
        are evaluated first (the initial population) and the best start."""
        n = len(self.seed_specs())
        return n > self.particles - self.random_particles()

    def planned_evaluations(self) -> int:
        """10N + N(1 + T*M) for the paper's defaults (before redraws and duplicates)."""
        init = self.init_factor * self.random_particles()
        if self.seeds_ranked():
            init += len(self.seed_specs())
        return init + self.particles * (1 + self.time_steps * self.mutations)

    def plan_formula(self) -> str:
        n = self.random_particles()
        which = "particles" if n == self.particles else "random particles"
        init = f"init_factor x {which} + " if n else ""
        return f"{init}particles x (1 + time_steps x mutations)"


class RegularizedStrategy(_Strategy):
    """Regularized evolution (Real et al. 2019): tournament selection, the oldest dies."""

    kind: Literal["regularized"] = "regularized"
    population: Int = Field(20, ge=2, le=MAX_POPULATION)
    tournament: Int = Field(5, ge=1)
    batch: Int = Field(7, ge=1, le=MAX_POPULATION)
    """Children bred per round from the population as it stands (handed over as one batch)."""
    budget: Int = Field(2300, ge=1)
    """Candidate evaluations in all, the initial population included."""

    @model_validator(mode="after")
    def _sizes(self) -> RegularizedStrategy:
        if self.tournament > self.population:
            raise ValueError(
                f"tournament ({self.tournament}) exceeds population ({self.population})"
            )
        return self

    def planned_evaluations(self) -> int:
        return max(self.budget, len(self.seed_specs()))


class RandomStrategy(_Strategy):
    """Random search: independent random valid genomes, in batches (after `seed_genomes`,
    which are evaluated first, in the first batch)."""

    kind: Literal["random"] = "random"
    batch: Int = Field(50, ge=1, le=MAX_POPULATION)
    budget: Int = Field(2300, ge=1)
    """Random genomes in all (the seed genomes come on top)."""

    def planned_evaluations(self) -> int:
        return self.budget + len(self.seed_specs())

    def plan_formula(self) -> str:
        return "budget + seed_genomes" if self.seed_genomes else "budget"


StrategyConfig = Annotated[
    ParticleStrategy | RegularizedStrategy | RandomStrategy, Field(discriminator="kind")
]


ExecutorKind = Literal["serial", "process", "ray", "gpu"]
"""The executors (`optevo.search.executors.EXECUTORS`, by the same names)."""


_RAY_ADDRESS = re.compile(
    r"(?P<scheme>ray://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    r":(?P<port>[0-9]{1,5})"
)


def ray_host_port(address: str) -> tuple[str, int] | None:
    """The host and port of a Ray address (`HOST:PORT` or `ray://HOST:PORT`, the port 1 to
    65535); None for `auto` or anything else."""
    match = _RAY_ADDRESS.fullmatch(address)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        return None
    return match["host"].strip("[]"), int(match["port"])


class ExecutorConfig(StrictModel):
    """Where evaluations run. `serial`: in this process. `process`: a local pool of `workers`
    processes, each with `threads` torch threads (default: cores // workers). `ray`: Ray actors
    on the cluster at `address` (a local one when None), `num_cpus`/`num_gpus` each. `gpu`: in
    this process, every batch packed into batched models (`fitness_many`) on the device.
    `pack` > 1 hands a worker that many trials at once, packed the same way (for Ray actors
    with GPUs)."""

    kind: ExecutorKind = "serial"
    workers: Int = Field(1, ge=1, le=4096)
    threads: Int | None = Field(None, ge=1, le=1024)
    address: str | None = None
    """`auto` (the cluster `ray start` runs on this machine, or RAY_ADDRESS), `HOST:PORT` (a
    head node, e.g. `10.0.0.5:6379`) or `ray://HOST:PORT` (Ray Client)."""
    connect_timeout: Float = Field(30.0, gt=0, le=3600)
    """Seconds to wait for the Ray cluster at `address` before giving up."""
    num_cpus: Float = Field(1.0, gt=0)
    num_gpus: Float = Field(0.0, ge=0)
    pack: Int = Field(1, ge=1)

    @field_validator("address")
    @classmethod
    def _ray_address(cls, v: str | None) -> str | None:
        if v is None or v == "auto" or ray_host_port(v) is not None:
            return v
        raise ValueError(
            "not a Ray cluster address (--address): give auto, HOST:PORT or ray://HOST:PORT "
            "with a port from 1 to 65535"
        )


def known_named(names: tuple[str, ...]) -> tuple[str, ...]:
    """`names` when every one is a library optimizer; ValueError naming the others."""
    from optevo import library

    unknown = [n for n in names if n not in library.names()]
    if unknown:
        raise ValueError(f"unknown named optimizer(s) {unknown}; see `optevo list`")
    return names


class FinalConfig(StrictModel):
    """The end of a run: the best `top` genomes and the `baselines` re-evaluated over `seeds`
    training seeds, leaderboard as mean and std (the quick fitness is noisy). What is written
    is what runs: nothing is re-evaluated unless `top` or `baselines` says so, and other
    `seeds` without either are refused."""

    top: Int = Field(0, ge=0)
    baselines: tuple[str, ...] = ()
    seeds: Int = Field(3, ge=1, le=100)
    simplify: bool = False
    """Each of the `top` genomes also appears in its simplified form (`optevo.simplify`'s exact
    pass: no training, the same behaviour), re-evaluated beside the original: the leaderboard
    and the report show the readable equation. (The noise-aware pass, which trains, is
    `optevo simplify`.)"""

    @model_validator(mode="after")
    def _explicit(self) -> FinalConfig:
        default_seeds = type(self).model_fields["seeds"].default
        if not self.enabled and self.seeds != default_seeds:
            raise ValueError(
                "final re-evaluates nothing: set `top` (the best genomes) and/or `baselines` "
                "(e.g. [Adam]) for its other fields to mean anything"
            )
        return self

    @field_validator("baselines")
    @classmethod
    def _known(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return known_named(v)

    @property
    def enabled(self) -> bool:
        return self.top > 0 or bool(self.baselines)


class ValidateStageConfig(StrictModel):
    """The run's last stage (`optevo.search.validation`): `optevo validate` on the run's best
    `top` genomes (the final re-evaluation's order when the run has one, else the search's),
    beside `named` library optimizers (e.g. the paper's best find) and, with `baselines`,
    Adam, AdamW and Lion; `seeds` final runs each; `tasks` (default: the validation suite) at
    `scale` times their validation budget. Results in RUN/validate/ (what `optevo report`
    shows), stored run by run: a resumed run goes on where it stopped."""

    top: Int = Field(3, ge=1, le=20)
    seeds: Int = Field(5, ge=1, le=20)
    scale: Float = Field(1.0, gt=0, le=10)
    tasks: tuple[str, ...] = ()
    named: tuple[str, ...] = ()
    baselines: bool = True

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from optevo.tasks.registry import TASKS

        unknown = [t for t in v if t not in TASKS]
        if unknown:
            raise ValueError(f"unknown task {unknown[0]!r}; known: {', '.join(TASKS)}")
        return v

    @field_validator("named")
    @classmethod
    def _named(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return known_named(v)


class RunConfig(StrictModel):
    """Everything a search run needs. `fitness` is the search surrogate (SPEC 5; a mapping
    may start from a fitness preset: `{preset: quick, base: 8}`); `init_fitness` the cheaper
    surrogate of the enlarged initial population, given as overrides of `fitness` (SPEC 6:
    `{base: 32}`); `final_fitness` the protocol of the final re-evaluation (default: `fitness`)."""

    name: str = "search"
    description: str = ""
    seed: Int = Field(0, ge=0, lt=2**63)
    space: SpaceConfig = SpaceConfig()
    sphere: SphereConfig = SphereConfig()
    fitness: FitnessConfig = SingleTaskFitness()
    init_fitness: FitnessConfig | None = None
    final_fitness: FitnessConfig | None = None
    strategy: StrategyConfig = ParticleStrategy()
    executor: ExecutorConfig = ExecutorConfig()
    final: FinalConfig = FinalConfig()
    elimination: EliminationConfig | None = None
    """The elimination rounds after the search (SPEC 7.1; `optevo eliminate`). None: chosen
    when the elimination starts (`elimination_protocol`), and stored in the run's meta."""
    budget_steps: Int | None = Field(None, ge=1)
    """Stop the search (before its next batch) once its candidates have trained this many
    optimizer steps in all: screens and full runs, the funnel's rungs included, duplicates
    free, the final and validation stages not counted. None: the strategy's own budget only.
    What strategies are compared on (`benchmarks/strategies.py`)."""
    validation: ValidateStageConfig | None = None
    """`optevo validate` on the best genomes once the run has finished (None: not run)."""
    funnel: FunnelConfig | None = None
    """Rungs of growing cost inside the search (`optevo.search.funnel`); each rung's `fitness`
    is written as overrides of `fitness`. None: every candidate is evaluated once, on
    `fitness` (the paper's protocol)."""

    @model_validator(mode="after")
    def _seeds_in_space(self) -> RunConfig:
        """A paper-space run cannot start from a genome with constants or the extended
        space's operations (AdamW, Lion): its children would leave the space."""
        if self.space.kind == "extended":
            return self
        outside = [
            spec for spec in self.strategy.seed_specs() if read_seed_genome(spec)[0].is_extended
        ]
        if outside:
            raise ValueError(
                f"strategy.seed_genomes: {', '.join(outside[:4])} "
                f"{'is a genome' if len(outside) == 1 else 'are genomes'} of the extended "
                "space (constants as genes): set `space: extended`, or leave "
                f"{'it' if len(outside) == 1 else 'them'} out"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _expand_fitness(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        fit = raw.get("fitness", {})
        if isinstance(fit, dict):
            fit = _expanded("fitness", fit)
            raw["fitness"] = fit
        for key in ("init_fitness", "final_fitness"):
            part = raw.get(key)
            if isinstance(part, dict) and isinstance(fit, dict):
                raw[key] = {**fit, **_expanded(key, part)}
        funnel = raw.get("funnel")
        if isinstance(funnel, dict) and isinstance(funnel.get("rungs"), list | tuple):
            rungs = []
            for i, rung in enumerate(funnel["rungs"]):
                if isinstance(rung, dict) and isinstance(fit, dict):
                    part = rung.get("fitness", {})
                    if isinstance(part, dict):
                        where = f"funnel.rungs.{i}.fitness"
                        rung = {**rung, "fitness": {**fit, **_expanded(where, part)}}
                rungs.append(rung)
            raw["funnel"] = {**funnel, "rungs": rungs}
        return raw

    @field_validator("space", mode="before")
    @classmethod
    def _space_kind(cls, v: Any) -> Any:
        # `space: extended` (or `paper`) in YAML names the space's kind, other settings default.
        return {"kind": v} if isinstance(v, str) else v

    def search_space(self) -> SpaceConfig:
        """The space config with the strategy's mutation scope applied."""
        if self.strategy.mutation_scope == "all":
            return self.space
        weights = tuple(1.0 if m == "decay" else 0.0 for m in MUTATIONS)
        local = tuple(1.0 if m == "decay" else 0.0 for m in LOCAL_EDITS)
        return self.space.model_copy(
            update={"mutation_weights": weights, "local_weights": local, "constant_mutation_p": 0.0}
        )

    def initial_fitness(self) -> FitnessConfig:
        return self.init_fitness if self.init_fitness is not None else self.fitness

    def stages(self) -> tuple[str, ...]:
        """Every stage this configuration can evaluate: init, search, final and the
        elimination rounds (`elim-1`, ...) when it holds an elimination, and the funnel's rungs
        (`rung-1`, ...) when it holds a funnel."""
        rounds = () if self.elimination is None else self.elimination.rounds
        rungs = () if self.funnel is None else self.funnel.rungs
        return (
            *STAGES,
            *(elimination_stage(i + 1) for i in range(len(rounds))),
            *(rung_stage(i + 1) for i in range(len(rungs))),
        )

    def stage_fitness(self, stage: str) -> FitnessConfig:
        """The fitness protocol of a stage: init, search, final, an elimination round or a
        funnel rung."""
        rung = funnel_rung(stage)
        if rung:
            if self.funnel is None or rung > len(self.funnel.rungs):
                raise ValueError(f"stage {stage!r}: this configuration has no such funnel rung")
            return self.funnel.rungs[rung - 1].fitness
        round_number = elimination_round(stage)
        if round_number is not None:
            if self.elimination is None:
                raise ValueError(f"stage {stage!r}: this configuration holds no elimination")
            return self.elimination.round_fitness(round_number)
        if stage == "init":
            return self.initial_fitness()
        if stage == "final" and self.final_fitness is not None:
            return self.final_fitness
        return self.fitness

    def to_yaml(self) -> str:
        text: str = yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)
        return text

    def fitness_configs(self) -> list[FitnessConfig]:
        """Every fitness protocol the run names: search, init, final, the funnel's rungs."""
        found = [self.fitness, self.init_fitness, self.final_fitness]
        if self.funnel is not None:
            found += [r.fitness for r in self.funnel.rungs]
        return [f for f in found if f is not None]

    def task_names(self) -> list[str]:
        """Every task a fitness of the run names, once each, in order."""
        suites = [f for f in self.fitness_configs() if isinstance(f, SuiteFitness)]
        return list(dict.fromkeys(t.name for f in suites for t in f.tasks))

    def with_tasks(self, names: Sequence[str]) -> RunConfig:
        """The same run on the paired suite fitness of `names` (registry tasks or your own,
        `FILE.py:NAME`, at their `search` size): every fitness of the run (search, init,
        final, each funnel rung) scores those tasks instead of its own, keeping its other
        settings (screen rates, scale, the fair rate rule)."""
        if not names:
            return self
        tasks = tuple(TaskRef(name=n) for n in names)

        def swap(f: FitnessConfig | None) -> FitnessConfig | None:
            return None if f is None else as_suite(f, tasks)

        funnel = self.funnel
        if funnel is not None:
            rungs = tuple(r.model_copy(update={"fitness": swap(r.fitness)}) for r in funnel.rungs)
            funnel = funnel.model_copy(update={"rungs": rungs})
        return self.model_copy(
            update={
                "fitness": swap(self.fitness),
                "init_fitness": swap(self.init_fitness),
                "final_fitness": swap(self.final_fitness),
                "funnel": funnel,
            }
        )


def _expanded(field: str, raw: dict[str, Any]) -> dict[str, Any]:
    """A fitness section with its `preset:` expanded; an unknown preset names the field."""
    try:
        return expand_preset("fitness", raw)
    except ConfigError as exc:
        raise ValueError(f"{field}: {exc}") from None


# ----------------------------------------------------------------------------------------------
# Loading and presets (the configuration layer: `optevo.config`)
# ----------------------------------------------------------------------------------------------


def run_preset_names() -> tuple[str, ...]:
    """The whole-run presets, found in `optevo/configs/search/`."""
    return preset_names("search")


def run_preset(name: str, /, **overrides: Any) -> RunConfig:
    """A whole-run preset, with dotted overrides (`{"strategy.particles": 2}`)."""
    return from_preset(RunConfig, "search", name, overrides)


def load_run_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """A RunConfig from a YAML file (which may name a `preset` to start from)."""
    return load(RunConfig, "search", path, overrides)


def stored_run_config(config_json: str, source: str) -> RunConfig:
    """The configuration a run stored when it was created (its JSON)."""
    return stored_config(RunConfig, config_json, source)


def stored_config(model: type[M], text: str, source: str) -> M:
    """A configuration a run stored (its JSON), as `model`; every problem is one ConfigError
    line naming `source`."""
    import json

    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: the stored configuration is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the stored configuration is not a mapping")
    return build(model, raw, f"{source}: stored configuration")
