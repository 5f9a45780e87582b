"""Ray actors, one per concurrent evaluation, on a local Ray or the cluster at `address`,
with `num_cpus`/`num_gpus` each (fractional GPUs allowed): as many as the cluster holds
(`capacity`), or `workers` if fewer.

Connecting: a cluster that does not answer within `connect_timeout` seconds is an
`ExecutorError` naming `--address` (before any run directory is made).

Losing actors: an actor that dies (its node gone, killed, out of memory) leaves its slot
empty and the trials it held are run once more, first in line, on another actor
(`retries = 1`); trials whose actor is lost a second time are reported as `error`. An empty
slot gets a fresh actor only when the cluster has the resources free (`room`): after a node
is lost the run goes on with the actors the remaining nodes hold. With every actor lost and
no room for one within `connect_timeout`, the run stops (`ExecutorError`) and resumes later
without repeating a finished evaluation."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

from optevo.search.config import ExecutorConfig, RunConfig, ray_host_port
from optevo.search.executors.base import ExecutorError
from optevo.search.executors.dispatch import Dispatcher, Lost, Outcome
from optevo.search.records import Trial, results_from_json, results_to_json, trials_from_json
from optevo.search.worker import Worker

log = logging.getLogger(__name__)


class _Actor:
    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.ref: Any = None  # the reply of the chunk it holds


class RayExecutor(Dispatcher[_Actor]):
    """Ray actors, each a `Worker` (its data set loaded once), `num_cpus`/`num_gpus` each."""

    retries = 1

    def __init__(self, config_json: str, config: ExecutorConfig) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'optevo[ray]'") from None
        self.ray: Any = ray  # untyped in places
        self._owns_ray = connect(ray, config)
        fits = capacity(self.ray.cluster_resources(), config)
        size = fits if config.workers == 1 else min(config.workers, fits)
        if size < config.workers:
            log.warning(
                "ray: %d workers asked for, the cluster holds %d actors of num_cpus=%g, "
                "num_gpus=%g: running %d",
                *(config.workers, fits, config.num_cpus, config.num_gpus, size),
            )
        super().__init__(size, config.pack)
        self.config = config
        self.config_json = config_json
        self._threads = config.threads or max(1, int(config.num_cpus))
        self._actor_cls = ray.remote(_RayWorker).options(
            num_cpus=config.num_cpus, num_gpus=config.num_gpus, max_restarts=0
        )

    @classmethod
    def from_config(cls, config: RunConfig, worker: Worker | None = None) -> RayExecutor:
        return cls(config.model_dump_json(), config.executor)

    def start(self) -> _Actor:
        return _Actor(self._actor_cls.remote(self.config_json, self._threads))

    def submit(self, worker: _Actor, message: str) -> None:
        worker.ref = worker.handle.run_many.remote(message)

    def wait(self, busy: dict[int, _Actor]) -> list[tuple[int, Outcome]]:
        ray = self.ray
        index = {actor.ref: i for i, actor in busy.items()}
        done, _ = ray.wait(list(index), num_returns=1)
        out: list[tuple[int, Outcome]] = []
        for ref in done:
            i = index[ref]
            outcome: Outcome
            try:
                outcome = results_from_json(ray.get(ref))
            except (ray.exceptions.RayActorError, ray.exceptions.ObjectLostError) as exc:
                # The actor (or its node, or the node that held its reply) is gone: make sure
                # it is ended, and a fresh one takes its place where there is room.
                self.stop(busy[i], busy=True)
                outcome = Lost(f"WorkerDied: the Ray actor was lost: {_one_line(exc)}")
            except ray.exceptions.RayError as exc:
                outcome = Lost(f"{type(exc).__name__}: {_one_line(exc)}", restart=False)
            out.append((i, outcome))
        return out

    def stop(self, worker: _Actor, busy: bool) -> None:
        with contextlib.suppress(Exception):
            self.ray.kill(worker.handle, no_restart=True)

    def room(self) -> bool:
        """Whether the cluster has the resources of one more actor free now (a node that was
        lost, and one not yet known to be lost, has none)."""
        try:
            free = self.ray.available_resources()
        except Exception:  # the cluster itself is gone: nothing to start
            return False
        need = {"CPU": self.config.num_cpus, "GPU": self.config.num_gpus}
        return all(float(free.get(k, 0.0)) >= v - 1e-9 for k, v in need.items() if v > 0)

    def starved(self) -> _Actor:
        deadline = time.monotonic() + self.config.connect_timeout
        while not self.room():
            if time.monotonic() > deadline:
                raise ExecutorError(
                    f"every Ray actor was lost and the cluster has had no room for another "
                    f"(num_cpus={self.config.num_cpus:g}, num_gpus={self.config.num_gpus:g} "
                    f"each) for {self.config.connect_timeout:g} s (executor.connect_timeout): "
                    "the run stops here, every finished evaluation is stored; resume it once "
                    "the cluster is back"
                )
            time.sleep(0.5)
        return self.start()

    def lost(self, message: str, trials: list[Trial], rerun: bool) -> None:
        keys = ", ".join(f"{t.key}#{t.seed_index}" for t in trials)
        if rerun:
            log.warning("ray: actor lost, run again on another actor: %s (%s)", keys, message)
        else:
            log.warning("ray: actor lost again, recorded as error: %s (%s)", keys, message)

    def close(self) -> None:
        super().close()
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


def capacity(resources: dict[str, float], config: ExecutorConfig) -> int:
    """How many actors of `num_cpus`/`num_gpus` the cluster's `resources` hold (at least 1:
    one actor waits for a cluster that is still starting). More would wait for resources
    that the run's own actors never give back, and hold their chunks for ever."""
    need = {"CPU": config.num_cpus, "GPU": config.num_gpus}
    fits = [int(float(resources.get(k, 0.0)) / v + 1e-9) for k, v in need.items() if v > 0]
    return max(1, min(fits))


