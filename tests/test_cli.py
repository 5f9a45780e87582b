"""The command line: each command on real inputs, and clear errors for bad ones."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from optevo import library
from optevo.cli import app

runner = CliRunner()


def test_list_shows_every_named_optimizer() -> None:
    result = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("Adam", "Opt6", "PowerSign-ld", "A5", "LR9"):
        assert name in result.output


def test_show_formats(tmp_path: Path) -> None:
    text = runner.invoke(app, ["show", "Adam"])
    assert text.exit_code == 0 and "u = v / (sqrt(|s|) + eps)" in text.output
    as_json = runner.invoke(app, ["show", "Opt10", "--format", "json"])
    assert json.loads(as_json.output)["momentum"] == "nesterov"
    latex = runner.invoke(app, ["show", "Adam", "--format", "latex"])
    assert r"\hat{v}" in latex.output
    bad = runner.invoke(app, ["show", "Adam", "--format", "pdf"])
    assert bad.exit_code != 0 and "unknown format" in bad.output


def test_check_exit_codes(tmp_path: Path) -> None:
    assert runner.invoke(app, ["check", "SGD"]).exit_code == 0
    constant = library.genome("SGD").to_dict()
    constant["hidden"][0]["inputs"] = ["one"]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(constant))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1 and "FAILED" in result.output


def test_bad_genome_file_names_file_and_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"schema": "optevo.genome/1"}')
    result = runner.invoke(app, ["check", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "broken.json" in result.output and "missing field" in result.output
    missing = runner.invoke(app, ["check", "nope.json"], env={"COLUMNS": "200"})
    assert missing.exit_code == 2 and "neither a named optimizer" in missing.output


def test_sample_writes_json_lines(tmp_path: Path) -> None:
    out = tmp_path / "g.jsonl"
    result = runner.invoke(app, ["sample", "--count", "3", "--out", str(out)])
    assert result.exit_code == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line)["schema"] for line in lines)


def test_evaluate_tiny_preset_appends_results(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    args = ["evaluate", "SGD", "--random", "1", "--preset", "tiny", "--out", str(out)]
    result = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["SGD", "random-0-0"]
    assert rows[0]["status"] == "ok" and rows[0]["fitness"] > 0.5
    assert rows[0]["config"]["dataset"] == "digits"


def test_evaluate_rejects_bad_overrides() -> None:
    result = runner.invoke(app, ["evaluate", "SGD", "--preset", "tiny", "--set", "base=0"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "base" in result.output
    result = runner.invoke(app, ["evaluate", "--preset", "tiny"], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "at least one genome" in result.output
