"""Elimination (SPEC 7.1): the protocol's numbers, bookkeeping and ranking against numbers
computed here (synthetic fitness), resume after an interruption at several points, refusals,
and real training on the serial, process-pool and Ray executors."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers.search import SyntheticExecutor, micro_config, synthetic_result
from optevo.cli import app
from optevo.fitness import PAPER, preset
from optevo.search.api import start_search
from optevo.search.config import ExecutorConfig, RunConfig, run_preset
from optevo.search.elimination import (
    EliminationError,
    eliminate,
    read_elimination,
    search_candidates,
)
from optevo.search.elimination_config import EliminationConfig, elimination_protocol
from optevo.search.executors import make_executor
from optevo.search.records import (
    Request,
    Trial,
    TrialResult,
    elimination_round,
    elimination_stage,
)
from optevo.search.runner import derive_seed
from optevo.search.store import RunStore, StoreError
from optevo.space.genome import Genome

runner = CliRunner()

SYNTHETIC_RUN = {"strategy": {"particles": 4, "time_steps": 2, "mutations": 3}}


def small_protocol(config: RunConfig, **kw: Any) -> EliminationConfig:
    args: dict[str, Any] = {"tops": (6, 3, 2, 1), "bases": (5, 6, 7), "steps": (60,), "seeds": 2}
    args.update(kw)
    return elimination_protocol(config.fitness, "scaled", **args)


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("elim") / "run"
    summary = start_search(micro_config(**SYNTHETIC_RUN), run_dir, executor=SyntheticExecutor())
    assert summary.finished
    return run_dir


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished micro search with real (half-second) training."""
    run_dir = tmp_path_factory.mktemp("real") / "run"
    assert start_search(micro_config(), run_dir).finished
    return run_dir


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------------------------
# The protocol
# ----------------------------------------------------------------------------------------------


def test_paper_protocol_is_spec_7_1() -> None:
    fitness = run_preset("paper-1").fitness
    cfg = elimination_protocol(fitness, "auto")
    assert cfg.protocol == "paper"
    assert cfg.tops() == (50, 24, 12, 6)
    assert [r.fitness.base for r in cfg.rounds] == [64, 96, 128]
    assert [r.fitness.total_steps for r in cfg.rounds] == [16_000] * 3
    assert cfg.seeds == 3
    # Everything else is the search's protocol: CIFAR-10, the screen, the early stops.
    for r in cfg.rounds:
        assert r.fitness.dataset == "cifar10" and r.fitness.screen_steps == 800
        assert r.fitness.full_stop_after == fitness.full_stop_after
    assert cfg.describe().startswith("50 -> base 64, 16000 steps -> 24 -> base 96")


def test_scaled_protocol_follows_the_runs_own_surrogate() -> None:
    fitness = run_preset("quick").fitness  # base 16, 240 steps
    assert (fitness.base, fitness.total_steps) == (16, 240)
    cfg = elimination_protocol(fitness, "auto")
    assert cfg.protocol == "scaled"
    assert cfg.tops() == (8, 4, 2, 1)
    assert [r.fitness.base for r in cfg.rounds] == [21, 32, 43]  # 16 * (64, 96, 128) / 48
    assert [r.fitness.total_steps for r in cfg.rounds] == [480] * 3  # 2 x 240
    assert all(r.fitness.dataset == "fashion-mnist" for r in cfg.rounds)
    # The paper's 16,000 steps warm up for 800, longer than quick's 60-step screen: refused
    # (tests/search/test_hardening_store_cli.py); on the paper's own surrogate they fit.
    with pytest.raises(ValueError, match="warm-up"):
        elimination_protocol(fitness, "paper")
    custom = elimination_protocol(PAPER, "paper", tops=(10, 5, 2), bases=(32, 48), seeds=2)
    assert custom.protocol == "paper, customised"
    assert custom.tops() == (10, 5, 2) and custom.seeds == 2
    assert [r.fitness.total_steps for r in custom.rounds] == [16_000, 16_000]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"tops": (6, 8, 1), "bases": (5, 6)}, "at most as many"),
        ({"tops": (6, 3, 1)}, "give one base per round"),
        ({"tops": (6, 3), "bases": (5, 6)}, "one entry per round plus the survivors"),
        ({"steps": (60, 70)}, "one steps value, or one per round"),
        ({"steps": (10,)}, "screen_steps"),
        ({"bases": (0, 4, 5)}, "positive"),
    ],
)
def test_bad_protocols_are_refused_with_the_reason(kw: dict[str, Any], message: str) -> None:
    fitness = preset("tiny")
    with pytest.raises(ValueError, match=message):
        elimination_protocol(fitness, "scaled", **kw)
    with pytest.raises(ValueError, match="unknown elimination protocol"):
        elimination_protocol(fitness, "fast")


