"""The executor and strategy registries, the dispatch loop the process pool and Ray share
(driven here by an in-process stand-in), the worker's one way of turning an exception into
a result, and the command line's executor options."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from helpers.search import SyntheticExecutor, micro_config, synthetic_result
from optevo import library
from optevo.cli.common import executor_options, executor_overrides
from optevo.config import ConfigError
from optevo.search import executors, strategies
from optevo.search.api import start_search
from optevo.search.config import ExecutorConfig, ExecutorKind, RunConfig, StrategyConfig
from optevo.search.executors import (
    EXECUTORS,
    ProcessExecutor,
    RayExecutor,
    SerialExecutor,
    make_executor,
)
from optevo.search.executors.dispatch import Dispatcher, Lost, Outcome
from optevo.search.records import Trial, TrialResult, results_from_json, trials_from_json
from optevo.search.worker import Worker
from optevo.space.genome import Genome

# -- registries --------------------------------------------------------------------------------


def strategy_kinds() -> set[str]:
    (union, *_) = typing.get_args(StrategyConfig)
    return {member.model_fields["kind"].default for member in typing.get_args(union)}


def test_every_executor_kind_has_a_registry_entry_and_no_other() -> None:
    assert set(EXECUTORS) == set(typing.get_args(ExecutorKind))


def test_every_strategy_kind_has_a_registry_entry_and_no_other() -> None:
    assert set(strategies.STRATEGIES) == strategy_kinds() == {"particle", "regularized", "random"}


def test_make_executor_picks_by_kind() -> None:
    cfg = micro_config()
    assert isinstance(make_executor(cfg), SerialExecutor)
    worker = Worker(cfg)
    made = make_executor(cfg, worker)
    assert isinstance(made, SerialExecutor) and made.worker is worker and made.pack == 1
    gpu = make_executor(cfg.model_copy(update={"executor": ExecutorConfig(kind="gpu")}), worker)
    assert isinstance(gpu, SerialExecutor) and gpu.pack > 1000
    pool = make_executor(
        cfg.model_copy(update={"executor": ExecutorConfig(kind="process", workers=3, pack=2)})
    )
    assert isinstance(pool, ProcessExecutor) and (pool.size, pool.pack, pool.threads) == (3, 2, 1)
    assert EXECUTORS["ray"] == RayExecutor.from_config


def with_executor_kind(cfg: RunConfig, kind: str) -> RunConfig:
    """`cfg` naming an executor kind its Literal does not know (model_copy does not check)."""
    return cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"kind": kind})})


def test_a_new_executor_is_one_registry_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    made: list[RunConfig] = []

    def fake(config: RunConfig, worker: Worker | None) -> SyntheticExecutor:
        made.append(config)
        return SyntheticExecutor()

    monkeypatch.setitem(EXECUTORS, "fake", fake)
    cfg = with_executor_kind(micro_config(final={"top": 0, "baselines": []}), "fake")
    summary = start_search(cfg, tmp_path / "run")
    assert summary.finished and made == [cfg]
    with pytest.raises(ConfigError, match=r"executor\.kind: unknown executor 'mpi'; known: serial"):
        make_executor(with_executor_kind(cfg, "mpi"))


@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")  # a kind the union lacks
def test_a_new_strategy_is_one_registry_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class OneAdam:
        def __init__(self, config: object) -> None:
            self.config = config

        def run(self, run):  # type: ignore[no-untyped-def]
            from optevo.search.records import Request

            return run.evaluate([Request("adam", library.genome("Adam"), "search")])

    monkeypatch.setitem(strategies.STRATEGIES, "one-adam", OneAdam)
    cfg = micro_config(final={"top": 0, "baselines": []})
    strategy = cfg.strategy.model_copy(update={"kind": "one-adam"})
    cfg = cfg.model_copy(update={"strategy": strategy})
    summary = start_search(cfg, tmp_path / "run", executor=SyntheticExecutor())
    assert [s.evaluation.key for s in summary.leaderboard] == ["adam"]
    unknown = cfg.model_copy(update={"strategy": strategy.model_copy(update={"kind": "anneal"})})
    with pytest.raises(ConfigError, match=r"strategy\.kind: unknown strategy 'anneal'"):
        start_search(unknown, tmp_path / "other", executor=SyntheticExecutor())


# -- the dispatch loop -------------------------------------------------------------------------


class FakeWorker:
    def __init__(self, number: int) -> None:
        self.number = number
        self.message: str | None = None
        self.stopped: bool | None = None


class FakePool(Dispatcher[FakeWorker]):
    """Workers in this process: each reply is the synthetic result, except that a trial whose
    key starts with `dies` loses its worker, and one starting with `fails` is a lost reply
    that leaves the worker alive (as a Ray task error does)."""

    def __init__(self, size: int, pack: int = 1, interrupt_after: int | None = None) -> None:
        super().__init__(size, pack)
        self.started: list[FakeWorker] = []
        self.interrupt_after = interrupt_after
        self.waits = 0

    def start(self) -> FakeWorker:
        self.started.append(FakeWorker(len(self.started)))
        return self.started[-1]

    def submit(self, worker: FakeWorker, message: str) -> None:
        worker.message = message

    def wait(self, busy: dict[int, FakeWorker]) -> list[tuple[int, Outcome]]:
        self.waits += 1
        if self.interrupt_after is not None and self.waits > self.interrupt_after:
            raise KeyboardInterrupt
        i = min(busy)  # one reply per wait, the lowest slot first
        assert busy[i].message is not None
        trials = trials_from_json(busy[i].message)
        if trials[0].key.startswith("dies"):
            return [(i, Lost("WorkerDied: test"))]
        if trials[0].key.startswith("fails"):
            return [(i, Lost("RayTaskError: test", restart=False))]
        genome = Genome.from_json(trials[0].genome_json)
        return [(i, [TrialResult.from_dict({**synthetic_result(genome, t.seed), "host": "f"})
                     for t in trials])]  # fmt: skip

    def stop(self, worker: FakeWorker, busy: bool) -> None:
        worker.stopped = busy


def trials(*keys: str) -> list[Trial]:
    genome_json = library.genome("Adam").to_json()
    return [Trial(k, 0, 1, "search", genome_json, "one_cycle") for k in keys]


def test_a_lost_worker_costs_only_its_trials_and_a_fresh_one_takes_its_place() -> None:
    pool = FakePool(size=2, pack=2)
    done: dict[str, TrialResult] = {}
    pool.run(trials("a", "b", "dies1", "x", "fails", "c"), lambda t, r: done.setdefault(t.key, r))
    assert set(done) == {"a", "b", "dies1", "x", "fails", "c"}
    for key in ("dies1", "x"):  # one message of two trials: both lost with the worker
        assert done[key].result.status == "error" and done[key].result.error == "WorkerDied: test"
    assert done["fails"].result.error == "RayTaskError: test" and done["c"].result.status == "error"
    assert all(done[k].result.status != "error" and done[k].host == "f" for k in ("a", "b"))
    assert len(pool.started) == 3  # two, and one in place of the dead one (not of `fails`)
    pool.close()
    # The dead worker (slot 1) was replaced, not stopped; the idle ones are stopped gently.
    assert [w.stopped for w in pool.started] == [False, None, False]


def test_an_interruption_stops_every_worker_and_goes_on_up() -> None:
    pool = FakePool(size=2, interrupt_after=1)
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        pool.run(trials("a", "b", "c"), lambda t, r: done.append(t.key))
    assert done == ["a"]
    assert [w.stopped for w in pool.started] == [True, True]  # both held a trial: killed
    pool.run([], lambda t, r: None)  # usable again: nothing was left behind
    assert len(pool.started) == 2


def test_the_process_pool_and_ray_share_the_loop() -> None:
    assert issubclass(ProcessExecutor, Dispatcher) and issubclass(RayExecutor, Dispatcher)
    assert executors.ProcessExecutor.run is Dispatcher.run is executors.RayExecutor.run


# -- the worker: one place turns an exception into a result ---------------------------------------


@pytest.mark.parametrize("error", [MemoryError, RuntimeError, ValueError])
def test_a_failure_inside_an_evaluation_is_an_error_result(
    monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
) -> None:
    import optevo.search.worker as worker_module

    def boom(*args: object, **kwargs: object) -> None:
        raise error("out of luck")

    monkeypatch.setattr(worker_module, "fitness", boom)
    monkeypatch.setattr(worker_module, "fitness_many", boom)
    worker = Worker(micro_config())
    (one,) = results_from_json(
        "[" + worker.run(trials("a")[0]).to_json() + "]"
    )  # and it travels as JSON
    assert one.result.status == "error" and one.host == worker.host
    assert one.result.error is not None and f"{error.__name__}: out of luck" in one.result.error
    many = worker.run_many(trials("a", "b"))  # the packed group fails, then each trial alone
    assert [r.result.status for r in many] == ["error", "error"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit])
def test_ctrl_c_and_exit_stop_the_worker(
    monkeypatch: pytest.MonkeyPatch, stop: type[BaseException]
) -> None:
    import optevo.search.worker as worker_module

    def halt(*args: object, **kwargs: object) -> None:
        raise stop

    monkeypatch.setattr(worker_module, "fitness", halt)
    monkeypatch.setattr(worker_module, "fitness_many", halt)
    worker = Worker(micro_config())
    with pytest.raises(stop):
        worker.run(trials("a")[0])
    with pytest.raises(stop):
        worker.run_many(trials("a", "b"))


# -- the command line's executor options -------------------------------------------------------


def test_workers_alone_means_the_process_pool() -> None:
    assert executor_overrides(None, 2, None, None) == {"kind": "process", "workers": 2}
    assert executor_overrides(None, 1, None, None) == {"workers": 1}
    assert executor_overrides("ray", 4, "auto", 2) == {
        "kind": "ray",
        "workers": 4,
        "address": "auto",
        "threads": 2,
    }
    stored = ExecutorConfig(kind="ray", num_gpus=0.5)
    assert executor_options(stored, None, 3, None, None) == ExecutorConfig(
        kind="process", workers=3, num_gpus=0.5
    )
    assert executor_options(stored, None, None, None, 2) == stored.model_copy(update={"threads": 2})
    with pytest.raises(ConfigError) as info:
        executor_options(stored, "tpu", None, None, None)
    assert "kind" in str(info.value) and "'tpu'" in str(info.value)
    assert "\n" not in str(info.value)
