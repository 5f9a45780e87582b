"""Shared by the search tests: a half-second real fitness, and a synthetic executor whose
fitness is a fixed function of the genome (so strategy bookkeeping is tested in milliseconds,
against numbers computed here)."""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from optevo.config import build
from optevo.fitness import FitnessResult, RunResult
from optevo.search.config import RunConfig
from optevo.search.executors import OnDone
from optevo.search.executors.process import serve
from optevo.search.records import Trial, TrialResult, results_to_json, trials_from_json
from optevo.search.store import RunStore
from optevo.space.genome import Genome

MICRO_FITNESS: dict[str, Any] = {
    "preset": "tiny",
    "base": 4,
    "batch_size": 32,
    "epoch_steps": 10,
    "screen_lrs": [1.0, 0.1, 0.01],
    "screen_steps": 30,
    "screen_stop_epoch": 3,
    "total_steps": 60,
    "full_stop_after": 30,
}
"""Real training on digits, about 0.5 s per candidate on one thread (Adam reaches ~0.93)."""


def micro_config(**sections: Any) -> RunConfig:
    """A small real run: 2 particles x 2 time-steps x 2 mutations, initial population 4."""
    raw: dict[str, Any] = {
        "name": "micro",
        "seed": 0,
        "fitness": dict(MICRO_FITNESS),
        "init_fitness": {"base": 2},
        "strategy": {
            "kind": "particle",
            "particles": 2,
            "time_steps": 2,
            "mutations": 2,
            "init_factor": 2,
            "screen_redraws": 1,
        },
        "executor": {"kind": "serial", "threads": 1},
        "final": {"top": 1, "baselines": ["Adam"], "seeds": 2},
    }
    for key, value in sections.items():
        new_strategy = key == "strategy" and isinstance(value, dict) and "kind" in value
        replaces = key == "final" or new_strategy
        if isinstance(value, dict) and isinstance(raw.get(key), dict) and not replaces:
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return build(RunConfig, raw, "micro")


def synthetic_score(genome: Genome, seed: int) -> float:
    """A number in [0, 1) fixed by the genome's canonical hash (plus a little seed noise)."""
    h = int(genome.canonical_hash()[:12], 16) / 16**12
    noise = int(hashlib.sha256(f"{seed}".encode()).hexdigest()[:4], 16) / 16**4
    return 0.9 * h + 0.01 * noise


def synthetic_result(genome: Genome, seed: int, fail_below: float = 0.27) -> dict[str, Any]:
    """Screen failure below `fail_below` (about 30% of genomes), else fitness = the score."""
    score = synthetic_score(genome, seed)
    screen = {1.0: score, 0.1: score / 2}
    if score < fail_below:
        return FitnessResult(None, "failed_screen", None, screen).to_dict()
    return FitnessResult(score, "ok", 1.0, screen, seconds=0.001).to_dict()


class SyntheticExecutor:
    """Runs no training: each trial's result is `synthetic_result` of its genome."""

    def __init__(self, fail_below: float = 0.27, steps: int = 0) -> None:
        self.trials: list[Trial] = []
        self.batches: list[int] = []
        self.fail_below = fail_below
        self.steps = steps
        """Optimizer steps each trial reports (one run of that length), for budget tests."""

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        self.batches.append(len(trials))
        for trial in trials:
            self.trials.append(trial)
            genome = Genome.from_json(trial.genome_json)
            result = synthetic_result(genome, trial.seed, self.fail_below)
            if self.steps:
                result["runs"] = [RunResult(1.0, trial.seed, steps=self.steps).to_dict()]
            on_done(trial, TrialResult.from_dict({**result, "host": "synthetic"}))

    def close(self) -> None:
        pass


def dying_worker_main(conn: Any, config_json: str, threads: int) -> None:
    """A process-pool worker that dies (SIGKILL-like exit) on trials of particle 1 and
    evaluates the rest synthetically: the pool must survive it."""

    def answer(message: str) -> str:
        results = []
        for trial in trials_from_json(message):
            if trial.key.startswith("p001/t01"):
                time.sleep(0.05)
                os._exit(9)
            result = synthetic_result(Genome.from_json(trial.genome_json), trial.seed)
            results.append(TrialResult.from_dict({**result, "host": "proc"}))
        return results_to_json(results)

    serve(conn, answer)


def diverged_result() -> FitnessResult:
    """A result with non-finite numbers in its screen and curves (strict JSON writes null)."""
    curve = RunResult(
        lr=0.1,
        seed=3,
        status="diverged",
        steps=20,
        train_acc=[0.5, math.nan],
        train_loss=[1.0, math.inf],
        val_acc=[0.4],
        val_loss=[math.nan],
        seconds=0.25,
    )
    return FitnessResult(0.4, "diverged", 0.1, {0.1: 0.5, 1.0: math.nan}, [curve], seconds=1.5)


def count_rows(db: Path, sql: str = "SELECT COUNT(*) FROM evaluations") -> int:
    """A count from a run's store as another process writes it (`sql`: a COUNT query; default
    its evaluations); 0 while it cannot be read (a short busy timeout, so that a poll never
    waits long behind the writer)."""
    if not db.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
        try:
            return int(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def rows(run_dir: Path) -> list[tuple]:
    with RunStore.open(run_dir, lock=False) as store:
        evs = [
            (e.key, e.status, e.fitness, e.fitness_std, e.canonical_hash, e.duplicate_of, e.best_lr)
            for e in store.evaluations()
        ]
        return [*sorted(evs), ("trajectories", store.trajectories())]


def start_cli_search(
    config: RunConfig, tmp_path: Path, at_least: int, capture: bool = False
) -> tuple[subprocess.Popen, Path]:
    """`optevo search --config ... --run-dir ...` in a subprocess, returned once the store
    holds `at_least` evaluations (or the process ended, or 120 s passed)."""
    config_file = tmp_path / "micro.yaml"
    config_file.write_text(config.to_yaml())
    run_dir = tmp_path / "run"
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            # Ctrl-C as in a terminal: a child inherits an ignored SIGINT (a test run started
            # in the background, `nohup ... &`), and Python then installs no handler.
            "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from optevo.cli import main; main()",
            "search",
            "--config",
            str(config_file),
            "--run-dir",
            str(run_dir),
        ],
        stdout=out,
        stderr=subprocess.STDOUT if capture else subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if count_rows(run_dir / "run.sqlite") >= at_least:
            break
        time.sleep(0.05)
    if proc.poll() is not None:
        out = proc.communicate()[0] if capture else b""
        raise AssertionError(
            f"the search ended (exit {proc.returncode}) before the store held {at_least} "
            f"evaluations: {(out or b'').decode()[-1000:]}"
        )
    return proc, run_dir


def run_synthetic(
    tmp_path: Path, name: str = "run", **sections: object
) -> tuple[RunStore, SyntheticExecutor]:
    """A micro run (no final stage) with the synthetic executor, in tmp_path/name: its store
    (open, unlocked) and the executor (its trials and batches)."""
    from optevo.search.api import start_search

    cfg = micro_config(final={"top": 0, "baselines": []}, **sections)
    ex = SyntheticExecutor()
    start_search(cfg, tmp_path / name, executor=ex)
    return RunStore.open(tmp_path / name, lock=False), ex
