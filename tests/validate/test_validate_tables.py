"""`optevo validate`'s tables built from injected results: the verdicts (the paired t-test of
`optevo.transfer.verdict`) with their effect sizes, the ranks, the CSV, and the fair rule's
fallback marked in the lr column."""

from __future__ import annotations

import csv
import io

import pytest

from optevo.optim.spec import baselines, named
from optevo.tasks.registry import get_task
from optevo.transfer.lrtest import LrTestResult
from optevo.transfer.protocol import Fallback, Outcome
from optevo.transfer.store import RunKey, RunRecord
from optevo.validate.run import TaskResult, ValidateConfig
from optevo.validate.tables import build_summary, csv_text, markdown


def _records(task: str, label: str, ident: str, lr: float, values: list[float]) -> list[RunRecord]:
    seeds = range(len(values))
    keys = [RunKey(task, label, ident, "one_cycle", "final", lr, s, 10, 10) for s in seeds]
    return [RunRecord(k, v, "ok", 0.1, {}) for k, v in zip(keys, values, strict=True)]


def test_tables_from_injected_results() -> None:
    task = get_task("cancer-logreg")  # cross-entropy: lower is better
    specs = [*named(["SGD"]), *baselines()]
    values = {
        "SGD": [0.30, 0.40, 0.35],  # vs Adam d = -0.10, -0.10, -0.09 -> a win (lower)
        "Adam": [0.40, 0.50, 0.44],
        "AdamW": [0.29, 0.41, 0.34],  # d = 0.01, -0.01, 0.01 -> a tie
        "Lion": [0.20, 0.30, 0.26],  # d = 0.10, 0.10, 0.09 -> a loss
    }
    tested = LrTestResult(0.01, {0.01: 0.3})
    entries = [
        Outcome(
            s, tested, 0.01, _records(task.name, s.label, s.genome_hash, 0.01, values[s.label])
        )
        for s in specs
    ]
    config = ValidateConfig(tuple(specs), (task.name,), seeds=3, scale=0.01)
    result = TaskResult(task, "validate", config.budget(task.name), entries)
    summary = build_summary(config, [result])
    (row,) = [r for r in summary["tasks"][0]["rows"] if r["optimizer"] == "SGD"]
    assert {b: c["verdict"] for b, c in row["vs"].items()} == {
        "Adam": "win",
        "AdamW": "tie",
        "Lion": "loss",
    }
    assert row["mean"] == pytest.approx(0.35) and row["std"] == pytest.approx(0.05)
    assert row["rank"] == 3.0  # means: Lion 0.2533 < AdamW 0.3467 < SGD 0.35 < Adam 0.4467
    overall = {r["optimizer"]: r for r in summary["overall"]}
    assert overall["SGD"]["vs"]["Adam"] == {"win": 1, "loss": 0, "tie": 0}
    assert overall["Adam"]["vs"] == {}  # baselines are not compared
    # vs Adam: mean d = -0.09667, SE = 0.003333, t = -29.0 at 2 df: p = 0.0012, CI -0.09667
    # -+ 4.3027 x 0.003333 = [-0.111, -0.0823].
    vs_adam = row["vs"]["Adam"]
    assert vs_adam["p"] == pytest.approx(0.0012, abs=1e-4)
    assert vs_adam["ci"] == pytest.approx([-0.1110, -0.0823], abs=1e-4)
    md = markdown(summary)
    assert "| SGD | 0.35 ± 0.05 | 0.01 | win -0.097 [-0.11, -0.082] | tie" in md
    assert "| SGD | 1 | " in md and "1/0/0 | 0/0/1 | 0/1/0 |" in md
    assert "alpha = 0.05" in md and "95% confidence interval" in md
    rows = list(csv.DictReader(io.StringIO(csv_text(summary))))
    sgd = next(r for r in rows if r["optimizer"] == "SGD")
    assert sgd["vs Adam"] == "win" and float(sgd["diff Adam"]) == pytest.approx(-0.29 / 3)
    assert float(sgd["p Adam"]) == pytest.approx(0.0012, abs=1e-4)
    assert float(sgd["ci_low Adam"]) == pytest.approx(-0.1110, abs=1e-4)
    assert sgd["vs Lion"] == "loss" and sgd["baseline"] == "0" and sgd["lr_fallback_from"] == ""


def test_a_fallback_is_marked_in_the_tables() -> None:
    task = get_task("cancer-logreg")
    (sgd,) = named(["SGD"])
    adam = baselines()[0]
    tested = LrTestResult(1.0, {1.0: 0.2, 0.1: 0.3})
    moved = Outcome(
        sgd,
        tested,
        0.1,
        _records(task.name, "SGD", sgd.genome_hash, 0.1, [0.3, 0.31]),
        (Fallback(1.0, 0, 0.1),),
    )
    adam_runs = _records(task.name, "Adam", adam.genome_hash, 1.0, [0.3, 0.3])
    base = Outcome(adam, tested, 1.0, adam_runs)
    config = ValidateConfig((sgd, adam), (task.name,), seeds=2, scale=0.01)
    result = TaskResult(task, "validate", config.budget(task.name), [moved, base])
    summary = build_summary(config, [result])
    (row,) = [r for r in summary["tasks"][0]["rows"] if r["optimizer"] == "SGD"]
    assert row["lr"] == 0.1 and row["test_lr"] == 1.0
    assert row["lr_fallback"] == [{"lr": 1.0, "seed": 0, "to": 0.1}]
    assert "| SGD | 0.305 ± 0.0071 | 0.1 (fallback from 1) |" in markdown(summary)
    rows = list(csv.DictReader(io.StringIO(csv_text(summary))))
    assert next(r for r in rows if r["optimizer"] == "SGD")["lr_fallback_from"] == "1"
