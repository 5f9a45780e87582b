"""Run directories and search commands under hostile inputs (issue 18: F2, F3, F4, F8, F9,
F12, F18, F19, F22, F25).

Every hostile input is built here: run directories with `%`, `#` or `?` in their names, runs on
a read-only mount, databases tampered with through sqlite3, edited `config.yaml` files,
devices that are not there, absurd sizes, a run held by another process. Runs are made with
the synthetic executor (`helpers.search.SyntheticExecutor`: no training, milliseconds), so
these tests check what the commands do around the training: what they read, what they refuse
and say, their exit codes, and what they leave behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from typer.testing import CliRunner

import optevo.cli.eliminate
import optevo.search.executors
import optevo.search.store
import optevo.search.strategies.particle
import optevo.search.worker
from helpers.search import SyntheticExecutor, micro_config
from optevo.cli import app
from optevo.config import ConfigError
from optevo.search.api import read_summary, start_search
from optevo.search.elimination import (
    META_CONFIG,
    META_FINISHED,
    NoSurvivorsError,
    eliminate,
    read_elimination,
)
from optevo.search.elimination_config import elimination_protocol
from optevo.search.store import RunStore, StoredDataError

runner = CliRunner()
WIDE = {"COLUMNS": "200"}

# A device that is not here, with CUDA or without.
ABSENT_DEVICE = f"cuda:{torch.cuda.device_count() + 7}"


def one_error_line(result: Any, code: int = 2) -> str:
    """The command failed with `code` and exactly one `error:` line on stderr; returns it
    (whitespace joined), checking no traceback was printed."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    assert "Traceback" not in result.output
    return errors[0]


def invoke(*args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def make_run(run_dir: Path, **sections: Any) -> Path:
    """A finished micro run (synthetic results) in `run_dir`."""
    assert start_search(micro_config(**sections), run_dir, executor=SyntheticExecutor()).finished
    return run_dir


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("hardening") / "run")


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def best_hash(run_dir: Path) -> str:
    with RunStore.open(run_dir, lock=False) as store:
        ev = max(
            (e for e in store.evaluations("search") if e.fitness is not None),
            key=lambda e: e.rank_key(),
        )
    return ev.canonical_hash


# ----------------------------------------------------------------------------------------------
# F2, F3: every command reads the directory it was given, whatever its name
# ----------------------------------------------------------------------------------------------


def test_a_percent_name_reads_its_own_run_not_its_decoded_neighbour(
    finished: Path, tmp_path: Path
) -> None:
    # `pct%41` decodes to `pctA` as a URI: with an unquoted URI, `status pct%41` read pctA.
    neighbour = make_run(tmp_path / "pctA", seed=7)
    odd = copy_run(finished, tmp_path / "pct%41")
    assert best_hash(neighbour) != best_hash(odd)

    assert read_summary(odd).config.seed == 0 and read_summary(neighbour).config.seed == 7
    result = invoke("status", odd)
    assert result.exit_code == 0, result.output
    assert best_hash(odd)[:10] in result.output
    assert best_hash(neighbour)[:10] not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pct%41", "pctA"]


@pytest.mark.parametrize("name", ["exp#1", "what?x=1", "a b%20#?"])
def test_a_run_named_with_uri_characters_is_readable_and_resumable(
    finished: Path, tmp_path: Path, name: str
) -> None:
    run_dir = copy_run(finished, tmp_path / name)
    with sqlite3.connect(run_dir / "run.sqlite") as db:  # resume has something to do
        db.execute("DELETE FROM evaluations WHERE key = 'final/Adam'")
        db.execute("DELETE FROM meta WHERE key = 'finished'")

    status = invoke("status", run_dir)
    assert status.exit_code == 0, status.output
    assert "not finished" in status.output
    best = best_hash(run_dir)
    out = tmp_path / "best.json"
    exported = invoke("export", best[:8], "--run", run_dir, "-o", out)
    assert exported.exit_code == 0, exported.output
    shown = invoke("show", best[:8], "--run", run_dir)
    assert shown.exit_code == 0, shown.output

    resumed = invoke("search", "--resume", run_dir)
    assert resumed.exit_code == 0, resumed.output
    assert read_summary(run_dir).finished
    # Nothing but the run (and the exported genome) beside it: no empty `exp` database.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "best.json"])


