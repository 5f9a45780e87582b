"""The Ray executor beyond one process: its address checked, a cluster that does not answer
refused in seconds, workers lost and their trials run again (the retry rule of the dispatch
loop), and a real cluster of separate `ray start` nodes that loses a node in the middle of a
search."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.ray_cluster import RAY, RAY_ENV, LocalCluster
from helpers.search import micro_config, synthetic_result
from optevo import library
from optevo.cli import app
from optevo.search.api import start_search
from optevo.search.config import ConfigError, ExecutorConfig, ray_host_port, run_preset
from optevo.search.executors import ExecutorError
from optevo.search.executors.dispatch import Dispatcher, Lost, Outcome
from optevo.search.executors.ray_actors import capacity
from optevo.search.records import Trial, TrialResult, trials_from_json
from optevo.search.store import RunStore
from optevo.space.genome import Genome

runner = CliRunner()

# -- F11: the address is checked with the configuration ----------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:6379", ("127.0.0.1", 6379)),
        ("ray://head.example:10001", ("head.example", 10001)),
        ("[::1]:6379", ("::1", 6379)),
        ("auto", None),
    ],
)
def test_ray_addresses(address: str, expected: tuple[str, int] | None) -> None:
    assert ExecutorConfig(kind="ray", address=address).address == address
    assert ray_host_port(address) == expected


@pytest.mark.parametrize(
    "address", ["not a host:xx", "head", "head:0", "head:65536", "head:", "ray://head", "a:1:2", ""]
)
def test_a_malformed_address_is_one_line_naming_the_option(address: str) -> None:
    with pytest.raises(ConfigError) as info:
        run_preset("tiny", **{"executor.address": address})
    message = str(info.value)
    assert "--address" in message and "executor.address" in message and "\n" not in message


def test_cli_malformed_address_exits_2_with_one_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ["search", "--preset", "tiny", "--run-dir", str(run_dir), "--executor", "ray"]
    result = runner.invoke(app, [*args, "--address", "not a host:xx"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--address" in lines[0] and "Traceback" not in result.output
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("resources", "fields", "actors"),
    [
        ({"CPU": 2.0}, {}, 2),
        ({"CPU": 8.0, "GPU": 1.0}, {"num_gpus": 0.25}, 4),  # the GPUs are the limit
        ({"CPU": 2.0, "GPU": 4.0}, {"num_gpus": 0.5}, 2),  # the CPUs are
        ({"CPU": 1.0}, {"num_cpus": 0.1}, 10),
        ({}, {}, 1),  # a cluster still starting: one actor waits for it
    ],
)
def test_the_actors_a_cluster_holds(
    resources: dict[str, float], fields: dict[str, float], actors: int
) -> None:
    assert capacity(resources, ExecutorConfig(kind="ray", **fields)) == actors


# -- F10: a cluster that does not answer is refused in seconds, before any run directory ------


def _cli(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from optevo.cli import main; main()", *args],
        cwd=cwd,
        env={**os.environ, **RAY_ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.subprocess
def test_cli_address_where_nothing_listens_exits_2_at_once(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    done = _cli(
        ["search", "--preset", "tiny", "--executor", "ray", "--address", f"127.0.0.1:{port}"],
        tmp_path,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"--address 127.0.0.1:{port}" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists()  # no run directory
    assert time.monotonic() - started < 30


@pytest.mark.subprocess
def test_cli_address_that_never_answers_times_out_after_connect_timeout(tmp_path: Path) -> None:
    """A port that accepts connections and says nothing (no Ray head): Ray's own connect
    would retry for many minutes; `executor.connect_timeout` (3 s here) ends it."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        done = _cli(
            [
                "search", "--preset", "tiny", "--run-dir", "run", "--executor", "ray",
                "--address", address, "--set", "executor.connect_timeout=3",
            ],
            tmp_path,
            timeout=120,
        )  # fmt: skip
        took = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert f"--address {address}" in errors[0] and "within 3 s" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    assert took < 25  # 3 s, plus starting Python and importing torch and Ray


# -- the retry rule of the dispatch loop -------------------------------------------------------


