"""The transfer benchmarks' data sets, read from their standard on-disk file structures.

Images are decoded once (Pillow, several threads), resized, and kept in memory as uint8
`N x C x H x W` tensors; batches are turned into floats, augmented and normalised on the
training device. Every loader fails with `FileNotFoundError` naming the missing file or
folder and the files it expects. Files (ROOT = the `--root` given to `optevo bench`):

- Fashion-MNIST: ROOT/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
  (default /usr/share/datasets/fashion-mnist).
- CIFAR-10 / CIFAR-100: the "python version": ROOT/cifar-10-batches-py/{data_batch_1..5,
  test_batch} / ROOT/cifar-100-python/{train,test}, or the .tar.gz archive.
- TinyImageNet: ROOT/wnids.txt, ROOT/train/<wnid>/images/*.JPEG,
  ROOT/val/images/*.JPEG with ROOT/val/val_annotations.txt (file, wnid, box per line).
- Flowers102: ROOT/jpg/image_00001.jpg..., ROOT/imagelabels.mat (`labels`, 1-based),
  ROOT/setid.mat (`trnid`, `valid`, `tstid`, 1-based image numbers).
- Cars196 (Stanford Cars): ROOT/cars_train/*.jpg, ROOT/cars_test/*.jpg,
  ROOT/devkit/cars_train_annos.mat and ROOT/cars_test_annos_withlabels.mat (or inside
  devkit/): struct arrays `annotations` with fields `fname` and `class` (1-based).
- Caltech101: ROOT/101_ObjectCategories/<class>/*.jpg (or ROOT/<class>/*.jpg); all 102
  folders (BACKGROUND_Google included, as the paper's 102 classes); there is no official
  split: 30 images per class train (the paper's 3,060), the rest test, drawn with seed 0.
- PTB: ROOT/ptb.{train,valid,test}.txt (Mikolov's `simple-examples/data`), one sentence per
  line; each line ends with an `<eos>` token.

Splits: the learning-rate test scores on `val`, held out of the training images (Flowers102:
its official `valid` set); the final runs train on `train` and report on `test`
(TinyImageNet: its labelled `val/` folder, as its test labels are not public).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optevo.data.cifar import CIFAR10, CIFAR100, CifarFormat, read_cifar
from optevo.data.idx import read_fashion_mnist
from optevo.data.images import ImageSet, Split
from optevo.data.split import channel_stats, split_indices


def _need(path: Path, what: str, files: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path}: {what} not found (expected files: {files})")
    return path


def _split(
    name: str, images: np.ndarray, labels: np.ndarray, val_size: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    # At most a fifth of the images, so small (test) copies of a data set split too.
    val_size = min(val_size, max(1, len(labels) // 5))
    train_idx, val_idx = split_indices(len(labels), val_size, seed=0)
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def make_set(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    num_classes: int,
) -> ImageSet:
    """An ImageSet of raw uint8 pixels (8-bit, `max_value` 255) from numpy arrays; checks
    shapes and label ranges."""
    for split, (x, y) in (("train", train), ("val", val), ("test", test)):
        if x.dtype != np.uint8 or x.ndim != 4:
            raise ValueError(f"{name} {split}: images must be uint8 N x C x H x W")
        if len(x) != len(y):
            raise ValueError(f"{name} {split}: {len(x)} images but {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"{name} {split}: labels outside 0..{num_classes - 1}")
    if len(train[1]) == 0:
        raise ValueError(f"{name}: no training images")
    mean, std = channel_stats(train[0], 255)

    def t(split: tuple[np.ndarray, np.ndarray]) -> Split:
        x, y = split
        x = np.ascontiguousarray(x)
        if not x.flags.writeable:  # torch warns on read-only buffers (IDX files are mapped)
            x = x.copy()
        return torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    return ImageSet(
        name=name,
        train=t(train),
        val=t(val),
        test=t(test),
        num_classes=num_classes,
        mean=mean,
        std=std,
        max_value=255,
    )


# -- image files ---------------------------------------------------------------------------


def decode_image(path: Path, size: int) -> np.ndarray:
    """One image file as RGB uint8 `3 x size x size` (bicubic resize, aspect not kept)."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            im = opened.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8).transpose(2, 0, 1).copy()
    except OSError as error:
        raise ValueError(f"{path}: not a readable image ({error})") from error


def decode_images(paths: Sequence[Path], size: int) -> np.ndarray:
    """Decode many files on several threads (Pillow releases the GIL while decoding)."""
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    workers = max(1, min(8, os.cpu_count() or 1))

    def one(i: int) -> None:
        out[i] = decode_image(paths[i], size)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(len(paths))))
    return out


def _images_in(folder: Path) -> list[Path]:
    exts = {".jpg", ".jpeg", ".png", ".bmp"}
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in exts and p.is_file())


