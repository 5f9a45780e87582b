"""Hardening, round 2 (issue 18): `optevo plot`, `optevo bench` and `optevo report` against
hostile arguments. Each refusal is one line on stderr, exit 2, before anything is written;
every hostile input is built inside its test.

F13 figures sampled at plot resolution (bounded memory at any --steps), F14/F20 --scale,
F15/F24 existing outputs, F16 --device, F17 run strings in the Markdown report, F21 surface
ranges and fixed values; then the other problems found on the way.
"""

from __future__ import annotations

import json
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import optevo.bench
from helpers.bench_files import fashion
from helpers.search import SyntheticExecutor, micro_config
from optevo import library
from optevo.bench import BenchConfig, run_bench
from optevo.cli import app
from optevo.optim.spec import named
from optevo.report import document as doc
from optevo.report.page import write_report
from optevo.report.schedules import (
    decay_curves,
    decay_roles,
    effective_schedule,
    plot_steps,
)
from optevo.schedules import LR_SCHEDULES, lr_table
from optevo.search.api import start_search
from optevo.tasks.base import TaskOptions
from optevo.transfer.store import ResultStore

runner = CliRunner()
WIDE = {"COLUMNS": "200"}
T, W, H = 96_000, 6_400, 12_800


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), env=WIDE)


