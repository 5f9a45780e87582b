"""The runs store of bench and validate (`optevo.transfer.store`) against damaged lines
(issue 27, G9): every bad line is one ValueError naming the file and the line, a string is not
a number, a torn last line is dropped, and a non-finite metric reads as a diverged run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optevo.transfer.store import ResultStore, RunKey, RunRecord

GOOD: dict[str, Any] = {
    "schema": "optevo.bench/1",
    "task": "ratings-mf",
    "optimizer": "Adam",
    "genome_hash": "abc",
    "schedule": "one_cycle",
    "phase": "final",
    "lr": 0.01,
    "seed": 1,
    "steps": 10,
    "total_steps": 10,
    "metric": 0.75,
    "status": "ok",
    "seconds": 1.5,
    "extra": {"trained": 10},
}


def _write(folder: Path, *lines: bytes) -> Path:
    folder.mkdir()
    (folder / "runs.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    return folder


def _line(**changes: Any) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_a_good_line_reads_back_as_written(tmp_path: Path) -> None:
    store = ResultStore(_write(tmp_path / "out", _line()))
    (record,) = store.records()
    assert record.key == RunKey("ratings-mf", "Adam", "abc", "one_cycle", "final", 0.01, 1, 10, 10)
    assert (record.metric, record.status, record.seconds) == (0.75, "ok", 1.5)
    assert not record.diverged


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        (_line(lr=1e400).replace(b"Infinity", b"1e400"), "not a positive finite rate"),
        (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "not a bench record"),
        (_line()[:20] + b"\xff\xfe" + _line()[20:], "utf-8"),
        (_line(metric="0.5"), "metric is str, not a number"),
        (_line(seed=1.5), "seed is float, not a whole number"),
        (_line(task=7), "task is int, not a string"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "lr"}).encode(), "KeyError: 'lr'"),
        (b"[1, 2]", "a record is a JSON object"),
        (_line(extra=[1]), "extra is list"),
    ],
)
def test_a_damaged_line_names_the_file_and_line(tmp_path: Path, bad: bytes, needle: str) -> None:
    folder = _write(tmp_path / "out", _line(), bad, _line(seed=2))
    with pytest.raises(ValueError, match=r"runs\.jsonl:2: not a bench record") as info:
        ResultStore(folder)
    assert needle in str(info.value)
    assert len(str(info.value)) < 600  # a huge line is not echoed whole


def test_a_torn_last_line_is_dropped_and_the_rest_kept(tmp_path: Path) -> None:
    folder = _write(tmp_path / "out", _line(), _line(seed=2)[:30])
    store = ResultStore(folder)
    assert len(store.records()) == 1
    assert (folder / "runs.jsonl").read_bytes() == _line() + b"\n"


def test_a_reader_without_the_lock_leaves_a_torn_line_to_the_lock_holder(tmp_path: Path) -> None:
    # issue 27 G8: the torn line may be another process's line being written
    torn = _line() + b"\n" + _line(seed=2)[:30] + b"\n"
    folder = _write(tmp_path / "out", _line(), _line(seed=2)[:30])
    assert (folder / "runs.jsonl").read_bytes() == torn
    store = ResultStore(folder, repair=False)
    assert len(store.records()) == 1
    assert (folder / "runs.jsonl").read_bytes() == torn  # untouched
    store.reload()  # what the lock holder does
    assert len(store.records()) == 1
    assert (folder / "runs.jsonl").read_bytes() == _line() + b"\n"


@pytest.mark.parametrize("metric", [float("nan"), float("inf")])
def test_a_non_finite_metric_is_a_diverged_run(tmp_path: Path, metric: float) -> None:
    line = json.dumps({**GOOD, "metric": metric}).encode()  # NaN / Infinity: Python's JSON
    (record,) = ResultStore(_write(tmp_path / "out", line)).records()
    assert record.metric is None and record.diverged


def test_a_record_written_reads_back(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "out")
    key = RunKey("docs-gru", "#1 x", "h", "LR5", "lr", 0.1, 0, 5, 15)
    store.add(RunRecord(key, 1.25, "ok", 0.5, {"trained": 5}))
    (again,) = ResultStore(tmp_path / "out").records()
    assert again.key == key and again.metric == 1.25 and again.extra == {"trained": 5}
