"""Every data source of the suites builds offline (the network is refused: conftest.py),
deterministically for its seed, once per process, in the shapes its tasks expect."""

from __future__ import annotations

import pytest
import torch

from optevo.tasks import data
from optevo.tasks.data import BUILDERS, DATA_SEED, VOCAB, encode, load
from optevo.tasks.registry import suite
from optevo.tasks.tensor import SPLITS, TensorData

# Fashion-MNIST reads 47 MB of IDX files: about a second each build.
FAST = [s for s in BUILDERS if s != "fashion-mnist"]
SEEDED = [s for s in FAST if s.startswith("synthetic:")]  # the files do not depend on a seed


def same(a: TensorData, b: TensorData) -> bool:
    return all(
        torch.equal(x, y) for s in SPLITS for x, y in zip(a.split(s), b.split(s), strict=True)
    )


def test_every_suite_task_has_a_builder() -> None:
    used = {t.source for s in ("search", "validate") for t in suite(s)}
    assert used == set(BUILDERS)


@pytest.mark.parametrize("source", FAST)
def test_same_seed_same_tensors(source: str) -> None:
    a, b = BUILDERS[source](DATA_SEED), BUILDERS[source](DATA_SEED)
    assert a is not b and same(a, b)
    for split in SPLITS:
        x, y = a.split(split)
        assert len(x) == len(y) > 0
        assert x.dtype in (torch.float32, torch.int64) and y.dtype in (torch.float32, torch.int64)
        if x.dtype == torch.float32:
            assert torch.isfinite(x).all()


@pytest.mark.parametrize("source", SEEDED)
def test_another_seed_other_tensors(source: str) -> None:
    assert not same(BUILDERS[source](DATA_SEED), BUILDERS[source](DATA_SEED + 1))


@pytest.mark.slow
def test_fashion_mnist_is_the_quick_fitness_data() -> None:
    from optevo.data import load as load_images

    a, b = BUILDERS["fashion-mnist"](DATA_SEED), BUILDERS["fashion-mnist"](DATA_SEED)
    assert same(a, b)
    images = load_images("fashion-mnist", val_size=10_000)
    assert torch.equal(a.train[0], images.train[0])
    assert len(a.val[1]) == len(a.test[1]) == 5_000
    assert torch.equal(torch.cat([a.val[0], a.test[0]]), images.val[0])
    assert a.info == {"channels": 1, "classes": 10}


def test_load_builds_once_per_process() -> None:
    assert load("synthetic:teacher") is load("synthetic:teacher")
    with pytest.raises(KeyError, match="unknown data source 'nope'"):
        load("nope")


def test_class_targets_lie_in_their_range() -> None:
    for source, key in (
        ("synthetic:teacher", "classes"),
        ("synthetic:heavy-tailed", "classes"),
        ("synthetic:shapes", "classes"),
        ("sklearn:breast-cancer", "classes"),
        ("synthetic:sort", "vocab"),
        ("python:stdlib-source", "vocab"),
        ("python:pydoc-topics", "vocab"),
    ):
        d = load(source)
        for split in SPLITS:
            y = d.split(split)[1]
            assert int(y.min()) >= 0 and int(y.max()) < d.info[key], source
        # every class is present in training
        assert int(d.train[1].unique().numel()) == d.info[key] or key == "vocab"


def test_text_windows_predict_the_next_character() -> None:
    d = load("python:stdlib-source")
    x, y = d.train
    assert x.shape[1] == y.shape[1] == data.WINDOW
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(y[:-1, -1], x[1:, 0])  # windows follow each other in the text
    assert len(x) > 5_000 and d.info["vocab"] == VOCAB


def test_encode() -> None:
    assert encode("a\n\t~é").tolist() == [ord("a") - 30, 1, 2, ord("~") - 30, 0]


def test_sort_targets_are_sorted_inputs() -> None:
    x, y = load("synthetic:sort").val
    assert torch.equal(y, x.sort(1).values)


def test_autoencoder_targets_are_the_inputs() -> None:
    x, y = load("synthetic:manifold").train
    assert x is y
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01


def test_breast_cancer_features_are_raw() -> None:
    x = load("sklearn:breast-cancer").train[0]
    assert float(x.max()) > 1_000 and float(x[x > 0].min()) < 0.01  # badly scaled on purpose


def test_ratings_pairs_index_users_and_items() -> None:
    d = load("synthetic:ratings")
    pairs = torch.cat([d.train[0], d.val[0], d.test[0]])
    assert int(pairs[:, 0].max()) < d.info["users"] and int(pairs[:, 1].max()) < d.info["items"]
    assert len({tuple(p) for p in pairs.tolist()}) == len(pairs)  # no pair rated twice
