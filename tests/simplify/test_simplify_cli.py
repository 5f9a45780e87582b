"""`optevo simplify` and `optevo ablate` through the command line, and resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optevo.cli import app
from optevo.space.genome import Genome

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_simplify_exact_only_writes_the_smaller_genome(tmp_path: Path) -> None:
    out = tmp_path / "a5.json"
    result = runner.invoke(app, ["simplify", "A5", "--exact-only", "-o", str(out)], env=WIDE)
    assert result.exit_code == 0, result.output
    assert "0 fitness evaluations" in result.output and "exact:" in result.output
    simplified = Genome.from_json(out.read_text())
    assert simplified.equation() == "norm(v)"
    again = runner.invoke(app, ["simplify", "A5", "--exact-only", "-o", str(out)], env=WIDE)
    assert again.exit_code == 2 and "pass --force" in again.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["simplify", "Nope", "-o", "x.json"], "neither a named optimizer"),
        (["simplify", "Adam", "--fitness", "huge", "-o", "x.json"], "unknown fitness preset"),
        (["simplify", "Adam", "--seeds", "1", "-o", "x.json"], "seeds"),
        (["simplify", "Adam", "--seeds", "2", "-o", "x.json"], "at least 3 paired seeds"),
        (["ablate", "Adam", "--fitness", "huge"], "unknown fitness preset"),
        (["ablate", "Adam"], "pass --store FILE (or --run RUN)"),
        (["ablate", "Adam", "--store", "x.sqlite", "--threads", "1000"], "--threads 1000: more"),
        (["simplify", "Adam", "-o", "x.json", "--threads", "1000"], "--threads 1000: more"),
    ],
)
def test_bad_arguments_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing written into the working folder


def _scores(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=0.2) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM scores").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _command(out: Path, store: Path) -> list[str]:
    code = "import sys; from optevo.cli import main; sys.argv[0] = 'optevo'; main()"
    return [
        sys.executable, "-c", code, "simplify", "Opt6", "--fitness", "tiny", "--seeds", "3",
        "--max-evals", "6", "-o", str(out), "--store", str(store), "--force",
    ]


@pytest.mark.slow
@pytest.mark.subprocess
def test_simplify_resumes_after_sigkill_to_the_uninterrupted_result(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    reference_out, reference_store = tmp_path / "ref.json", tmp_path / "ref.sqlite"
    subprocess.run(_command(reference_out, reference_store), env=env, check=True, timeout=600)
    total = _scores(reference_store)
    assert total >= 3

    out, store = tmp_path / "out.json", tmp_path / "run.sqlite"
    child = subprocess.Popen(_command(out, store), env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _scores(store) < 2:
        assert child.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = _scores(store)
    assert 2 <= kept < total and not out.exists()

    resumed = subprocess.run(
        _command(out, store), env=env, check=True, timeout=600, capture_output=True, text=True
    )
    assert f"{total - kept} trained now" in resumed.stdout.replace("\n", " ")
    assert _scores(store) == total
    assert json.loads(out.read_text()) == json.loads(reference_out.read_text())


@pytest.mark.slow
def test_ablate_a_run_genome_and_the_report_shows_it(tmp_path: Path) -> None:
    from helpers.search import micro_config
    from optevo.search import read_summary, start_search

    config = micro_config(
        strategy={
            "kind": "particle",
            "particles": 1,
            "time_steps": 0,
            "mutations": 1,
            "init_factor": 0,
            "seed_genomes": ["Opt4"],
        },
        final={"top": 0, "baselines": []},
    )
    run = tmp_path / "run"
    start_search(config, run)
    best = read_summary(run).leaderboard[0].evaluation.canonical_hash
    store = tmp_path / "s.sqlite"
    args = ["ablate", best[:8], "--run", str(run), "--seeds", "2", "--store", str(store)]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert "matters" in result.output or "within noise" in result.output
    record = json.loads((run / "ablation" / f"{best[:12]}.json").read_text())
    assert {r["kind"] for r in record["rows"]} >= {"node", "decay"}
    assert len(record["base"]) == 2
    report = runner.invoke(app, ["report", str(run), "-o", str(tmp_path / "rep")], env=WIDE)
    assert report.exit_code == 0, report.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "## Ablation" in md and record["rows"][0]["part"].split(" ")[0] in md
