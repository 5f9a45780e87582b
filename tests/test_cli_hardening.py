"""Result files and command-line errors (issue 7, items 5-7, 10, 11).

The evaluations are replaced by a stand-in (`fake_fitness`), so these tests check what the
command does around them: what it writes, when it refuses, what it prints, its exit code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import optevo.fitness
import optevo.jsonio
from optevo.cli import app
from optevo.fitness import FitnessResult, RunResult
from optevo.jsonio import append_line, read_json_lines

runner = CliRunner()
WIDE = {"COLUMNS": "200"}


def strict_json(line: str) -> Any:
    """json.loads that refuses NaN and Infinity, as other JSON parsers do."""

    def refuse(name: str) -> None:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)


class FakeFitness:
    """Stands in for `optevo.fitness.fitness`: returns the given results in turn, counting
    the calls (a check that refuses "before any work" leaves it at zero)."""

    def __init__(self, *results: FitnessResult) -> None:
        self.results = list(results)
        self.calls = 0

    def __call__(self, genome: object, config: object, **_: object) -> FitnessResult:
        result = self.results[min(self.calls, len(self.results) - 1)]
        self.calls += 1
        return result


def nan_result() -> FitnessResult:
    nan = float("nan")
    run = RunResult(0.1, 0, "diverged", 5, [0.5, nan], [1.0, nan], [nan], [float("inf")])
    return FitnessResult(nan, "diverged", 0.1, {0.1: nan, 0.01: 0.5}, [run], seconds=1.0)


def error_result() -> FitnessResult:
    return FitnessResult(
        None, "error", error="RuntimeError: CUDA out of memory\nTraceback (most recent...)\n..."
    )


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeFitness:
    stand_in = FakeFitness(FitnessResult(0.9, "ok", 0.1, {0.1: 0.9}, seconds=0.5))
    monkeypatch.setattr(optevo.fitness, "fitness", stand_in)
    return stand_in


def evaluate(*args: str) -> Any:
    return runner.invoke(app, ["evaluate", *args, "--preset", "tiny"], env=WIDE)


def one_error_line(result: Any) -> str:
    """The command failed with exactly one line on stderr, no traceback."""
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


# -- item 5: strict JSON ------------------------------------------------------------------------


def test_non_finite_numbers_are_written_as_null(tmp_path: Path, fake: FakeFitness) -> None:
    fake.results = [nan_result()]
    out = tmp_path / "r.jsonl"
    result = evaluate("SGD", "--out", str(out))
    assert result.exit_code == 0, result.output
    (record,) = [strict_json(line) for line in out.read_text().splitlines()]
    assert record["fitness"] is None and record["screen"] == {"0.1": None, "0.01": 0.5}
    assert record["runs"][0]["train_loss"] == [1.0, None]
    assert record["runs"][0]["val_loss"] == [None]


# -- item 6: output paths checked before any work -----------------------------------------------


@pytest.mark.parametrize("where", ["missing-folder", "directory", "file-as-folder"])
def test_bad_out_path_is_refused_before_training(
    tmp_path: Path, fake: FakeFitness, where: str
) -> None:
    (tmp_path / "file").write_text("x")
    out = {
        "missing-folder": tmp_path / "nope" / "r.jsonl",
        "directory": tmp_path,
        "file-as-folder": tmp_path / "file" / "r.jsonl",
    }[where]
    line = one_error_line(evaluate("SGD", "--out", str(out)))
    assert str(out) in line
    assert fake.calls == 0


def test_unwritable_out_file_is_refused_before_training(
    tmp_path: Path, fake: FakeFitness, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.jsonl"
    out.write_text("")
    out.chmod(0o444)
    if os.access(out, os.W_OK):  # root writes anyway: make opening it fail as it would
        real_open = Path.open

        def refuse(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if self == out and mode != "r":
                raise PermissionError(13, "Permission denied")
            return real_open(self, mode, *args, **kwargs)

        monkeypatch.setattr(Path, "open", refuse)
    line = one_error_line(evaluate("SGD", "--out", str(out)))
    assert "Permission denied" in line and str(out) in line
    assert fake.calls == 0


# -- item 7: a failed write ---------------------------------------------------------------------


def test_disk_full_stops_with_one_line_and_keeps_finished_results(
    tmp_path: Path, fake: FakeFitness, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.jsonl"
    real_write = os.write
    writes = {"n": 0}

    def fill_up(fd: int, data: bytes | memoryview) -> int:
        writes["n"] += 1
        if writes["n"] == 2:  # the second record: half of it lands, then the disk is full
            real_write(fd, bytes(data[: len(data) // 2]))
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(optevo.jsonio.os, "write", fill_up)
    result = runner.invoke(
        app, ["evaluate", "SGD", "Adam", "QHM", "--preset", "tiny", "--out", str(out)], env=WIDE
    )
    line = one_error_line(result)
    assert result.exit_code == 1
    assert "No space left on device" in line and "stopped after 1 of 3" in line
    assert fake.calls == 2  # QHM never ran
    text = out.read_text()
    assert text.endswith("\n")  # the partial second record was cut back
    assert [strict_json(x)["name"] for x in text.splitlines()] == ["SGD"]


def test_dev_full_is_reported_not_raised(tmp_path: Path, fake: FakeFitness) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    line = one_error_line(evaluate("SGD", "--out", "/dev/full"))
    assert "No space left on device" in line


def test_append_after_a_partial_line_starts_a_new_one(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    append_line(out, {"n": 1})
    with out.open("a") as fh:
        fh.write('{"n": 2, "cut sh')  # a record cut short by an earlier crash
    append_line(out, {"n": 3, "x": float("nan")})
    assert out.read_text().count("\n") == 3
    assert list(read_json_lines(out)) == [{"n": 1}, {"n": 3, "x": None}]


# -- item 10: every candidate in error ----------------------------------------------------------


def test_error_reason_is_printed_and_all_errors_exit_non_zero(fake: FakeFitness) -> None:
    fake.results = [error_result()]
    result = runner.invoke(app, ["evaluate", "SGD", "Adam", "--preset", "tiny"], env=WIDE)
    assert "SGD: error: RuntimeError: CUDA out of memory" in result.stdout
    assert "Traceback" not in result.stdout
    assert result.exit_code == 1
    assert "every candidate ended in error" in result.stderr


def test_one_success_among_errors_exits_zero(fake: FakeFitness) -> None:
    fake.results = [error_result(), FitnessResult(0.9, "ok", 0.1, {0.1: 0.9})]
    result = runner.invoke(app, ["evaluate", "SGD", "Adam", "--preset", "tiny"], env=WIDE)
    assert result.exit_code == 0, result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine has no CUDA device")
def test_cuda_without_a_gpu_is_refused_before_training(fake: FakeFitness) -> None:
    line = one_error_line(evaluate("SGD", "--set", "device=cuda"))
    assert "no CUDA device" in line
    assert fake.calls == 0


def test_batch_larger_than_the_data_is_refused_before_training(fake: FakeFitness) -> None:
    line = one_error_line(evaluate("SGD", "--set", "batch_size=100000"))
    assert "batch_size 100000 exceeds the" in line
    assert fake.calls == 0


# -- item 11: one line for each user error ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- base: 8\n- seed: 1\n", "holds a list"),
        ("just a string\n", "holds a string"),
        (None, "is a directory"),
    ],
    ids=["list", "string", "directory"],
)
def test_bad_config_file_is_one_line(
    tmp_path: Path, fake: FakeFitness, content: str | None, message: str
) -> None:
    path = tmp_path
    if content is not None:
        path = tmp_path / "c.yaml"
        path.write_text(content)
    result = runner.invoke(app, ["evaluate", "SGD", "--config", str(path)], env=WIDE)
    assert message in one_error_line(result)
    assert fake.calls == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "."], "is not a file"),
        (["check", "."], "is not a file"),
        (["evaluate", "SGD", "--preset", "tiny", "--set", "base=[1"], "not valid YAML"),
        (["evaluate", "SGD", "--preset", "tiny", "--set", "=3"], "KEY=VALUE"),
        (["evaluate", "SGD", "--preset", "tiny", "--seed", "-1"], "--seed must be 0 or more"),
        (["sample", "--seed", "-1"], "--seed must be 0 or more"),
        (["sample", "--count", "1", "--out", "nope/g.jsonl"], "does not exist"),
        (["show", "Adam", "--format", "pdf"], "unknown format"),
    ],
)
def test_user_errors_are_one_line(fake: FakeFitness, args: list[str], message: str) -> None:
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2
    assert message in one_error_line(result)
    assert fake.calls == 0


def test_sample_out_refuses_an_existing_file_without_force(tmp_path: Path) -> None:
    out = tmp_path / "g.jsonl"
    out.write_text("keep me\n")
    refused = runner.invoke(app, ["sample", "--count", "2", "--out", str(out)], env=WIDE)
    assert "exists; pass --force" in one_error_line(refused)
    assert out.read_text() == "keep me\n"
    forced = runner.invoke(app, ["sample", "--count", "2", "--out", str(out), "--force"])
    assert forced.exit_code == 0, forced.output
    schemas = [strict_json(x)["schema"] for x in out.read_text().splitlines()]
    assert schemas == ["optevo.genome/1"] * 2
    assert [p.name for p in tmp_path.iterdir()] == ["g.jsonl"]  # no temporary file left


def test_a_huge_argument_is_not_echoed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    import typer
    from typer.testing import CliRunner

    from optevo.cli import app
    from optevo.cli.common import fail
    from optevo.config import cut_middle

    huge = "x" * 100_000  # also over the OS's 255-byte file-name limit: no ENAMETOOLONG
    result = CliRunner().invoke(app, ["show", huge], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert len(text) < 1_500 and "neither a named optimizer" in text
    with pytest.raises(typer.Exit):
        fail(f"bad value {huge}: the reason at the end")
    err = " ".join(capsys.readouterr().err.split())
    assert len(err) < 1_500
    assert "characters cut" in err and err.endswith("the reason at the end")
    assert cut_middle("short") == "short"
    cut = cut_middle("a" * 600 + "b" * 600 + "the end", 300)
    assert cut.startswith("a" * 200) and cut.endswith("the end")
    assert "(907 characters cut)" in cut  # 1,207 - 200 - 100
