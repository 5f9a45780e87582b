"""`optevo search`, `status`, `export`, `show --run` through Typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.search import micro_config
from optevo.cli import app
from optevo.search.store import RunStore
from optevo.space.genome import Genome

runner = CliRunner()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    config = tmp / "micro.yaml"
    config.write_text(micro_config().to_yaml())
    run_dir = tmp / "run"
    result = runner.invoke(app, ["search", "--config", str(config), "--run-dir", str(run_dir)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "search leaderboard" in text and "final: mean ± std over 2" in text
    assert "vs Adam" in text
    return run_dir


def test_status_prints_the_leaderboard_and_progress(finished_run: Path) -> None:
    result = runner.invoke(app, ["status", str(finished_run)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    with RunStore.open(finished_run, lock=False) as store:
        n_search = store.count("init") + store.count("search")
        best = max(
            (e for e in store.evaluations("search") if e.fitness is not None),
            key=lambda e: e.fitness,
        )
        redraws = sum((e.request.attempt or 0) > 0 for e in store.evaluations())
    assert "finished" in text
    assert n_search == 14 + redraws
    assert f"{n_search} search evaluations of 14 planned + {redraws} screen redraws" in text
    assert best.canonical_hash[:10] in text
    assert f"{best.fitness:.4f}" in text


def test_export_and_show_a_genome_of_the_run(finished_run: Path, tmp_path: Path) -> None:
    with RunStore.open(finished_run, lock=False) as store:
        ev = store.evaluations("search")[0]
    out = tmp_path / "g.json"
    result = runner.invoke(
        app, ["export", ev.canonical_hash[:8], "--run", str(finished_run), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert Genome.from_json(out.read_text()) == ev.genome
    again = runner.invoke(
        app, ["export", ev.canonical_hash[:8], "--run", str(finished_run), "-o", str(out)]
    )
    assert again.exit_code == 2 and "exists; pass --force" in again.output
    shown = runner.invoke(app, ["show", ev.canonical_hash[:8], "--run", str(finished_run)])
    assert shown.exit_code == 0 and ev.genome.equation() in shown.output.replace("\n", "")
    as_json = runner.invoke(app, ["show", str(out), "--format", "json"])
    assert Genome.from_dict(json.loads(as_json.output)) == ev.genome


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["search", "--preset", "nope"], "unknown search preset 'nope'"),
        (
            ["search", "--preset", "tiny", "--set", "strategy.particles=0"],
            "strategy.particle.particles: Input should be greater than or equal to 1",
        ),
        (["search", "--preset", "tiny", "--set", "strategy.particles"], "KEY=VALUE"),
        (["search", "--preset", "tiny", "--executor", "mpi"], "--executor: unknown executor"),
        (["search", "--config", "/nonexistent/run.yaml"], "config file not found"),
        (["search", "--resume", "/nonexistent/run"], "run directory not found"),
        (["status", "/nonexistent/run"], "run directory not found"),
        (["export", "zz", "--run", "/nonexistent", "-o", "x.json"], "is not a genome hash"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args: list[str], needle: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert needle in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_run_directory_rules(finished_run: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["search", "--preset", "tiny", "--run-dir", str(finished_run)])
    assert result.exit_code == 2 and "already holds a run" in result.output
    result = runner.invoke(app, ["search", "--resume", str(finished_run), "--preset", "tiny"])
    assert result.exit_code == 2 and "--resume continues a stored run" in result.output
    with RunStore.open(finished_run):  # another process holds the run
        result = runner.invoke(app, ["search", "--resume", str(finished_run)])
    assert result.exit_code == 2 and "in use by pid" in result.output
    # Resuming a finished run trains nothing and prints the same leaderboard.
    with RunStore.open(finished_run, lock=False) as store:
        n = store.count()
    result = runner.invoke(app, ["search", "--resume", str(finished_run)])
    assert result.exit_code == 0, result.output
    with RunStore.open(finished_run, lock=False) as store:
        assert store.count() == n
    missing = tmp_path / "file.txt"
    missing.write_text("x")
    result = runner.invoke(app, ["search", "--preset", "tiny", "--run-dir", str(missing)])
    assert result.exit_code == 2 and "not a directory" in result.output
