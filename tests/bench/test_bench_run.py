"""run_bench end to end on tiny Fashion-MNIST files: records, resume, tables, errors, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from helpers.bench_files import fashion
from optevo.bench import BenchConfig, run_bench
from optevo.cli import app
from optevo.optim.spec import named
from optevo.tasks.base import RunRequest, TaskOptions
from optevo.transfer import TransferEvent
from optevo.transfer.store import ResultStore

GRID = (0.1, 0.01, 0.001)
SCALE = 0.004  # fashion-convnet: 3,000 steps -> 12 (learning-rate test: 4)


def config(root: Path, names: list[str], seeds: int = 2) -> BenchConfig:
    return BenchConfig(
        "fashion-convnet",
        named(names),
        seeds=seeds,
        scale=SCALE,
        grid=GRID,
        options=TaskOptions(root=root, batch_size=16, model={"base": 4}),
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fashion(tmp_path_factory.mktemp("fashion"))


@pytest.mark.slow  # real training, over 3 s
def test_bench_records_every_run_and_writes_the_tables(data: Path, tmp_path: Path) -> None:
    events: list[TransferEvent] = []
    outcomes = run_bench(config(data, ["Adam", "LR3"]), tmp_path, events.append)
    starts = [e for e in events if e.kind == "start"]
    records = ResultStore(tmp_path).records()
    assert len(starts) == len(records)
    adam, lr3 = outcomes
    # Every rate of the grid (and any extension) ran 4 steps of the 12-step schedule; LR3 is
    # Adam under a discovered schedule: its test runs two thirds (8 steps).
    for outcome, steps in ((adam, 4), (lr3, 8)):
        label = outcome.spec.label
        lr_runs = [r for r in records if r.key.optimizer == label and r.key.phase == "lr"]
        assert {r.key.lr for r in lr_runs} == set(outcome.test.scores)
        assert len(outcome.test.refined) == 2  # the fair rule's half-decades
        assert {r.key.steps for r in lr_runs} == {steps}
        assert all(r.key.total_steps == 12 for r in lr_runs)
        assert [r.key.seed for r in outcome.finals] == [0, 1]
        assert outcome.lr == outcome.test.winner  # no full run diverged
        assert all(r.key.lr == outcome.lr and r.key.steps == 12 for r in outcome.finals)
        assert all(0.0 <= (r.metric or 0) <= 1.0 for r in outcome.finals)
    md = (tmp_path / "table.md").read_text()
    assert "| Optimizer | Fashion |" in md
    assert f"(lr {adam.lr:.3g})" in md
    assert "12 steps (warm-up 1, hold 2), batch 16" in md
    csv_lines = (tmp_path / "table.csv").read_text().splitlines()
    assert csv_lines[0].startswith("optimizer,fashion-convnet mean,fashion-convnet std")
    assert [line.split(",")[0] for line in csv_lines[1:]] == ["Adam", "LR3"]
    manifest = json.loads((tmp_path / "bench.json").read_text())
    choice = manifest["tasks"]["fashion-convnet"]["lr"]["Adam"]
    assert choice["winner"] == choice["final_lr"] == adam.lr and choice["fallback"] == []
    assert manifest["tasks"]["fashion-convnet"]["fair_lr"] is True


@pytest.mark.slow  # real training, over 3 s
def test_resumed_bench_skips_finished_runs(data: Path, tmp_path: Path) -> None:
    run_bench(config(data, ["Adam"]), tmp_path)
    runs = tmp_path / "runs.jsonl"
    first = runs.read_text()
    table = (tmp_path / "table.md").read_text()

    # A second invocation trains nothing (and does not even load the data).
    events: list[TransferEvent] = []
    missing = tmp_path / "no-such-data"
    cfg = config(missing, ["Adam"])
    run_bench(cfg, tmp_path, events.append)
    assert not [e for e in events if e.kind == "start"]
    assert runs.read_text() == first
    assert (tmp_path / "table.md").read_text() == table

    # Killed while the last final run was being written: only that run is done again.
    lines = first.splitlines(keepends=True)
    runs.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    events.clear()
    run_bench(config(data, ["Adam"]), tmp_path, events.append)
    started = [(e.phase, e.seed) for e in events if e.kind == "start"]
    assert started == [("final", 1)]
    assert len(ResultStore(tmp_path).records()) == len(lines)


def test_interrupted_bench_resumes_where_it_stopped(data: Path, tmp_path: Path) -> None:
    class StopError(Exception):
        pass

    done = 0

    def stop_after_three(event: TransferEvent) -> None:
        nonlocal done
        if event.kind == "done":
            done += 1
            if done == 3:
                raise StopError

    with pytest.raises(StopError):
        run_bench(config(data, ["SGD"], seeds=1), tmp_path, stop_after_three)
    assert len(ResultStore(tmp_path).records()) == 3
    events: list[TransferEvent] = []
    run_bench(config(data, ["SGD"], seeds=1), tmp_path, events.append)
    assert sum(e.kind == "skip" for e in events) == 3
    total = len(ResultStore(tmp_path).records())
    assert sum(e.kind == "start" for e in events) == total - 3


def test_other_batch_size_or_model_in_the_same_folder_is_refused(
    data: Path, tmp_path: Path
) -> None:
    run_bench(config(data, ["Adam"], seeds=1), tmp_path)
    other = config(data, ["Adam"], seeds=1)
    other.options = TaskOptions(root=data, batch_size=32, model={"base": 4})
    with pytest.raises(ValueError, match="batch_size 16, not 32"):
        run_bench(other, tmp_path)
    other.options = TaskOptions(root=data, batch_size=16, model={"base": 8})
    with pytest.raises(ValueError, match="use another --out"):
        run_bench(other, tmp_path)


def test_more_seeds_later_reuse_the_finished_ones(data: Path, tmp_path: Path) -> None:
    run_bench(config(data, ["Adam"], seeds=1), tmp_path)
    events: list[TransferEvent] = []
    run_bench(config(data, ["Adam"], seeds=2), tmp_path, events.append)
    assert [(e.phase, e.seed) for e in events if e.kind == "start"] == [("final", 1)]
    assert "| Adam |" in (tmp_path / "table.md").read_text()


def test_cli_bench_end_to_end_and_user_errors(data: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["bench", "--task", "fashion-convnet", "--optimizers", "Adam,AdamW,Lion", "--seeds"]
    args += ["1", "--scale", str(SCALE), "--out", str(out), "--root", str(data), "--device"]
    args += ["cpu", "--batch-size", "16", "--lr-grid", "0.01"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert all(f"| {n} |" in result.output for n in ("Adam", "AdamW", "Lion"))
    assert (out / "table.csv").exists()
    bad = runner.invoke(app, ["bench", "--task", "nope", "--optimizers", "Adam"])
    assert bad.exit_code == 2 and "unknown task 'nope'" in bad.output
    bad = runner.invoke(app, ["bench", "--task", "fashion-convnet", "--optimizers", "adam"])
    assert bad.exit_code == 2 and "Did you mean 'Adam'" in bad.output
    bad = runner.invoke(app, ["bench", "--task", "fashion-convnet"])
    assert bad.exit_code == 2 and "--optimizers" in bad.output
    missing = runner.invoke(
        app, ["bench", "--task", "tinyimagenet-resnet9", "--optimizers", "Adam", "--out", str(out)]
    )
    assert missing.exit_code == 2 and "needs --root" in missing.output
    listing = runner.invoke(app, ["bench", "--list-tasks"])
    assert listing.exit_code == 0 and "ptb-awdlstm" in listing.output


def test_bench_the_best_genomes_of_a_search_run(data: Path, tmp_path: Path) -> None:
    from helpers.search import SyntheticExecutor, micro_config
    from optevo.search import start_search
    from optevo.search.api import read_summary
    from optevo.search.named import from_run

    run_dir = tmp_path / "run"
    start_search(
        micro_config(final={"top": 0, "baselines": []}), run_dir, executor=SyntheticExecutor()
    )
    board = read_summary(run_dir).leaderboard
    specs = from_run(run_dir, 2)
    assert [s.label for s in specs] == [
        f"#{i + 1} {board[i].evaluation.canonical_hash[:10]}" for i in range(2)
    ]
    assert specs[0].genome == board[0].evaluation.genome
    out = tmp_path / "out"
    args = ["bench", "--task", "fashion-convnet", "--run", str(run_dir), "--top", "2"]
    args += ["--seeds", "1", "--scale", str(SCALE), "--out", str(out), "--root", str(data)]
    args += ["--device", "cpu", "--batch-size", "16", "--lr-grid", "0.01"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = (out / "table.md").read_text()
    assert all(f"| {s.label} |" in table for s in specs)
    with pytest.raises(ValueError, match="--top must be at least 1"):
        from_run(run_dir, 0)


def test_weights_that_blow_up_on_the_last_step_count_as_diverged(data: Path) -> None:
    """Opt4 at a short schedule: its divisor reaches 0 at the last step, after the last loss
    was seen; the run must not be reported "ok"."""
    from optevo.optim.spec import OptimizerSpec
    from optevo.tasks.registry import get_task

    class LastStepBlowsUp(torch.optim.SGD):
        def __init__(self, params, total: int) -> None:
            super().__init__(params, lr=0.01)
            self.total, self.count = total, 0

        def step(self, closure=None):  # type: ignore[override]
            super().step(closure)
            self.count += 1
            if self.count == self.total:
                with torch.no_grad():
                    for group in self.param_groups:
                        for p in group["params"]:
                            p.fill_(float("inf"))

    class Spec(OptimizerSpec):
        def build(self, params, lr, total_steps, warmup_steps, hold_steps, seed=0):  # type: ignore[override]
            return LastStepBlowsUp(params, total_steps)

    task = get_task("fashion-convnet")
    budget = task.budget.scaled(SCALE)
    runner = task.build(TaskOptions(root=data, batch_size=16, model={"base": 4}), budget)
    spec = Spec("blow-up", named(["SGD"])[0].genome)
    outcome = runner.run(RunRequest(spec, 0.01, 0, 12, 12, 1, 2, "test"))
    assert outcome.status == "diverged" and outcome.steps == 12
    assert 0.0 <= outcome.metric <= 1.0  # still scored: every answer is class 0
    fine = runner.run(RunRequest(spec, 0.01, 0, 11, 12, 1, 2, "test"))  # stops one step earlier
    assert fine.status == "ok"
