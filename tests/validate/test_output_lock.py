"""Issue 27 G8: one process per `optevo validate` / `optevo bench` output folder. A second one
on the same `--out` is refused in one line naming the holder, before it trains anything; a
holder killed by SIGKILL frees the folder; a bench that takes the lock re-reads what another
process stored before it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from optevo.bench import BenchConfig, run_bench
from optevo.cli import app
from optevo.folderlock import LOCK_NAME, FolderInUseError, lock_folder, unlock
from optevo.optim.spec import baseline
from optevo.tasks.registry import get_task
from optevo.transfer.protocol import TaskRuns
from optevo.transfer.store import RUNS_FILE, ResultStore
from optevo.validate import ValidateConfig, run_validate

runner = CliRunner()
SMOKE = ["--tasks", "cancer-logreg", "--scale", "0.01", "--seeds", "2", "--no-baselines"]


def test_a_held_folder_is_refused_and_freed_when_released(tmp_path: Path) -> None:
    fd = lock_folder(tmp_path, "the test folder")
    try:
        # flock is per open file: a second open in this same process conflicts like another
        # process would
        with pytest.raises(FolderInUseError, match=f"in use by pid {os.getpid()}"):
            lock_folder(tmp_path)
    finally:
        unlock(fd)
    unlock(lock_folder(tmp_path))  # released: free again
    assert (tmp_path / LOCK_NAME).read_text().startswith(f"pid {os.getpid()} on ")


def _validate(out: Path) -> Any:
    return runner.invoke(app, ["validate", "Adam", *SMOKE, "--out", str(out)])


def test_a_second_validation_on_one_folder_trains_nothing(tmp_path: Path) -> None:
    out = tmp_path / "v"
    out.mkdir()
    fd = lock_folder(out, "the validation output")
    try:
        result = _validate(out)
    finally:
        unlock(fd)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert f"is in use by pid {os.getpid()}" in lines[-1]
    assert "validation output" in lines[-1]
    assert not (out / RUNS_FILE).exists()  # nothing trained, nothing stored
    first = _validate(out)  # freed: it runs, and a re-run reads everything back
    assert first.exit_code == 0, first.output
    n = len(ResultStore(out).records())
    assert n > 0
    with pytest.raises(FolderInUseError):
        fd = lock_folder(out)
        try:
            config = ValidateConfig((baseline("Adam"),), ("cancer-logreg",), seeds=2, scale=0.01)
            run_validate(config, out)
        finally:
            unlock(fd)
    assert len(ResultStore(out).records()) == n


@pytest.mark.subprocess
def test_a_killed_holder_frees_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "v"
    out.mkdir()
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom optevo.folderlock import lock_folder\n"
        f"lock_folder(Path({str(out)!r}))\nprint('held', flush=True)\ntime.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        refused = _validate(out)
        assert refused.exit_code == 2 and f"pid {holder.pid}" in refused.output
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    time.sleep(0.05)
    assert _validate(out).exit_code == 0


def test_a_bench_on_a_held_folder_is_refused_before_training(tmp_path: Path) -> None:
    out = tmp_path / "b"
    config = BenchConfig("cancer-logreg", (baseline("Adam"),), seeds=1, scale=0.01)
    out.mkdir()
    fd = lock_folder(out)
    try:
        with pytest.raises(FolderInUseError, match="the bench output"):
            run_bench(config, out)
    finally:
        unlock(fd)
    assert not (out / RUNS_FILE).exists()
    trained: list[str] = []
    run_bench(config, out, lambda e: trained.append(e.kind))
    assert trained.count("done") > 0
    again: list[str] = []
    run_bench(config, out, lambda e: again.append(e.kind))
    assert again.count("done") == 0
    lines = (out / RUNS_FILE).read_text().splitlines()
    assert len(lines) == len(set(lines)) == trained.count("done")


def test_a_run_stored_by_another_process_before_the_lock_is_not_retrained(
    tmp_path: Path,
) -> None:
    # Another process finished the run between this one's first read of the store and its
    # lock: the lock's re-read (`on_build`) finds it, and the runner is never asked.
    done = tmp_path / "done"
    config = BenchConfig("cancer-logreg", (baseline("Adam"),), seeds=1, scale=0.01)
    run_bench(config, done)
    record = ResultStore(done).records()[0]
    out = tmp_path / "late"
    store = ResultStore(out)  # read while empty

    class NeverRun:
        def run(self, request: object) -> object:
            raise AssertionError("trained a run another process had stored")

    def on_build() -> None:  # what the bench's lock does: another process's runs appear
        ResultStore(out).add(record)
        store.reload()

    task = get_task("cancer-logreg")
    budget = task.budget.scaled(0.01)
    runs = TaskRuns(task, budget, store, lambda: NeverRun(), on_build=on_build)  # type: ignore[arg-type, return-value]
    key = record.key
    got = runs.execute(baseline("Adam"), key.phase, key.lr, key.seed, key.steps)
    assert got.metric == record.metric and len(store.records()) == 1
