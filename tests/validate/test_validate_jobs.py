"""`optevo validate --jobs`: the (task, optimizer) pairs in worker processes give the serial
validation's runs and tables; shards of a killed parallel validation are merged, not lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optevo.optim.spec import baseline, named
from optevo.transfer import TransferEvent
from optevo.transfer.store import RUNS_FILE, ResultStore
from optevo.validate import ValidateConfig, run_validate
from optevo.validate.parallel import JOBS_DIR, ShardStore, merge_shards

TASKS = ("cancer-logreg", "ratings-mf")


def _config() -> ValidateConfig:
    specs = (baseline("Adam"), *named(["QHM"]))
    return ValidateConfig(specs, TASKS, seeds=2, scale=0.01)


def _runs(out: Path) -> dict[tuple[object, ...], tuple[str, float | None]]:
    return {r.key.ident(): (r.status, r.metric) for r in ResultStore(out).records()}


@pytest.mark.slow  # spawns two worker processes (~10 s)
@pytest.mark.subprocess
def test_two_jobs_give_the_serial_runs_and_tables(tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    run_validate(_config(), serial)
    events: list[TransferEvent] = []
    run_validate(_config(), parallel, events.append, jobs=2)
    assert _runs(parallel) == _runs(serial)  # the same runs, the same numbers
    assert not (parallel / JOBS_DIR).exists()  # shards merged and removed
    # The workers' events came back: one "done" per run trained, and nothing else trained.
    assert sum(e.kind == "done" for e in events) == len(_runs(serial))
    a = json.loads((serial / "summary.json").read_text())
    b = json.loads((parallel / "summary.json").read_text())
    assert a["tasks"] == b["tasks"]


def test_a_killed_parallel_validations_shards_are_merged_and_reused(tmp_path: Path) -> None:
    out = tmp_path / "v"
    run_validate(_config(), out)  # every run, serially
    full = ResultStore(out).records()
    # As a kill would leave it: half the runs in the main store, the rest in a shard.
    (out / RUNS_FILE).unlink()
    main = ResultStore(out)
    shard_dir = out / JOBS_DIR / "cancer-logreg-000"
    for r in full[: len(full) // 2]:
        main.add(r)
    shard = ShardStore(out, shard_dir)
    assert len(shard.records()) == len(full) // 2  # a worker sees the main store's runs
    for r in full[len(full) // 2 :]:
        shard.add(r)
    assert len(ResultStore(out).records()) == len(full) // 2  # the shard wrote only itself
    events: list[TransferEvent] = []
    run_validate(_config(), out, events.append)  # merges first: nothing is trained again
    assert not any(e.kind == "done" for e in events)
    assert len(ResultStore(out).records()) == len(full)
    assert merge_shards(out) == 0


def test_jobs_and_threads_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_validate(_config(), tmp_path, jobs=0)
