"""The one dispatch loop of the executors that run trials in other workers (the process pool,
Ray actors): chunks of a batch go to idle workers, each reply is reported trial by trial,
a worker that is lost costs only the trials it held (reported as `error`) and a fresh one
takes its place, and an interruption (Ctrl-C included) closes every worker before it goes
on up. An executor says how to start a worker, send it a chunk, wait for any busy worker
and stop one; the loop is the same for all."""

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
    `restart`: the worker is gone (already cleaned up) and a fresh one takes its place."""

    message: str
    restart: bool = True


Outcome = list[TrialResult] | Lost


class Dispatcher(ABC, Generic[W]):
    """Runs batches on up to `size` workers of type `W`, `pack` trials per message."""

    def __init__(self, size: int, pack: int = 1) -> None:
        self.size = size
        self.pack = pack
        self._workers: list[W] = []
        self._busy: dict[int, list[Trial]] = {}

    @abstractmethod
    def start(self) -> W:
        """A fresh worker."""

    @abstractmethod
    def submit(self, worker: W, message: str) -> None:
        """Send a chunk (`trials_to_json`); a worker found dead here is reported by `wait`."""

    @abstractmethod
    def wait(self, busy: dict[int, W]) -> list[tuple[int, Outcome]]:
        """Block until at least one busy worker has an outcome; those outcomes by index
        (workers still running are left out)."""

    @abstractmethod
    def stop(self, worker: W, busy: bool) -> None:
        """End a worker (`busy`: it holds a chunk, kill it rather than wait)."""

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        pending = deque(chunks(trials, self.pack))
        while len(self._workers) < min(self.size, len(pending)):
            self._workers.append(self.start())
        try:
            while pending or self._busy:
                for i, worker in enumerate(self._workers):
                    if i not in self._busy and pending:
                        self._busy[i] = pending.popleft()
                        self.submit(worker, trials_to_json(self._busy[i]))
                for i, outcome in self.wait({i: self._workers[i] for i in self._busy}):
                    sent = self._busy.pop(i)
                    if isinstance(outcome, Lost):
                        if outcome.restart:
                            self._workers[i] = self.start()
                        outcome = [TrialResult.failure(outcome.message) for _ in sent]
                    for trial, result in zip(sent, outcome, strict=True):
                        on_done(trial, result)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for i, worker in enumerate(self._workers):
            self.stop(worker, busy=i in self._busy)
        self._workers = []
        self._busy = {}
