"""The configuration layer (`optevo.config`): one loader, one merge rule, one override syntax,
presets found on disk, one error type with one-line messages."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import pytest

from optevo.config import (
    ConfigError,
    apply_overrides,
    build,
    from_preset,
    load,
    merge,
    parse_assignments,
    preset_dict,
    preset_names,
)
from optevo.fitness import PAPER, SingleTaskFitness, preset
from optevo.integrity import SphereConfig
from optevo.search.config import FinalConfig, RunConfig, run_preset, stored_run_config
from optevo.search.elimination_config import PAPER_SEARCH_BASE, PAPER_SEARCH_STEPS
from optevo.space.config import SpaceConfig


def test_presets_are_the_yaml_files_of_their_folder() -> None:
    for kind in ("fitness", "search"):
        folder = resources.files("optevo").joinpath("configs", kind)
        on_disk = sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))
        assert list(preset_names(kind)) == on_disk and on_disk
    assert {"paper", "quick", "tiny"} <= set(preset_names("fitness"))
    with pytest.raises(ConfigError, match="unknown preset kind 'bench'"):
        preset_names("bench")


def test_the_paper_protocol_is_stated_once() -> None:
    # the `paper` preset file sets nothing: it is SingleTaskFitness's defaults ...
    assert preset_dict("fitness", "paper") == {}
    assert preset("paper") == PAPER == SingleTaskFitness()
    # ... and the elimination's paper sizes are read from it, not written again
    assert (PAPER_SEARCH_BASE, PAPER_SEARCH_STEPS) == (PAPER.base, PAPER.total_steps) == (48, 8000)
    assert run_preset("paper-1").fitness == PAPER


def test_one_merge_rule_mappings_merge_everything_else_replaces() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1}
    top = {"a": {"y": [3]}, "c": {"z": 0}}
    out = merge(base, top)
    assert out == {"a": {"x": 1, "y": [3]}, "b": 1, "c": {"z": 0}}
    out["a"]["x"] = 9
    assert base["a"]["x"] == 1  # copies, never aliases
    assert apply_overrides(base, {"a.x": 5, "d.e": 1}) == {
        "a": {"x": 5, "y": [1, 2]},
        "b": 1,
        "d": {"e": 1},
    }
    with pytest.raises(ConfigError, match="'b' is not a section"):
        apply_overrides(base, {"b.x": 1})


def test_one_override_syntax() -> None:
    assert parse_assignments(["a.b=3", "c=[1, 2]", "d=text"]) == {
        "a.b": 3,
        "c": [1, 2],
        "d": "text",
    }
    with pytest.raises(ConfigError, match="--set takes KEY=VALUE, got 'nokey'"):
        parse_assignments(["nokey"])
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 1, column 3: expected ','"):
        parse_assignments(["a=[1"])


def test_every_config_is_a_model_built_with_the_same_errors() -> None:
    cases = [
        (SpaceConfig, {"n_hidden": 0}, "space: n_hidden: Input should be greater than or equal"),
        (SphereConfig, {"x0": [1.0]}, "x0 and shift must be non-empty and of equal length"),
        (SingleTaskFitness, {"base": "wide"}, "base: Input should be a valid integer"),
        (FinalConfig, {"top": -1}, "top: Input should be greater than or equal to 0 (got -1)"),
    ]
    for model, raw, needle in cases:
        source = "space" if model is SpaceConfig else "cfg"
        with pytest.raises(ConfigError) as info:
            build(model, raw, source)
        assert needle in str(info.value), str(info.value)
        assert "\n" not in str(info.value)


def test_a_huge_rejected_value_is_never_printed_whole() -> None:
    big = list(range(2_000_000))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        build(RunConfig, {"seed": big}, "run.yaml")
    assert time.perf_counter() - t0 < 5.0
    message = str(info.value)
    assert "seed:" in message and "a list of 2000000 items" in message and len(message) < 400
    with pytest.raises(ConfigError) as info:
        build(RunConfig, {"seed": "x" * 100_000}, "run.yaml")
    assert len(str(info.value)) < 400


def test_final_is_what_is_written() -> None:
    # Left out: nothing is re-evaluated.
    assert not run_preset("tiny", final={}).final.enabled
    # `seeds` alone used to add top=3 and Adam/SGD/QHM silently: now it is refused.
    with pytest.raises(ConfigError, match="final re-evaluates nothing"):
        run_preset("tiny", final={"seeds": 5})
    cfg = run_preset("tiny", final={"baselines": ["Adam"], "seeds": 5})
    assert (cfg.final.top, cfg.final.baselines, cfg.final.seeds) == (0, ("Adam",), 5)


def test_fitness_files_and_run_files_share_the_loader(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("preset: tiny\nbase: 3\n")
    assert load(SingleTaskFitness, "fitness", path).base == 3
    assert from_preset(SingleTaskFitness, "fitness", "tiny", {"base": 2}).base == 2
    path.write_text("preset: nope\n")
    with pytest.raises(ConfigError, match="unknown fitness preset 'nope'"):
        load(SingleTaskFitness, "fitness", path)


def test_runs_stored_before_the_layout_field_still_load() -> None:
    raw = json.loads(run_preset("tiny").model_dump_json())
    for section in ("fitness", "init_fitness", "final_fitness"):
        if raw.get(section):
            raw[section].pop("layout")
            raw[section]["strategy"] = "grouped"
    cfg = stored_run_config(json.dumps(raw), "old/run.sqlite")
    assert cfg.fitness.layout == cfg.initial_fitness().layout == "packed"
    raw["fitness"]["bogus"] = 1
    with pytest.raises(ConfigError, match=r"old/run.sqlite: stored configuration: fitness.bogus"):
        stored_run_config(json.dumps(raw), "old/run.sqlite")
    with pytest.raises(ConfigError, match="not JSON"):
        stored_run_config("{", "old/run.sqlite")


def test_bench_configs_are_models_with_the_same_errors() -> None:
    from optevo.bench import BenchConfig
    from optevo.optim.spec import named
    from optevo.tasks.base import Budget, TaskOptions

    budget = Budget(total_steps=300, warmup_steps=20, hold_steps=40, batch_size=8)
    half = budget.scaled(0.5)
    assert (half.total_steps, half.warmup_steps, half.hold_steps) == (150, 10, 20)
    with pytest.raises(ValueError, match="positive and finite"):
        budget.scaled(float("inf"))
    with pytest.raises(ConfigError, match="batch_size: Input should be greater than or equal to 1"):
        build(Budget, {**budget.model_dump(), "batch_size": 0}, "budget")
    ok = BenchConfig("fashion-convnet", named(["Adam"]), seeds=2)
    assert ok.seeds == 2 and ok.options == TaskOptions()
    for fields, needle in (
        ({"scale": float("inf")}, "bench: scale: Input should be a finite number (got inf)"),
        ({"seeds": 0}, "bench: seeds: Input should be greater than or equal to 1 (got 0)"),
        ({"bogus": 1}, "bench: bogus: Extra inputs are not permitted"),
    ):
        with pytest.raises(ConfigError) as info:
            BenchConfig("fashion-convnet", named(["Adam"]), **fields)
        assert needle in str(info.value), str(info.value)
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        BenchConfig("nope", named(["Adam"]))
    with pytest.raises(ConfigError, match="optimizers named twice"):
        BenchConfig("fashion-convnet", named(["Adam", "Adam"]))


BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 10) if prev else ', '.join(['1'] * 10)}]\n"
    for prev, name in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True)
)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (BOMB + "seed: [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n", "more than 100,000 values"),
        (BOMB + "unknown: *h\n", "more than 100,000 values"),
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nested too deeply"),
        ("seed: 1\nseed: 2\n", "line 2: the key 'seed' is given twice"),
        ("strategy:\n  particles: 1\n  particles: 2\n", "the key 'particles' is given twice"),
    ],
)
def test_hostile_yaml_is_one_line_in_well_under_a_second(
    tmp_path: Path, text: str, needle: str
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load(RunConfig, "search", path)
    # an alias bomb is refused at once; deep nesting costs PyYAML's own parse (0.5 s idle)
    assert time.perf_counter() - t0 < (1.0 if "values" in needle else 5.0)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message
    assert len(message) < 300
    with pytest.raises(ConfigError, match="nested too deeply"):
        parse_assignments(["seed=" + "[" * 3000 + "]" * 3000])