def one_error_line(result: Any, code: int = 2) -> str:
    """The command failed with `code` and exactly one line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- F13: figures at plot resolution ------------------------------------------------------------


DECAYED = [n for n in library.names() if library.genome(n).decay_functions()]


def test_sampled_curves_equal_the_dense_tables_at_a_normal_run_length() -> None:
    steps = plot_steps(T)
    assert steps[0] == 0 and steps[-1] == T - 1 and 1000 <= len(steps) <= 2000
    adam = library.genome("Adam")
    for schedule in ("one_cycle", "constant", *LR_SCHEDULES):
        eff = effective_schedule(adam, schedule, T, W, H)
        np.testing.assert_array_equal(eff.steps, steps)
        np.testing.assert_array_equal(eff.base, lr_table("one_cycle", T, W, H)[steps])
        # The same values up to the last bit or two of float64 (vectorised torch functions).
        np.testing.assert_allclose(eff.lr, lr_table(schedule, T, W, H)[steps], rtol=1e-14)
    assert DECAYED
    for name in DECAYED:
        genome = library.genome(name)
        got_steps, curves = decay_curves(genome, T)
        np.testing.assert_array_equal(got_steps, steps)
        for role, values in curves:
            dense = role.decay.table(T)[steps]
            np.testing.assert_allclose(values, dense, rtol=1e-12, atol=1e-15, err_msg=name)
    # Opt9's erfc(exp_dec) factors out: its effective schedule is the dense product.
    opt9 = library.genome("Opt9")
    (role,) = decay_roles(opt9)
    eff = effective_schedule(opt9, "one_cycle", T, W, H)
    dense = lr_table("one_cycle", T, W, H)[steps] * role.decay.table(T)[steps]
    np.testing.assert_allclose(eff.lr, dense, rtol=1e-6, atol=1e-12)


def test_a_run_shorter_than_the_sample_is_drawn_at_every_step() -> None:
    genome = library.genome("Opt7")
    steps, curves = decay_curves(genome, 700)
    np.testing.assert_array_equal(steps, np.arange(700))
    for role, values in curves:
        np.testing.assert_allclose(values, role.decay.table(700), rtol=1e-12, atol=1e-15)
    eff = effective_schedule(library.genome("Adam"), "LR3", 700, 50, 100)
    np.testing.assert_allclose(eff.lr, lr_table("LR3", 700, 50, 100), rtol=1e-14)


@pytest.mark.parametrize(
    "args",
    [
        ["schedule", "Opt6", "LR3", "--warmup", "6400", "--hold", "12800"],
        ["decay", "Opt7", "Opt9"],
        ["surface", "Opt7"],
    ],
    ids=["schedule", "decay", "surface"],
)
def test_plots_of_a_trillion_steps_take_seconds_and_little_memory(
    tmp_path: Path, args: list[str]
) -> None:
    out = tmp_path / "big.png"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        result = invoke("plot", *args, "--steps", str(10**12), "-o", str(out))
        seconds = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    assert seconds < 60, seconds  # a few seconds; the dense tables needed terabytes
    assert peak < 300 * 2**20, peak
    assert grown < 300 * 2**20, grown


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "decay", "Opt7", "-o", "x.png"],
        ["plot", "schedule", "Opt7", "-o", "x.png"],
        ["plot", "surface", "Opt7", "-o", "x.png"],
        ["report", "."],
    ],
)
def test_steps_beyond_float_precision_are_refused(tmp_path: Path, args: list[str]) -> None:
    args = [str(tmp_path / a) if a in ("x.png", ".") else a for a in args]
    result = invoke(*args, "--steps", str(10**16))
    assert "--steps 10000000000000000: more than 10^15" in one_error_line(result)
    assert listing(tmp_path) == []


# -- F14, F20: --scale --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        ("inf", "--scale must be finite"),
        ("nan", "--scale must be finite"),
        ("-inf", "--scale must be finite"),
        ("0", "--scale must be above 0"),
        ("-1", "--scale must be above 0"),
        ("1e300", "--scale 1e+300 makes every run 3e+303 steps long, more than the limit"),
        ("400000", "--scale 400000 makes every run 1.2e+09 steps long"),
    ],
)
def test_bench_scale_is_finite_positive_and_bounded(
    tmp_path: Path, scale: str, message: str
) -> None:
    out = tmp_path / "bench"
    result = invoke(
        "bench", "--task", "fashion-convnet", "--optimizers", "Adam", "--scale", scale,
        "--out", str(out),
    )  # fmt: skip
    assert message in one_error_line(result)
    assert not out.exists()


def test_run_bench_refuses_a_scale_past_the_step_limit_before_writing(tmp_path: Path) -> None:
    config = BenchConfig("fashion-convnet", named(["Adam"]), scale=1e300)
    with pytest.raises(ValueError, match="more than the limit of 1,000,000,000"):
        run_bench(config, tmp_path / "bench")
    assert not (tmp_path / "bench").exists()


# -- F15, F24: existing outputs -----------------------------------------------------------------


def test_bench_out_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "results"
    out.write_text("keep me\n")
    result = invoke("bench", "--task", "fashion-convnet", "--optimizers", "Adam", "--out", str(out))
    assert "exists and is not a folder" in one_error_line(result)
    assert out.read_text() == "keep me\n"
    inside = invoke(
        "bench", "--task", "fashion-convnet", "--optimizers", "Adam", "--out", str(out / "sub")
    )
    assert "is not a folder" in one_error_line(inside)
    assert listing(tmp_path) == ["results"]


def test_bench_out_that_is_a_folder_is_resumed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing --out folder is how a bench resumes: it is handed to run_bench."""
    calls: list[Path] = []

    def fake_run_bench(config: BenchConfig, out: Path, on_event: object) -> list[object]:
        calls.append(Path(out))
        (Path(out) / "table.md").write_text("| table |\n")
        (Path(out) / "table.csv").write_text("table\n")
        return []

    monkeypatch.setattr(optevo.bench, "run_bench", fake_run_bench)
    out = tmp_path / "results"
    out.mkdir()
    (out / "runs.jsonl").write_text("")
    result = invoke(
        "bench", "--task", "fashion-convnet", "--optimizers", "Adam", "--device", "cpu",
        "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert calls == [out]


def test_plot_out_refuses_an_existing_file_without_force(tmp_path: Path) -> None:
    out = tmp_path / "fig.png"
    out.write_bytes(b"keep me")
    for args in (["schedule", "Opt6"], ["decay", "Opt7"], ["surface", "Adam"]):
        result = invoke("plot", *args, "-o", str(out))
        assert "exists; pass --force to replace it" in one_error_line(result)
        assert out.read_bytes() == b"keep me"
    forced = invoke("plot", "decay", "Opt7", "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes().startswith(b"\x89PNG")
    assert listing(tmp_path) == ["fig.png"]  # no temporary file left beside it


def test_plot_out_that_is_a_directory_is_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "fig.svg"
    folder.mkdir()
    result = invoke("plot", "schedule", "Opt6", "-o", str(folder), "--force")
    assert "is a directory" in one_error_line(result)


def test_report_out_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.write_text("keep me\n")
    result = invoke("report", str(tmp_path), "-o", str(out))
    assert "exists and is not a folder" in one_error_line(result)
    assert out.read_text() == "keep me\n"


# -- F16: --device --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("tpu", "--device 'tpu': use cpu, cuda, cuda:N, mps or auto"),
        ("", "--device '': use cpu"),
        ("CUDA", "--device 'CUDA': use cpu"),
        ("cpu:x", "the device index must be a number"),
    ],
)
def test_bench_unknown_device_is_refused_before_writing(
    tmp_path: Path, device: str, message: str
) -> None:
    out = tmp_path / "bench"
    result = invoke(
        "bench", "--task", "fashion-convnet", "--optimizers", "Adam", "--device", device,
        "--out", str(out),
    )  # fmt: skip
    assert message in one_error_line(result)
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine has no CUDA device")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_bench_cuda_without_a_gpu_is_refused_before_writing(tmp_path: Path, device: str) -> None:
    out = tmp_path / "bench"
    result = invoke(
        "bench", "--task", "fashion-convnet", "--optimizers", "Adam", "--device", device,
        "--out", str(out),
    )  # fmt: skip
    assert "no CUDA device is available here" in one_error_line(result)
    assert not out.exists()


