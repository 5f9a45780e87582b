"""Small fitness settings shared by the fitness tests: a packing preset and a training spec
that run on digits in a fraction of a second."""

from __future__ import annotations

from optevo.fitness import preset
from optevo.fitness.spec import TrainSpec


def packing_config(**kw):
    base = {
        "base": 4,
        "total_steps": 60,
        "screen_steps": 30,
        "epoch_steps": 10,
        "screen_stop_epoch": 3,
        "full_stop_after": 30,
        "screen_lrs": [1.0, 0.1, 0.01],
    }
    return preset("tiny", **{**base, **kw})


def train_spec(**kw) -> TrainSpec:
    base = {
        "base": 4,
        "total_steps": 60,
        "warmup_steps": 3,
        "batch_size": 32,
        "epoch_steps": 10,
        "dropout": 0.2,
        "eval_batch_size": 400,
    }
    return TrainSpec(**{**base, **kw})
