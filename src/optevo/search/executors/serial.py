"""Executors in this process: `serial` (one trial after another, or `pack` at a time) and
`gpu` (every batch packed into batched models)."""

from __future__ import annotations

from optevo.search.config import RunConfig
from optevo.search.executors.base import OnDone, chunks
from optevo.search.records import Trial
from optevo.search.worker import Worker

GPU_PACK = 1 << 20
"""The gpu executor packs a whole batch (`fitness_many` splits it by `pack_copies`)."""


class SerialExecutor:
    """In this process; `pack` > 1 packs that many trials into batched models at a time."""

    def __init__(self, worker: Worker, threads: int | None = None, pack: int = 1) -> None:
        self.worker = worker
        self.pack = pack
        if threads is not None:
            import torch

            torch.set_num_threads(threads)

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        if self.pack <= 1:
            for trial in trials:
                on_done(trial, self.worker.run(trial))
            return
        for chunk in chunks(trials, self.pack):
            for trial, result in zip(chunk, self.worker.run_many(chunk), strict=True):
                on_done(trial, result)

    def close(self) -> None:
        pass


def serial_executor(config: RunConfig, worker: Worker | None = None) -> SerialExecutor:
    ex = config.executor
    return SerialExecutor(worker or Worker(config), ex.threads, ex.pack)


def gpu_executor(config: RunConfig, worker: Worker | None = None) -> SerialExecutor:
    return SerialExecutor(worker or Worker(config), config.executor.threads, pack=GPU_PACK)
