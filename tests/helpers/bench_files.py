"""Tiny copies of the transfer data sets, written in their real on-disk layouts."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _image(path: Path, label: int, size: int, rng: np.random.Generator) -> None:
    """A noisy image whose mean colour depends on the label (so it is learnable)."""
    base = np.array([40 + 50 * (label % 4), 200 - 40 * (label % 3), 60 + 30 * (label % 5)])
    pixels = base + rng.integers(-30, 30, (size, size, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)


def fashion(root: Path, n_train: int = 120, n_test: int = 40) -> Path:
    rng = _rng()
    root.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = (labels[:, None, None] * 20 + rng.integers(0, 40, (n, 28, 28))).astype(np.uint8)
        head = (0x803).to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in (n, 28, 28))
        (root / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(head + images.tobytes()))
        head = (0x801).to_bytes(4, "big") + n.to_bytes(4, "big")
        (root / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(head + labels.tobytes()))
    return root


def cifar(root: Path, classes: int, per_batch: int = 40) -> Path:
    """CIFAR-10 (`classes` = 10) or CIFAR-100 python batches, test batch included."""
    rng = _rng(classes)
    if classes == 10:
        folder, key = root / "cifar-10-batches-py", "labels"
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    else:
        folder, names, key = root / "cifar-100-python", ["train", "test"], "fine_labels"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        labels = rng.integers(0, classes, per_batch)
        data = (labels[:, None] * 2 + rng.integers(0, 60, (per_batch, 3072))).astype(np.uint8)
        batch = {b"data": data, key.encode(): [int(v) for v in labels]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return root


def tinyimagenet(root: Path, classes: int = 3, per_class: int = 8, val: int = 6) -> Path:
    rng = _rng(1)
    wnids = [f"n{10000 + i:08d}" for i in range(classes)]
    (root / "val" / "images").mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for c, wnid in enumerate(wnids):
        for i in range(per_class):
            _image(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", c, 64, rng)
    lines = []
    for i in range(val):
        c = i % classes
        _image(root / "val" / "images" / f"val_{i}.JPEG", c, 64, rng)
        lines.append(f"val_{i}.JPEG\t{wnids[c]}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return root


def flowers102(root: Path, per_split: int = 4) -> Path:
    rng = _rng(2)
    n = 3 * per_split
    labels = np.array([1 + i % 102 for i in range(n)])
    for i in range(1, n + 1):
        _image(root / "jpg" / f"image_{i:05d}.jpg", labels[i - 1], 40, rng)
    savemat(root / "imagelabels.mat", {"labels": labels[None, :]})
    ids = np.arange(1, n + 1)
    savemat(
        root / "setid.mat",
        {
            "trnid": ids[:per_split],
            "valid": ids[per_split : 2 * per_split],
            "tstid": ids[2 * per_split :],
        },
    )
    return root


def _cars_annos(path: Path, fnames: list[str], classes: list[int]) -> None:
    dtype = [(f, "O") for f in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")]
    rows = [(1, 1, 30, 30, c, f) for f, c in zip(fnames, classes, strict=True)]
    ann = np.array(rows, dtype=dtype)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, {"annotations": ann[None, :]})


def cars196(root: Path, n_train: int = 10, n_test: int = 6) -> Path:
    rng = _rng(3)
    for split, n, folder in (("train", n_train, "cars_train"), ("test", n_test, "cars_test")):
        names = [f"{i + 1:05d}.jpg" for i in range(n)]
        classes = [1 + (7 * i) % 196 for i in range(n)]
        for name, c in zip(names, classes, strict=True):
            _image(root / folder / name, c - 1, 36, rng)
        annos = (
            root / "devkit" / "cars_train_annos.mat"
            if split == "train"
            else root / "cars_test_annos_withlabels.mat"
        )
        _cars_annos(annos, names, classes)
    return root


def caltech101(root: Path, classes: int = 3, per_class: int = 6) -> Path:
    rng = _rng(4)
    names = ["BACKGROUND_Google", "accordion", "airplanes", "anchor"][:classes]
    for c, name in enumerate(names):
        for i in range(per_class):
            _image(root / "101_ObjectCategories" / name / f"image_{i + 1:04d}.jpg", c, 30, rng)
    return root


def ptb(root: Path) -> Path:
    rng = _rng(5)
    words = ["the", "cat", "sat", "on", "a", "mat", "<unk>", "N", "dog", "ran"]
    root.mkdir(parents=True, exist_ok=True)
    for split, lines in (("train", 60), ("valid", 15), ("test", 15)):
        text = "\n".join(
            " " + " ".join(rng.choice(words, rng.integers(3, 9))) + " " for _ in range(lines)
        )
        (root / f"ptb.{split}.txt").write_text(text + "\n")
    return root