def connect(ray: Any, config: ExecutorConfig) -> bool:
    """Connect this process to Ray: the cluster at `config.address`, or a local Ray started
    here when None; True when this call connected (the executor shuts it down at the end).
    A cluster that does not answer within `connect_timeout` is an `ExecutorError`."""
    if ray.is_initialized():
        return False
    if not config.address:
        ray.init(log_to_driver=False, include_dashboard=False)
        return True
    address, timeout = config.address, config.connect_timeout
    where = f"--address {address}"
    deadline = time.monotonic() + timeout
    host_port = ray_host_port(address)
    if host_port is not None:  # a port nothing listens on is known at once
        try:
            socket.create_connection(host_port, timeout=timeout).close()
        except OSError as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
            raise ExecutorError(f"{where}: no Ray cluster there ({reason})") from None
    # ray.init has no timeout of its own (a port that answers but is no Ray head keeps it
    # retrying for many minutes): it runs in a thread that is given up on after the timeout.
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, log_to_driver=False)
        except BaseException as exc:  # handed to the caller
            failure.append(exc)

    thread = threading.Thread(target=init, name="optevo-ray-connect", daemon=True)
    note = _NoThreadNote()  # Ray's note that its SIGTERM handler is left out in a thread
    logging.getLogger("ray._private.worker").addFilter(note)
    try:
        thread.start()
        thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        logging.getLogger("ray._private.worker").removeFilter(note)
    if thread.is_alive():
        raise ExecutorError(
            f"{where}: no Ray cluster answered within {timeout:g} s "
            "(executor.connect_timeout; is a head node started there: ray start --head?)"
        )
    if failure:
        raise ExecutorError(f"{where}: cannot connect to a Ray cluster: {_one_line(failure[0])}")
    return True


class _NoThreadNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "not the main thread" not in record.getMessage()


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _RayWorker:
    def __init__(self, config_json: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.worker = Worker.from_json(config_json)

    def run_many(self, trials_json: str) -> str:
        return results_to_json(self.worker.run_many(trials_from_json(trials_json)))