class FlakyPool(Dispatcher[int]):
    """Workers in this process. A trial whose key starts with `lose1` loses the first worker
    that runs it (a node that goes away); one starting with `lose` loses every worker (a
    candidate that kills its worker). `room` is False once `no_room_after` workers were
    lost (the cluster shrank)."""

    def __init__(self, size: int, retries: int, no_room_after: int | None = None) -> None:
        super().__init__(size)
        self.retries = retries
        self.no_room_after = no_room_after
        self.started = 0
        self.messages: dict[int, str] = {}
        self.seen: dict[str, int] = {}
        self.told: list[tuple[str, bool]] = []

    def start(self) -> int:
        self.started += 1
        return self.started

    def submit(self, worker: int, message: str) -> None:
        self.messages[worker] = message

    def wait(self, busy: dict[int, int]) -> list[tuple[int, Outcome]]:
        slot = min(busy)
        (trial,) = trials_from_json(self.messages[busy[slot]])
        self.seen[trial.key] = self.seen.get(trial.key, 0) + 1
        if trial.key.startswith("lose1") and self.seen[trial.key] == 1:
            return [(slot, Lost("WorkerDied: node gone"))]
        if trial.key.startswith("lose") and not trial.key.startswith("lose1"):
            return [(slot, Lost("WorkerDied: killed"))]
        genome = Genome.from_json(trial.genome_json)
        result = {**synthetic_result(genome, trial.seed), "host": f"w{busy[slot]}"}
        return [(slot, [TrialResult.from_dict(result)])]

    def stop(self, worker: int, busy: bool) -> None:
        pass

    def room(self) -> bool:
        return self.no_room_after is None or self.lost_workers < self.no_room_after

    def starved(self) -> int:
        raise ExecutorError("no room")

    def lost(self, message: str, trials: list[Trial], rerun: bool) -> None:
        self.told.extend((t.key, rerun) for t in trials)


def _trials(*keys: str) -> list[Trial]:
    genome_json = library.genome("Adam").to_json()
    return [Trial(k, 0, 1, "search", genome_json, "one_cycle") for k in keys]


def test_with_one_retry_a_lost_worker_costs_nothing_and_a_second_loss_is_an_error() -> None:
    pool = FlakyPool(size=2, retries=1)
    done: dict[str, TrialResult] = {}
    pool.run(_trials("a", "lose1-x", "b", "lose-y", "c"), lambda t, r: done.setdefault(t.key, r))
    assert set(done) == {"a", "lose1-x", "b", "lose-y", "c"}
    assert done["lose1-x"].result.status != "error" and pool.seen["lose1-x"] == 2
    assert done["lose-y"].result.status == "error" and pool.seen["lose-y"] == 2  # not a loop
    assert done["lose-y"].result.error == "WorkerDied: killed"
    assert all(done[k].result.status != "error" for k in "abc")
    assert pool.lost_workers == 3 and pool.rerun_trials == 2
    assert sorted(pool.told) == [("lose-y", False), ("lose-y", True), ("lose1-x", True)]
    assert pool.started == 5  # two, and one in place of each lost one (there was room)


def test_without_retries_a_lost_worker_costs_its_trial() -> None:
    """The process pool's rule (`retries = 0`): as before, the trial is an `error`."""
    pool = FlakyPool(size=2, retries=0)
    done: dict[str, TrialResult] = {}
    pool.run(_trials("a", "lose1-x", "b"), lambda t, r: done.setdefault(t.key, r))
    assert done["lose1-x"].result.error == "WorkerDied: node gone" and pool.rerun_trials == 0
    assert done["a"].result.status != "error" and done["b"].result.status != "error"


def test_a_lost_worker_is_replaced_only_where_there_is_room() -> None:
    """A node gone: the run goes on, with fewer workers, and nothing is lost."""
    pool = FlakyPool(size=2, retries=1, no_room_after=1)
    done: dict[str, TrialResult] = {}
    keys = ("a", "lose1-x", "b", "c", "d", "e")
    pool.run(_trials(*keys), lambda t, r: done.setdefault(t.key, r))
    assert all(done[k].result.status != "error" for k in keys)
    assert pool.started == 2 and pool.rerun_trials == 1  # no replacement: no room


def test_every_worker_lost_and_no_room_stops_the_run(tmp_path: Path) -> None:
    pool = FlakyPool(size=1, retries=1, no_room_after=1)
    done: list[str] = []
    with pytest.raises(ExecutorError, match="no room"):
        pool.run(_trials("lose1-x", "b"), lambda t, r: done.append(t.key))
    assert done == [] and pool.started == 1


# -- a real cluster that loses a node ----------------------------------------------------------


