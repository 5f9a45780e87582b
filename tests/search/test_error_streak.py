"""A run whose every evaluation fails with one same error (a problem of its configuration)
stops after `ERROR_STREAK` of them with that message, instead of spending its whole budget
on errors: in the API, on resume, and through the CLI with a real suite task too small for
Adam's reference run to learn."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.search import SyntheticExecutor, micro_config
from optevo.cli import app
from optevo.fitness import FitnessResult
from optevo.search.api import resume_search, start_search
from optevo.search.executors import OnDone
from optevo.search.records import Trial, TrialResult
from optevo.search.runner import ERROR_STREAK, SearchFailingError
from optevo.space.genome import Genome

MESSAGE = "ValueError: task x: Adam's reference run does not beat the trivial score"


class FailingExecutor(SyntheticExecutor):
    """Every trial an error; `messages` cycles through the error texts (one per trial)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__()
        self.messages = messages

    def run(self, trials: list[Trial], on_done: OnDone) -> None:
        for trial in trials:
            self.trials.append(trial)
            text = self.messages[(len(self.trials) - 1) % len(self.messages)]
            result = FitnessResult.failure(f"{text}\nTraceback (most recent call last): ...")
            on_done(trial, TrialResult.from_dict({**result.to_dict(), "host": "failing"}))


def _stored(run_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return db.execute("SELECT status, error FROM evaluations ORDER BY seq").fetchall()


def big_config() -> object:
    # a run far longer than the streak: 4 particles x 10 steps x 3 mutations
    return micro_config(
        strategy={
            "kind": "particle",
            "particles": 4,
            "time_steps": 10,
            "mutations": 3,
            "init_factor": 2,
            "screen_redraws": 1,
        }
    )


def test_one_error_everywhere_stops_the_run_at_the_streak(tmp_path: Path) -> None:
    with pytest.raises(SearchFailingError) as caught:
        start_search(big_config(), tmp_path / "run", executor=FailingExecutor([MESSAGE]))
    text = str(caught.value)
    rows = _stored(tmp_path / "run")
    # The check runs after each batch: the run stops at the end of the first batch that
    # brings the streak to 16 or more (8 initial candidates, then a search batch of 16 here),
    # and the message counts them all.
    assert len(rows) == 24
    assert f"the last {len(rows)} evaluations all failed" in text and text.endswith(MESSAGE)
    assert all(status == "error" for status, _ in rows)
    # Resume replays the stored results in order and stops at the same place.
    with pytest.raises(SearchFailingError):
        resume_search(tmp_path / "run", executor=FailingExecutor([MESSAGE]))
    assert len(_stored(tmp_path / "run")) == len(rows)


def test_different_errors_or_successes_reset_the_count(tmp_path: Path) -> None:
    # two messages alternating: never 16 of one in a row, the run goes to its end
    ex = FailingExecutor([MESSAGE, "RuntimeError: something else"])
    summary = start_search(big_config(), tmp_path / "a", executor=ex)
    assert summary.finished and len(_stored(tmp_path / "a")) > 2 * ERROR_STREAK

    class Mixed(SyntheticExecutor):
        # 15 errors, then one genuine result, and again: the count restarts every time
        def run(self, trials: list[Trial], on_done: OnDone) -> None:
            for trial in trials:
                self.trials.append(trial)
                if len(self.trials) % ERROR_STREAK == 0:
                    genome = Genome.from_json(trial.genome_json)
                    result = FitnessResult(0.5 + 0.001 * len(genome.canonical_hash()), "ok", 1.0)
                else:
                    result = FitnessResult.failure(MESSAGE)
                on_done(trial, TrialResult.from_dict({**result.to_dict(), "host": "mixed"}))

    summary = start_search(big_config(), tmp_path / "b", executor=Mixed())
    assert summary.finished and len(_stored(tmp_path / "b")) > 2 * ERROR_STREAK


@pytest.mark.slow
def test_cli_stops_a_suite_run_whose_task_adam_cannot_learn(tmp_path: Path) -> None:
    # heavy-tailed-logreg at 1% of its budget (20 steps): Adam's reference run does not beat
    # the trivial score, so every candidate raises the same ValueError
    config = tmp_path / "run.yaml"
    config.write_text(
        "name: tiny-suite\nseed: 0\n"
        "fitness:\n  preset: suite\n"
        "  tasks: [{name: heavy-tailed-logreg, weight: 1, size: search}]\n"
        "  task_scale: 0.01\n"
        "strategy: {kind: random, batch: 4, budget: 200}\n"
        "executor: {kind: serial, threads: 1}\n"
        "final: {top: 1, baselines: [Adam], seeds: 2}\n"
    )
    result = CliRunner().invoke(
        app, ["search", "--config", str(config), "--run-dir", str(tmp_path / "run")]
    )
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert f"the last {ERROR_STREAK} evaluations all failed" in out
    assert "Adam's reference run" in out and "heavy-tailed-logreg" in out
    assert len(_stored(tmp_path / "run")) == ERROR_STREAK  # batches of 4: exactly 16
