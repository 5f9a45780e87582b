"""fitness_many packs candidates x learning rates into one model: same protocol, same meaning
as separate fitness() calls."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.fitness import packing_config as config
from optevo import library
from optevo.fitness import fitness, fitness_many
from optevo.search.candidates import random_genome
from optevo.space.genome import Genome


def candidates() -> list[Genome | str]:
    failing = Genome.from_dict(  # u = 2: no learning signal, fails the screen
        {
            "schema": "optevo.genome/1",
            "momentum": "none",
            "flipped": False,
            "hidden": [{"op": "identity", "inputs": ["two"]}],
            "output": {"op": "mul", "inputs": ["h0", "w6"]},
        }
    )
    return [
        "Adam",
        "SGD",
        "Opt6",
        library.genome("Adam"),
        failing,
        random_genome(np.random.default_rng(4)),
    ]


@pytest.mark.slow  # real training, over 3 s
def test_packed_equals_separate_fitness(digits) -> None:
    cands = candidates()
    packed = fitness_many(cands, config(layout="packed"), data=digits)
    separate = [fitness(c, config(layout="packed"), data=digits) for c in cands]
    assert len(packed) == len(cands)
    statuses = [r.status for r in separate]
    assert statuses.count("ok") >= 3 and "failed_screen" in statuses
    for p, s in zip(packed, separate, strict=True):
        assert p.status == s.status
        assert p.best_lr == s.best_lr
        assert p.screen.keys() == s.screen.keys()
        for lr in s.screen:
            assert p.screen[lr] == pytest.approx(s.screen[lr], abs=0.02)
        if s.fitness is None:
            assert p.fitness is None
        else:
            # Grouped convolutions sum in another order than separate ones: equal to within
            # the training's sensitivity to that (60 steps on digits).
            assert p.fitness == pytest.approx(s.fitness, abs=0.02)
    # Adam by name and as a genome are the same candidate: identical results in one pack.
    assert packed[0].fitness == packed[3].fitness and packed[0].screen == packed[3].screen


@pytest.mark.slow  # real training, over 3 s
def test_chunks_and_sequential_strategy(digits) -> None:
    cands = ["Adam", "SGD", "QHM"]
    small = fitness_many(cands, config(layout="packed", pack_copies=3), data=digits)
    whole = fitness_many(cands, config(layout="packed"), data=digits)
    seq = fitness_many(cands, config(layout="sequential"), data=digits)
    assert [r.status for r in small] == [r.status for r in whole] == [r.status for r in seq]
    for a, b, c in zip(small, whole, seq, strict=True):
        assert a.fitness == pytest.approx(b.fitness, abs=0.02)
        assert a.fitness == pytest.approx(c.fitness, abs=0.02)
    assert fitness_many([], config(), data=digits) == []
    with pytest.raises(ValueError, match="schedules"):
        fitness_many(["Adam"], config(), schedules=[None, None], data=digits)


def test_a_failing_pack_falls_back_to_one_by_one(digits, monkeypatch) -> None:
    import optevo.fitness.protocol as protocol

    def broken(*args, **kwargs):
        raise RuntimeError("packed training exploded")

    monkeypatch.setattr(protocol, "train_packed", broken)
    out = fitness_many(["Adam", "SGD"], config(layout="packed"), data=digits)
    assert [r.status for r in out] == [
        fitness(n, config(layout="packed"), data=digits).status for n in ("Adam", "SGD")
    ]
