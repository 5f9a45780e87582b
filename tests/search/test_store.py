"""The run store: SQLite, one process at a time, strict JSON, readable back."""

from __future__ import annotations

import math
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.search import diverged_result
from optevo import library
from optevo.fingerprint import Identity
from optevo.search.config import run_preset
from optevo.search.records import Evaluation, Request, TrialResult
from optevo.search.store import RunStore, StoreError


def new_store(path: Path) -> RunStore:
    cfg = run_preset("tiny")
    return RunStore.create(path, cfg.to_yaml(), cfg.model_dump_json())


@pytest.mark.subprocess
def test_a_run_directory_is_locked_while_in_use(tmp_path: Path) -> None:
    store = new_store(tmp_path / "run")
    with pytest.raises(StoreError, match=r"in use by pid \d+"):
        RunStore.open(tmp_path / "run")
    # Another process is refused too, and a reader without the lock is not.
    code = (
        "import sys; from optevo.search.store import RunStore, StoreError\n"
        "try:\n    RunStore.open(sys.argv[1])\nexcept StoreError as e:\n    print(e); sys.exit(3)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True
    )
    assert done.returncode == 3 and "one process at a time" in done.stdout
    RunStore.open(tmp_path / "run", lock=False).close()
    store.close()
    RunStore.open(tmp_path / "run").close()  # free again


@pytest.mark.subprocess
def test_lock_is_released_when_the_holder_is_killed(tmp_path: Path) -> None:
    new_store(tmp_path / "run").close()
    code = (
        "import sys, os, signal; from optevo.search.store import RunStore\n"
        "s = RunStore.open(sys.argv[1]); print('locked', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "run")], capture_output=True, text=True
    )
    assert "locked" in done.stdout and done.returncode == -9
    RunStore.open(tmp_path / "run").close()


def test_refuses_existing_runs_missing_dirs_and_foreign_files(tmp_path: Path) -> None:
    new_store(tmp_path / "run").close()
    with pytest.raises(StoreError, match="already holds a run; continue it with --resume"):
        new_store(tmp_path / "run")
    with pytest.raises(StoreError, match="run directory not found"):
        RunStore.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="holds no run"):
        RunStore.open(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "run.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="not a readable run database"):
        RunStore.open(tmp_path / "junk")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="not a directory"):
        new_store(tmp_path / "file")


def test_evaluations_and_trials_read_back_with_strict_json(tmp_path: Path) -> None:
    store = new_store(tmp_path / "run")
    genome = library.genome("Opt6")
    store.put_trial("p000/t00", 0, 3, TrialResult(diverged_result(), "hostA"))
    raw = (
        sqlite3.connect(tmp_path / "run" / "run.sqlite")
        .execute("SELECT result FROM trials")
        .fetchone()[0]
    )
    assert "NaN" not in raw and "Infinity" not in raw and "null" in raw
    (back,) = store.fitness_results("p000/t00")
    assert back.status == "diverged" and back.fitness == 0.4 and back.best_lr == 0.1
    assert math.isnan(back.screen[1.0]) and math.isnan(back.runs[0].train_loss[1])

    ident = Identity.of(genome)
    ev = Evaluation(
        Request("p000/t00", genome, "search", particle=0, time_step=0, schedule="LR1"),
        ident.canonical,
        ident.behaviour,
        "diverged",
        0.4,
        None,
        (0.4,),
        0.1,
        0.5,
        1.5,
        "hostA",
    )
    stored = store.put_evaluation(ev)
    assert stored.seq == 1
    got = store.get("p000/t00")
    assert got is not None and got.genome == genome and got.fitness == 0.4
    assert got.request.schedule == "LR1" and got.fitness_values == (0.4,)
    assert store.find_trained("search", "LR1", "x", ident.behaviour).key == "p000/t00"
    assert store.find_trained("search", "one_cycle", ident.canonical, "x") is None
    assert store.find_trained("init", "LR1", ident.canonical, "x") is None
    with pytest.raises(sqlite3.IntegrityError):
        store.put_evaluation(ev)  # a key is stored once
    store.close()
