"""Issue 25: your own model and data as a task, named `FILE.py:NAME` or `package.module:NAME`
in search, validate and bench; pairing for a DataLoader task; read-only commands import no
task code; every bad reference is one line."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from typer.testing import CliRunner

from optevo.cli import app
from optevo.optim.spec import resolve
from optevo.tasks import user
from optevo.tasks.base import RunRequest, TaskOptions
from optevo.tasks.loader import LoaderRunner, UnpairedLoaderWarning
from optevo.tasks.registry import TASK_NAMES, TASKS, get_task
from optevo.tasks.user import TaskLoadError, load_task, task

TASK_FILE = '''
import pathlib

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from optevo.tasks.user import task

MARKER = pathlib.Path(__file__).with_suffix(".imported")
MARKER.write_text(str(int(MARKER.read_text()) + 1) if MARKER.exists() else "1")


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))


g = torch.Generator().manual_seed(0)
x = torch.randn(600, 16, generator=g)
y = (x @ torch.randn(16, 4, generator=g)).argmax(1)
blobs = task("blobs", make_model, data=(x, y), steps=40, batch_size=32, reference_lr=1e-2)


def loaders(split, generator):
    n = len(x)
    part = {"train": slice(0, 480), "val": slice(480, 540), "test": slice(540, n)}[split]
    ds = TensorDataset(x[part], y[part])
    if split == "train":
        return DataLoader(ds, batch_size=32, shuffle=True, generator=generator)
    return DataLoader(ds, batch_size=64)


loader_blobs = task("loader_blobs", make_model, loaders=loaders, steps=40, reference_lr=1e-2)
'''


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts and ends with no user task loaded and imports allowed."""
    monkeypatch.setattr(user, "_FORBIDDEN", False)
    yield
    for ref in list(user._LOADED):
        user.unload(ref)
    assert tuple(TASKS) == TASK_NAMES


@pytest.fixture
def task_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "my_tasks.py"
    path.write_text(TASK_FILE)
    monkeypatch.chdir(tmp_path)
    return path


def imports(path: Path) -> int:
    marker = path.with_suffix(".imported")
    return int(marker.read_text()) if marker.exists() else 0


def adam_run(task_name: str, seed: int = 3, optimizer: str = "Adam", lr: float = 1e-2) -> float:
    t = get_task(task_name)
    runner = t.build(TaskOptions(), t.size("search"))
    out = runner.run(RunRequest.of(resolve(optimizer), lr, seed, t.size("search"), split="val"))
    assert out.status == "ok" and out.metric is not None
    return out.metric


def test_a_task_from_a_file_is_registered_under_its_reference(task_file: Path) -> None:
    t = load_task("my_tasks.py:blobs")
    assert t.name == "my_tasks.py:blobs" and t.column == "blobs"
    assert TASKS["my_tasks.py:blobs"] is t and get_task("my_tasks.py:blobs") is t
    assert set(t.sizes) == {"search", "validate", "bench"}
    assert t.size("search").total_steps == 40 and t.size("search").batch_size == 32
    # warm-up and hold are 1/15 and 2/15 of the run, as the shipped tasks' budgets
    assert (t.size("search").warmup_steps, t.size("search").hold_steps) == (3, 5)
    load_task("my_tasks.py:blobs")
    assert imports(task_file) == 1  # imported once per process
    # the 80/10/10 split by a fixed seed: 480 / 60 / 60 of 600
    runner = t.build(TaskOptions(), t.size("search"))
    assert [len(runner.data.split(s)[1]) for s in ("train", "val", "test")] == [480, 60, 60]
    # a run is deterministic for a seed and learns (chance is ~0.25 on 4 classes)
    a, b = adam_run("my_tasks.py:blobs"), adam_run("my_tasks.py:blobs")
    assert a == b and a > 0.6


def test_a_task_from_a_module() -> None:
    t = load_task("helpers.user_tasks:teacher")  # a function returning a task
    assert t.name == "helpers.user_tasks:teacher" and t.size("search").total_steps == 40
    assert adam_run("helpers.user_tasks:teacher") > 0.5


