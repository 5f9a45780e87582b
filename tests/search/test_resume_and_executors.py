"""End to end with real (half-second) training: executors agree, a killed run resumes to the
same end, failures are stored and the run goes on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from helpers.search import (
    SyntheticExecutor,
    dying_worker_main,
    micro_config,
    rows,
    start_cli_search,
)
from optevo.search.api import resume_search, start_search
from optevo.search.executors import ProcessExecutor, SerialExecutor, make_executor
from optevo.search.store import RunStore
from optevo.search.worker import Worker


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    summary = start_search(micro_config(), run_dir)
    assert summary.finished
    return run_dir


@pytest.mark.slow  # real training, over 3 s
def test_reference_run_is_plausible(reference: Path) -> None:
    with RunStore.open(reference, lock=False) as store:
        evs = store.evaluations()
        final = {e.key: e for e in store.evaluations("final")}
    assert {e.request.stage for e in evs} == {"init", "search", "final"}
    assert set(final) == {"final/top1", "final/Adam"}
    adam = final["final/Adam"]
    assert adam.status == "ok" and 0.8 < adam.fitness < 1.0 and len(adam.fitness_values) == 2
    assert adam.fitness_std is not None


@pytest.mark.slow  # starts a Ray cluster
@pytest.mark.subprocess
def test_process_pool_and_ray_match_the_serial_run(reference: Path, tmp_path: Path) -> None:
    cfg = micro_config(executor={"kind": "process", "workers": 2, "threads": 1})
    start_search(cfg, tmp_path / "proc")
    assert rows(tmp_path / "proc") == rows(reference)

    try:
        import ray
    except ImportError:
        pytest.fail("the Ray executor test needs Ray: pip install 'optevo[ray]' (make test does)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        cfg = micro_config(executor={"kind": "ray", "threads": 1})
        executor = make_executor(cfg)
        assert executor.size == 2  # one actor per CPU of the local cluster
        start_search(cfg, tmp_path / "ray", executor=executor)
        executor.close()
    finally:
        ray.shutdown()
    assert rows(tmp_path / "ray") == rows(reference)


class CountingExecutor(SerialExecutor):
    def __init__(self, worker: Worker) -> None:
        super().__init__(worker, threads=1)
        self.keys: list[tuple[str, int]] = []

    def run(self, trials, on_done):  # type: ignore[no-untyped-def]
        self.keys.extend((t.key, t.seed_index) for t in trials)
        super().run(trials, on_done)


@pytest.mark.slow  # real training, over 3 s
@pytest.mark.subprocess
@pytest.mark.parametrize("kill_after", [1, 6, 13])
def test_resume_after_sigkill_equals_the_uninterrupted_run(
    reference: Path, tmp_path: Path, kill_after: int
) -> None:
    cfg = micro_config()
    proc, run_dir = start_cli_search(cfg, tmp_path, kill_after)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with RunStore.open(run_dir, lock=False) as store:
        before = {e.key for e in store.evaluations()}
        trials_before = store.trial_keys()  # of unfinished evaluations too (multi-seed)
        assert store.get_meta("finished") is None
    assert len(before) >= kill_after
    executor = CountingExecutor(Worker(cfg))
    summary = resume_search(run_dir, executor=executor)
    assert summary.finished
    assert rows(run_dir) == rows(reference)
    # Nothing finished was trained again.
    assert not set(executor.keys) & trials_before
    with RunStore.open(reference, lock=False) as ref:
        total_trials = sum(
            len(ref.trials(e.key)) for e in ref.evaluations() if e.duplicate_of is None
        )
    assert len(executor.keys) + len(trials_before) == total_trials


@pytest.mark.slow  # real training, over 3 s
@pytest.mark.subprocess
def test_interrupt_stops_cleanly_and_resume_finishes(reference: Path, tmp_path: Path) -> None:
    cfg = micro_config()
    proc, run_dir = start_cli_search(cfg, tmp_path, 4, capture=True)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out.decode()[-2000:]
    text = out.decode()
    assert "interrupted" in text and f"optevo search --resume {run_dir}" in text.replace("\n", "")
    assert "Traceback" not in text
    resume_search(run_dir, executor=SerialExecutor(Worker(cfg), 1))
    assert rows(run_dir) == rows(reference)


@pytest.mark.slow  # real training, over 3 s
def test_an_error_inside_training_is_stored_and_the_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optevo.fitness.protocol as evaluate

    real = evaluate.train_copies
    calls = {"n": 0}

    def flaky(genome, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if genome.momentum == "nesterov" or calls["n"] == 3:
            raise RuntimeError("boom inside training")
        return real(genome, *args, **kwargs)

    monkeypatch.setattr(evaluate, "train_copies", flaky)
    summary = start_search(micro_config(), tmp_path / "run")
    assert summary.finished
    with RunStore.open(tmp_path / "run", lock=False) as store:
        errors = [e for e in store.evaluations() if e.status == "error"]
        assert errors
        assert all("RuntimeError: boom inside training" in e.error for e in errors)
        assert any(
            "Traceback" in e.error or "train_copies" in e.error or "flaky" in e.error
            for e in errors
        )
        assert store.get("final/Adam").status == "ok"


@pytest.mark.slow  # real training, over 3 s
@pytest.mark.subprocess
def test_a_dead_worker_costs_only_its_trial(tmp_path: Path) -> None:
    cfg = micro_config(executor={"kind": "process", "workers": 2, "threads": 1})
    executor = ProcessExecutor(cfg.model_dump_json(), 2, 1, target=dying_worker_main)
    summary = start_search(cfg, tmp_path / "run", executor=executor)
    executor.close()
    assert summary.finished
    # The same run with the synthetic fitness in-process, for the statuses that survive.
    start_search(micro_config(), tmp_path / "syn", executor=SyntheticExecutor())
    with RunStore.open(tmp_path / "run", lock=False) as store:
        evs = {e.key: e for e in store.evaluations()}
    died = [e for k, e in evs.items() if k.startswith("p001/t01") and e.duplicate_of is None]
    assert died and all(e.status == "error" and "WorkerDied" in e.error for e in died)
    assert "SIGKILL" in died[0].error or "code 9" in died[0].error
    others = [e for k, e in evs.items() if not k.startswith("p001/t01")]
    assert all(e.status != "error" for e in others)
    assert evs["final/Adam"].status in ("ok", "failed_threshold", "failed_screen")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in state


@pytest.mark.slow  # real training, over 3 s
@pytest.mark.subprocess
def test_killing_a_process_pool_run_kills_its_workers_and_resume_finishes(
    reference: Path, tmp_path: Path
) -> None:
    cfg = micro_config(executor={"kind": "process", "workers": 2, "threads": 1})
    proc, run_dir = start_cli_search(cfg, tmp_path, 3)
    children = [
        int(c)
        for task in Path(f"/proc/{proc.pid}/task").iterdir()
        for c in (task / "children").read_text().split()
    ]
    assert len(children) >= 2  # the two workers (and Python's resource tracker)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.1)
    assert not [c for c in children if _alive(c)]
    resume_search(run_dir)  # the stored executor: a process pool again
    assert rows(run_dir) == rows(reference)


def _keyed(run_dir: Path) -> dict[str, object]:
    with RunStore.open(run_dir, lock=False) as store:
        return {e.key: e for e in store.evaluations()}


@pytest.mark.parametrize(
    "executor",
    [
        pytest.param({"kind": "gpu"}, marks=pytest.mark.slow),  # real training, over 3 s
        pytest.param(
            {"kind": "process", "workers": 2, "threads": 1, "pack": 3},
            marks=[pytest.mark.slow, pytest.mark.subprocess],
        ),
    ],
)
def test_packed_executors_agree_with_serial_up_to_float_differences(
    tmp_path: Path, executor: dict
) -> None:
    """Packing (the gpu executor; here on the CPU) changes only the floating-point summation
    order of training. Seeded particles make every request of the run independent of earlier
    results, so both runs ask for the same candidates: the check is then per candidate: the
    same genome and status, the same best learning rate, fitness within 0.02 (60 steps on
    digits; separate runs differ by up to ~0.01 from summation order alone)."""
    strategy = {
        "particles": 2,
        "time_steps": 1,
        "mutations": 3,
        "init_factor": 0,
        "seed_genomes": ["Adam", "Opt6"],
    }
    final = {"top": 0, "baselines": ["Adam", "QHM"], "seeds": 2}
    start_search(micro_config(strategy=strategy, final=final), tmp_path / "serial")
    start_search(
        micro_config(strategy=strategy, final=final, executor=executor), tmp_path / "packed"
    )
    serial, packed = _keyed(tmp_path / "serial"), _keyed(tmp_path / "packed")
    redraws = sum(k.endswith(("a1", "a2", "a3", "a4")) for k in serial)
    assert serial.keys() == packed.keys() and len(serial) == 2 + 6 + 2 + redraws
    for key, a in serial.items():
        b = packed[key]
        assert a.genome == b.genome and a.status == b.status, key
        assert a.best_lr == b.best_lr, key
        if a.fitness is None:
            assert b.fitness is None
        else:
            assert b.fitness == pytest.approx(a.fitness, abs=0.02), key
