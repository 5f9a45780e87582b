"""The wins/losses rule (paired by seed, beyond 2 standard errors) against hand computations,
and the tables built from injected results."""

from __future__ import annotations

import csv
import io
import math

import pytest

from optevo.bench.lrtest import LrTestResult
from optevo.bench.optimizers import named
from optevo.bench.store import RunKey, RunRecord
from optevo.tasks.registry import get_task
from optevo.validate import baselines
from optevo.validate.compare import compare, mean_ranks, tally
from optevo.validate.run import Entry, TaskResult, ValidateConfig
from optevo.validate.tables import build_summary, csv_text, markdown


def test_a_paired_difference_beyond_two_standard_errors_wins() -> None:
    cand = {0: 0.90, 1: 0.80, 2: 0.85}
    base = {0: 0.88, 1: 0.77, 2: 0.84}
    # d = 0.02, 0.03, 0.01: mean 0.02, sd 0.01, SE 0.01 / sqrt(3) = 0.005774; 0.02 > 0.01155.
    c = compare(cand, base, higher_is_better=True)
    assert c.n == 3 and c.verdict == "win"
    assert c.diff == pytest.approx(0.02)
    assert c.se == pytest.approx(0.01 / math.sqrt(3))
    # The same numbers as a loss to minimise: the candidate is worse.
    assert compare(cand, base, higher_is_better=False).verdict == "loss"
    assert compare(base, cand, higher_is_better=True).verdict == "loss"
    assert compare(base, cand, higher_is_better=False).verdict == "win"


def test_within_two_standard_errors_ties() -> None:
    # d = 0.05, -0.01, 0.02: mean 0.02, sd 0.03, SE 0.01732; 2 SE = 0.0346 > 0.02.
    c = compare({0: 1.05, 1: 0.99, 2: 1.02}, {0: 1.0, 1: 1.0, 2: 1.0}, True)
    assert c.verdict == "tie"
    assert c.se == pytest.approx(0.03 / math.sqrt(3))
    # Unpaired, the two means (1.02 vs 1.00) are as far apart; pairing is what decides: a
    # baseline whose seeds move with the candidate's makes the same gap a win.
    paired = compare({0: 1.05, 1: 0.99, 2: 1.02}, {0: 1.03, 1: 0.97, 2: 1.0}, True)
    assert paired.verdict == "win" and paired.se == pytest.approx(0.0, abs=1e-12)


def test_only_seeds_both_finished_are_paired() -> None:
    c = compare({0: 1.0, 1: 2.0, 2: None, 3: 5.0}, {0: 0.5, 1: 1.5, 2: 1.0}, True)
    assert c.n == 2 and c.diff == pytest.approx(0.5)  # seeds 0 and 1 only
    one = compare({0: 1.0}, {0: 0.0}, True)
    assert one.verdict == "n/a" and one.n == 1 and one.se is None
    assert compare({}, {}, True).verdict == "n/a"
    assert compare({0: math.nan, 1: 1.0}, {0: 1.0, 1: 1.0}, True).n == 1


def test_ranks_respect_the_direction_and_share_ties() -> None:
    means = {"a": 0.5, "b": 0.7, "c": 0.7, "d": None}
    assert mean_ranks(means, True) == {"b": 1.5, "c": 1.5, "a": 3.0, "d": 4.0}
    assert mean_ranks(means, False) == {"a": 1.0, "b": 2.5, "c": 2.5, "d": 4.0}
    assert tally(["win", "win", "loss", "tie", "n/a"]) == {"win": 2, "loss": 1, "tie": 1}


def _records(task: str, label: str, ident: str, lr: float, values: list[float]) -> list[RunRecord]:
    keys = [RunKey(task, label, ident, "one_cycle", "final", lr, s, 10, 10) for s in range(3)]
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
        Entry(s, tested, _records(task.name, s.label, s.genome_hash, 0.01, values[s.label]))
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
    md = markdown(summary)
    assert "| SGD | 0.35 ± 0.05 | 0.01 | win (-0.097 ± 0.0033) | tie" in md
    assert "| SGD | 1 | " in md and "1/0/0 | 0/0/1 | 0/1/0 |" in md
    rows = list(csv.DictReader(io.StringIO(csv_text(summary))))
    sgd = next(r for r in rows if r["optimizer"] == "SGD")
    assert sgd["vs Adam"] == "win" and float(sgd["diff Adam"]) == pytest.approx(-0.29 / 3)
    assert sgd["vs Lion"] == "loss" and sgd["baseline"] == "0"
