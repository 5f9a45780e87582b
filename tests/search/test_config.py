"""RunConfig: presets, YAML, overrides, and errors that name the field and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from optevo.search.config import (
    ConfigError,
    ParticleStrategy,
    load_run_config,
    run_preset,
    run_preset_names,
)


@pytest.mark.parametrize("name", run_preset_names())
def test_every_preset_loads_and_round_trips(name: str) -> None:
    config = run_preset(name)
    again = type(config).model_validate_json(config.model_dump_json())
    assert again == config


def test_paper_presets_have_about_1800_evaluations() -> None:
    n = {p: run_preset(p).strategy for p in ("paper-1", "paper-2", "paper-3")}
    assert isinstance(n["paper-1"], ParticleStrategy)
    # SPEC 6: 10N + N(1 + T*M), the published run N=50, T=5, M=7 -> 500 + 1,800.
    assert (n["paper-1"].particles, n["paper-1"].time_steps, n["paper-1"].mutations) == (50, 5, 7)
    assert n["paper-1"].planned_evaluations() == 500 + 50 * (1 + 5 * 7) == 2300
    for p in ("paper-2", "paper-3"):
        s = n[p]
        search = s.particles * (1 + s.time_steps * s.mutations)
        assert 1700 <= search <= 1950, (p, search)
        assert (s.particles, s.time_steps) != (50, 5)
    cfg = run_preset("paper-1")
    assert cfg.fitness.base == 48 and cfg.initial_fitness().base == 32
    assert cfg.fitness.dataset == cfg.initial_fitness().dataset == "cifar10"


def test_refine_and_adam_presets() -> None:
    refine = run_preset("refine")
    assert refine.strategy.seeds_per_candidate == 3 and refine.strategy.seed_genomes
    variants, schedules = run_preset("adam-variants"), run_preset("adam-schedules")
    assert variants.strategy.seed_genomes == schedules.strategy.seed_genomes == ("Adam",)
    assert variants.search_space().mutation_weights == variants.space.mutation_weights
    assert schedules.search_space().mutation_weights == (0.0, 0.0, 0.0, 0.0, 1.0)


def test_quick_preset_searches_short_and_reevaluates_with_the_full_quick_fitness() -> None:
    cfg = run_preset("quick")
    assert cfg.fitness.dataset == "fashion-mnist"
    assert cfg.stage_fitness("final").total_steps == 600  # the quick fitness preset
    assert cfg.stage_fitness("init").base < cfg.fitness.base
    assert cfg.final.baselines == ("Adam", "SGD", "QHM") and cfg.final.seeds == 3


def test_main_preset_is_a_short_funnelled_discovery_on_the_suite_fitness() -> None:
    from optevo.cli.search import MAIN_PRESET

    assert MAIN_PRESET == "main"  # `optevo search` with no options, `make run`
    cfg = run_preset("main")
    assert cfg.fitness.task_scale == 0.5  # the suite fitness preset, tasks named below
    rung0 = [t.name for t in cfg.fitness.tasks]
    assert rung0[0] == "fashion-quick" and len(rung0) == 4  # the embedded data set first
    assert cfg.funnel is not None and len(cfg.funnel.rungs) == 1
    rung1 = cfg.stage_fitness("rung-1")
    assert len(rung1.tasks) == 6 and set(rung0) < {t.name for t in rung1.tasks}
    assert rung1.task_scale == 0.5 and cfg.funnel.rungs[0].seeds == 1
    assert cfg.budget_steps == 150_000
    # Discovery from the frontier (issue 24): the standard optimizers, local edits, restarts.
    assert cfg.space.kind == "extended"
    assert cfg.strategy.kind == "regularized" and cfg.strategy.mutation == "local"
    assert {"Adam", "AdamW", "Lion"} <= set(cfg.strategy.seed_genomes)
    assert cfg.strategy.restart_after is not None
    assert cfg.final.baselines == ("Adam", "AdamW") and cfg.final.seeds == 3
    assert len(cfg.stage_fitness("final").tasks) == 6


@pytest.mark.parametrize("name", ["discover", "discover-gpu"])
def test_discover_presets_search_from_the_library_with_a_funnel_and_a_validation_stage(
    name: str,
) -> None:
    from optevo import library

    cfg = run_preset(name)
    assert cfg.space.kind == "extended"
    assert cfg.strategy.kind == "regularized" and cfg.strategy.mutation == "local"
    assert cfg.strategy.seed_specs() == library.names()  # `seed_genomes: library`
    assert cfg.strategy.restart_after is not None and cfg.strategy.schedule_p > 0
    assert cfg.funnel is not None and [r.seeds for r in cfg.funnel.rungs][-1] >= 2
    assert len(cfg.stage_fitness("rung-1").tasks) == 6  # the whole search suite
    assert cfg.budget_steps is not None and cfg.validation is not None
    assert cfg.validation.top >= 3 and cfg.validation.seeds >= 5 and cfg.validation.baselines
    assert cfg.validation.named == ("LR6",)
    if name == "discover":
        assert cfg.budget_steps == 3_000_000 and cfg.executor.workers == 2
        assert cfg.validation.top == 3
        assert [t.name for t in cfg.fitness.tasks] == [  # docs/results/rung0/
            "teacher-mlp",
            "heavy-tailed-logreg",
            "manifold-autoencoder",
        ]


def test_dotted_overrides() -> None:
    cfg = run_preset("tiny", **{"strategy.particles": 5, "fitness.base": 3, "seed": 7})
    assert cfg.strategy.particles == 5 and cfg.fitness.base == 3 and cfg.seed == 7
    # init_fitness keeps its own override on top of the changed fitness
    assert cfg.initial_fitness().base == 2


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (
            {"strategy.particles": 0},
            "strategy.particle.particles: Input should be greater than or equal to 1 (got 0)",
        ),
        ({"strategy.kind": "annealing"}, "strategy"),
        ({"fitness.base": "wide"}, "fitness.base: Input should be a valid integer"),
        ({"fitness.dataset": "imagenet"}, "unknown data set 'imagenet'"),
        ({"executor.kind": "mpi"}, "executor.kind"),
        (
            {"space.n_hidden": 0},
            "space.n_hidden: Input should be greater than or equal to 1 (got 0)",
        ),
        ({"final.baselines": ["Adamm"]}, "unknown named optimizer(s) ['Adamm']"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0 (got -1)"),
        ({"strategy.budget": 3}, "strategy.particle.budget: Extra inputs are not permitted"),
        ({"sphere.learning_rates": [1.0, -1.0]}, "sphere"),
    ],
)
def test_errors_name_the_field_and_value(overrides: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        run_preset("tiny", **overrides)
    assert needle in str(info.value)


def test_yaml_files(tmp_path: Path) -> None:
    good = tmp_path / "run.yaml"
    good.write_text("preset: tiny\nseed: 3\nstrategy:\n  particles: 4\nfitness:\n  base: 5\n")
    cfg = load_run_config(good, {"strategy.mutations": 3})
    assert (cfg.seed, cfg.strategy.particles, cfg.strategy.mutations) == (3, 4, 3)
    assert cfg.fitness.base == 5 and cfg.fitness.dataset == "digits"
    assert cfg.strategy.time_steps == run_preset("tiny").strategy.time_steps

    cases = {
        "list.yaml": ("- 1\n- 2\n", "a config holds a mapping of fields (e.g. `seed: 3`)"),
        "string.yaml": ("just words\n", "this one holds a string"),
        "bad.yaml": ("seed: [1\n", "not valid YAML"),
        "unsafe.yaml": ("seed: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
        "typo.yaml": ("stratgy: {}\n", "stratgy: Extra inputs are not permitted"),
        "preset.yaml": ("preset: nope\n", "unknown search preset 'nope'"),
    }
    for name, (text, needle) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ConfigError, match=None) as info:
            load_run_config(path)
        assert needle in str(info.value), (name, str(info.value))
    with pytest.raises(ConfigError, match="is a directory"):
        load_run_config(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "missing.yaml")
