"""Tasks as one concept: data (offline) + model factory + budget + metric and direction, at
named sizes (`search`, `validate`, `bench`), in one registry.

- `optevo.tasks.base`: `Task`, `Budget`, `TaskOptions`, the `Runner` protocol, `RunOutcome`.
- `optevo.tasks.tensor`: `TensorRunner`, the generic runner of in-memory tensors.
- `optevo.tasks.data`: the suites' deterministic, offline data builders (`load(source)`).
- `optevo.tasks.models`: their small models.
- `optevo.tasks.suites`: the search and validation suites' tensor tasks.
- `optevo.tasks.registry`: every task (`TASKS`, shared with `optevo bench`), by suite.

This package imports nothing of `optevo.bench` at import time except through `registry`
(the bench's transfer tasks are built on `base`), so import `registry` by name.
"""

from optevo.tasks.base import (
    METRIC_DIRECTION,
    SUITES,
    Budget,
    Runner,
    RunOutcome,
    Task,
    TaskOptions,
    in_suite,
)

__all__ = [
    "METRIC_DIRECTION",
    "SUITES",
    "Budget",
    "RunOutcome",
    "Runner",
    "Task",
    "TaskOptions",
    "in_suite",
]
