"""Executors run a batch of trials and report each as it finishes.

- `SerialExecutor`: in this process (the default).
- `ProcessExecutor`: a pool of local worker processes (spawned, one pipe each). A worker that
  dies (killed, out of memory, a crash in native code) costs only the trial it held, which is
  reported as `error`; a fresh worker takes its place.
- `RayExecutor`: Ray actors, one per concurrent evaluation, on a local Ray or the cluster at
  `address`, with `num_cpus`/`num_gpus` each (fractional GPUs allowed).
- kind `gpu`: a `SerialExecutor` that packs each batch into batched models (`fitness_many`):
  many candidates per chip.

`pack` > 1 hands a worker that many trials per message; the worker packs them
(`Worker.run_many`). A worker that dies costs the trials of its message.

All three run the same `Worker` on the same trials; a trial's randomness comes from its own
seed, so they produce the same results (bit for bit when each evaluation runs with the same
number of torch threads: CPU reductions depend on it).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from optevo import jsonio
from optevo.search.config import ExecutorConfig, RunConfig
from optevo.search.records import Trial
from optevo.search.worker import Worker, error_result

OnDone = Callable[[Trial, dict[str, Any]], None]


class Executor(Protocol):
    """Runs trials; calls `on_done(trial, result)` in the calling thread as each finishes."""

    def run(self, trials: list[Trial], on_done: OnDone) -> None: ...

    def close(self) -> None: ...


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


def make_executor(config: RunConfig) -> Executor:
    ex = config.executor
    config_json = config.model_dump_json()
    if ex.kind == "serial":
        return SerialExecutor(Worker(config), ex.threads, ex.pack)
    if ex.kind == "gpu":
        return SerialExecutor(Worker(config), ex.threads, pack=GPU_PACK)
    if ex.kind == "process":
        return ProcessExecutor(config_json, ex.workers, threads_per_worker(ex), pack=ex.pack)
    return RayExecutor(config_json, ex)


GPU_PACK = 1 << 20
"""The gpu executor packs a whole batch (`fitness_many` splits it by `pack_copies`)."""


def chunks(trials: list[Trial], size: int) -> list[list[Trial]]:
    return [trials[i : i + size] for i in range(0, len(trials), size)]


# ----------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------


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
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        trials = [Trial.from_dict(d) for d in json.loads(message)]
        conn.send(jsonio.dumps(worker.run_many(trials)))


class _Proc:
    def __init__(
        self, ctx: Any, target: Callable[..., None], config_json: str, threads: int
    ) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, args=(child, config_json, threads), daemon=True)
        self.process.start()
        child.close()
        self.trials: list[Trial] | None = None

    def stop(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class ProcessExecutor:
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
        self.config_json = config_json
        self.pack = pack
        self.target = target
        self.threads = threads
        self.size = workers
        self._ctx = mp.get_context("spawn")
        self._procs: list[_Proc] = []

    def _start(self) -> _Proc:
        return _Proc(self._ctx, self.target, self.config_json, self.threads)

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        pending = deque(chunks(trials, self.pack))
        while len(self._procs) < min(self.size, len(pending)):
            self._procs.append(self._start())
        try:
            while pending or any(p.trials is not None for p in self._procs):
                for proc in self._procs:
                    if proc.trials is None and pending:
                        proc.trials = pending.popleft()
                        message = json.dumps([t.to_dict() for t in proc.trials])
                        with contextlib.suppress(OSError):  # a dead worker is found below
                            proc.conn.send(message)
                busy = [p for p in self._procs if p.trials is not None]
                wait([p.conn for p in busy] + [p.process.sentinel for p in busy])
                for proc in busy:
                    sent = proc.trials
                    assert sent is not None
                    if proc.conn.poll():
                        try:
                            results = json.loads(proc.conn.recv())
                        except (EOFError, OSError, json.JSONDecodeError):
                            pass  # the worker is gone: handled below
                        else:
                            proc.trials = None
                            for trial, result in zip(sent, results, strict=True):
                                on_done(trial, result)
                            continue
                    elif proc.process.is_alive():
                        continue
                    proc.process.join(timeout=5)
                    if proc.process.is_alive():
                        proc.process.kill()
                        proc.process.join()
                    code = proc.process.exitcode
                    proc.conn.close()
                    self._procs[self._procs.index(proc)] = self._start()
                    for trial in sent:
                        on_done(trial, error_result(_death(code)))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for proc in self._procs:
            if proc.trials is not None:
                proc.process.kill()
            proc.stop()
        self._procs = []


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"WorkerDied: the worker process was killed by {name} during this evaluation"
    return f"WorkerDied: the worker process exited with code {code} during this evaluation"


# ----------------------------------------------------------------------------------------------


class RayExecutor:
    """Ray actors, each a `Worker` (its data set loaded once), `num_cpus`/`num_gpus` each."""

    def __init__(self, config_json: str, config: ExecutorConfig) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'optevo[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            if config.address:
                ray.init(address=config.address, log_to_driver=False)
            else:
                ray.init(log_to_driver=False, include_dashboard=False)
            self._owns_ray = True
        else:
            self._owns_ray = False
        self.config = config
        self.config_json = config_json
        cluster_cpus = float(ray.cluster_resources().get("CPU", 1))
        self.size = (
            config.workers if config.workers > 1 else max(1, int(cluster_cpus // config.num_cpus))
        )
        threads = config.threads or max(1, int(config.num_cpus))
        self._actor_cls = ray.remote(_RayWorker).options(
            num_cpus=config.num_cpus, num_gpus=config.num_gpus, max_restarts=0
        )
        self._threads = threads
        self._actors: list[Any] = []

    def _start(self) -> Any:
        return self._actor_cls.remote(self.config_json, self._threads)

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        ray = self.ray
        pending = deque(chunks(trials, self.config.pack))
        while len(self._actors) < min(self.size, len(pending)):
            self._actors.append(self._start())
        idle = list(range(len(self._actors)))
        running: dict[Any, tuple[int, list[Trial]]] = {}
        try:
            while pending or running:
                while idle and pending:
                    slot = idle.pop()
                    sent = pending.popleft()
                    message = json.dumps([t.to_dict() for t in sent])
                    running[self._actors[slot].run_many.remote(message)] = (slot, sent)
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    slot, sent = running.pop(ref)
                    try:
                        results = json.loads(ray.get(ref))
                    except ray.exceptions.RayActorError as exc:
                        self._actors[slot] = self._start()
                        results = [error_result(f"WorkerDied: the Ray actor died: {exc}")] * len(
                            sent
                        )
                    except ray.exceptions.RayError as exc:
                        results = [error_result(f"{type(exc).__name__}: {exc}")] * len(sent)
                    idle.append(slot)
                    for trial, result in zip(sent, results, strict=True):
                        on_done(trial, dict(result))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self._actors = []
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


class _RayWorker:
    def __init__(self, config_json: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.worker = Worker.from_json(config_json)

    def run_many(self, trials_json: str) -> str:
        trials = [Trial.from_dict(d) for d in json.loads(trials_json)]
        return jsonio.dumps(self.worker.run_many(trials))