def test_elimination_stages_are_stages_of_the_run() -> None:
    assert elimination_stage(2) == "elim-2" and elimination_round("elim-12") == 12
    assert elimination_round("elim-0") is None and elimination_round("final") is None
    genome = Genome.from_json(micro_genome_json())
    Request("elim-3/abc", genome, "elim-3")  # accepted
    with pytest.raises(ValueError, match="unknown stage"):
        Request("x", genome, "elim-x")
    cfg = micro_config()
    with pytest.raises(ValueError, match="holds no elimination"):
        cfg.stage_fitness("elim-1")
    with_elim = cfg.model_copy(update={"elimination": small_protocol(cfg)})
    assert with_elim.stages() == ("init", "search", "final", "elim-1", "elim-2", "elim-3")
    assert with_elim.stage_fitness("elim-2").base == 6


def micro_genome_json() -> str:
    from optevo import library

    return library.genome("Adam").to_json()


# ----------------------------------------------------------------------------------------------
# Bookkeeping and ranking (synthetic fitness: numbers computed here)
# ----------------------------------------------------------------------------------------------


def expected_fitness(genome: Genome, stage: str, seeds: int) -> tuple[float | None, list]:
    values = []
    for i in range(seeds):
        result = synthetic_result(genome, derive_seed(0, stage, i))
        values.append(result["fitness"])
    if all(v is None for v in values):
        return None, values
    return statistics.fmean(0.0 if v is None else v for v in values), values


