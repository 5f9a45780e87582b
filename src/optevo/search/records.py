"""What a strategy asks for (`Request`), what the executors run (`Trial`: one candidate, one
training seed), what a worker returns for a trial (`TrialResult`) and what comes back to the
strategy (`Evaluation`: a candidate's fitness over its seeds).

Trials and trial results cross process boundaries (the process pool's pipes, Ray) as strict
JSON: `trials_to_json`/`trials_from_json`, `results_to_json`/`results_from_json`."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optevo import jsonio
from optevo.fitness.result import FitnessResult
from optevo.space.genome import Genome

STAGES: tuple[str, ...] = ("init", "search", "final")
"""init: the enlarged initial population (cheap surrogate); search: particles and children;
final: the best genomes and the baselines re-evaluated over several seeds. After the search,
the elimination rounds (SPEC 7.1) are the stages `elim-1`, `elim-2`, ... (`elimination_stage`).
With a funnel (`RunConfig.funnel`), the search's candidates promoted past rung 0 (the search
stage) are evaluated again at the stages `rung-1`, `rung-2`, ... (`rung_stage`)."""

ELIMINATION_PREFIX = "elim-"
RUNG_PREFIX = "rung-"


def _numbered(stage: str, prefix: str) -> int | None:
    if not stage.startswith(prefix):
        return None
    digits = stage[len(prefix) :]
    if not digits.isdigit() or digits.startswith("0"):
        return None
    return int(digits)


def rung_stage(rung: int) -> str:
    """The stage name of funnel rung `rung` (1, 2, ...; rung 0 is the search stage)."""
    if rung < 1:
        raise ValueError(f"funnel rungs past the search count from 1, got {rung}")
    return f"{RUNG_PREFIX}{rung}"


def funnel_rung(stage: str) -> int | None:
    """The funnel rung of a stage: 0 for `search`, 2 for `rung-2`, None for other stages."""
    if stage == "search":
        return 0
    return _numbered(stage, RUNG_PREFIX)


def elimination_stage(round_number: int) -> str:
    """The stage name of elimination round `round_number` (1, 2, ...)."""
    if round_number < 1:
        raise ValueError(f"elimination rounds count from 1, got {round_number}")
    return f"{ELIMINATION_PREFIX}{round_number}"


def elimination_round(stage: str) -> int | None:
    """The round number of an elimination stage (`elim-2` -> 2), None for other stages."""
    return _numbered(stage, ELIMINATION_PREFIX)


def is_stage(stage: str) -> bool:
    """A stage a request may name: one of STAGES, an elimination round or a funnel rung."""
    return stage in STAGES or elimination_round(stage) is not None or funnel_rung(stage) is not None


@dataclass(frozen=True)
class Request:
    """One candidate a strategy wants evaluated. `key` names its place in the run (stable
    across executors and resumes: the store finds a finished evaluation by it)."""

    key: str
    genome: Genome
    stage: str
    particle: int | None = None
    time_step: int | None = None
    child: int | None = None
    attempt: int | None = None
    parent_hash: str | None = None
    name: str | None = None
    schedule: str = "one_cycle"
    proposals: int = 1
    integrity_rejections: int = 0
    duplicate_rejections: int = 0

    def __post_init__(self) -> None:
        if not is_stage(self.stage):
            raise ValueError(f"unknown stage {self.stage!r}")


@dataclass(frozen=True)
class Trial:
    """One training run of the fitness protocol: a candidate at one training seed."""

    key: str
    seed_index: int
    seed: int
    stage: str
    genome_json: str
    schedule: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "seed_index": self.seed_index,
            "seed": self.seed,
            "stage": self.stage,
            "genome": self.genome_json,
            "schedule": self.schedule,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trial:
        return cls(
            d["key"], int(d["seed_index"]), int(d["seed"]), d["stage"], d["genome"], d["schedule"]
        )


@dataclass(frozen=True)
class Evaluation:
    """A finished candidate. `fitness` is the mean over its seeds (a seed without a fitness
    counts as 0 when another seed has one), `fitness_std` their standard deviation (None for
    one seed). `status` is the seeds' common status, or "mixed". `duplicate_of` names the
    evaluation whose result this duplicate reuses (it was not trained)."""

    request: Request
    canonical_hash: str
    behaviour_hash: str
    status: str
    fitness: float | None
    fitness_std: float | None = None
    fitness_values: tuple[float | None, ...] = ()
    best_lr: float | None = None
    screen_acc: float | None = None
    seconds: float = 0.0
    host: str = ""
    error: str | None = None
    duplicate_of: str | None = None
    seq: int = 0

    @property
    def fitness_text(self) -> str:
        """The fitness as shown in tables: "-", "0.8393" or "0.8393 ± 0.0129"."""
        if self.fitness is None:
            return "-"
        if self.fitness_std is None:
            return f"{self.fitness:.4f}"
        return f"{self.fitness:.4f} ± {self.fitness_std:.4f}"

    @property
    def key(self) -> str:
        return self.request.key

    @property
    def genome(self) -> Genome:
        return self.request.genome

    @property
    def rung(self) -> int:
        """The funnel rung this evaluation was made at (0 outside a funnel's rungs)."""
        return funnel_rung(self.request.stage) or 0

    def rank_key(self) -> tuple[int, float, float]:
        """Higher is better: the funnel rung reached first (a candidate promoted past another
        ranks above it; 0 without a funnel, and 0 for a candidate that failed at its rung),
        then fitness, then the best screen accuracy (so that among children that all failed,
        the particle moves to the most promising one)."""
        fit = -math.inf if self.fitness is None else self.fitness
        screen = -math.inf if self.screen_acc is None else self.screen_acc
        return (self.rung if self.fitness is not None else 0, fit, screen)


@dataclass(frozen=True)
class TrialResult:
    """What a worker returns for one trial: the fitness protocol's result and the host that
    ran it. Its JSON form is the result's `FitnessResult.to_dict()` plus `host`."""

    result: FitnessResult
    host: str = ""

    @classmethod
    def failure(cls, message: str, host: str = "") -> TrialResult:
        """A trial that could not be evaluated (status `error`)."""
        return cls(FitnessResult.failure(message), host)

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "host": self.host}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialResult:
        rest = dict(d)
        host = rest.pop("host", None)
        return cls(FitnessResult.from_dict(rest), "" if host is None else str(host))

    def to_json(self) -> str:
        return jsonio.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str | bytes) -> TrialResult:
        return cls.from_dict(json.loads(text))


