"""What every executor shares: the `Executor` protocol, the `OnDone` callback, and how a
batch is cut into the messages a worker gets."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from optevo.search.config import ExecutorConfig
from optevo.search.records import Trial, TrialResult

if TYPE_CHECKING:
    from optevo.search.config import RunConfig
    from optevo.search.worker import Worker

OnDone = Callable[[Trial, TrialResult], None]


class ExecutorError(RuntimeError):
    """An executor cannot start or go on (a Ray cluster that does not answer, or that has lost
    every worker): one line naming what to change. Evaluations already finished are stored;
    the run resumes where it stopped."""


class Executor(Protocol):
    """Runs trials; calls `on_done(trial, result)` in the calling thread as each finishes."""

    def run(self, trials: list[Trial], on_done: OnDone) -> None: ...

    def close(self) -> None: ...


ExecutorFactory = Callable[["RunConfig", "Worker | None"], Executor]
"""Makes the executor of a run configuration; `worker` is an in-process worker the caller
already built (its data sets loaded), for the executors that run in this process."""


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_worker(config: ExecutorConfig) -> int:
    """`threads`, or the cores shared out among the workers (two torch processes spinning on
    the same cores slow each other down many times over)."""
    if config.threads is not None:
        return config.threads
    return max(1, available_cores() // config.workers)


def chunks(trials: list[Trial], size: int) -> list[list[Trial]]:
    return [trials[i : i + size] for i in range(0, len(trials), size)]
