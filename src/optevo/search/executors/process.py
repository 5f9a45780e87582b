"""The process pool: local worker processes (spawned, one pipe each). A worker that dies
(killed, out of memory, a crash in native code) costs only the trials it held, which are
reported as `error`; a fresh worker takes its place."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_any
from typing import Any

from optevo.search.config import RunConfig
from optevo.search.executors.base import threads_per_worker
from optevo.search.executors.dispatch import Dispatcher, Lost, Outcome
from optevo.search.records import results_from_json, results_to_json, trials_from_json
from optevo.search.worker import Worker


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the driver dies, however it dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux/glibc: workers exit at their next message
        pass


def _process_main(conn: Connection, config_json: str, threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _die_with_parent()
    import torch

    torch.set_num_threads(threads)
    worker = Worker.from_json(config_json)
    serve(conn, lambda message: results_to_json(worker.run_many(trials_from_json(message))))


def serve(conn: Connection, answer: Callable[[str], str]) -> None:
    """A worker process's loop: each message (a chunk of trials as JSON) is answered (their
    results as JSON) until the driver sends None or the pipe closes."""
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        conn.send(answer(message))


class _Proc:
    def __init__(
        self, ctx: Any, target: Callable[..., None], config_json: str, threads: int
    ) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, config_json, threads), daemon=True)
        self.process.start()
        child.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.reap()

    def reap(self) -> int | None:
        """Wait for the process to end (kill it after 5 s); its exit code."""
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        code: int | None = self.process.exitcode
        return code


class ProcessExecutor(Dispatcher[_Proc]):
    """A pool of `workers` spawned processes with `threads` torch threads each. `target` is
    the worker's main function (tests replace it with one that misbehaves)."""

    def __init__(
        self,
        config_json: str,
        workers: int,
        threads: int,
        target: Callable[..., None] = _process_main,
        pack: int = 1,
    ) -> None:
        super().__init__(workers, pack)
        self.config_json = config_json
        self.target = target
        self.threads = threads
        self._ctx = mp.get_context("spawn")

    @classmethod
    def from_config(cls, config: RunConfig, worker: Worker | None = None) -> ProcessExecutor:
        ex = config.executor
        return cls(config.model_dump_json(), ex.workers, threads_per_worker(ex), pack=ex.pack)

    def start(self) -> _Proc:
        return _Proc(self._ctx, self.target, self.config_json, self.threads)

    def submit(self, worker: _Proc, message: str) -> None:
        with contextlib.suppress(OSError):  # a dead worker is found by `wait`
            worker.conn.send(message)

    def wait(self, busy: dict[int, _Proc]) -> list[tuple[int, Outcome]]:
        procs = list(busy.values())
        wait_any([p.conn for p in procs] + [p.process.sentinel for p in procs])
        out: list[tuple[int, Outcome]] = []
        for i, proc in busy.items():
            if proc.conn.poll():
                try:
                    out.append((i, results_from_json(proc.conn.recv())))
                    continue
                except (EOFError, OSError, ValueError):
                    pass  # the worker is gone
            elif proc.process.is_alive():
                continue
            out.append((i, Lost(_death(proc.reap()))))
        return out

    def stop(self, worker: _Proc, busy: bool) -> None:
        if busy:
            worker.process.kill()
        worker.stop()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"WorkerDied: the worker process was killed by {name} during this evaluation"
    return f"WorkerDied: the worker process exited with code {code} during this evaluation"
