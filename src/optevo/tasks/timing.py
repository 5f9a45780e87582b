"""Seconds per run of a task at one of its sizes (what `optevo tasks --measure` and
`benchmarks/task_suite.py` print): the runner is built first (data loaded, not timed as part
of the run), a one-step run warms the process up (the first run of a process pays about a
second of one-time costs that a search's worker pays once), then one run with Adam at the
task's reference learning rate, seed 0, scored on the validation split is timed."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from optevo.tasks.base import RunRequest, Task, TaskOptions

if TYPE_CHECKING:
    from optevo.optim.spec import OptimizerSpec


@dataclass(frozen=True)
class Timing:
    task: str
    size: str
    steps: int
    batch_size: int
    build_seconds: float
    run_seconds: float
    cpu_seconds: float
    metric: float | None
    status: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    task: Task,
    size: str,
    options: TaskOptions | None = None,
    optimizer: OptimizerSpec | None = None,
    lr: float | None = None,
    seed: int = 0,
    warmup: bool = True,
) -> Timing:
    """One run of `task` at size `size` (default: Adam at `task.reference_lr`), after a
    one-step run when `warmup`."""
    if optimizer is None:
        from optevo.optim.spec import named

        (optimizer,) = named(["Adam"])
    budget = task.size(size)
    t0 = time.perf_counter()
    runner = task.build(options or TaskOptions(), budget)
    built = time.perf_counter() - t0
    lr = task.reference_lr if lr is None else lr
    if warmup:
        runner.run(RunRequest.of(optimizer, lr, seed, budget, steps=1))
    cpu = time.process_time()
    outcome = runner.run(RunRequest.of(optimizer, lr, seed, budget))
    cpu = time.process_time() - cpu
    return Timing(
        task.name,
        size,
        budget.total_steps,
        budget.batch_size,
        built,
        outcome.seconds,
        cpu,
        outcome.metric,
        outcome.status,
    )


__all__ = ["Timing", "measure"]
