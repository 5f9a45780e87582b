"""`optevo validate --jobs N`: the (task, optimizer) pairs of a validation in N processes.

Each pair is one unit of work: its learning-rate test and final runs, run by the transfer
protocol in a worker process (spawned; `threads` torch threads each). A worker reads every run
already stored in `OUT/runs.jsonl` (nothing finished is trained again) and appends its own runs
to a shard of its own, `OUT/jobs/<task>-<index>/runs.jsonl`, so no two processes ever write one
file. When the units are done, or at the start of the next validation of `OUT` after a kill,
the shards are merged into `OUT/runs.jsonl` and removed; the tables are then built from it
as a serial validation would. Progress events come back through a queue, so the bar moves as
the workers train.
"""

from __future__ import annotations

import multiprocessing
import queue
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from optevo.transfer.protocol import TransferEvent
from optevo.transfer.store import RUNS_FILE, ResultStore

JOBS_DIR = "jobs"
"""The folder of the workers' shards inside a validation's output folder."""


class ShardStore(ResultStore):
    """The runs of `main` and of its own shard folder; new runs go to the shard only."""

    def __init__(self, main: Path, shard: Path) -> None:
        super().__init__(shard)
        for record in ResultStore(main).records():
            self._records.setdefault(record.key.ident(), record)


def merge_shards(out: str | Path) -> int:
    """Move every shard's runs into `out`'s store (those it lacks) and remove the shards;
    returns how many runs were added."""
    root = Path(out) / JOBS_DIR
    if not root.is_dir():
        return 0
    main = ResultStore(out)
    added = 0
    for shard in sorted(p for p in root.iterdir() if (p / RUNS_FILE).is_file()):
        for record in ResultStore(shard).records():
            if main.get(record.key) is None:
                main.add(record)
                added += 1
    shutil.rmtree(root)
    return added


Unit = tuple[str, int]
"""A task name and the index of an optimizer in the configuration."""


def run_units(
    config: Any,
    out: Path,
    units: list[Unit],
    emit: Callable[[TransferEvent], None],
    jobs: int,
    threads: int,
) -> None:
    """Run `units` in `jobs` spawned processes, forwarding their events to `emit`; then merge
    the shards. A worker's error is raised here (the shards keep what finished)."""
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        events: Any = manager.Queue()
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set() or not events.empty():
                try:
                    emit(events.get(timeout=0.1))
                except queue.Empty:
                    continue

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        try:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = [
                    pool.submit(_unit, config, str(out), task, index, events, threads)
                    for task, index in units
                ]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                for future in done:
                    error = future.exception()
                    if error is not None:
                        for other in futures:
                            other.cancel()
                        raise error
        finally:
            stop.set()
            drainer.join()
    merge_shards(out)


def _unit(config: Any, out: str, task: str, index: int, events: Any, threads: int) -> None:
    """One (task, optimizer) pair, in a worker process."""
    import torch

    from optevo.tasks.registry import TASKS
    from optevo.validate.run import task_runs

    torch.set_num_threads(threads)
    spec = config.optimizers[index]
    shard = Path(out) / JOBS_DIR / f"{task}-{index:03d}"
    store = ShardStore(Path(out), shard)
    runs = task_runs(config, TASKS[task], store, events.put)
    runs.optimizer(spec, config.grid_of(spec), config.seeds, config.lr_seed, config.fair_lr)


__all__ = ["JOBS_DIR", "ShardStore", "merge_shards", "run_units"]
