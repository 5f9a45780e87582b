"""The fitness protocol (SPEC 5): every branch reached by a genome or config built for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from optevo import Genome, Node, library
from optevo.config import ConfigError
from optevo.fitness import SingleTaskFitness, fitness, load_config, preset


def zero_update() -> Genome:
    """u = min(max(g, 0), 0) = 0: the weights never move."""
    return Genome((Node("relu", ("g",)),), Node("min0", ("h0",)))


@pytest.mark.slow  # real training, over 3 s
def test_adam_passes_tiny_preset() -> None:
    r = fitness("Adam", preset("tiny"))
    assert r.status == "ok" and not r.stopped_early
    assert r.fitness is not None and r.fitness > 0.85
    assert r.best_lr == max(r.screen, key=r.screen.get)
    assert len(r.runs) == 5  # four screen runs and the full run
    assert r.fitness == max(r.runs[-1].val_acc)
    assert r.seconds > 0


def test_zero_update_fails_the_screen() -> None:
    r = fitness(zero_update(), preset("tiny"))
    assert r.status == "failed_screen" and r.fitness is None
    assert all(acc < 0.25 for acc in r.screen.values())
    assert all(run.steps == 20 for run in r.runs)  # stopped after the first epoch


def test_weak_screen_fails_the_threshold() -> None:
    r = fitness("Adam", preset("tiny", threshold_acc=0.99))
    assert r.status == "failed_threshold" and r.fitness is None
    assert r.best_lr is not None and 0.25 <= r.screen[r.best_lr] < 0.99


def diverges_late() -> Genome:
    """u = g * exp(exp(exp(2 lin_inc(t)))): trains early, overflows once t/T > 0.75."""
    from optevo import DecayGenome

    lin_inc = DecayGenome((Node("identity", ("lin_inc",)),), Node("identity", ("h0",)))
    return Genome(
        (
            Node("identity", ("two",), (lin_inc,)),
            Node("exp", ("h0",)),
            Node("exp", ("h1",)),
            Node("exp", ("h2",)),
        ),
        Node("mul", ("g", "h3")),
    )


def test_a_late_diverging_genome_is_diverged() -> None:
    # The full run's 40% stop would end it first (its accuracy sinks as u grows): disable it.
    r = fitness(diverges_late(), preset("tiny", full_min_acc=0.0))
    assert r.status == "diverged"
    full = r.runs[-1]
    assert full.status == "diverged" and full.steps < 120
    assert r.fitness == full.best_val_acc


def test_full_run_early_stop_keeps_best_validation() -> None:
    r = fitness("Adam", preset("tiny", full_min_acc=0.999))
    assert r.status == "ok" and r.stopped_early
    assert r.runs[-1].steps == 60  # stopped at the first check, step 60
    assert r.fitness == max(r.runs[-1].val_acc)


def test_errors_become_status_error() -> None:
    r = fitness("Adam", preset("tiny", device="cuda:7"))
    assert r.status == "error" and r.fitness is None
    assert r.error


@pytest.mark.slow  # real training, over 3 s
def test_named_optimizers_bring_their_learning_rate_factor() -> None:
    opt6 = fitness("Opt6", preset("tiny"))
    same_genome_plain = fitness(library.genome("Opt6"), preset("tiny"))
    with_lr1 = fitness(library.genome("Opt6"), preset("tiny"), schedule="LR1")
    assert opt6.runs[-1].train_loss == with_lr1.runs[-1].train_loss
    assert opt6.runs[-1].train_loss != same_genome_plain.runs[-1].train_loss


@pytest.mark.slow  # real training, over 3 s
def test_fitness_is_deterministic_for_a_seed() -> None:
    a = fitness("QHM", preset("tiny"))
    b = fitness("QHM", preset("tiny"))
    c = fitness("QHM", preset("tiny", seed=1))
    assert a.fitness == b.fitness and a.screen == b.screen
    assert a.runs[-1].train_loss != c.runs[-1].train_loss


@pytest.mark.slow  # real training, over 3 s
def test_result_serialises_to_plain_data() -> None:
    import json

    d = fitness("SGD", preset("tiny")).to_dict()
    assert json.loads(json.dumps(d))["status"] == d["status"]


# -- configuration -------------------------------------------------------------------------


def test_paper_preset_is_spec_5() -> None:
    c = preset("paper")
    assert (c.dataset, c.base, c.batch_size, c.screen_steps, c.total_steps) == (
        "cifar10",
        48,
        128,
        800,
        8000,
    )
    assert c.screen_lrs == (10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5)
    assert (c.screen_min_acc, c.threshold_acc, c.full_stop_after, c.full_min_acc) == (
        0.25,
        0.40,
        1000,
        0.40,
    )
    assert c.warmup_steps == 400 and c.epoch_steps == 200
    assert c.val_size is None  # CIFAR-10's own hold-out: 5,000 images (optevo.data)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"base": 0}, "base"),
        ({"dataset": "mnist"}, "dataset"),
        ({"screen_lrs": [0.1, -1.0]}, "screen_lrs"),
        ({"batch_size": "big"}, "batch_size"),
        ({"screen_steps": 10_000}, "screen_steps"),
        ({"device": "tpu"}, "device"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_config_errors_name_the_field(overrides: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        preset("quick", **overrides)


def test_unknown_preset() -> None:
    with pytest.raises(ConfigError, match="unknown fitness preset 'huge'; known: paper, quick"):
        preset("huge")


def test_load_config_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("preset: quick\nbase: 8\n")
    c = load_config(path)
    assert isinstance(c, SingleTaskFitness) and c.base == 8 and c.dataset == "fashion-mnist"
    path.write_text("base: [\n")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load_config(path)
    path.write_text("batch_size: 0\n")
    with pytest.raises(ValueError, match="batch_size"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.slow  # real training, over 3 s
def test_bf16_autocast_option_runs_and_learns() -> None:
    r = fitness("Adam", preset("tiny", amp=True))
    assert r.status == "ok" and r.fitness is not None and r.fitness > 0.8


@pytest.mark.slow  # real training, over 3 s
def test_channels_last_off_gives_the_same_protocol() -> None:
    a = fitness("SGD", preset("tiny"))
    b = fitness("SGD", preset("tiny", channels_last=False))
    assert a.best_lr == b.best_lr
    assert abs(a.fitness - b.fitness) < 0.02