# -- loaders ---------------------------------------------------------------------------------

def fashion_mnist_set(root: Path | None = None, val_size: int = 5000) -> ImageSet:
    """Fashion-MNIST with its test split (the transfer benchmark's protocol): the training
    images split into train and val, the t10k files as test; read by the one checked reader
    `optevo.data.idx.read_fashion_mnist`."""
    train_raw = read_fashion_mnist(root, "train")
    test_raw = read_fashion_mnist(root, "t10k")
    train, val = _split("fashion-mnist", train_raw.images, train_raw.labels, val_size)
    return make_set("fashion-mnist", train, val, (test_raw.images, test_raw.labels), 10)


def load_cifar_set(fmt: CifarFormat, root: Path | None = None, val_size: int = 5000) -> ImageSet:
    train_raw = read_cifar(fmt, root)
    test_fmt = dataclasses.replace(fmt, batches=("test_batch",) if fmt is CIFAR10 else ("test",))
    test_raw = read_cifar(test_fmt, root)
    train, val = _split(fmt.name, train_raw.images, train_raw.labels, val_size)
    return make_set(fmt.name, train, val, (test_raw.images, test_raw.labels), fmt.num_classes)


def load_cifar10(root: Path | None = None) -> ImageSet:
    return load_cifar_set(CIFAR10, root)


def load_cifar100(root: Path | None = None) -> ImageSet:
    return load_cifar_set(CIFAR100, root)


TINY_FILES = (
    "ROOT/wnids.txt, ROOT/train/<wnid>/images/*.JPEG, ROOT/val/images/*.JPEG, "
    "ROOT/val/val_annotations.txt"
)


