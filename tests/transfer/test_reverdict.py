"""`benchmarks/reverdict.py`: a validation folder written under the old rule (beyond 2 SE) gets
the paired t-test's verdicts from its stored per-seed results, the old ones beside them in
`verdicts.md`, nothing trained."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import reverdict

from optevo.optim.spec import baselines, named
from optevo.tasks.registry import get_task
from optevo.transfer.lrtest import LrTestResult
from optevo.transfer.protocol import Outcome
from optevo.transfer.store import RunKey, RunRecord
from optevo.validate.run import TaskResult, ValidateConfig
from optevo.validate.tables import build_summary

OLD_RULE = "win / loss: better / worse than the baseline by more than 2 standard errors"


def _records(label: str, ident: str, values: list[float]) -> list[RunRecord]:
    keys = [
        RunKey("ratings-mf", label, ident, "one_cycle", "final", 0.01, s, 10, 10) for s in range(3)
    ]
    return [RunRecord(k, v, "ok", 0.1, {}) for k, v in zip(keys, values, strict=True)]


def old_folder(tmp_path: Path) -> Path:
    """A summary as `optevo validate` wrote it before the t-test (old verdict fields, old rule)."""
    task = get_task("ratings-mf")  # MSE: lower is better
    specs = [*named(["SGD"]), baselines()[0]]
    values = {
        # d = -0.01, -0.02, -0.03 vs Adam: mean -0.02, SE 0.005774, t = -3.46 at 2 df, p 0.074:
        # a win beyond 2 SE, a tie by the t-test
        "SGD": [0.50, 0.48, 0.47],
        "Adam": [0.51, 0.50, 0.50],
    }
    tested = LrTestResult(0.01, {0.01: 0.5})
    entries = [
        Outcome(s, tested, 0.01, _records(s.label, s.genome_hash, values[s.label])) for s in specs
    ]
    config = ValidateConfig(tuple(specs), (task.name,), seeds=3, scale=0.01)
    result = TaskResult(task, "validate", config.budget(task.name), entries)
    summary = build_summary(config, [result])
    for row in summary["tasks"][0]["rows"]:
        for vs in row["vs"].values():
            for key in ("t", "p", "ci", "alpha"):
                del vs[key]
            vs["verdict"] = "win"
    summary["rule"] = OLD_RULE
    del summary["alpha"], summary["fair_lr"]
    folder = tmp_path / "validation"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def test_the_old_verdicts_are_recomputed_and_the_new_ones_written(tmp_path: Path) -> None:
    folder = old_folder(tmp_path)
    module = reverdict
    result = module.process(folder)
    assert result["mismatches"] == []
    assert result["old"][("SGD", "Adam")] == {"win": 1, "loss": 0, "tie": 0}
    assert result["new"][("SGD", "Adam")] == {"win": 0, "loss": 0, "tie": 1}
    text = (folder / "verdicts.md").read_text()
    assert "| SGD | 1/0/0 | 0/0/1 |" in text
    assert "| ratings-mf | SGD | Adam | win | tie **(changed)** |" in text
    assert "1 of 1 verdicts changed" in text
    summary = json.loads((folder / "summary.json").read_text())
    (row,) = [r for r in summary["tasks"][0]["rows"] if r["optimizer"] == "SGD"]
    assert row["vs"]["Adam"]["verdict"] == "tie"
    assert abs(row["vs"]["Adam"]["p"] - 0.0742) < 1e-4
    assert "alpha = 0.05" in summary["rule"] and "alpha = 0.05" in (folder / "table.md").read_text()
    assert summary["overall"][0]["vs"]["Adam"] == {"win": 0, "loss": 0, "tie": 1}
    # Run again: the old verdict is recomputed from the values, the same file comes out.
    assert module.main([str(folder)]) == 0
    assert (folder / "verdicts.md").read_text() == text


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    folder = old_folder(tmp_path)
    before = (folder / "summary.json").read_text()
    reverdict.main([str(folder), "--dry-run"])
    assert (folder / "summary.json").read_text() == before
    assert not (folder / "verdicts.md").exists()
