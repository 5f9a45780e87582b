"""Ray actors, one per concurrent evaluation, on a local Ray or the cluster at `address`,
with `num_cpus`/`num_gpus` each (fractional GPUs allowed). An actor that dies costs only the
trials it held (reported as `error`); a fresh actor takes its place."""

from __future__ import annotations

import contextlib
from typing import Any

from optevo.search.config import ExecutorConfig, RunConfig
from optevo.search.executors.dispatch import Dispatcher, Lost, Outcome
from optevo.search.records import results_from_json, results_to_json, trials_from_json
from optevo.search.worker import Worker


class _Actor:
    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.ref: Any = None  # the reply of the chunk it holds


class RayExecutor(Dispatcher[_Actor]):
    """Ray actors, each a `Worker` (its data set loaded once), `num_cpus`/`num_gpus` each."""

    def __init__(self, config_json: str, config: ExecutorConfig) -> None:
        try:
            import ray
        except ImportError:
            raise RuntimeError("the ray executor needs Ray: pip install 'optevo[ray]'") from None
        self.ray: Any = ray  # untyped in places
        if not ray.is_initialized():
            if config.address:
                ray.init(address=config.address, log_to_driver=False)
            else:
                ray.init(log_to_driver=False, include_dashboard=False)
            self._owns_ray = True
        else:
            self._owns_ray = False
        cluster_cpus = float(self.ray.cluster_resources().get("CPU", 1))
        size = (
            config.workers if config.workers > 1 else max(1, int(cluster_cpus // config.num_cpus))
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
            outcome: Outcome
            try:
                outcome = results_from_json(ray.get(ref))
            except ray.exceptions.RayActorError as exc:
                outcome = Lost(f"WorkerDied: the Ray actor died: {exc}")
            except ray.exceptions.RayError as exc:
                outcome = Lost(f"{type(exc).__name__}: {exc}", restart=False)
            out.append((index[ref], outcome))
        return out

    def stop(self, worker: _Actor, busy: bool) -> None:
        with contextlib.suppress(Exception):
            self.ray.kill(worker.handle)

    def close(self) -> None:
        super().close()
        if self._owns_ray and self.ray.is_initialized():
            self.ray.shutdown()


class _RayWorker:
    def __init__(self, config_json: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.worker = Worker.from_json(config_json)

    def run_many(self, trials_json: str) -> str:
        return results_to_json(self.worker.run_many(trials_from_json(trials_json)))
