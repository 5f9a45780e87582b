"""`optevo tasks`: the listing, its filters, and --measure (one cheap task, really run)."""

from __future__ import annotations

from typer.testing import CliRunner

from optevo.cli import app
from optevo.tasks.registry import TASKS, suite

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def test_lists_every_task_with_its_sizes_and_data() -> None:
    result = runner.invoke(app, ["tasks"], env=WIDE)
    assert result.exit_code == 0, result.output
    for task in TASKS.values():
        assert task.name in result.output and task.source in result.output
    assert "bits-per-char ↓" in result.output and "accuracy ↑" in result.output
    assert "99,600" in result.output  # ptb-awdlstm's bench size


def test_one_suite() -> None:
    result = runner.invoke(app, ["tasks", "--suite", "validate"], env=WIDE)
    assert result.exit_code == 0, result.output
    for task in suite("validate"):
        assert task.name in result.output
    assert "teacher-mlp" not in result.output and "ptb-awdlstm" not in result.output


def test_measure_runs_the_task_at_its_search_size() -> None:
    result = runner.invoke(
        app, ["tasks", "--measure", "--task", "heavy-tailed-logreg,fashion-convnet"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if "│" in line[:3]}
    assert "not run" in lines["fashion-convnet"]  # bench-only: not measured
    cells = [c.strip() for c in lines["heavy-tailed-logreg"].split("│")]
    measured, score = float(cells[8]), float(cells[9])
    assert 0 < measured < 30 and 0.3 < score < 0.69
    assert "1 torch thread" in result.output


def test_refuses_unknown_names() -> None:
    bad = runner.invoke(app, ["tasks", "--suite", "nope"])
    assert bad.exit_code == 2 and "--suite 'nope'" in bad.output
    bad = runner.invoke(app, ["tasks", "--task", "teacher-mlp,nope"])
    assert bad.exit_code == 2 and "unknown task" in bad.output
    bad = runner.invoke(app, ["tasks", "--measure", "--threads", "100000"])
    assert bad.exit_code == 2 and "--threads 100000" in bad.output


def test_a_task_outside_the_named_suite_is_one_line_not_an_empty_table() -> None:
    # issue 27 G14: `tasks --task X --suite validate` printed an empty table and exited 0
    result = runner.invoke(app, ["tasks", "--task", "teacher-mlp", "--suite", "validate"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "not in the validate suite (its suites: search" in lines[0]
    fine = runner.invoke(app, ["tasks", "--task", "teacher-mlp", "--suite", "search"], env=WIDE)
    assert fine.exit_code == 0 and "teacher-mlp" in fine.output