def test_a_loader_task_pairs_weights_and_batches_across_optimizers() -> None:
    seen: list[torch.Tensor] = []
    weights: list[torch.Tensor] = []

    class Recording(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(6, 3)
            weights.append(self.net.weight.detach().clone())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training:
                seen.append(x.clone())
            return self.net(x)

    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(200, 6, generator=g), torch.randint(0, 3, (200,), generator=g)

    def loaders(split: str, generator: torch.Generator) -> DataLoader:
        ds = TensorDataset(x, y)
        if split == "train":  # the user's own transform: noise from torch's global generator
            noisy = TensorDataset(x + 0.1 * torch.randn(x.shape), y)
            return DataLoader(noisy, batch_size=20, shuffle=True, generator=generator)
        return DataLoader(ds, batch_size=50)

    t = task("rec", Recording, loaders=loaders, steps=25)
    runner = t.build(TaskOptions(), t.size("search"))
    assert isinstance(runner, LoaderRunner)
    batches = {}
    for opt, lr in (("Adam", 1e-2), ("SGD", 0.1)):
        seen.clear()
        runner.run(RunRequest.of(resolve(opt), lr, 7, t.size("search")))
        batches[opt] = torch.stack(seen)
    assert runner.paired is True
    assert batches["Adam"].shape == (25, 20, 6)  # 25 steps over 10 batches per pass: 3 passes
    assert torch.equal(batches["Adam"], batches["SGD"])
    # the pairing check builds no model; each run builds one, from the same seed
    assert torch.equal(weights[-1], weights[-2])
    # another seed: other batches
    seen.clear()
    runner.run(RunRequest.of(resolve("Adam"), 1e-2, 8, t.size("search")))
    assert not torch.equal(torch.stack(seen), batches["Adam"])


def test_a_loader_that_ignores_the_generator_is_said_once() -> None:
    x, y = torch.randn(100, 6), torch.randint(0, 3, (100,))

    calls = iter(range(1000))

    def loaders(split: str, generator: torch.Generator) -> DataLoader:
        # its own generator, reseeded at each call: each pass is shuffled differently
        own = torch.Generator().manual_seed(next(calls))
        return DataLoader(TensorDataset(x, y), batch_size=10, shuffle=True, generator=own)

    t = task("unpaired", lambda: nn.Linear(6, 3), loaders=loaders, steps=3)
    runner = t.build(TaskOptions(), t.size("search"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            runner.run(RunRequest.of(resolve("Adam"), 1e-3, 0, t.size("search")))
    said = [w for w in caught if issubclass(w.category, UnpairedLoaderWarning)]
    assert len(said) == 1 and "different batches for the same seed" in str(said[0].message)


def test_a_loader_tasks_scores_follow_the_tensor_rules() -> None:
    # mse: the worst score is the training targets' mean predictor's, by hand
    g = torch.Generator().manual_seed(2)
    x = torch.randn(90, 4, generator=g)
    y = x.sum(1, keepdim=True) + 3.0
    parts = {"train": slice(0, 60), "val": slice(60, 75), "test": slice(75, 90)}

    def loaders(split: str, generator: torch.Generator) -> DataLoader:
        ds = TensorDataset(x[parts[split]], y[parts[split]])
        return DataLoader(ds, batch_size=15, shuffle=split == "train", generator=generator)

    t = task("reg", lambda: nn.Linear(4, 1), loaders=loaders, metric="mse", steps=200)
    runner = t.build(TaskOptions(), t.size("search"))
    mean = y[:60].mean()
    assert runner.worst("val") == pytest.approx(float(((y[60:75] - mean) ** 2).mean()), rel=1e-6)
    assert runner.trivial("val") == runner.worst("val")
    good = runner.run(RunRequest.of(resolve("Adam"), 0.1, 0, t.size("search")))
    assert good.status == "ok" and good.metric is not None and good.metric < runner.worst("val")
    # a rate that blows up: diverged, scored the worst score
    bad = runner.run(RunRequest.of(resolve("SGD"), 1e6, 0, t.size("search")))
    assert bad.status == "diverged" and bad.metric == runner.worst("val")
    assert bad.steps < 200


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nowhere.py:blobs", "task nowhere.py:blobs: no file nowhere.py"),
        ("my_tasks.py:missing", "my_tasks.py has no 'missing' (its tasks: blobs, loader_blobs)"),
        ("helpers.user_tasks:not_a_task", "not_a_task is a int, not a task"),
        ("no_such_pkg.mod:x", "task no_such_pkg.mod:x: no module no_such_pkg.mod"),
        ("broken.py:x", "importing broken.py raised ZeroDivisionError: division by zero"),
        ("bad ref", "a task of your own is named FILE.py:NAME or package.module:NAME"),
    ],
)
def test_every_bad_reference_is_one_line(task_file: Path, ref: str, message: str) -> None:
    (task_file.parent / "broken.py").write_text("x = 1 / 0\n")
    with pytest.raises(TaskLoadError) as info:
        load_task(ref)
    assert message in str(info.value) and "\n" not in str(info.value)
    # a failed import leaves no module behind
    assert not [m for m in sys.modules if m.startswith("optevo_user_tasks_")]


def test_a_forbidden_process_imports_no_task_code(task_file: Path) -> None:
    from optevo.fitness.config import TaskRef

    user.forbid_imports()
    ref = TaskRef(name="my_tasks.py:blobs")  # a stored config still reads
    assert ref.name == "my_tasks.py:blobs"
    with pytest.raises(TaskLoadError, match="does not import task code"):
        get_task("my_tasks.py:blobs")
    assert imports(task_file) == 0


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_search_validate_and_bench_on_a_task_file(task_file: Path, tmp_path: Path) -> None:
    out = cli("search", "--preset", "tiny", "--task", "my_tasks.py:blobs", "--run-dir", "run")
    assert "task code imported: my_tasks.py:blobs" in out
    assert "paired suite vs Adam of 1 tasks (my_tasks.py:blobs)" in " ".join(out.split())
    assert "name: my_tasks.py:blobs" in (tmp_path / "run" / "config.yaml").read_text()
    conn = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    digest = hashlib.sha256(task_file.read_bytes()).hexdigest()
    assert json.loads(meta["task_files"]) == {"my_tasks.py:blobs": digest}
    # every trained evaluation scored the user's task against Adam
    tasks_seen = set()
    for (value,) in conn.execute("SELECT result FROM trials"):
        tasks_seen |= {t["task"] for r in [json.loads(value)] for t in r.get("tasks", [])}
    assert tasks_seen == {"my_tasks.py:blobs"}
    cli("validate", "LR6", "--tasks", "my_tasks.py:blobs", "--seeds", "2",
              "--no-baselines", "--out", "val")
    table = (tmp_path / "val" / "table.md").read_text()
    assert "my_tasks.py:blobs" in table and "LR6" in table
    cli("bench", "--task", "my_tasks.py:loader_blobs", "--optimizers", "Adam",
        "--seeds", "2", "--device", "cpu", "--out", "bench")
    table = (tmp_path / "bench" / "table.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| Adam |"))
    mean = float(row.split("|")[2].split("±")[0].strip(" *"))
    assert 60 < mean <= 100  # accuracy in %: it learnt through the loader


