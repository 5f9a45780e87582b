"""Hostile run configurations through the command line (issue 18: F1, F5, F6, F7, F23): one
line naming the field or file, exit 2, nothing written, at once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optevo.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "300"}

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10) if prev else ', '.join(['1'] * 10)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
)


def refused(args: list[str], needle: str, tmp_path: Path) -> str:
    t0 = time.perf_counter()
    result = runner.invoke(app, args, env=WIDE)
    seconds = time.perf_counter() - t0
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # nothing half-written
    # a hang guard, not a speed target (those live in benchmarks/): a bomb that expanded
    # would take minutes; a loaded CI machine takes a few seconds
    assert seconds < 60.0
    return lines[0]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (BOMB + "seed: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n", "more than 100,000 values"),
        (BOMB + "nonsense: *h\n", "more than 100,000 values"),
        ("preset: tiny\nseed: " + "[" * 4000 + "]" * 4000 + "\n", "nested too deeply"),
        ("preset: tiny\nseed: 1\nseed: 2\n", "the key 'seed' is given twice"),
    ],
)
def test_hostile_config_files(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(text)
    line = refused(
        ["search", "--config", str(config), "--run-dir", str(tmp_path / "run")], needle, tmp_path
    )
    assert "run.yaml" in line


def test_deep_set_value(tmp_path: Path) -> None:
    deep = "[" * 3000 + "]" * 3000
    args = ["search", "--preset", "tiny", "--set", f"seed={deep}", "--run-dir"]
    refused([*args, str(tmp_path / "run")], "nested too deeply", tmp_path)


@pytest.mark.parametrize("spec", ["missing.json", "/etc/passwd", "/dev/zero", "."])
def test_seed_genomes_are_checked_with_the_config(tmp_path: Path, spec: str) -> None:
    args = ["search", "--preset", "tiny", "--set", f"strategy.seed_genomes=[{spec}]"]
    line = refused([*args, "--run-dir", str(tmp_path / "run")], "seed genome", tmp_path)
    assert "strategy.particle.seed_genomes" in line and spec in line


def test_any_field_can_be_set_including_name(tmp_path: Path) -> None:
    # `--set name=myrun` used to collide with run_preset's own argument
    from optevo.search.config import run_preset

    assert run_preset("tiny", name="myrun").name == "myrun"
    result = runner.invoke(
        app,
        [
            "search",
            "--preset",
            "tiny",
            "--set",
            "name=myrun",
            "--set",
            "strategy.particles=0",
            "--run-dir",
            str(tmp_path / "run"),
        ],
        env=WIDE,
    )
    # the name is accepted; the run is refused for the other field, naming it
    assert result.exit_code == 2 and "strategy.particle.particles" in result.output
    assert "multiple values" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("key", "needle"),
    [
        ("fitness.base", "fitness.base: expected a number, not true or false"),
        ("fitness.screen_lrs", "fitness.screen_lrs.0: expected a number"),
        ("sphere.threshold", "sphere.threshold: expected a number"),
        ("space.n_hidden", "space.n_hidden: expected a number"),
        ("strategy.particles", "strategy.particle.particles: expected a number"),
        ("executor.num_cpus", "executor.num_cpus: expected a number"),
        ("final.seeds", "final.seeds: expected a number"),
    ],
)
def test_true_is_not_a_number(tmp_path: Path, key: str, needle: str) -> None:
    value = "[true]" if key.endswith("lrs") else "true"
    args = ["search", "--preset", "tiny", "--set", f"{key}={value}"]
    refused([*args, "--run-dir", str(tmp_path / "run")], needle, tmp_path)


@pytest.mark.parametrize("command", ["search", "evaluate"])
def test_absurd_thread_counts_are_refused_before_torch_sees_them(
    tmp_path: Path, command: str
) -> None:
    # torch.set_num_threads(1_000_000) crashes the process (a segfault, no message)
    args = [command, "--preset", "tiny", "--threads", "1000000"]
    if command == "evaluate":
        args.append("Adam")
    else:
        args += ["--run-dir", str(tmp_path / "run")]
    result = runner.invoke(app, args, env=WIDE)
    assert result.exit_code == 2 and "--threads" in result.output
    assert not (tmp_path / "run").exists()