# ----------------------------------------------------------------------------------------------
# F4: a finished run on a read-only mount
# ----------------------------------------------------------------------------------------------


def _bind_mounts() -> bool:
    """Whether this machine lets a test make a read-only bind mount (`unshare -m`, root)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind -o ro / /mnt"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


@pytest.mark.slow  # six commands in child processes (~12 s)
@pytest.mark.subprocess
def test_a_run_on_a_read_only_mount_is_read_and_refused_for_resume(
    finished: Path, tmp_path: Path
) -> None:
    """Real read-only storage: a read-only bind mount of a copied run in a private mount
    namespace when this machine allows one (root with `unshare`), else, for a user other than
    root, the run's permissions (chmod -R a-w)."""
    best = best_hash(finished)[:8]
    run_dir = copy_run(finished, tmp_path / "run")
    for extra in ("run.sqlite-wal", "run.sqlite-shm"):  # (left by readers of `finished`)
        (run_dir / extra).unlink(missing_ok=True)  # a run closed cleanly has none
    commands = {
        "status": "status {run}",
        "export": f"export {best} --run {{run}} -o {tmp_path / 'g.json'}",
        "show": f"show {best} --run {{run}}",
        "report": f"report {{run}} -o {tmp_path / 'report'} --top 0",
        "resume": "search --resume {run}",
        "eliminate": "eliminate {run} --tops 2,1 --bases 4 --steps 60",
    }
    optevo = Path(sys.executable).parent / "optevo"
    if _bind_mounts():
        mount = tmp_path / "ro"
        mount.mkdir()
        lines = [f"mount --bind -o ro {run_dir} {mount} || exit 99"]
        for name, args in commands.items():
            lines.append(f"{optevo} {args.format(run=mount)} >{tmp_path / name}.out 2>&1")
            lines.append(f"echo $? >{tmp_path / name}.rc")
        script = tmp_path / "ro.sh"
        script.write_text("\n".join(lines) + "\n")
        done = subprocess.run(["unshare", "-m", "sh", str(script)], timeout=300)
        assert done.returncode != 99, "the read-only bind mount failed"
    elif os.geteuid() != 0:
        subprocess.run(["chmod", "-R", "a-w", str(run_dir)], check=True)
        try:
            for name, args in commands.items():
                cmd = f"{optevo} {args.format(run=run_dir)}"
                done = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=300)
                (tmp_path / f"{name}.out").write_text(done.stdout + done.stderr)
                (tmp_path / f"{name}.rc").write_text(str(done.returncode))
        finally:
            subprocess.run(["chmod", "-R", "u+w", str(run_dir)], check=True)
    else:
        pytest.skip("root without a read-only bind mount: see the simulated test below")

    def outcome(name: str) -> tuple[int, str]:
        text = (tmp_path / f"{name}.out").read_text()
        return int((tmp_path / f"{name}.rc").read_text()), " ".join(text.split())

    for name in ("status", "export", "show", "report"):
        rc, text = outcome(name)
        assert rc == 0, (name, text)
        assert "unable to open database file" not in text
    assert "finished" in outcome("status")[1]
    assert (tmp_path / "g.json").is_file() and (tmp_path / "report" / "index.html").is_file()
    for name in ("resume", "eliminate"):
        rc, text = outcome(name)
        assert rc == 2, (name, text)
        assert text.startswith("error: ") and "is read-only" in text, (name, text)
        assert "Traceback" not in text
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "lock", "run.sqlite"]


