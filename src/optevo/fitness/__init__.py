"""The fitness of a candidate optimizer (SPEC 5): its configuration, the protocol (`fitness`,
`fitness_many`), the training loop and its layouts (sequential, packed; a CUDA-graph backend
for the packed step), and the results.

    from optevo.fitness import fitness, preset
    result = fitness("Adam", preset("quick"))

Words (docs/glossary.md): a *layout* is how a run's model copies are trained (sequential or
packed); to *pack* is to train many copies as one batched model; *validate* is the held-out
pass of a full run.
"""

from optevo.fitness.config import (
    PAPER,
    FitnessConfig,
    SingleTaskFitness,
    SuiteFitness,
    TaskRef,
    build_fitness,
    load_config,
    preset,
)
from optevo.fitness.preflight import check_device, preflight
from optevo.fitness.protocol import dataset_for, fitness, fitness_many, guarded
from optevo.fitness.result import STATUSES, FitnessResult, RunResult, Status, TaskScore

__all__ = [
    "PAPER",
    "STATUSES",
    "FitnessConfig",
    "FitnessResult",
    "RunResult",
    "SingleTaskFitness",
    "Status",
    "SuiteFitness",
    "TaskRef",
    "TaskScore",
    "build_fitness",
    "check_device",
    "dataset_for",
    "fitness",
    "fitness_many",
    "guarded",
    "load_config",
    "preflight",
    "preset",
]