def test_reading_a_run_imports_no_task_code(task_file: Path, tmp_path: Path) -> None:
    cli("search", "--preset", "tiny", "--task", "my_tasks.py:blobs", "--run-dir", "run")
    user.unload("my_tasks.py:blobs")
    before = imports(task_file)
    task_file.unlink()  # the file is gone: reading the run must not need it
    status = cli("status", "run")
    assert "finished" in status
    cli("report", "run")
    assert (tmp_path / "run" / "report" / "index.html").is_file()
    best = status.split("best found genome #1 ")[1].split(":")[0]
    cli("export", best, "--run", "run", "-o", "best.json")
    cli("show", best, "--run", "run")
    assert "my_tasks.py:blobs" not in user._LOADED and imports(task_file) == before
    assert not [m for m in sys.modules if m.startswith("optevo_user_tasks_")]


def test_resume_warns_once_when_the_task_file_changed(task_file: Path, tmp_path: Path) -> None:
    cli("search", "--preset", "tiny", "--task", "my_tasks.py:blobs", "--run-dir", "run")
    user.unload("my_tasks.py:blobs")
    task_file.write_text(TASK_FILE + "\n# edited\n")
    result = CliRunner().invoke(app, ["search", "--resume", "run"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.count("its file changed since the run began") == 1
    # unchanged since: no warning
    user.unload("my_tasks.py:blobs")
    sqlite = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    row = sqlite.execute("SELECT value FROM meta WHERE key='task_files'").fetchone()
    stored = json.loads(row[0])
    assert list(stored) == ["my_tasks.py:blobs"]


def test_a_bad_task_option_is_one_line(task_file: Path) -> None:
    result = CliRunner().invoke(
        app, ["search", "--preset", "tiny", "--task", "my_tasks.py:nope", "--run-dir", "r"]
    )
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "my_tasks.py has no 'nope'" in " ".join(result.output.split())
    assert len(lines) <= 2  # one message (wrapped at most once by the terminal width)
    assert not Path("r").exists()  # nothing half-written


def test_bad_task_arguments_are_refused_with_their_name() -> None:
    x, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    with pytest.raises(ValueError, match="give data= or loaders="):
        task("t", lambda: nn.Linear(3, 2))
    with pytest.raises(ValueError, match="metric must be"):
        task("t", lambda: nn.Linear(3, 2), data=(x, y), metric="perplexity")
    with pytest.raises(ValueError, match="task t: data has no test split"):
        task("t", lambda: nn.Linear(3, 2), data={"train": (x, y), "val": (x, y)})
    with pytest.raises(ValueError, match="steps must be a whole number"):
        task("t", lambda: nn.Linear(3, 2), data=(x, y), steps=0)
    with pytest.raises(TypeError, match="data must be a TensorData"):
        task("t", lambda: nn.Linear(3, 2), data=[1, 2, 3])


def standings(summary) -> list[tuple[str, float | None]]:  # type: ignore[no-untyped-def]
    return [(s.evaluation.canonical_hash, s.fitness) for s in summary.leaderboard]


def test_discover_gives_the_clis_result(task_file: Path, tmp_path: Path) -> None:
    import optevo
    from optevo.optim.evolved import EvolvedOptimizer
    from optevo.search.api import read_summary

    cli("search", "--preset", "tiny", "--task", "my_tasks.py:blobs", "--run-dir", "cli-run")
    found = optevo.discover("my_tasks.py:blobs", preset="tiny", run_dir="api-run", progress=False)
    assert standings(found.summary) == standings(read_summary("cli-run"))
    assert found.tasks == ("my_tasks.py:blobs",) and found.best
    assert all(s.evaluation.request.name != "Adam" for s in found.best)
    # the optimizer class steps as EvolvedOptimizer with the genome and schedule
    torch.manual_seed(0)
    a, b = nn.Linear(4, 2), nn.Linear(4, 2)
    b.load_state_dict(a.state_dict())
    opt_a = found.optimizer()(a.parameters(), lr=1e-2, total_steps=10)
    opt_b = EvolvedOptimizer(b.parameters(), found.genome, 1e-2, 10, schedule=found.schedule)
    for _ in range(3):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            model(torch.ones(3, 4)).pow(2).sum().backward()
            opt.step()
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, nn.Linear(4, 2).weight)
    path = found.export(tmp_path / "found_opt.py")
    assert "class" in path.read_text() and "import optevo" not in path.read_text()
    assert found.report(tmp_path / "report").name == "index.html"
    checked = found.validate(seeds=2, baselines=False, out=tmp_path / "val")
    assert [t["task"] for t in checked["tasks"]] == ["my_tasks.py:blobs"]
    assert (tmp_path / "val" / "table.md").is_file()
    # the same run_dir resumes: nothing is trained again, the same standings
    again = optevo.discover("my_tasks.py:blobs", preset="tiny", run_dir="api-run", progress=False)
    assert standings(again.summary) == standings(found.summary)


def test_discover_with_a_task_object_runs_in_process(tmp_path: Path) -> None:
    import optevo

    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 5, generator=g)
    y = (x[:, 0] > 0).long()
    t = task("notebook_task", lambda: nn.Linear(5, 2), data=(x, y), steps=30, batch_size=16)
    try:
        found = optevo.discover(
            t, preset="tiny", run_dir=tmp_path / "run", progress=False,
            **{"strategy.particles": 1, "strategy.time_steps": 1},
        )
        assert found.summary.config.executor.kind == "serial"
        assert found.summary.finished and found.tasks == ("notebook_task",)
        fit = found.best[0].fitness
        assert fit is not None and -1.0 <= fit <= 1.0
    finally:
        TASKS.pop("notebook_task", None)


