"""Tasks as one concept: data (offline) + model factory + budget + metric and direction, at
named sizes (`search`, `validate`, `bench`), in one registry.

- `optevo.tasks.base`: `Task`, `Budget`, `TaskOptions`, the `Runner` protocol, `RunOutcome`.
- `optevo.tasks.tensor`: `TensorRunner`, the generic runner of in-memory tensors.
- `optevo.tasks.data`: the suites' deterministic, offline data builders (`load(source)`).
- `optevo.tasks.models`: their small models.
- `optevo.tasks.suites`: the search and validation suites' tensor tasks.
- `optevo.tasks.bench`: the bench suite's transfer benchmarks (SPEC 7.5); their data
  (`optevo.tasks.bench_data`) and runners (`optevo.tasks.classify`, `optevo.tasks.language`).
- `optevo.tasks.registry`: every task (`TASKS`, what `optevo bench`, `optevo validate` and the
  suite fitness run), by suite.

The package imports only `base` when imported; import `registry` by name (it builds every
task's entry, which loads the model and data modules).
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
