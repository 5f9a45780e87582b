"""run_validate through its API: the runs it stores, the progress accounting of its events,
resume after an interruption, and the optimizer specs it builds on."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import torch

from optevo import library
from optevo.optim import EvolvedOptimizer
from optevo.optim.lion import Lion
from optevo.optim.spec import OptimizerSpec, baseline, named
from optevo.tasks.registry import TASKS
from optevo.transfer import TransferEvent
from optevo.transfer.lrtest import ADAM_GRID, LION_GRID, PAPER_GRID, default_grid
from optevo.transfer.store import ResultStore
from optevo.validate import ValidateConfig, run_validate

TASK = "cancer-logreg"  # 6,000 steps at its validation size; scale 0.01 -> 60


def _config(*labels: str, **kw: Any) -> ValidateConfig:
    specs = [baseline(x) if x in ("Adam", "AdamW", "Lion") else named([x])[0] for x in labels]
    return ValidateConfig(tuple(specs), (TASK,), seeds=2, scale=0.01, **kw)


def test_every_run_is_stored_and_the_events_account_for_the_work(tmp_path: Path) -> None:
    events: list[TransferEvent] = []
    (result,) = run_validate(_config("SGD", "AdamW", "Lion"), tmp_path, events.append)
    records = ResultStore(tmp_path).records()
    done = [e for e in events if e.kind == "done"]
    assert len(done) == len(records) and not [e for e in events if e.kind == "skip"]
    for entry in result.entries:
        label = entry.spec.label
        lr_runs = {r.key.lr for r in records if r.key.optimizer == label and r.key.phase == "lr"}
        assert lr_runs == set(entry.test.scores) >= set(default_grid(entry.spec))
        # the fair rule: the half-decades around the grid's winner were tried too
        assert len(entry.test.refined) == 2 and set(entry.test.refined) <= lr_runs
        assert [r.key.seed for r in entry.finals] == [0, 1]
        assert not entry.fallbacks and entry.lr == entry.test.winner
        assert all(r.key.lr == entry.lr and r.key.steps == 60 for r in entry.finals)
    # The bar's total: the plan, plus each extension, equals the work done.
    plan = sum(e.cost for e in events if e.kind in ("plan", "extend"))
    assert plan == pytest.approx(sum(e.cost for e in done))
    # AdamW is the library's AdamW genome (torch.optim.AdamW's update): its own runs.
    idents = {r.key.optimizer: r.key.genome_hash for r in records}
    assert idents["AdamW"] == library.genome("AdamW").canonical_hash()
    assert idents["AdamW"] != library.genome("Adam").canonical_hash()
    assert idents["Lion"] == "lion(b1=0.9,b2=0.99,wd=0)"
    for name in ("summary.json", "table.md", "table.csv"):
        assert (tmp_path / name).is_file()


def test_an_interrupted_validation_resumes_where_it_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = TASKS[TASK]
    calls = {"n": 0}

    def build(options: Any, budget: Any) -> Any:
        runner = task.build(options, budget)

        class Interrupting:
            def run(self, *args: Any) -> Any:
                calls["n"] += 1
                if calls["n"] == 4:
                    raise KeyboardInterrupt
                return runner.run(*args)

        return Interrupting()

    monkeypatch.setitem(TASKS, TASK, dataclasses.replace(task, build=build))
    config = _config("Adam", grid=(0.1, 0.01, 0.001))
    with pytest.raises(KeyboardInterrupt):
        run_validate(config, tmp_path)
    assert len(ResultStore(tmp_path).records()) == 3
    monkeypatch.setitem(TASKS, TASK, task)
    events: list[TransferEvent] = []
    run_validate(config, tmp_path, events.append)
    kinds = [e.kind for e in events]
    assert kinds.count("skip") == 3
    assert kinds.count("done") == len(ResultStore(tmp_path).records()) - 3


def test_a_config_checks_its_values() -> None:
    adam = (baseline("Adam"),)
    for kw, message in [
        ({"suite": "bench"}, "suite must be"),
        ({"tasks": ("nope",)}, "unknown task"),
        ({"tasks": ("fashion-convnet",)}, "only a bench size"),
        ({"tasks": (TASK, TASK)}, "named twice"),
        ({"seeds": 0}, "seeds"),
        ({"scale": float("inf")}, "scale"),
        ({"grid": (0.1, -1.0)}, "grid"),
        ({"scale": 1e6}, "more than the limit"),
    ]:
        with pytest.raises(ValueError, match=message):
            ValidateConfig(adam, **kw)
    with pytest.raises(ValueError, match="named twice"):
        ValidateConfig((baseline("Adam"), baseline("Adam")))
    assert ValidateConfig(adam).tasks == tuple(t for t, x in TASKS.items() if "validate" in x.sizes)
    search = ValidateConfig(adam, suite="search", tasks=("teacher-mlp", TASK))
    assert search.budget("teacher-mlp") == TASKS["teacher-mlp"].size("search")
    assert search.budget(TASK) == TASKS[TASK].size("validate")  # its own suite's size


def test_starting_grids_by_kind() -> None:
    assert default_grid(baseline("Adam")) == default_grid(baseline("AdamW")) == ADAM_GRID
    assert default_grid(baseline("Lion")) == LION_GRID
    assert default_grid(named(["Opt6"])[0]) == PAPER_GRID
    assert default_grid(named(["LR3"])[0]) == PAPER_GRID  # Adam under another schedule


def test_specs_build_genomes_with_weight_decay_and_factories() -> None:
    p = [torch.zeros(3, requires_grad=True)]
    adam = baseline("Adam")
    assert adam.genome_hash == library.genome("Adam").canonical_hash()  # as the bench stored it
    adamw = baseline("AdamW").build(p, 0.1, 10, 1, 2)
    assert isinstance(adamw, EvolvedOptimizer)
    assert adamw.rule.genome.constant("wd") == 0.01 and adamw.rule.genome.constant("eps") == 1e-8
    lion = baseline("Lion").build(p, 0.1, 10, 1, 2)
    assert isinstance(lion, Lion) and lion.param_groups[0]["betas"] == (0.9, 0.99)
    genome = library.genome("Adam")
    for bad, message in [
        ({"genome": None}, "a genome or a factory"),
        ({"genome": genome, "factory": lambda *a: lion}, "a genome or a factory"),
        ({"genome": genome, "weight_decay": -1.0}, "weight decay"),
    ]:
        with pytest.raises(ValueError, match=message):
            OptimizerSpec("x", **bad)
    with pytest.raises(ValueError, match="ident"):
        OptimizerSpec.of_factory("x", lambda *a: lion, "")