def trials_to_json(trials: Sequence[Trial]) -> str:
    return jsonio.dumps([t.to_dict() for t in trials])


def trials_from_json(text: str | bytes) -> list[Trial]:
    return [Trial.from_dict(d) for d in json.loads(text)]


def results_to_json(results: Sequence[TrialResult]) -> str:
    return jsonio.dumps([r.to_dict() for r in results])


def results_from_json(text: str | bytes) -> list[TrialResult]:
    return [TrialResult.from_dict(d) for d in json.loads(text)]


def aggregate(
    request: Request,
    canonical_hash: str,
    behaviour_hash: str,
    trials: Sequence[TrialResult],
) -> Evaluation:
    """The evaluation of `request` from the results of its seeds (in seed order)."""
    results = [t.result for t in trials]
    statuses = [r.status for r in results]
    values = [r.fitness for r in results]
    status = statuses[0] if len(set(statuses)) == 1 else "mixed"
    have = [v for v in values if v is not None]
    if have:
        filled = [0.0 if v is None else float(v) for v in values]
        fitness: float | None = statistics.fmean(filled)
        std = statistics.stdev(filled) if len(filled) > 1 else None
    else:
        fitness, std = None, None
    lrs = [r.best_lr for r in results if r.best_lr is not None]
    screens = [s for s in (r.best_screen_acc for r in results) if s is not None]
    errors = [r.error for r in results if r.error]
    return Evaluation(
        request=request,
        canonical_hash=canonical_hash,
        behaviour_hash=behaviour_hash,
        status=status,
        fitness=fitness,
        fitness_std=std,
        fitness_values=tuple(values),
        best_lr=statistics.median(lrs) if lrs else None,
        screen_acc=statistics.fmean(screens) if screens else None,
        seconds=sum(r.seconds for r in results),
        host=",".join(sorted({t.host for t in trials} - {""})),
        error=errors[0] if errors else None,
    )