# -- F17: run strings in the Markdown report -----------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'


def test_markdown_escapes_every_interpolated_string() -> None:
    hostile = f"{SCRIPT} & {IMG}\n# not a heading [link](javascript:alert(3))"
    document = doc.Document(
        hostile,
        [doc.Para(hostile)],
        [
            doc.Section(
                hostile,
                "s",
                [
                    doc.Para(hostile),
                    doc.Table(
                        (hostile, "b"),
                        ((hostile, (hostile, doc.Image("img/a.png", hostile))),),
                        caption=hostile,
                    ),
                    doc.Figure(doc.Image("img/b.png", hostile), hostile),
                ],
            )
        ],
    )
    md = doc.to_markdown(document)
    for raw in ("<script", "<img", "</script", "[link](", "\n# not"):
        assert raw not in md, raw
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img"
    assert md.count(escaped) == 11  # each of the 11 strings
    assert "\\[link\\](javascript:alert(3))" in md


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished micro search (synthetic fitness) whose name and description are HTML."""
    run_dir = tmp_path_factory.mktemp("hostile") / "run"
    cfg = micro_config(name=SCRIPT, description=IMG)
    assert start_search(cfg, run_dir, executor=SyntheticExecutor()).finished
    return run_dir


def test_report_of_a_run_with_hostile_name_and_description(hostile_run: Path) -> None:
    files = write_report(hostile_run, top=1, rows=3)
    md = files.markdown.read_text()
    page = files.html.read_text()
    for text in (md, page):
        assert "<script>" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert md.startswith("# optevo report: &lt;script&gt;alert(1)&lt;/script&gt;\n")
    assert "&lt;img src=x onerror=" in md


def test_report_figures_of_a_trillion_step_run(hostile_run: Path, tmp_path: Path) -> None:
    """The report's schedule, decay and surface figures are sampled too (F13)."""
    out = tmp_path / "report"
    t0 = time.perf_counter()
    result = invoke(
        "report", str(hostile_run), "-o", str(out), "--top", "1", "--rows", "2",
        "--steps", str(10**12), "--warmup", "0", "--hold", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - t0 < 120
    assert "T = 1000000000000 steps" in (out / "report.md").read_text()


# -- F21: surface ranges and fixed values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--x-range=-1e308,1e308"], "reaches beyond ±1e+300, which cannot be drawn"),
        (["--x-range=-8e307,8e307"], "reaches beyond ±1e+300"),
        (["--y-range=0,1e301"], "reaches beyond ±1e+300"),
        (["--x-range=nan,1"], "--x-range takes two finite numbers"),
        (["--y-range=-inf,1"], "--y-range takes two finite numbers"),
        (["--x-range=1,1"], "LOW < HIGH"),
        (["--x-range=2,1"], "LOW < HIGH"),
        (["--fix", "s=nan"], "--fix s: the value must be a finite number"),
        (["--fix", "w=-inf"], "--fix w: the value must be a finite number"),
        (["--fix", "g=1e400"], "--fix g: the value must be a finite number"),
        (["--x", "g", "--fix", "g=1"], "g is on an axis of the surface"),
    ],
)
def test_surface_ranges_and_fixed_values_are_finite(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "s.png"
    result = invoke("plot", "surface", "Opt6", *args, "-o", str(out))
    assert message in one_error_line(result)
    assert not out.exists()


def test_surface_of_extreme_but_drawable_ranges(tmp_path: Path) -> None:
    """Inputs up to ±1e300 draw (u beyond that, or not finite, is left out of the figure)."""
    out = tmp_path / "s.png"
    result = invoke(
        "plot", "surface", "Opt6", "--x-range=-1e300,1e300", "--y-range=-1e300,1e300",
        "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000


# -- the other problems found ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizers", ","], "--optimizers names no optimizer"),
        (["--optimizers", "Adam,SGD,Adam"], "--optimizers names Adam more than once"),
        (["--optimizers", "Adam", "--lr-grid", "0.1,inf"], "is outside 1e-12..1e+06"),
        (["--optimizers", "Adam", "--lr-grid", "1e400"], "is outside 1e-12..1e+06"),
        (["--optimizers", "Adam", "--lr-grid", "0.1,1e300"], "learning rate 1e+300 is outside"),
        (["--optimizers", "Adam", "--lr-grid", "1e-320"], "learning rate 1e-320 is outside"),
        (["--optimizers", "Adam", "--threads", "1000000"], "--threads 1000000: more than the"),
        (["--optimizers", "Adam", "--root", "/nonexistent/fashion"], "does not exist"),
    ],
)
def test_bench_bad_arguments_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "bench"
    result = invoke("bench", "--task", "fashion-convnet", *args, "--out", str(out))
    assert message in one_error_line(result)
    assert not out.exists()


