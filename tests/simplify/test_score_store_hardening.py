"""Issue 27 G3-G5: simplify and ablate on hostile inputs.

- G3: a fitness whose every evaluation errors (a suite task too small for Adam's reference run
  to learn) stops them with one line, stores nothing and writes no genome; errors are never
  cached as scores, and a streak of one error stops them as it stops a search.
- G4: a `--store` that is not a score store (a text file, a search's `run.sqlite`, a score
  table of other columns) is refused in one line before anything is trained.
- G5: a damaged score row is one line naming the store and the row, when the store is opened
  (before anything trains).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from optevo import library
from optevo.cli import app
from optevo.fitness import FitnessResult, preset
from optevo.fitness.result import ERROR_STREAK
from optevo.simplify import FitnessScorer, ScoreStore, ScoreStoreError, ScoringError

runner = CliRunner()


def _one_line(result: Any) -> str:
    lines = [x for x in result.output.strip().splitlines() if x.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def _refused(args: list[str]) -> str:
    """The one error line of a command line refused with exit code 2."""
    done = runner.invoke(app, args)
    assert done.exit_code == 2, done.output
    return _one_line(done)


def _rows(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return int(db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])


@pytest.mark.slow
def test_a_fitness_that_always_errors_stops_simplify_and_ablate(tmp_path: Path) -> None:
    # heavy-tailed-logreg at 1% of its budget: Adam's reference run cannot beat the trivial
    # score, so every evaluation is the same ValueError
    fit = tmp_path / "fit.yaml"
    fit.write_text(
        "preset: suite\ntasks: [{name: heavy-tailed-logreg, size: search}]\ntask_scale: 0.01\n"
    )
    store = tmp_path / "scores.sqlite"
    args = ["--fitness", str(fit), "--seeds", "3", "--store", str(store)]
    done = runner.invoke(app, ["ablate", "Opt6", *args])
    assert done.exit_code == 1, done.output
    line = " ".join(done.output.split())
    assert "ablate: the fitness cannot score the genome" in line
    assert "Adam's reference run" in line and "nothing was stored" in line
    assert _rows(store) == 0  # the error was not cached as a score of 0
    out = tmp_path / "simple.json"
    done = runner.invoke(app, ["simplify", "Opt6", *args, "--out", str(out)])
    assert done.exit_code == 1, done.output
    assert "simplify: the fitness cannot score the genome" in " ".join(done.output.split())
    assert not out.exists() and _rows(store) == 0


def test_errors_are_never_stored_and_a_streak_stops_the_scorer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: list[FitnessResult] = [FitnessResult(0.5, "ok")]
    outcomes += [FitnessResult.failure("ValueError: the same\nTraceback ...")] * ERROR_STREAK
    calls: list[int] = []

    def fake(genome: object, config: object, schedule: str) -> FitnessResult:
        calls.append(1)
        return outcomes[len(calls) - 1]

    monkeypatch.setattr("optevo.simplify.scoring.fitness", fake)
    store = ScoreStore(tmp_path / "s.sqlite")
    scorer = FitnessScorer(preset("tiny"), store=store)
    g = library.genome("Opt6")
    assert scorer.score(g, 0) == 0.5  # scored and stored
    for seed in range(1, ERROR_STREAK):  # isolated errors: a rejected genome, not stored
        assert scorer.score(g, seed) == 0.0
    with pytest.raises(ScoringError, match=f"the last {ERROR_STREAK} fitness evaluations"):
        scorer.score(g, ERROR_STREAK)
    assert store.count() == 1
    # an error stored by an older version is not trusted: it is evaluated again
    store.put(scorer.key(g, 99), g, 99, FitnessResult.failure("old"))
    outcomes.append(FitnessResult(0.25, "ok"))
    assert scorer.score(g, 99) == 0.25 and len(calls) == ERROR_STREAK + 2


def test_stores_that_are_not_score_stores_are_refused_in_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just some words " * 20)
    run_db = tmp_path / "run.sqlite"  # what a search run's store holds
    with sqlite3.connect(run_db) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE trials (seq INTEGER PRIMARY KEY, result TEXT)")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE scores (name TEXT, value REAL)")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for path, message in (
        (text, "is not a score store"),
        (run_db, "a search run's database"),
        (other, "its scores table has the columns name, value"),
        (folder, "is not a file"),
    ):
        with pytest.raises(ScoreStoreError, match=message):
            ScoreStore(path)
        line = _refused(["ablate", "Opt6", "--store", str(path), "--seeds", "2"])
        assert str(path.name) in line and message.split(" ")[-1] in line
    assert text.read_text().startswith("not a database")  # left as it was
    with sqlite3.connect(run_db) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        assert {r[0] for r in tables} == {"meta", "trials"}


@pytest.mark.parametrize(
    "damage", ["'not json'", "'[1, 2]'", "X'80ff'", "'{\"fitness\": 0.5}'", "NULL"]
)
def test_a_damaged_score_row_names_the_store_and_the_row(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "s.sqlite"
    store = ScoreStore(path)
    scorer = FitnessScorer(preset("tiny"), store=store)
    g = library.genome("Opt6")
    key = scorer.key(g, 0)
    store.put(key, g, 0, FitnessResult(0.5, "ok"))
    store.close()
    with sqlite3.connect(path) as db:
        if damage == "NULL":  # the column is NOT NULL: rebuild the row without the constraint
            db.execute("ALTER TABLE scores RENAME TO old")
            db.execute(
                "CREATE TABLE scores (key TEXT PRIMARY KEY, genome TEXT, seed INTEGER, "
                "fitness REAL, result TEXT, created REAL)"
            )
            db.execute(
                "INSERT INTO scores SELECT key, genome, seed, fitness, NULL, created FROM old"
            )
            db.execute("DROP TABLE old")
        else:
            db.execute(f"UPDATE scores SET result = {damage}")
    with pytest.raises(ScoreStoreError, match="is damaged") as caught:
        ScoreStore(path)  # checked when opened, before anything trains
    assert str(path) in str(caught.value) and key[:40] in str(caught.value)
    assert "is damaged" in _refused(["ablate", "Opt6", "--store", str(path), "--seeds", "2"])


def test_run_is_checked_whatever_the_genome_is(tmp_path: Path) -> None:
    # issue 27 G6: `--run` with a named genome was not checked, and a directory tree was made
    deep = tmp_path / "no" / "such" / "run"
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    for run, message in (
        (deep, "run directory not found"),
        (a_file, "is a file, not a run directory"),
        (empty, "holds no run"),
    ):
        for command in (["ablate", "Opt6"], ["simplify", "Opt6", "-o", str(tmp_path / "o.json")]):
            line = _refused([*command, "--run", str(run), "--seeds", "3"])
            assert line.startswith("error: --run:") and message in line
    assert not (tmp_path / "no").exists()  # nothing created
    assert list(empty.iterdir()) == [] and not (tmp_path / "o.json").exists()