def test_rounds_rank_by_mean_fitness_and_keep_the_best(synthetic_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(synthetic_run, tmp_path / "run")
    cfg = micro_config(**SYNTHETIC_RUN)
    elim = small_protocol(cfg)
    executor = SyntheticExecutor()
    result = eliminate(run_dir, elim, executor=executor)
    assert result.finished and len(result.rounds) == 3

    with RunStore.open(run_dir, lock=False) as store:
        candidates = search_candidates(store)
        search = [e for e in store.evaluations("search") if e.fitness is not None]
        assert store.get_meta("elimination_json") == elim.model_dump_json()
    # Round 1 takes the 6 best distinct genomes of the search, best first.
    assert len(candidates) >= 6
    assert [e.fitness for e in candidates] == sorted((e.fitness for e in candidates), reverse=True)
    assert candidates[0].fitness == max(e.fitness for e in search)
    assert len({e.canonical_hash for e in candidates}) == len(candidates)
    assert len({e.behaviour_hash for e in candidates}) == len(candidates)
    assert result.rounds[0].entering == candidates[:6]

    entering = candidates[:6]
    for rnd, keep in zip(result.rounds, (3, 2, 1), strict=True):
        assert [e.canonical_hash for e in rnd.entering] == [e.canonical_hash for e in entering]
        assert len(rnd.ranking) == len(entering)
        for ev in rnd.ranking:
            mean, values = expected_fitness(ev.genome, rnd.stage, 2)
            assert ev.fitness == pytest.approx(mean, abs=1e-12)
            assert list(ev.fitness_values) == values
            assert ev.key == f"{rnd.stage}/{ev.canonical_hash[:16]}"
            assert ev.request.stage == rnd.stage and ev.request.parent_hash == ev.canonical_hash
            assert rnd.previous(ev) is not None
        fits = [e.fitness if e.fitness is not None else -1.0 for e in rnd.ranking]
        assert fits == sorted(fits, reverse=True)
        assert rnd.advancing == keep
        entering = rnd.ranking[:keep]
    assert result.survivors == result.rounds[-1].ranking[:1]

    # One trial per genome, round and seed; every round on fresh seeds.
    assert len(executor.trials) == (6 + 3 + 2) * 2
    seeds = {(t.stage, t.seed) for t in executor.trials}
    round_seeds = {s: {seed for st, seed in seeds if st == s} for s in ("elim-1", "elim-2")}
    assert round_seeds["elim-1"] == {derive_seed(0, "elim-1", i) for i in range(2)}
    assert not round_seeds["elim-1"] & round_seeds["elim-2"]
    assert not round_seeds["elim-1"] & {derive_seed(0, "fitness", 0)}

    # The reader sees the same thing, and the search's own leaderboard is unchanged.
    again = read_elimination(run_dir)
    assert again is not None and again.finished
    assert [r.ranking for r in again.rounds] == [r.ranking for r in result.rounds]


def test_fewer_genomes_than_the_first_round_asks_for(synthetic_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(synthetic_run, tmp_path / "run")
    cfg = micro_config(**SYNTHETIC_RUN)
    with RunStore.open(run_dir, lock=False) as store:
        n = len(search_candidates(store))
    elim = small_protocol(cfg, tops=(50, 24, 12, 6))
    result = eliminate(run_dir, elim, executor=SyntheticExecutor())
    assert [len(r.entering) for r in result.rounds] == [n, min(n, 24), min(n, 12)]
    assert len(result.survivors) == min(n, 6)
    assert result.planned_requests() == n + min(n, 24) + min(n, 12)


# ----------------------------------------------------------------------------------------------
# Resume
# ----------------------------------------------------------------------------------------------


class InterruptingExecutor(SyntheticExecutor):
    """Runs `limit` trials, then raises KeyboardInterrupt (Ctrl-C in the middle of a batch)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def run(self, trials: list[Trial], on_done: Any) -> None:
        def counted(trial: Trial, result: TrialResult) -> None:
            if len(self.trials) > self.limit:
                raise KeyboardInterrupt
            on_done(trial, result)

        super().run(trials, counted)


def stored_trials(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM trials WHERE key LIKE 'elim-%'").fetchone()[0]


def elimination_rows(run_dir: Path) -> list[tuple]:
    with RunStore.open(run_dir, lock=False) as store:
        return sorted(
            (e.key, e.status, e.fitness, e.fitness_values, e.canonical_hash, e.duplicate_of)
            for e in store.evaluations()
            if elimination_round(e.request.stage) is not None
        )


@pytest.mark.parametrize("stop_after", [1, 5, 14])
def test_an_interrupted_elimination_resumes_to_the_same_end(
    synthetic_run: Path, tmp_path: Path, stop_after: int
) -> None:
    cfg = micro_config(**SYNTHETIC_RUN)
    elim = small_protocol(cfg)
    reference = copy_run(synthetic_run, tmp_path / "ref")
    eliminate(reference, elim, executor=SyntheticExecutor())

    run_dir = copy_run(synthetic_run, tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        eliminate(run_dir, elim, executor=InterruptingExecutor(stop_after))
    assert stored_trials(run_dir) == stop_after
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta("elimination_finished") is None
    partial = read_elimination(run_dir)
    assert partial is not None and not partial.finished and partial.survivors == []

    executor = SyntheticExecutor()
    result = eliminate(run_dir, executor=executor)  # the stored protocol
    assert result.finished and result.config == elim
    assert elimination_rows(run_dir) == elimination_rows(reference)
    assert len(executor.trials) + stop_after == (6 + 3 + 2) * 2
    # A finished elimination run again trains nothing.
    idle = SyntheticExecutor()
    eliminate(run_dir, executor=idle)
    assert idle.trials == []


@pytest.mark.slow  # real training, over 3 s
@pytest.mark.subprocess
def test_killed_cli_elimination_resumes_with_real_training(real_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(real_run, tmp_path / "run")
    reference = copy_run(run_dir, tmp_path / "ref")
    options = ["--tops", "3,2,1", "--bases", "4,5", "--steps", "60", "--seeds", "2"]
    ok = runner.invoke(app, ["eliminate", str(reference), *options])
    assert ok.exit_code == 0, ok.output
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from optevo.cli import main; main()",
            "eliminate",
            str(run_dir),
            *options,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with RunStore.open(run_dir, lock=False) as store:
            if store.count("elim-1") >= 2:
                break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta("elimination_finished") is None
    resumed = runner.invoke(app, ["eliminate", str(run_dir)])
    assert resumed.exit_code == 0, resumed.output
    assert elimination_rows(run_dir) == elimination_rows(reference)
    text = " ".join(resumed.output.split())
    survivor = read_elimination(run_dir).survivors[0]  # type: ignore[union-attr]
    assert f"survivors (1): {survivor.canonical_hash[:10]}" in text


# ----------------------------------------------------------------------------------------------
# Refusals
# ----------------------------------------------------------------------------------------------


def test_refusals_name_the_problem(synthetic_run: Path, tmp_path: Path) -> None:
    cfg = micro_config(**SYNTHETIC_RUN)
    with pytest.raises(StoreError, match="run directory not found"):
        eliminate(tmp_path / "nowhere", executor=SyntheticExecutor())

    # A search that did not finish.
    unfinished = copy_run(synthetic_run, tmp_path / "unfinished")
    with sqlite3.connect(unfinished / "run.sqlite") as db:
        db.execute("DELETE FROM meta WHERE key = 'finished'")
    with pytest.raises(EliminationError, match=r"no finished search.*optevo search --resume"):
        eliminate(unfinished, executor=SyntheticExecutor())

    # A search where every candidate failed.
    failed = tmp_path / "failed"
    start_search(micro_config(), failed, executor=SyntheticExecutor(fail_below=2.0))
    with pytest.raises(EliminationError, match="nothing to eliminate"):
        eliminate(failed, executor=SyntheticExecutor())

    # Another protocol than the stored one.
    run_dir = copy_run(synthetic_run, tmp_path / "run")
    eliminate(run_dir, small_protocol(cfg), executor=SyntheticExecutor())
    with pytest.raises(EliminationError, match="already holds an elimination"):
        eliminate(run_dir, small_protocol(cfg, seeds=3), executor=SyntheticExecutor())


def test_cli_refusals_are_one_line(synthetic_run: Path, tmp_path: Path) -> None:
    run_dir = copy_run(synthetic_run, tmp_path / "run")
    cases = [
        (["eliminate", str(tmp_path / "nowhere")], "run directory not found"),
        (["eliminate", str(run_dir), "--tops", "6,x"], "comma-separated whole numbers"),
        (["eliminate", str(run_dir), "--tops", "6,3,1"], "give one base per round"),
        (["eliminate", str(run_dir), "--protocol", "fast"], "unknown --protocol"),
        (["eliminate", str(run_dir), "--executor", "tpu"], "executor"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        text = " ".join(result.output.split())
        assert message in text and "Traceback" not in text, (args, text)


# ----------------------------------------------------------------------------------------------
# Real training on every executor
# ----------------------------------------------------------------------------------------------


@pytest.mark.slow  # starts a Ray cluster
@pytest.mark.subprocess
def test_serial_process_pool_and_ray_eliminate_alike(real_run: Path, tmp_path: Path) -> None:
    cfg = micro_config()
    base = real_run
    elim = elimination_protocol(
        cfg.fitness, "scaled", tops=(2, 1), bases=(5,), steps=(60,), seeds=2
    )

    serial = copy_run(base, tmp_path / "serial")
    result = eliminate(serial, elim)
    assert result.finished and len(result.survivors) == 1
    top = result.rounds[0].ranking[0]
    assert top.status == "ok" and 0.5 < top.fitness < 1.0 and len(top.fitness_values) == 2

    pool = copy_run(base, tmp_path / "pool")
    eliminate(pool, elim, executor_config=ExecutorConfig(kind="process", workers=2, threads=1))
    assert elimination_rows(pool) == elimination_rows(serial)

    try:
        import ray
    except ImportError:
        pytest.fail("the Ray executor test needs Ray: pip install 'optevo[ray]' (make test does)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = copy_run(base, tmp_path / "ray")
        ray_cfg = cfg.model_copy(
            update={"elimination": elim, "executor": ExecutorConfig(kind="ray", threads=1)}
        )
        executor = make_executor(ray_cfg)
        eliminate(on_ray, elim, executor=executor)
        executor.close()
    finally:
        ray.shutdown()
    assert elimination_rows(on_ray) == elimination_rows(serial)


def test_a_suite_fitness_elimination_grows_its_tasks_budget_not_a_convnet() -> None:
    from optevo.fitness import preset
    from optevo.search.elimination_config import elimination_protocol

    e = elimination_protocol(preset("suite", task_scale=0.5))
    assert e.protocol == "scaled"  # auto: the paper's sizes do not apply to a suite
    # the scaled protocol doubles the steps: every round's tasks run at twice the search's
    assert [r.fitness.task_scale for r in e.rounds] == [1.0, 1.0, 1.0]
    assert [r.candidates for r in e.rounds] == [8, 4, 2]
    assert e.describe() == (
        "8 -> suite tasks at 1x -> 4 -> suite tasks at 1x -> 2 -> suite tasks at 1x -> 1 "
        "(3 seeds each)"
    )
    custom = elimination_protocol(preset("suite"), steps=[24000, 32000, 40000])
    assert [r.fitness.task_scale for r in custom.rounds] == [3.0, 4.0, 5.0]