def test_bench_checkpoint_that_is_a_folder_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = invoke(
        "bench", "--task", "flowers102-finetune", "--optimizers", "Adam", "--checkpoint",
        str(tmp_path), "--out", str(out),
    )  # fmt: skip
    assert "--checkpoint" in one_error_line(result)
    assert "is a folder" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bench.json", "[1, 2]", "not a bench manifest"),
        ("bench.json", "{not json", "not valid JSON"),
        ("bench.json", '{"schema": "optevo.bench/1", "tasks": []}', "'tasks' is not"),
        (
            "bench.json",
            '{"schema": "optevo.bench/1", "tasks": {"fashion-convnet": 3}}',
            "settings are not a JSON object",
        ),
        (
            "bench.json",
            '{"schema": "optevo.bench/1", "tasks": {"fashion-convnet": {"order": {}}}}',
            "order is not a JSON list",
        ),
        (
            "bench.json",
            '{"schema": "optevo.bench/1", "tasks": {"cifar10-convnet": {"scale": 1}}}',
            "task 'cifar10-convnet': no total_steps",
        ),
        ("bench.json", None, "bench.json is not a file"),
        ("runs.jsonl", None, "runs.jsonl is not a file"),
    ],
)
def test_bench_out_with_damaged_files_is_one_line(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    out = tmp_path / "bench"
    out.mkdir()
    if content is None:
        (out / name).mkdir()
    else:
        (out / name).write_text(content)
    before = listing(out)
    result = invoke(
        "bench", "--task", "fashion-convnet", "--optimizers", "Adam", "--device", "cpu",
        "--out", str(out),
    )  # fmt: skip
    assert message in one_error_line(result)
    assert listing(out) == before


def test_a_bench_that_cannot_start_writes_nothing(tmp_path: Path) -> None:
    """A batch larger than the data is found when the task is built: no folder, no
    bench.json left behind."""
    data = fashion(tmp_path / "fashion")
    config = BenchConfig(
        "fashion-convnet",
        named(["Adam"]),
        scale=0.004,
        options=TaskOptions(root=data, batch_size=100_000),
    )
    out = tmp_path / "bench"
    with pytest.raises(ValueError, match="batch size 100000 exceeds"):
        run_bench(config, out)
    assert not out.exists()
    assert ResultStore(out).manifest()["tasks"] == {}


def test_manifest_written_by_a_bench_still_loads(tmp_path: Path) -> None:
    """The manifest check accepts what `run_bench` writes (the stored Fashion results)."""
    stored = Path(__file__).parent.parent / "docs" / "results" / "fashion-convnet"
    if not (stored / "bench.json").exists():
        pytest.skip("docs/results/fashion-convnet is not in this checkout")
    (tmp_path / "bench.json").write_text((stored / "bench.json").read_text())
    tasks = ResultStore(tmp_path).manifest()["tasks"]
    assert list(tasks) == ["fashion-convnet"]
    assert json.loads((tmp_path / "bench.json").read_text())["tasks"] == tasks
