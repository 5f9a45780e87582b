"""Bench statistics against hand-computed numbers, and the table layout (paper's Table 11)."""

from __future__ import annotations

import csv
import io
import math

import pytest

from optevo.transfer.table import Cell, Column, csv_table, markdown_table, summarize


def test_mean_and_sample_std_by_hand() -> None:
    # 0.90, 0.92, 0.97: mean 0.93; deviations -0.03, -0.01, 0.04; squares 9e-4, 1e-4, 16e-4
    # sum 26e-4; / (n - 1) = 13e-4; sqrt = 0.0360555...
    s = summarize([0.90, 0.92, 0.97])
    assert s.mean == pytest.approx(0.93, abs=1e-15)
    assert s.std == pytest.approx(math.sqrt(13e-4), abs=1e-15)
    assert s.std == pytest.approx(0.0360555127546399, abs=1e-15)
    assert (s.n, s.failed) == (3, 0)


def test_one_seed_has_no_std_and_failures_are_counted_apart() -> None:
    assert summarize([0.5]).std is None
    s = summarize([70.0, None, math.inf, 72.0])
    assert (s.mean, s.n, s.failed) == (71.0, 2, 2)
    assert s.std == pytest.approx(math.sqrt(2.0))
    empty = summarize([None])
    assert empty.mean is None and empty.failed == 1


COLUMNS = [Column("cifar", "CIFAR-10"), Column("ptb", "PTB", False, percent=False)]
CELLS = {
    ("Adam", "cifar"): Cell((0.9569, 0.9554, 0.9584), 1e-3),
    ("Opt6", "cifar"): Cell((0.9616, 0.9600, 0.9632), 10.0),
    ("Adam", "ptb"): Cell((68.56, 68.43, 68.69), 1e-3),
    ("Opt6", "ptb"): Cell((70.27, 70.14, 70.40), 1.0),
}


def test_markdown_layout_best_marked_and_lr_beside_each_cell() -> None:
    text = markdown_table(CELLS, ["Adam", "Opt6", "SGD"], COLUMNS)
    lines = text.strip().splitlines()
    assert lines[0] == "| Optimizer | CIFAR-10 | PTB |"
    assert lines[1] == "|---|---|---|"
    # Accuracy in percent, 2 decimals; the best mean (Opt6) in bold; the chosen rate beside.
    assert lines[2] == "| Adam | 95.69 ± 0.15 (lr 0.001) | **68.56 ± 0.13** (lr 0.001) |"
    assert lines[3] == "| Opt6 | **96.16 ± 0.16** (lr 10) | 70.27 ± 0.13 (lr 1) |"
    assert lines[4] == "| SGD | – | – |"  # not run on either task


def test_csv_has_the_same_numbers_and_best_flags() -> None:
    rows = list(csv.reader(io.StringIO(csv_table(CELLS, ["Adam", "Opt6"], COLUMNS))))
    assert rows[0] == [
        "optimizer",
        *(f"cifar {f}" for f in ("mean", "std", "n", "lr", "best", "lr fallback from")),
        *(f"ptb {f}" for f in ("mean", "std", "n", "lr", "best", "lr fallback from")),
    ]
    adam = dict(zip(rows[0], rows[1], strict=True))
    assert float(adam["cifar mean"]) == pytest.approx(95.69, abs=1e-4)
    assert float(adam["cifar std"]) == pytest.approx(0.15, abs=1e-4)
    assert adam["cifar n"] == "3" and adam["cifar best"] == "0"
    assert float(adam["ptb mean"]) == pytest.approx(68.56, abs=1e-4)
    assert adam["ptb best"] == "1" and float(adam["ptb lr"]) == 1e-3
    opt6 = dict(zip(rows[0], rows[2], strict=True))
    assert opt6["cifar best"] == "1" and float(opt6["cifar lr"]) == 10.0


def test_ties_at_displayed_precision_are_all_marked() -> None:
    cells = {("A", "c"): Cell((0.95001,), 0.1), ("B", "c"): Cell((0.95004,), 0.01)}
    text = markdown_table(cells, ["A", "B"], [Column("c", "C")])
    assert text.count("**95.00**") == 2


def test_a_fallback_rate_is_marked() -> None:
    cells = {("A", "c"): Cell((0.9, 0.91), 0.01, fallback_from=0.1)}
    assert "(lr 0.01, fallback from 0.1)" in markdown_table(cells, ["A"], [Column("c", "C")])
    rows = list(csv.reader(io.StringIO(csv_table(cells, ["A"], [Column("c", "C")]))))
    assert dict(zip(rows[0], rows[1], strict=True))["c lr fallback from"] == "0.1"


def test_diverged_seeds_are_shown() -> None:
    cells = {("A", "p"): Cell((None, None), 10.0), ("B", "p"): Cell((65.0, None), 1.0)}
    text = markdown_table(cells, ["A", "B"], [Column("p", "PTB", False, percent=False)])
    assert "| A | diverged (2/2) |" in text
    assert "| B | **65.00** (1 diverged) (lr 1) |" in text
