"""`optevo validate` through the CLI runner: two named optimizers on two cheap tasks (tables,
stored runs, a re-run that trains nothing), a genome file with the best genome of a search run,
and bad inputs (one line, exit 2)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from optevo import library
from optevo.cli import app
from optevo.report.document import Document, to_markdown
from optevo.report.page import validation_section
from optevo.tasks.registry import TASKS
from optevo.transfer.store import ResultStore

TASKS_ARG = "cancer-logreg,ratings-mf"  # 6,000 steps each; at scale 0.02: 120
SMOKE = ["--tasks", TASKS_ARG, "--scale", "0.02", "--seeds", "2"]
runner = CliRunner()


def _invoke(args: list[str]) -> Any:
    return runner.invoke(app, ["validate", *args])


def test_two_named_optimizers_then_a_rerun_that_trains_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    result = _invoke(["Adam", "SGD", *SMOKE, "--out", str(out)])
    assert result.exit_code == 0, result.output
    md = (out / "table.md").read_text()
    for task in TASKS_ARG.split(","):
        section = md.split(f"## {task} ")[1].split("## ")[0]
        for row in ("Adam", "SGD", "AdamW", "Lion"):
            assert f"\n| {row} | " in section, (task, row)
        sgd = section.split("\n| SGD | ")[1].splitlines()[0]
        # the verdict and its effect with the 95% confidence interval: "tie -0.01 [-0.2, +0.1]"
        assert any(f"| {v} " in f"| {sgd}" for v in ("win", "loss", "tie")) and " [" in sgd
    summary = json.loads((out / "summary.json").read_text())
    assert [t["task"] for t in summary["tasks"]] == TASKS_ARG.split(",")
    (sgd_row,) = [r for r in summary["tasks"][0]["rows"] if r["optimizer"] == "SGD"]
    assert set(sgd_row["vs"]) == {"Adam", "AdamW", "Lion"} and sgd_row["seeds"] == [0, 1]
    records = ResultStore(out).records()
    finals = {(r.key.task, r.key.optimizer, r.key.seed) for r in records if r.key.phase == "final"}
    assert finals == {
        (t, o, s)
        for t in TASKS_ARG.split(",")
        for o in ("Adam", "SGD", "AdamW", "Lion")
        for s in (0, 1)
    }
    assert f"{len(records)} runs trained, 0 read back" in " ".join(result.output.split())
    assert (out / "table.csv").read_text().startswith("task,metric,direction,optimizer")

    # The same command again: every run is read back; no task is even built.
    def refuse(*args: object) -> None:
        raise AssertionError("a resumed validation built a task")

    for name in TASKS_ARG.split(","):
        monkeypatch.setitem(TASKS, name, dataclasses.replace(TASKS[name], build=refuse))
    again = _invoke(["Adam", "SGD", *SMOKE, "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert f"0 runs trained, {len(records)} read back" in " ".join(again.output.split())
    assert len(ResultStore(out).records()) == len(records)
    assert (out / "table.md").read_text().split("## ")[1:] == md.split("## ")[1:]


def test_a_genome_file_and_the_best_genome_of_a_run(tmp_path: Path) -> None:
    from helpers.search import SyntheticExecutor, micro_config
    from optevo.search import start_search
    from optevo.search.api import read_summary

    run_dir = tmp_path / "run"
    start_search(
        micro_config(final={"top": 0, "baselines": []}), run_dir, executor=SyntheticExecutor()
    )
    best = read_summary(run_dir).leaderboard[0].evaluation
    genome_file = tmp_path / "mine.json"
    genome_file.write_text(library.genome("Opt6").to_json())
    args = [str(genome_file), "--run", str(run_dir), "--top", "1", "--tasks", "cancer-logreg"]
    result = _invoke([*args, "--scale", "0.01", "--seeds", "2", "--grid", "0.01"])
    assert result.exit_code == 0, result.output
    md = (run_dir / "validate" / "table.md").read_text()  # stored in the run
    label = f"#1 {best.canonical_hash[:10]}"
    for row in ("mine", label, "Adam", "AdamW", "Lion"):
        assert f"\n| {row} | " in md
    # The run's report shows the tables.
    section = validation_section(run_dir)
    assert section is not None
    text = to_markdown(Document("r", [], [section]))
    assert f"| {label} |" in text and "vs Lion (W/L/T)" in text


def test_bad_inputs_are_one_line_and_exit_2(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "summary.json").write_text('{"schema": "other"}')
    out = ["--out", str(tmp_path / "never")]
    for args, message in [
        ([], "give named optimizers"),
        (["Nope", *out], "neither a named optimizer"),
        (["Adam", "Adam", *out], "more than once"),
        (["Adam", "--top", "2", *out], "--top needs --run"),
        (["Adam", "--run", str(tmp_path / "nowhere")], "not a run directory"),
        (["Adam", "--tasks", "nope", *out], "unknown task"),
        (["Adam", "--tasks", ",", *out], "names no task"),
        (["Adam", "--tasks", "fashion-convnet", *out], "only a bench size"),
        (["Adam", "--suite", "bench", *out], "--suite 'bench': use validate or search"),
        (["Adam", "--grid", "0.1,0", *out], "--grid: learning rate 0.0 is outside"),
        (["Adam", "--grid", "1e300", *out], "--grid: learning rate 1e+300 is outside"),
        (["Adam", "--grid", "1e-320", *out], "--grid: learning rate 1e-320 is outside"),
        (["Adam", "--grid", "fast", *out], "--grid takes comma-separated"),
        (["Adam", "--scale", "0", *out], "--scale must be positive"),
        (["Adam", "--scale", "1e9", *out], "more than the limit"),
        (["Adam", "--device", "tpu", *out], "--device"),
        (["Adam", "--out", str(a_file)], "is not a folder"),
        (["Adam", "--out", str(foreign)], "not a validate summary"),
        ([str(a_file), *out], "not valid JSON"),
    ]:
        result = _invoke(args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.output)
    assert not (tmp_path / "never").exists()


def test_search_suite_tasks_are_warned_about() -> None:
    # issue 27 G14: a task a search selects on, used to validate, said nothing
    from optevo.optim.spec import named
    from optevo.validate.run import ValidateConfig

    specs = tuple(named(["Adam"]))
    mixed = ValidateConfig(specs, ("teacher-mlp", "ratings-mf"), suite="validate")
    assert mixed.selected_on() == ("teacher-mlp",)
    assert ValidateConfig(specs).selected_on() == ()  # the shipped validation suite
    assert ValidateConfig(specs, ("teacher-mlp",), suite="search").selected_on() == ()
