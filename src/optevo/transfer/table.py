"""Bench statistics and the results table in the layout of the paper's Tables 11 and 13.

One row per optimizer, one column per task; a cell is "mean ± std" over the seeds (accuracy
in percent, perplexity as is) with the peak learning rate used beside it; the best mean of
each column is marked (bold in Markdown, `best` = 1 in the CSV). The standard deviation is the
sample one (n - 1 in the denominator); with a single seed only the mean is shown.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation of a cell's finished seeds; `failed` seeds (a
    diverged perplexity) are counted apart and left out of the mean."""

    mean: float | None
    std: float | None
    n: int
    failed: int = 0


def summarize(values: Sequence[float | None]) -> Summary:
    """Mean ± sample std of the finite values; None or non-finite values count as failed."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    failed = len(values) - len(finite)
    if not finite:
        return Summary(None, None, 0, failed)
    mean = math.fsum(finite) / len(finite)
    std = None
    if len(finite) > 1:
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
    return Summary(mean, std, len(finite), failed)


@dataclass(frozen=True)
class Column:
    """A task's column: its header, whether higher is better, and the display scale."""

    task: str
    header: str
    higher_is_better: bool = True
    percent: bool = True


@dataclass(frozen=True)
class Cell:
    """One optimizer on one task: the metric of each seed and the learning rate used;
    `fallback_from`: the test's rate, when a diverged full run moved the final runs off it."""

    values: tuple[float | None, ...]
    lr: float | None
    fallback_from: float | None = None

    @property
    def summary(self) -> Summary:
        return summarize(self.values)


def format_lr(lr: float | None) -> str:
    if lr is None:
        return "-"
    return f"{lr:.3g}"


def _scale(value: float, column: Column) -> float:
    return 100.0 * value if column.percent else value


def best_rows(cells: dict[tuple[str, str], Cell], rows: Sequence[str], column: Column) -> set[str]:
    """The rows whose mean is the column's best (ties: all of them)."""
    means = {
        row: cell.summary.mean
        for row in rows
        if (cell := cells.get((row, column.task))) is not None and cell.summary.mean is not None
    }
    if not means:
        return set()
    pick = max if column.higher_is_better else min
    target = pick(means.values())
    # Compare at the displayed precision: two cells that print the same tie.
    shown = round(_scale(target, column), 2)
    return {row for row, m in means.items() if round(_scale(m, column), 2) == shown}


def format_cell(cell: Cell | None, column: Column, best: bool = False) -> str:
    if cell is None:
        return "–"
    s = cell.summary
    if s.mean is None:
        return f"diverged ({s.failed}/{s.failed})" if s.failed else "–"
    text = f"{_scale(s.mean, column):.2f}"
    if s.std is not None:
        text += f" ± {_scale(s.std, column):.2f}"
    if best:
        text = f"**{text}**"
    if s.failed:
        text += f" ({s.failed} diverged)"
    return f"{text} (lr {format_lr(cell.lr)}{_fallback(cell)})"


def _fallback(cell: Cell) -> str:
    if cell.fallback_from is None:
        return ""
    return f", fallback from {format_lr(cell.fallback_from)}"


def markdown_table(
    cells: dict[tuple[str, str], Cell], rows: Sequence[str], columns: Sequence[Column]
) -> str:
    """The Markdown table: `| Optimizer | <header> | ... |`, one line per row."""
    best = {c.task: best_rows(cells, rows, c) for c in columns}
    lines = [
        "| Optimizer | " + " | ".join(c.header for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for row in rows:
        parts = [format_cell(cells.get((row, c.task)), c, row in best[c.task]) for c in columns]
        lines.append(f"| {row} | " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def csv_table(
    cells: dict[tuple[str, str], Cell], rows: Sequence[str], columns: Sequence[Column]
) -> str:
    """The same table as CSV: per task `mean`, `std`, `n`, `lr`, `best` and `lr fallback from`
    columns (accuracy in percent, as in the Markdown; the last one is empty unless a diverged
    full run moved the rate)."""
    best = {c.task: best_rows(cells, rows, c) for c in columns}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["optimizer"]
    for c in columns:
        fields = ("mean", "std", "n", "lr", "best", "lr fallback from")
        header += [f"{c.task} {field}" for field in fields]
    writer.writerow(header)
    for row in rows:
        line: list[str] = [row]
        for c in columns:
            cell = cells.get((row, c.task))
            moved = "" if cell is None or cell.fallback_from is None else format_lr(
                cell.fallback_from
            )
            s = None if cell is None else cell.summary
            if cell is None or s is None or s.mean is None:
                n = "" if s is None else str(s.n)
                line += ["", "", n, "" if cell is None else format_lr(cell.lr), "0", moved]
                continue
            line += [
                f"{_scale(s.mean, c):.4f}",
                "" if s.std is None else f"{_scale(s.std, c):.4f}",
                str(s.n),
                format_lr(cell.lr),
                "1" if row in best[c.task] else "0",
                moved,
            ]
        writer.writerow(line)
    return out.getvalue()