def test_a_read_only_run_directory_simulated(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refusals where no read-only storage can be made (root sees every file as
    writable): `os.access` reports the run directory not writable, as on a read-only mount."""
    run_dir = copy_run(finished, tmp_path / "run")
    real = optevo.search.store.writable

    def writable(path: Path) -> bool:
        return False if path.resolve().is_relative_to(run_dir.resolve()) else real(path)

    monkeypatch.setattr(optevo.search.store, "writable", writable)
    assert invoke("status", run_dir).exit_code == 0
    for args in (["search", "--resume", run_dir], ["eliminate", run_dir]):
        line = one_error_line(invoke(*args))
        assert f"--resume {run_dir}: " in line or line.startswith(f"error: {run_dir} is")
        assert "is read-only: it can be read" in line


# ----------------------------------------------------------------------------------------------
# F8: stored values that are not what was written
# ----------------------------------------------------------------------------------------------

TAMPERED = [
    ("evaluations", "genome", '{"not": "a genome"}', "genome:"),
    ("evaluations", "genome", "", "genome:"),
    ("evaluations", "fitness", "high", "fitness: expected a number"),
    ("evaluations", "fitness_values", '[0.5, "x"]', "fitness_values:"),
    ("evaluations", "fitness_values", "not json", "fitness_values:"),
    ("evaluations", "status", "splendid", "unknown status"),
    ("evaluations", "stage", "nowhere", "unknown stage"),
]


@pytest.mark.parametrize(("table", "column", "value", "needle"), TAMPERED)
def test_a_tampered_evaluation_is_one_line_naming_the_database(
    finished: Path, tmp_path: Path, table: str, column: str, value: str, needle: str
) -> None:
    run_dir = copy_run(finished, tmp_path / "run")
    with RunStore.open(run_dir, lock=False) as store:
        ev = store.evaluations("search")[-1]
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute(f"UPDATE {table} SET {column} = ? WHERE key = ?", (value, ev.key))
    db_file = run_dir / "run.sqlite"
    expected = f"{db_file}: stored evaluation {ev.key!r} is not valid"
    commands = [
        ["status", run_dir],
        ["export", ev.canonical_hash[:8], "--run", run_dir, "-o", tmp_path / "g.json"],
        ["show", ev.canonical_hash[:8], "--run", run_dir],
        ["search", "--resume", run_dir],
        ["report", run_dir, "-o", tmp_path / "report"],
        ["bench", "--task", "fashion-convnet", "--run", run_dir, "--out", tmp_path / "b"],
    ]
    if column != "stage":  # (a row moved out of the search stage is not the search's)
        commands.append(["eliminate", run_dir])
    for args in commands:
        line = one_error_line(invoke(*args))
        assert expected in line and needle in line, (args, line)
    assert not (tmp_path / "g.json").exists()


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("not json", "Expecting value"),
        ("[1, 2]", "expected a JSON object"),
        ('{"status": "ok", "runs": [{"lr": "x"}]}', "trial result"),
        ('{"status": "grand"}', "unknown fitness status"),
    ],
)
def test_a_tampered_trial_result_is_one_line_naming_the_database(
    finished: Path, tmp_path: Path, value: str, needle: str
) -> None:
    """Resume reads the stored trials of an evaluation it has to finish: here the final
    re-evaluation of Adam, whose evaluation row is gone and whose first trial is damaged."""
    run_dir = copy_run(finished, tmp_path / "run")
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute("DELETE FROM evaluations WHERE key = 'final/Adam'")
        db.execute("DELETE FROM meta WHERE key = 'finished'")
        db.execute(
            "UPDATE trials SET result = ? WHERE key = 'final/Adam' AND seed_index = 0", (value,)
        )
    line = one_error_line(invoke("search", "--resume", run_dir))
    expected = f"{run_dir / 'run.sqlite'}: stored trial result of 'final/Adam' seed 0 is not valid"
    assert expected in line and needle in line, line
    with RunStore.open(run_dir, lock=False) as store, pytest.raises(StoredDataError):
        store.fitness_results("final/Adam")


def test_a_tampered_stored_configuration_is_one_line_for_every_command(
    finished: Path, tmp_path: Path
) -> None:
    run_dir = copy_run(finished, tmp_path / "run")
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        query = "SELECT value FROM meta WHERE key = 'config_json'"
        raw = json.loads(db.execute(query).fetchone()[0])
        raw["strategy"]["particles"] = -3
        db.execute("UPDATE meta SET value = ? WHERE key = 'config_json'", (json.dumps(raw),))
    for args in (["status", run_dir], ["search", "--resume", run_dir], ["eliminate", run_dir]):
        line = one_error_line(invoke(*args))
        assert f"{run_dir / 'run.sqlite'}: stored configuration: strategy" in line, line


# ----------------------------------------------------------------------------------------------
# F9: a device that is not here is refused before anything is written
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["fitness", "init_fitness", "final_fitness"])
def test_an_absent_device_is_refused_up_front_without_a_run_directory(
    tmp_path: Path, field: str
) -> None:
    config = tmp_path / "micro.yaml"
    config.write_text(micro_config().to_yaml())
    run_dir = tmp_path / "run"
    line = one_error_line(
        invoke(
            "search", "--config", config, "--run-dir", run_dir,
            "--set", f"{field}.device={ABSENT_DEVICE}",
        )
    )  # fmt: skip
    assert f"error: {field}.device: device '{ABSENT_DEVICE}'" in line
    assert not run_dir.exists()
    # The Python API refuses it too when the evaluations would run here.
    cfg = micro_config(**{field: {"device": ABSENT_DEVICE}})
    with pytest.raises(ConfigError, match=rf"{field}\.device"):
        start_search(cfg, run_dir)
    assert not run_dir.exists()


def test_an_absent_device_in_the_elimination_is_refused_before_it_is_stored(
    tmp_path: Path,
) -> None:
    # A run searched where the device was (its results synthetic here), eliminated where not.
    run_dir = make_run(tmp_path / "run", fitness={"device": ABSENT_DEVICE})
    line = one_error_line(invoke("eliminate", run_dir, "--tops", "2,1", "--bases", "4"))
    assert f"elimination round 1, fitness.device: device '{ABSENT_DEVICE}'" in line
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta(META_CONFIG) is None
        assert store.count("elim-1") == 0


# ----------------------------------------------------------------------------------------------
# F12: an elimination that cannot rank anything
# ----------------------------------------------------------------------------------------------


def test_a_warm_up_longer_than_the_screen_is_refused_before_it_is_stored(
    finished: Path, tmp_path: Path
) -> None:
    run_dir = copy_run(finished, tmp_path / "run")
    line = one_error_line(invoke("eliminate", run_dir, "--steps", "1000000000000"))
    assert "--steps 1000000000000: round 1: its warm-up (50,000,000,000 steps" in line
    assert "longer than its learning-rate screen (30 steps)" in line
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta(META_CONFIG) is None
    # The Python API refuses it as well, built by hand or by elimination_protocol.
    fitness = micro_config().fitness
    with pytest.raises(ValueError, match="warm-up"):
        elimination_protocol(fitness, "scaled", steps=(10**12,))
    good = elimination_protocol(fitness, "scaled", tops=(2, 1), bases=(4,), steps=(60,))
    bad_round = good.rounds[0].model_copy(
        update={"fitness": fitness.model_copy(update={"total_steps": 10**6})}
    )
    bad = good.model_copy(update={"rounds": (bad_round,)})
    with pytest.raises(ConfigError, match="warm-up"):
        eliminate(run_dir, bad, executor=SyntheticExecutor())
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta(META_CONFIG) is None


def test_a_round_without_any_fitness_is_an_error_not_a_winner(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = copy_run(finished, tmp_path / "run")
    protocol = elimination_protocol(
        micro_config().fitness, "scaled", tops=(3, 2, 1), bases=(4, 5), steps=(60,), seeds=1
    )
    with pytest.raises(NoSurvivorsError, match=r"elimination round 1 .*no genome got a fitness"):
        eliminate(run_dir, protocol, executor=SyntheticExecutor(fail_below=2.0))
    stored = read_elimination(run_dir)
    assert stored is not None and not stored.finished and stored.survivors == []
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta(META_FINISHED) is None

    # The command: exit 1, the round's table, one error line, no survivors.
    monkeypatch.setattr(
        optevo.search.executors, "make_executor", lambda *a: SyntheticExecutor(fail_below=2.0)
    )
    result = invoke("eliminate", run_dir)
    line = one_error_line(result, code=1)
    assert "elimination round 1 (elim-1: ConvNet base 4, 60 steps): no genome got a fitness" in line
    assert "failed_screen 3" in line
    assert "survivors" not in result.stdout and "round 1:" in result.stdout
    assert read_elimination(run_dir).survivors == []  # type: ignore[union-attr]


# ----------------------------------------------------------------------------------------------
# F18: sizes
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "needle"),
    [
        (
            ["strategy.particles=1000000000"],
            "strategy.particle.particles: Input should be less than or equal to 100000",
        ),
        (
            ["strategy.time_steps=100000000"],
            "strategy.particle: 400,000,008 evaluations planned (init_factor x particles + "
            "particles x (1 + time_steps x mutations)), more than the limit of 10,000,000",
        ),
        (
            ["strategy.init_factor=10000000"],
            "more than the limit of 10,000,000",
        ),
        (
            ["strategy={kind: random, budget: 20000000}"],
            "strategy.random: 20,000,000 evaluations planned (budget)",
        ),
        (
            ["strategy={kind: regularized, population: 1000000}"],
            "strategy.regularized.population: Input should be less than or equal to 100000",
        ),
        (
            ["strategy={kind: random, batch: 1000000000}"],
            "strategy.random.batch: Input should be less than or equal to 100000",
        ),
    ],
)
def test_absurd_sizes_are_refused_naming_the_field(
    tmp_path: Path, sets: list[str], needle: str
) -> None:
    args: list[str | Path] = ["search", "--preset", "tiny", "--run-dir", tmp_path / "run"]
    for s in sets:
        args += ["--set", s]
    started = time.perf_counter()
    line = one_error_line(invoke(*args))
    assert needle in line, line
    assert time.perf_counter() - started < 5 and not (tmp_path / "run").exists()


def test_the_initial_population_in_chunks_chooses_the_same_particles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = micro_config(strategy={"particles": 3, "init_factor": 5, "time_steps": 1})
    whole = SyntheticExecutor()
    start_search(config, tmp_path / "whole", executor=whole)
    monkeypatch.setattr(optevo.search.strategies.particle, "INIT_CHUNK", 4)
    chunked = SyntheticExecutor()
    start_search(config, tmp_path / "chunked", executor=chunked)

    def init_batches(executor: SyntheticExecutor) -> list[int]:
        stages, out, at = [t.stage for t in executor.trials], [], 0
        for size in executor.batches:
            if stages[at] == "init":
                out.append(size)
            at += size
        return out

    # 15 initial genomes: one batch, or 4 at a time (fewer when a duplicate is not trained).
    assert len(init_batches(whole)) == 1 and sum(init_batches(whole)) > 12
    assert len(init_batches(chunked)) == 4 and max(init_batches(chunked)) <= 4

    def outcome(run_dir: Path) -> tuple[Any, ...]:
        with RunStore.open(run_dir, lock=False) as store:
            evs = {(e.key, e.canonical_hash, e.fitness) for e in store.evaluations()}
            return store.trajectories(), evs

    assert outcome(tmp_path / "whole") == outcome(tmp_path / "chunked")


# ----------------------------------------------------------------------------------------------
# F19: an edited config.yaml
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("edit", ["changed", "missing", "garbage"])
def test_an_edited_config_yaml_is_rewritten_from_the_stored_configuration(
    finished: Path, tmp_path: Path, edit: str
) -> None:
    run_dir = copy_run(finished, tmp_path / "run")
    config_yaml = run_dir / "config.yaml"
    original = config_yaml.read_text()
    if edit == "changed":
        config_yaml.write_text(original.replace("seed: 0\n", "seed: 5\n", 1))
        assert config_yaml.read_text() != original
    elif edit == "missing":
        config_yaml.unlink()
    else:
        config_yaml.write_bytes(b"\xff\xfe: [\n")
    result = invoke("search", "--resume", run_dir)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr
    what = "is missing" if edit == "missing" else "differs from the run's stored configuration"
    assert f"{config_yaml} {what}; the stored one is used" in " ".join(warnings[0].split())
    assert yaml.safe_load(config_yaml.read_text()) == yaml.safe_load(original)

    again = invoke("search", "--resume", run_dir)  # now in agreement: no warning
    assert again.exit_code == 0 and "warning" not in again.stderr


# ----------------------------------------------------------------------------------------------
# F22: messages that name the problem and the field or file
# ----------------------------------------------------------------------------------------------


def test_messages_name_the_problem_and_the_field(finished: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a run\n")
    broken = copy_run(finished, tmp_path / "broken")
    with sqlite3.connect(broken / "run.sqlite") as db:
        db.execute("UPDATE evaluations SET genome = '' WHERE stage = 'search'")
    run_dir = copy_run(finished, tmp_path / "run")
    cases: list[tuple[list[Any], str]] = [
        (["search", "--resume", a_file], f"--resume {a_file}: {a_file} is a file, not a run"),
        (["search", "--resume", tmp_path / "none"], f"--resume {tmp_path / 'none'}: run dir"),
        (["status", a_file], f"{a_file} is a file, not a run directory"),
        (
            ["search", "--preset", "tiny", "--set", f"fitness.data_root={a_file}"],
            f"fitness.data_root: {a_file} is a file, not a directory",
        ),
        (
            ["search", "--preset", "quick", "--set", f"fitness.data_root={tmp_path / 'none'}"],
            f"fitness.data_root: cannot load the search data set: {tmp_path / 'none'}",
        ),
        (
            ["search", "--preset", "tiny", "--set", "fitness.preset=nope"],
            "fitness: unknown fitness preset 'nope'; known: paper, quick, suite, tiny",
        ),
        (
            ["search", "--preset", "tiny", "--set", "init_fitness.preset=nope"],
            "init_fitness: unknown fitness preset 'nope'",
        ),
        (
            ["search", "--preset", "tiny", "--executor", "bogus"],
            "--executor: unknown executor kind 'bogus'; known: serial, process, ray, gpu",
        ),
        (["search", "--resume", run_dir, "--executor", "bogus"], "--executor: unknown executor"),
        (["eliminate", run_dir, "--executor", "bogus"], "--executor: unknown executor"),
        (
            ["eliminate", run_dir, "--tops", "5,10"],
            "--tops 5,10: each round keeps at most as many genomes as entered it, got 5 -> 10",
        ),
        (["eliminate", run_dir, "--tops", "5,3"], "--tops 5,3: 5 -> 3 make 1 round(s)"),
        (["eliminate", run_dir, "--bases", "4,0,5"], "--bases 4,0,5: must be positive"),
        (["eliminate", run_dir, "--steps", "60,70"], "--steps 60,70: give one steps value"),
        (
            ["bench", "--task", "fashion-convnet", "--run", broken, "--out", tmp_path / "b"],
            f"{broken / 'run.sqlite'}: stored evaluation",
        ),
        (["show", ""], "show: an empty name"),
        (["check", ""], "check: an empty name"),
    ]
    for args, needle in cases:
        line = one_error_line(invoke(*args))
        assert needle in line, (args, line)
        assert "(config)" not in line, line
    assert not (tmp_path / "b").exists()


# ----------------------------------------------------------------------------------------------
# F25: a run in use is refused at once
# ----------------------------------------------------------------------------------------------


def test_a_run_in_use_is_refused_before_any_data_is_loaded(
    finished: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = copy_run(finished, tmp_path / "run")
    loads: list[str] = []

    def slow_load(name: str, *args: Any) -> Any:
        loads.append(name)
        time.sleep(10)  # what loading CIFAR-10 costs
        raise AssertionError("a refused command loaded a data set")

    monkeypatch.setattr(optevo.search.worker, "load", slow_load)
    with RunStore.open(run_dir):  # another holder (a second lock in one process conflicts too)
        for args in (["search", "--resume", run_dir], ["eliminate", run_dir]):
            started = time.perf_counter()
            line = one_error_line(invoke(*args))
            assert time.perf_counter() - started < 1.0, args
            assert f"is in use by pid {os.getpid()}" in line, line
    assert loads == []
