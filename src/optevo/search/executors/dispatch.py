"""The one dispatch loop of the executors that run trials in other workers (the process pool,
Ray actors): chunks of a batch go to idle workers, each reply is reported trial by trial, and
an interruption (Ctrl-C included) closes every worker before it goes on up. An executor says
how to start a worker, send it a chunk, wait for any busy worker and stop one; the loop is
the same for all.

A lost worker (its process or actor gone) leaves its slot empty and what it held is dealt
with by the executor's `retries`:

- `retries = 0` (the process pool): the trials it held are reported as `error` (a worker
  killed by its own candidate, e.g. out of memory, costs only that trial).
- `retries = 1` (Ray): they are run again, first in line, on another worker; a chunk whose
  worker is lost a second time is reported as `error` (so a candidate that kills every worker
  it runs on costs two workers, not an endless loop). A node of a cluster that goes away
  costs nothing but the time its trials had run.

An empty slot is filled again as soon as the executor has `room` for a worker (always, for
the process pool; for Ray, once the cluster has the resources free: a node that is gone
does not come back by itself, and an actor waiting for resources that never come would hold
its chunk forever). With work waiting and no worker at all, `starved` decides: a fresh
worker, or an `ExecutorError` that stops the run (every finished evaluation is stored)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from optevo.search.executors.base import OnDone, chunks
from optevo.search.records import Trial, TrialResult, trials_to_json

W = TypeVar("W")


@dataclass(frozen=True)
class Lost:
    """A chunk that came back without results: `message` becomes each of its trials' error;
    `restart`: the worker is gone (already cleaned up), its slot is filled again and the chunk
    is run again if the executor's `retries` allow it."""

    message: str
    restart: bool = True


Outcome = list[TrialResult] | Lost


@dataclass
class _Chunk:
    trials: list[Trial]
    lost: int = 0  # workers lost while holding it


class Dispatcher(ABC, Generic[W]):
    """Runs batches on up to `size` workers of type `W`, `pack` trials per message."""

    retries: int = 0
    """How often a chunk whose worker is lost is run again on another worker."""

    def __init__(self, size: int, pack: int = 1) -> None:
        self.size = size
        self.pack = pack
        self._workers: dict[int, W] = {}
        self._busy: dict[int, _Chunk] = {}
        self._slots = 0  # slot numbers handed out
        self._target = 0  # workers to keep: as many as the largest batch so far needed
        self._shrunk = False  # a worker was lost: new ones only where there is room
        self.lost_workers = 0
        """Workers lost so far (killed, crashed, their node gone)."""
        self.rerun_trials = 0
        """Trials run again because the worker that held them was lost."""

    @abstractmethod
    def start(self) -> W:
        """A fresh worker."""

    @abstractmethod
    def submit(self, worker: W, message: str) -> None:
        """Send a chunk (`trials_to_json`); a worker found dead here is reported by `wait`."""

    @abstractmethod
    def wait(self, busy: dict[int, W]) -> list[tuple[int, Outcome]]:
        """Block until at least one busy worker has an outcome; those outcomes by slot
        (workers still running are left out)."""

    @abstractmethod
    def stop(self, worker: W, busy: bool) -> None:
        """End a worker (`busy`: it holds a chunk, kill it rather than wait)."""

    def room(self) -> bool:
        """Whether a worker can start now in place of a lost one."""
        return True

    def starved(self) -> W:
        """Work is waiting and every worker is lost: a fresh worker, or raise
        `ExecutorError` to stop the run."""
        return self.start()

    def lost(self, message: str, trials: list[Trial], rerun: bool) -> None:
        """Told of each lost worker (`rerun`: its trials go to another worker)."""

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        pending = deque(_Chunk(c) for c in chunks(trials, self.pack))
        self._target = max(self._target, min(self.size, len(pending)))
        try:
            self._fill()
            while pending or self._busy:
                if pending and not self._workers:
                    self._add(self.starved())
                for slot, worker in self._workers.items():
                    if slot not in self._busy and pending:
                        self._busy[slot] = pending.popleft()
                        self.submit(worker, trials_to_json(self._busy[slot].trials))
                busy = {slot: self._workers[slot] for slot in self._busy}
                for slot, outcome in self.wait(busy):
                    chunk = self._busy.pop(slot)
                    if isinstance(outcome, Lost):
                        if outcome.restart:
                            del self._workers[slot]
                            self.lost_workers += 1
                            self._shrunk = True
                            chunk.lost += 1
                            rerun = chunk.lost <= self.retries
                            self.lost(outcome.message, chunk.trials, rerun)
                            if rerun:
                                self.rerun_trials += len(chunk.trials)
                                pending.appendleft(chunk)
                                continue
                        outcome = [TrialResult.failure(outcome.message) for _ in chunk.trials]
                    for trial, result in zip(chunk.trials, outcome, strict=True):
                        on_done(trial, result)
                self._fill()
        except BaseException:
            self.close()
            raise

    def _fill(self) -> None:
        """Workers up to the target: all at once while none was lost, after a loss only
        where there is `room`."""
        while len(self._workers) < self._target:
            if self._shrunk and not self.room():
                return
            self._add(self.start())

    def _add(self, worker: W) -> None:
        self._workers[self._slots] = worker
        self._slots += 1

    def close(self) -> None:
        for slot, worker in self._workers.items():
            self.stop(worker, busy=slot in self._busy)
        self._workers = {}
        self._busy = {}
        self._target = 0
        self._shrunk = False