def _rows(run_dir: Path) -> list[tuple[object, ...]]:
    with RunStore.open(run_dir, lock=False) as store:
        evs = [
            (e.key, e.status, e.fitness, e.fitness_std, e.canonical_hash, e.duplicate_of, e.best_lr)
            for e in store.evaluations()
        ]
        return [*sorted(evs), ("trajectories", store.trajectories())]


def _stored_keys(run_dir: Path) -> set[str]:
    db = run_dir / "run.sqlite"
    if not db.is_file():
        return set()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.2)
        try:
            return {row[0] for row in conn.execute("SELECT key FROM evaluations")}
        finally:
            conn.close()
    except sqlite3.Error:
        return set()


RERUN = re.compile(r"ray: actor lost, run again on another actor: (.*?) \(")


@pytest.fixture
def cluster() -> object:
    """A head and a second node, each `ray start` in its own session; stopped (every process
    of both) whatever the test does."""
    if not Path(RAY).is_file():
        pytest.fail("the Ray cluster test needs Ray: pip install 'optevo[ray]' (make test does)")
    made = LocalCluster(cpus=1)
    try:
        yield made
    finally:
        made.stop()


@pytest.mark.slow  # a Ray cluster of separate processes, real training
@pytest.mark.subprocess
def test_a_cluster_that_loses_a_node_finishes_the_run_with_nothing_lost(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    began = time.monotonic()
    config = micro_config(executor={"kind": "ray", "threads": 1, "num_cpus": 1})
    reference = tmp_path / "reference"
    start_search(micro_config(), reference)  # serial, one thread: the same results

    head = cluster.start_node()
    second = cluster.start_node()
    cluster.wait_for_cpus(2)
    (tmp_path / "micro.yaml").write_text(config.to_yaml())
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable, "-c", "from optevo.cli import main; main()", "search",
            "--config", str(tmp_path / "micro.yaml"), "--run-dir", str(run_dir),
            "--address", cluster.address,
        ],
        env={**os.environ, **RAY_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines: list[tuple[float, str]] = []
    reader = threading.Thread(
        target=lambda: lines.extend((time.monotonic(), line) for line in proc.stderr or ()),
        daemon=True,
    )
    reader.start()
    try:
        # The kill: once the run is under way and the second node's actor holds a chunk.
        deadline = time.monotonic() + 180
        while not (len(_stored_keys(run_dir)) >= 6 and second.busy_workers()):
            assert proc.poll() is None, "".join(line for _, line in lines)[-3000:]
            assert time.monotonic() < deadline, "the second node never ran a trial"
            time.sleep(0.05)
        stored_at_kill = len(_stored_keys(run_dir))
        killed = time.monotonic()
        second.kill()
        assert not second.pids()  # every process of that node is gone
        # Recovery: every trial the lost node held is stored, run again by the head's actor.
        recovered = None
        while proc.poll() is None:
            rerun = {k.split("#")[0] for _, line in lines for m in RERUN.finditer(line)
                     for k in m[1].split(", ")}  # fmt: skip
            if recovered is None and rerun and rerun <= _stored_keys(run_dir):
                recovered = time.monotonic()
            assert time.monotonic() < killed + 300, "the run did not finish"
            time.sleep(0.05)
        recovered = recovered or time.monotonic()  # it finished between two looks
        proc.wait(timeout=60)
        reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = "".join(line for _, line in lines)
    detected = next((t for t, line in lines if RERUN.search(line)), None)
    rerun_trials = [k for _, line in lines for m in RERUN.finditer(line) for k in m[1].split(", ")]
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr and "recorded as error" not in stderr, stderr[-3000:]
    assert rerun_trials and detected is not None and recovered is not None, stderr[-3000:]
    # Nothing lost, nothing repeated: the uninterrupted serial run's evaluations, exactly.
    assert _rows(run_dir) == _rows(reference)
    assert head.pids()  # the head was never touched
    left = cluster.stop()
    assert left == [], "Ray processes left behind"
    figures = {
        "stored_at_kill": stored_at_kill,
        "trials_rerun": len(rerun_trials),
        "kill_to_rerun_s": round(detected - killed, 2),
        "kill_to_recovered_s": round(recovered - killed, 2),
        "test_wall_s": round(time.monotonic() - began, 1),
    }
    print("node-loss figures:", json.dumps(figures))
    print("".join(line for _, line in lines if line.startswith("ray:")), end="")
