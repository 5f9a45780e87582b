"""Executors run a batch of trials and report each as it finishes. They are registered by
the `kind` of `ExecutorConfig` in `EXECUTORS`; `make_executor` is how every caller gets one.

- `serial`: in this process (the default).
- `gpu`: in this process, each batch packed into batched models (`fitness_many`): many
  candidates per chip.
- `process`: a pool of local worker processes (spawned, one pipe each).
- `ray`: Ray actors on a local Ray or a cluster, `num_cpus`/`num_gpus` each.

The process pool and Ray share one dispatch loop (`dispatch.Dispatcher`): a worker that dies
(killed, out of memory, a crash in native code) costs only the trials it held and a fresh
worker takes its place. The process pool reports those trials as `error`; Ray runs them once
more on another actor (a lost node costs nothing) and reports a second loss as `error`.
`pack` > 1 hands a worker that many trials per message; the worker packs them
(`Worker.run_many`).

All run the same `Worker` on the same trials; a trial's randomness comes from its own seed,
so they produce the same results (bit for bit when each evaluation runs with the same number
of torch threads: CPU reductions depend on it).

Adding an executor: a module here with a factory `(RunConfig, Worker | None) -> Executor`,
its entry in `EXECUTORS`, and its kind in `ExecutorConfig.kind` (a test checks the two agree).
"""

from __future__ import annotations

from optevo.search.config import ConfigError, RunConfig
from optevo.search.executors.base import (
    Executor,
    ExecutorError,
    ExecutorFactory,
    OnDone,
    available_cores,
    chunks,
    threads_per_worker,
)
from optevo.search.executors.process import ProcessExecutor
from optevo.search.executors.ray_actors import RayExecutor
from optevo.search.executors.serial import GPU_PACK, SerialExecutor, gpu_executor, serial_executor
from optevo.search.worker import Worker

EXECUTORS: dict[str, ExecutorFactory] = {
    "serial": serial_executor,
    "gpu": gpu_executor,
    "process": ProcessExecutor.from_config,
    "ray": RayExecutor.from_config,
}
"""The executors by `ExecutorConfig.kind`."""


def make_executor(config: RunConfig, worker: Worker | None = None) -> Executor:
    """The executor `config.executor` names; `worker`, an in-process worker already built
    for `config` (its data sets loaded), is used by the executors that run in this process."""
    kind = config.executor.kind
    factory = EXECUTORS.get(kind)
    if factory is None:
        raise ConfigError(
            f"executor.kind: unknown executor {kind!r}; known: {', '.join(EXECUTORS)}"
        )
    return factory(config, worker)


__all__ = [
    "EXECUTORS",
    "GPU_PACK",
    "Executor",
    "ExecutorError",
    "ExecutorFactory",
    "OnDone",
    "ProcessExecutor",
    "RayExecutor",
    "SerialExecutor",
    "available_cores",
    "chunks",
    "make_executor",
    "threads_per_worker",
]