def load_tinyimagenet(root: Path, size: int = 72, val_size: int = 5000) -> ImageSet:
    """TinyImageNet's 200 classes, resized (bicubic) from 64 to `size` (the paper: 72)."""
    wnids_file = _need(root / "wnids.txt", "TinyImageNet class list", TINY_FILES)
    wnids = [w.strip() for w in wnids_file.read_text().split() if w.strip()]
    index = {w: i for i, w in enumerate(wnids)}
    paths: list[Path] = []
    labels: list[int] = []
    for wnid in wnids:
        folder = _need(root / "train" / wnid / "images", f"training folder of {wnid}", TINY_FILES)
        files = _images_in(folder)
        paths += files
        labels += [index[wnid]] * len(files)
    annotations = _need(root / "val" / "val_annotations.txt", "validation labels", TINY_FILES)
    val_paths, val_labels = [], []
    for number, line in enumerate(annotations.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or fields[1] not in index:
            raise ValueError(f"{annotations}:{number}: expected '<file> <wnid> ...', got {line!r}")
        val_paths.append(
            _need(root / "val" / "images" / fields[0], "validation image", TINY_FILES)
        )
        val_labels.append(index[fields[1]])
    x = decode_images(paths, size)
    train, val = _split("tinyimagenet", x, np.array(labels, dtype=np.int64), val_size)
    test = (decode_images(val_paths, size), np.array(val_labels, dtype=np.int64))
    return make_set("tinyimagenet", train, val, test, len(wnids))


FLOWERS_FILES = "ROOT/jpg/image_00001.jpg..., ROOT/imagelabels.mat, ROOT/setid.mat"


def _loadmat(path: Path, files: str) -> dict[str, Any]:
    from scipy.io import loadmat

    _need(path, path.name, files)
    try:
        return dict(loadmat(path, squeeze_me=True))
    except Exception as error:  # scipy raises several types for a damaged file
        raise ValueError(f"{path}: not a readable .mat file ({error})") from error


def _mat_field(mat: dict[str, Any], key: str, path: Path) -> np.ndarray:
    if key not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: no {key!r} entry (has: {found})")
    return np.atleast_1d(mat[key])


def load_flowers102(root: Path, size: int = 224) -> ImageSet:
    labels_path, setid_path = root / "imagelabels.mat", root / "setid.mat"
    labels = _mat_field(_loadmat(labels_path, FLOWERS_FILES), "labels", labels_path)
    labels = labels.astype(np.int64) - 1
    setid = _loadmat(setid_path, FLOWERS_FILES)
    splits = {}
    for key in ("trnid", "valid", "tstid"):
        ids = _mat_field(setid, key, setid_path).astype(np.int64)
        if ids.min() < 1 or ids.max() > len(labels):
            raise ValueError(f"{setid_path}: {key} numbers outside 1..{len(labels)}")
        paths = [_need(root / "jpg" / f"image_{i:05d}.jpg", "image", FLOWERS_FILES) for i in ids]
        splits[key] = (decode_images(paths, size), labels[ids - 1])
    return make_set("flowers102", splits["trnid"], splits["valid"], splits["tstid"], 102)


CARS_FILES = (
    "ROOT/cars_train/*.jpg, ROOT/cars_test/*.jpg, ROOT/devkit/cars_train_annos.mat, "
    "ROOT/cars_test_annos_withlabels.mat (or in devkit/)"
)


def _cars_annotations(path: Path, folder: Path) -> tuple[list[Path], np.ndarray]:
    mat = _loadmat(path, CARS_FILES)
    ann = _mat_field(mat, "annotations", path)
    names = ann.dtype.names or ()
    if "fname" not in names or "class" not in names:
        raise ValueError(f"{path}: annotations need 'fname' and 'class' fields (has {names})")
    files = [str(f) for f in np.atleast_1d(ann["fname"])]
    classes = np.array([int(c) for c in np.atleast_1d(ann["class"])], dtype=np.int64) - 1
    paths = [_need(folder / f, "image", CARS_FILES) for f in files]
    return paths, classes


def load_cars196(root: Path, size: int = 224, val_fraction: float = 0.1) -> ImageSet:
    train_annos = root / "devkit" / "cars_train_annos.mat"
    test_annos = root / "cars_test_annos_withlabels.mat"
    if not test_annos.exists():
        test_annos = root / "devkit" / "cars_test_annos_withlabels.mat"
    _need(root / "cars_train", "training image folder", CARS_FILES)
    _need(root / "cars_test", "test image folder", CARS_FILES)
    train_paths, train_labels = _cars_annotations(train_annos, root / "cars_train")
    test_paths, test_labels = _cars_annotations(test_annos, root / "cars_test")
    x = decode_images(train_paths, size)
    val_size = max(1, round(val_fraction * len(train_labels)))
    train, val = _split("cars196", x, train_labels, val_size)
    test = (decode_images(test_paths, size), test_labels)
    return make_set("cars196", train, val, test, 196)


CALTECH_FILES = "ROOT/101_ObjectCategories/<class>/*.jpg (102 class folders)"


def load_caltech101(
    root: Path, size: int = 224, train_per_class: int = 30, val_fraction: float = 0.1
) -> ImageSet:
    folder = root / "101_ObjectCategories"
    if not folder.is_dir():
        folder = _need(root, "Caltech101 folder", CALTECH_FILES)
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"{folder}: no class folders (expected files: {CALTECH_FILES})")
    rng = np.random.default_rng(0)
    train_paths, train_labels, test_paths, test_labels = [], [], [], []
    for label, class_dir in enumerate(classes):
        files = _images_in(class_dir)
        if len(files) < 2:
            raise ValueError(f"{class_dir}: needs at least 2 images, has {len(files)}")
        order = rng.permutation(len(files))
        k = min(train_per_class, len(files) // 2)
        train_paths += [files[i] for i in order[:k]]
        train_labels += [label] * k
        test_paths += [files[i] for i in order[k:]]
        test_labels += [label] * (len(files) - k)
    x = decode_images(train_paths, size)
    y = np.array(train_labels, dtype=np.int64)
    train, val = _split("caltech101", x, y, max(1, round(val_fraction * len(y))))
    test = (decode_images(test_paths, size), np.array(test_labels, dtype=np.int64))
    return make_set("caltech101", train, val, test, len(classes))


# -- PTB --------------------------------------------------------------------------------------

PTB_FILES = "ROOT/ptb.train.txt, ROOT/ptb.valid.txt, ROOT/ptb.test.txt"


@dataclass(frozen=True, eq=False)
class TextSet:
    """Token ids of the three PTB splits and the vocabulary (built from the training text)."""

    train: Tensor
    valid: Tensor
    test: Tensor
    vocab: tuple[str, ...]


def _tokens(path: Path) -> list[str]:
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words += [*line.split(), "<eos>"]
    return words


def load_ptb(root: Path) -> TextSet:
    if not (root / "ptb.train.txt").exists() and (root / "data" / "ptb.train.txt").exists():
        root = root / "data"
    texts = {
        split: _tokens(_need(root / f"ptb.{split}.txt", f"PTB {split} text", PTB_FILES))
        for split in ("train", "valid", "test")
    }
    vocab = tuple(dict.fromkeys(texts["train"]))
    index = {w: i for i, w in enumerate(vocab)}
    unk = index.get("<unk>")
    ids = {}
    for split, words in texts.items():
        missing = [w for w in words if w not in index]
        if missing and unk is None:
            raise ValueError(
                f"{root / f'ptb.{split}.txt'}: word {missing[0]!r} is not in the training "
                "text and there is no <unk> token"
            )
        ids[split] = torch.tensor([index.get(w, unk) for w in words], dtype=torch.long)
    if len(ids["train"]) < 2:
        raise ValueError(f"{root / 'ptb.train.txt'}: too short to train on")
    return TextSet(ids["train"], ids["valid"], ids["test"], vocab)
