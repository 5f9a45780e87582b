"""Each transfer task runs on tiny data in its real on-disk layout for a handful of steps, and
each loader names what is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import helpers.bench_files as files_of
from optevo.bench import BenchConfig, run_bench
from optevo.models.efficientnet import EfficientNetV2S
from optevo.optim.spec import named
from optevo.tasks import bench_data as ds
from optevo.tasks.base import TaskOptions
from optevo.tasks.registry import TASKS
from optevo.transfer.store import ResultStore

SMALL_EFFNET = {"width_mult": 0.25, "depth_mult": 0.1}


def smoke(task: str, options: TaskOptions, out: Path, steps: int = 4) -> None:
    """Adam, one seed, one learning rate: the learning-rate test (plus fine-tuning's half and
    five times; the paper's test alone, without the fair rule's half-decades) and one final
    run of `steps` steps."""
    scale = steps / TASKS[task].budget.total_steps
    config = BenchConfig(
        task, named(["Adam"]), seeds=1, scale=scale, grid=(1e-3,), options=options, fair_lr=False
    )
    (outcome,) = run_bench(config, out)
    records = ResultStore(out).records()
    finetune = TASKS[task].finetune
    assert len(records) == (4 if finetune else 2)
    assert outcome.test.winner is not None
    (final,) = outcome.finals
    assert final.key.steps == final.key.total_steps == steps
    assert final.status == "ok" and final.extra["trained"] == steps
    if TASKS[task].metric == "accuracy":
        assert 0.0 <= final.metric <= 1.0
    else:
        assert final.metric is not None and 1.0 < final.metric < 1000.0
    assert "| Adam | **" in (out / "table.md").read_text()  # the only row is the best


@pytest.fixture()
def checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "effnet_imagenet.pth"
    torch.save(EfficientNetV2S(1000, **SMALL_EFFNET).state_dict(), path)
    return path


def test_fashion_convnet(tmp_path: Path) -> None:
    root = files_of.fashion(tmp_path / "data")
    opts = TaskOptions(root=root, batch_size=8, model={"base": 4})
    smoke("fashion-convnet", opts, tmp_path / "out")


def test_cifar10_convnet(tmp_path: Path) -> None:
    root = files_of.cifar(tmp_path / "data", 10)
    opts = TaskOptions(root=root, batch_size=8, model={"base": 4})
    smoke("cifar10-convnet", opts, tmp_path / "out")


@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_effnetv2s_from_scratch(tmp_path: Path, classes: int) -> None:
    root = files_of.cifar(tmp_path / "data", classes)
    opts = TaskOptions(root=root, batch_size=8, model=SMALL_EFFNET)
    smoke(f"cifar{classes}-effnetv2s", opts, tmp_path / "out", steps=3)


def test_tinyimagenet_resnet9(tmp_path: Path) -> None:
    root = files_of.tinyimagenet(tmp_path / "data")
    data = ds.load_tinyimagenet(root, size=72)
    assert data.train[0].shape[1:] == (3, 72, 72) and data.num_classes == 3
    assert len(data.test[1]) == 6  # the labelled val/ folder
    opts = TaskOptions(root=root, batch_size=4, model={"width": 4}, image_size=36)
    smoke("tinyimagenet-resnet9", opts, tmp_path / "out", steps=3)


@pytest.mark.parametrize(
    ("task", "make"),
    [
        ("flowers102-finetune", files_of.flowers102),
        ("cars196-finetune", files_of.cars196),
        ("caltech101-finetune", files_of.caltech101),
    ],
)
def test_finetuning_tasks(tmp_path: Path, checkpoint: Path, task: str, make) -> None:
    root = make(tmp_path / "data")
    opts = TaskOptions(
        root=root, checkpoint=checkpoint, batch_size=2, model=SMALL_EFFNET, image_size=32
    )
    smoke(task, opts, tmp_path / "out", steps=2)


def test_finetuning_splits_follow_the_standard_files(tmp_path: Path) -> None:
    flowers = ds.load_flowers102(files_of.flowers102(tmp_path / "f"), size=16)
    assert [len(s[1]) for s in (flowers.train, flowers.val, flowers.test)] == [4, 4, 4]
    assert flowers.train[1].tolist() == [0, 1, 2, 3]  # imagelabels.mat is 1-based
    cars = ds.load_cars196(files_of.cars196(tmp_path / "c"), size=16)
    assert len(cars.train[1]) + len(cars.val[1]) == 10 and len(cars.test[1]) == 6
    assert cars.test[1].tolist() == [(7 * i) % 196 for i in range(6)]
    caltech = ds.load_caltech101(files_of.caltech101(tmp_path / "k"), size=16)
    # 6 images per class: half to training (30 when a class has 60 or more), rest to test.
    assert len(caltech.train[1]) + len(caltech.val[1]) == 9 and len(caltech.test[1]) == 9
    assert caltech.num_classes == 3


def test_ptb_awdlstm(tmp_path: Path) -> None:
    root = files_of.ptb(tmp_path / "data")
    text = ds.load_ptb(root)
    assert text.vocab[-1] == "<eos>" or "<eos>" in text.vocab
    opts = TaskOptions(root=root, batch_size=4, model={"embedding_size": 8, "hidden_size": 12})
    smoke("ptb-awdlstm", opts, tmp_path / "out")


def test_finetuning_needs_a_checkpoint(tmp_path: Path) -> None:
    root = files_of.caltech101(tmp_path / "data")
    config = BenchConfig(
        "caltech101-finetune",
        named(["Adam"]),
        scale=1e-4,
        options=TaskOptions(root=root, batch_size=2, model=SMALL_EFFNET),
    )
    with pytest.raises(FileNotFoundError, match="--checkpoint FILE"):
        run_bench(config, tmp_path / "out")


@pytest.mark.parametrize(
    ("make", "load", "remove", "named_in_error"),
    [
        (files_of.tinyimagenet, ds.load_tinyimagenet, "val/val_annotations.txt", "val_annotations"),
        (files_of.tinyimagenet, ds.load_tinyimagenet, "wnids.txt", "class list"),
        (files_of.flowers102, ds.load_flowers102, "setid.mat", "setid.mat"),
        (files_of.flowers102, ds.load_flowers102, "jpg/image_00003.jpg", "image_00003.jpg"),
        (files_of.cars196, ds.load_cars196, "devkit/cars_train_annos.mat", "cars_train_annos"),
        (files_of.cars196, ds.load_cars196, "cars_test", "test image folder"),
        (files_of.caltech101, ds.load_caltech101, "101_ObjectCategories", "no class folders"),
        (files_of.ptb, ds.load_ptb, "ptb.valid.txt", "ptb.valid.txt"),
        (files_of.fashion, ds.fashion_mnist_set, "t10k-labels-idx1-ubyte.gz", "t10k-labels"),
    ],
)
def test_missing_files_are_named(tmp_path: Path, make, load, remove, named_in_error) -> None:
    root = make(tmp_path / "data")
    target = root / remove
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink()
    with pytest.raises(FileNotFoundError, match=named_in_error) as info:
        load(root)
    assert "expected files" in str(info.value)
