"""Recommended peak learning rates: shipped data, `create()` without `lr`, list/show, the tool."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from optevo import library
from optevo.bench import chosen_lrs
from optevo.cli import app
from optevo.library import recommended
from optevo.optim import create
from optevo.transfer.store import ResultStore, RunKey, RunRecord

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "optevo" / "library" / "recommended_lr.json"
FASHION = ROOT / "docs" / "results" / "fashion-convnet"
MEASURED = [
    "Adam", "RMSProp", "SGD", "Nesterov", "PowerSign-ld", "AddSign-ld", "QHM",
    *(f"Opt{i}" for i in range(1, 11)), *(f"LR{i}" for i in range(1, 10)),
    *(f"A{i}" for i in range(1, 6)),
]  # fmt: skip


def tool():
    spec = importlib.util.spec_from_file_location(
        "build_lr", ROOT / "tools" / "build_recommended_lr.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.ones(3))]


def test_every_benched_optimizer_has_a_recommendation_measured_on_fashion() -> None:
    assert set(recommended.recommended_names()) == set(MEASURED)
    for name in MEASURED:
        rec = library.recommended_lr(name)
        assert rec is not None and rec.lr > 0
        assert [m.task for m in rec.measured_on] == ["fashion-convnet"]
        assert rec.measured_on[0].total_steps == 300 and rec.measured_on[0].scale == 0.1
        assert rec.where == "fashion-convnet (scale 0.1, 300 steps)"


def test_shipped_file_is_what_the_tool_builds_from_the_committed_bench() -> None:
    shipped = json.loads(SHIPPED.read_text())
    built = tool().build([FASHION.relative_to(ROOT)])
    assert built["optimizers"] == shipped["optimizers"]


@pytest.mark.parametrize("name", ["Adam", "Opt6", "LR3", "PowerSign-ld"])
def test_create_uses_the_recommendation_when_lr_is_omitted(name: str) -> None:
    rec = library.recommended_lr(name)
    assert rec is not None
    opt = create(name, params(), total_steps=50)
    assert opt.param_groups[0]["lr"] == rec.lr
    assert create(name, params(), 0.123, 50).param_groups[0]["lr"] == 0.123  # explicit wins


def test_create_uses_a_patched_recommendation(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {"Opt41": recommended.RecommendedLR("Opt41", 0.37, ())}
    monkeypatch.setattr(recommended, "_entries", lambda: fake)
    opt = create("Opt41", params(), total_steps=10)
    assert opt.param_groups[0]["lr"] == 0.37
    assert opt.param_groups[0]["schedule"] == "LR1"  # its own factor stays


def test_missing_recommendation_or_total_steps_are_clear_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(recommended, "_entries", lambda: {})
    with pytest.raises(ValueError, match="Opt41 has no recommended learning rate yet: pass lr="):
        create("Opt41", params(), total_steps=10)
    with pytest.raises(TypeError, match="needs total_steps"):
        create("Adam", params(), 0.1)


def test_parse_refuses_bad_documents() -> None:
    with pytest.raises(ValueError, match="schema"):
        recommended.parse({"schema": "other"})
    with pytest.raises(ValueError, match="must be positive"):
        recommended.parse({"schema": recommended.SCHEMA, "optimizers": {"Adam": {"lr": 0}}})


def test_tool_takes_the_geometric_median_over_tasks(tmp_path: Path) -> None:
    for folder, task, lr in (("a", "t1", 0.001), ("b", "t2", 0.1), ("c", "t3", 0.01)):
        ResultStore(tmp_path / folder).set_task(
            task,
            {
                "scale": 1.0,
                "total_steps": 100,
                "seeds": 1,
                "optimizers": {},
                "lr": {"Adam": {"winner": lr}, "#1 abc": {"winner": 1}},
            },
        )
    doc = tool().build([tmp_path / f for f in "abc"])
    assert list(doc["optimizers"]) == ["Adam"]  # run genomes are not named optimizers
    assert doc["optimizers"]["Adam"]["lr"] == 0.01
    assert [m["task"] for m in doc["optimizers"]["Adam"]["measured_on"]] == ["t1", "t2", "t3"]
    two = tool().build([tmp_path / "a", tmp_path / "b"])
    assert two["optimizers"]["Adam"]["lr"] == 0.01  # between 1e-3 and 1e-1 on a log scale


def test_tool_leaves_out_a_rate_whose_final_runs_diverged(tmp_path: Path) -> None:
    adam = library.genome("Adam").canonical_hash()
    store = ResultStore(tmp_path)
    store.set_task(
        "t",
        {
            "scale": 1.0,
            "total_steps": 10,
            "seeds": 2,
            "optimizers": {"Adam": {"genome_hash": adam, "schedule": "one_cycle"}},
            "lr": {"Adam": {"winner": 10.0}},
        },
    )
    for seed, status in ((0, "ok"), (1, "diverged")):
        key = RunKey("t", "Adam", adam, "one_cycle", "final", 10.0, seed, 10, 10)
        store.add(RunRecord(key, 0.1, status, 1.0, {}))
    assert chosen_lrs(tmp_path)["Adam"]["t"]["diverged"] == 1
    assert tool().build([tmp_path])["optimizers"] == {}


def test_list_and_show_display_it() -> None:
    runner = CliRunner()
    rec = library.recommended_lr("Opt6")
    assert rec is not None
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0 and "rec. lr" in listing.output
    shown = runner.invoke(app, ["show", "Opt6"])
    assert shown.exit_code == 0
    assert f"recommended peak lr: {rec.lr:g} (measured on fashion-convnet" in shown.output
    as_json = runner.invoke(app, ["show", "Opt6", "--format", "json"])
    assert "recommended" not in as_json.output  # JSON output stays pure JSON