def test_tasks_simplify_and_ablate_on_a_task_file(task_file: Path, tmp_path: Path) -> None:
    out = " ".join(cli("tasks", "--task", "my_tasks.py:blobs", "--measure").split())
    assert "task code imported: my_tasks.py:blobs" in out and "accuracy" in out
    out = " ".join(cli("ablate", "Opt6", "--task", "my_tasks.py:blobs", "--store", "a.db").split())
    assert "task code imported: my_tasks.py:blobs" in out and "learning-rate factor" in out
    cli("simplify", "Opt6", "--task", "my_tasks.py:blobs", "-o", "s.json", "--max-evals", "6")
    # every score the ablation stored is a suite fitness on the user's task
    conn = sqlite3.connect(tmp_path / "a.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    text = " ".join(str(row) for t in tables for row in conn.execute(f"SELECT * FROM {t}"))
    assert "my_tasks.py:blobs" in text
    # a reference that could read as an emoji code (":zzz") is printed as written
    result = CliRunner().invoke(app, ["tasks", "--task", "my_tasks.py:zzz"])
    assert result.exit_code == 2 and "my_tasks.py:zzz" in result.output


def test_search_on_a_task_from_a_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = cli("search", "--preset", "tiny", "--task", "helpers.user_tasks:teacher",
              "--run-dir", "run")  # fmt: skip
    assert "task code imported: helpers.user_tasks:teacher" in " ".join(out.split())
    assert "best found genome #1" in out
    cli("bench", "--task", "helpers.user_tasks:teacher", "--optimizers", "Adam",
        "--seeds", "2", "--device", "cpu", "--out", "bench")  # fmt: skip
    assert "teacher" in (tmp_path / "bench" / "table.md").read_text()


def test_discover_interrupted_then_resumed_gives_the_uninterrupted_result(
    task_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optevo
    from optevo import discovery

    whole = optevo.discover("my_tasks.py:blobs", preset="tiny", run_dir="whole", progress=False)
    real = discovery._Progress.__call__
    seen = {"n": 0}

    def interrupt_after_five(self, event):  # type: ignore[no-untyped-def]
        seen["n"] += 1
        if seen["n"] == 5:
            raise KeyboardInterrupt
        real(self, event)

    monkeypatch.setattr(discovery._Progress, "__call__", interrupt_after_five)
    with pytest.raises(KeyboardInterrupt):
        optevo.discover("my_tasks.py:blobs", preset="tiny", run_dir="cut", progress=False)
    monkeypatch.setattr(discovery._Progress, "__call__", real)
    with sqlite3.connect("cut/run.sqlite") as conn:
        kept = conn.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]
    assert kept >= 4  # what was evaluated before Ctrl-C is kept
    resumed = optevo.discover("my_tasks.py:blobs", preset="tiny", run_dir="cut", progress=False)
    assert standings(resumed.summary) == standings(whole.summary)
