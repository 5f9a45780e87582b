"""Loaders: tiny files in the real formats, written here; the network is never used."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from optevo.data import NAMES, ImageSet, load
from optevo.data.augment import DEFAULT_AUGMENT

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
IMAGES_STEM = "train-images-idx3-ubyte"
LABELS_STEM = "train-labels-idx1-ubyte"
N_IMAGES = 30


def _pixels(n: int, pixels_per_image: int, seed: int = 1) -> np.ndarray:
    """Random images whose first byte is 8 * index, so an image is recognisable after loading."""
    data = np.random.default_rng(seed).integers(0, 256, (n, pixels_per_image), dtype=np.uint8)
    data[:, 0] = np.arange(n) * 8
    return data


def _recover(images: torch.Tensor, dataset: ImageSet) -> np.ndarray:
    """Undo the normalisation back to integer pixels."""
    mean = torch.tensor(dataset.mean, dtype=torch.float64).view(1, -1, 1, 1)
    std = torch.tensor(dataset.std, dtype=torch.float64).view(1, -1, 1, 1)
    return torch.round((images.double() * std + mean) * 255).to(torch.uint8).numpy()


def _source_index(images: torch.Tensor, dataset: ImageSet) -> np.ndarray:
    return _recover(images, dataset)[:, 0, 0, 0].astype(np.int64) // 8


# ---------------------------------------------------------------------------- IDX writers


def _idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + payload


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _fashion_dir(
    root: Path,
    images: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    gz: bool = True,
) -> tuple[Path, np.ndarray, np.ndarray]:
    """A directory with the two training IDX files and, like the real one, the test files."""
    root.mkdir(parents=True, exist_ok=True)
    images = _pixels(N_IMAGES, 28 * 28).reshape(-1, 28, 28) if images is None else images
    labels = np.arange(len(images), dtype=np.uint8) % 10 if labels is None else labels
    suffix = ".gz" if gz else ""
    _write(root / f"{IMAGES_STEM}{suffix}", _idx_bytes(0x803, images.shape, images.tobytes()))
    _write(root / f"{LABELS_STEM}{suffix}", _idx_bytes(0x801, labels.shape, labels.tobytes()))
    # Test files that must never be read: garbage would fail loudly if they were.
    _write(root / f"t10k-images-idx3-ubyte{suffix}", b"never read")
    _write(root / f"t10k-labels-idx1-ubyte{suffix}", b"never read")
    return root, images, labels


# ---------------------------------------------------------------------------- CIFAR writers


def _cifar_batch(data: np.ndarray, labels: list[int], fine: bool, index: int) -> dict:
    """A batch dict with the keys and types of the real files."""
    batch: dict = {
        b"batch_label": f"training batch {index} of 5".encode(),
        b"data": data,
        b"filenames": [f"img_{index}_{i}.png".encode() for i in range(len(data))],
    }
    if fine:
        batch[b"fine_labels"] = labels
        batch[b"coarse_labels"] = [label // 5 for label in labels]
    else:
        batch[b"labels"] = labels
    return batch


def _dump(path: Path, obj: object) -> Path:
    with path.open("wb") as handle:
        pickle.dump(obj, handle, protocol=2)
    return path


def _cifar10_dir(parent: Path, n_per_batch: int = 6) -> tuple[Path, np.ndarray, np.ndarray]:
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    data = _pixels(5 * n_per_batch, 3072)
    labels = np.arange(5 * n_per_batch) % 10
    for i in range(5):
        part = slice(i * n_per_batch, (i + 1) * n_per_batch)
        batch = _cifar_batch(data[part], labels[part].tolist(), fine=False, index=i + 1)
        _dump(folder / f"data_batch_{i + 1}", batch)
    _dump(folder / "test_batch", _cifar_batch(data[:2], [0, 1], fine=False, index=6))
    meta = {b"label_names": [f"class{i}".encode() for i in range(10)], b"num_vis": 3072}
    _dump(folder / "batches.meta", meta)
    return folder, data, labels


def _cifar100_dir(parent: Path, n: int = 30) -> tuple[Path, np.ndarray, np.ndarray]:
    folder = parent / "cifar-100-python"
    folder.mkdir(parents=True)
    data = _pixels(n, 3072)
    labels = (np.arange(n) * 7) % 100
    _dump(folder / "train", _cifar_batch(data, labels.tolist(), fine=True, index=1))
    _dump(folder / "test", _cifar_batch(data[:2], [0, 1], fine=True, index=2))
    meta = {b"fine_label_names": [b"x"] * 100, b"coarse_label_names": [b"y"] * 20}
    _dump(folder / "meta", meta)
    return folder, data, labels


def _tar_gz(folder: Path, archive: Path) -> Path:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


def _py2_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """A batch pickle opcode for opcode as Python 2's cPickle wrote the real CIFAR files.

    Keys and the pixel buffer are Python 2 ``str`` (SHORT_BINSTRING/BINSTRING, not
    ``_codecs.encode`` calls), and the array names ``numpy.core.multiarray._reconstruct``.
    """

    def string(value: bytes) -> bytes:
        if len(value) < 256:
            return b"U" + bytes([len(value)]) + value
        return b"T" + struct.pack("<i", len(value)) + value

    def integer(value: int) -> bytes:
        return b"K" + bytes([value]) if 0 <= value < 256 else b"J" + struct.pack("<i", value)

    out = b"\x80\x02}("  # PROTO 2, EMPTY_DICT, MARK
    out += string(b"batch_label") + string(b"training batch 1 of 5")
    out += string(b"data")
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    out += integer(0) + b"\x85" + string(b"b") + b"\x87R"  # _reconstruct(ndarray, (0,), 'b')
    out += b"(" + integer(1) + integer(data.shape[0]) + integer(data.shape[1]) + b"\x86"
    out += b"cnumpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + b"\x87R"
    out += b"(" + integer(3) + string(b"|") + b"NNN" + integer(-1) + integer(-1) + integer(0)
    out += b"tb"  # dtype.__setstate__
    out += b"\x89" + string(data.tobytes()) + b"tb"  # ndarray.__setstate__
    out += string(b"labels") + b"](" + b"".join(integer(v) for v in labels) + b"e"
    return out + b"u."


class _Pwn:
    """Pickles as a call to os.system: what a malicious batch file would contain."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.system, (f"echo pwned > {self.target}",))


class _Exec:
    def __reduce__(self) -> tuple:
        return (exec, ("import os",))


# ---------------------------------------------------------------------------- Fashion-MNIST


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_fashion_mnist_shapes_labels_and_pixels(tmp_path: Path, gz: bool) -> None:
    root, images, labels = _fashion_dir(tmp_path / "fm", gz=gz)
    data = load("fashion-mnist", root=root, val_size=7, seed=3)
    assert data.name == "fashion-mnist"
    assert data.num_classes == 10
    assert (data.in_channels, data.image_size) == (1, 28)
    assert data.train[0].shape == (23, 1, 28, 28)
    assert data.val[0].shape == (7, 1, 28, 28)
    for x, y in (data.train, data.val):
        assert x.dtype == torch.float32
        assert y.dtype == torch.int64
        index = _source_index(x, data)
        np.testing.assert_array_equal(_recover(x, data)[:, 0], images[index])
        np.testing.assert_array_equal(y.numpy(), labels[index])


def test_normalised_pixels_match_hand_computation(tmp_path: Path) -> None:
    root, images, _ = _fashion_dir(tmp_path / "fm")
    data = load("fashion-mnist", root=root, val_size=10, seed=0)
    train_index = _source_index(data.train[0], data)
    train = images[train_index].astype(np.float64) / 255
    mean, std = train.mean(), train.std()
    assert data.mean == pytest.approx((mean,), rel=1e-12)
    assert data.std == pytest.approx((std,), rel=1e-12)
    for x, _ in (data.train, data.val):
        index = _source_index(x, data)
        expected = (images[index].astype(np.float64) / 255 - mean) / std
        torch.testing.assert_close(x[:, 0].double(), torch.from_numpy(expected), rtol=0, atol=1e-6)


def test_normalisation_exact_on_two_levels(tmp_path: Path) -> None:
    # Half the pixels 0, half 255: mean 0.5 and std 0.5, so every pixel becomes exactly -1 or +1.
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    images[2:] = 255
    root, _, _ = _fashion_dir(tmp_path / "fm", images=images)
    data = load("fashion-mnist", root=root, val_size=0)
    assert data.mean == (0.5,)
    assert data.std == (0.5,)
    assert data.val[0].shape == (0, 1, 28, 28)
    assert sorted(torch.unique(data.train[0]).tolist()) == [-1.0, 1.0]
    assert torch.equal(data.train[0][:2], torch.full((2, 1, 28, 28), -1.0))
    assert torch.equal(data.train[0][2:], torch.full((2, 1, 28, 28), 1.0))


def test_stats_come_from_train_split_only(tmp_path: Path) -> None:
    images = np.zeros((N_IMAGES, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(N_IMAGES) * 8
    images[:, 1:, :] = np.arange(N_IMAGES)[:, None, None] * 8
    root, _, _ = _fashion_dir(tmp_path / "fm", images=images)
    data = load("fashion-mnist", root=root, val_size=12, seed=5)
    train_index = _source_index(data.train[0], data)
    every = images.astype(np.float64) / 255
    train = every[train_index]
    assert data.mean == pytest.approx((train.mean(),), rel=1e-12)
    assert data.std == pytest.approx((train.std(),), rel=1e-12)
    assert data.mean[0] != pytest.approx(every.mean(), rel=1e-6)


def test_split_is_deterministic_disjoint_and_complete(tmp_path: Path) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm")
    first = load("fashion-mnist", root=root, val_size=10, seed=1)
    again = load("fashion-mnist", root=root, val_size=10, seed=1)
    other = load("fashion-mnist", root=root, val_size=10, seed=2)
    for split in ("train", "val"):
        assert torch.equal(getattr(first, split)[0], getattr(again, split)[0])
        assert torch.equal(getattr(first, split)[1], getattr(again, split)[1])
    train, val = _source_index(first.train[0], first), _source_index(first.val[0], first)
    assert len(train) == 20 and len(val) == 10
    assert set(train).isdisjoint(val)
    assert sorted([*train, *val]) == list(range(N_IMAGES))
    assert set(_source_index(other.val[0], other)) != set(val)


@pytest.mark.slow
def test_fashion_mnist_real_files() -> None:
    if not FASHION_MNIST_ROOT.is_dir():
        pytest.fail(f"{FASHION_MNIST_ROOT} is missing: run `apt-get install dataset-fashion-mnist`")
    data = load("fashion-mnist")
    assert data.train[0].shape == (55_000, 1, 28, 28)
    assert data.val[0].shape == (5_000, 1, 28, 28)
    assert data.num_classes == 10
    assert set(data.train[1].unique().tolist()) == set(range(10))
    assert abs(data.train[0].mean().item()) < 1e-4
    assert data.train[0].std().item() == pytest.approx(1.0, abs=1e-4)
    assert data.mean[0] == pytest.approx(0.286, abs=1e-3)  # Fashion-MNIST's known mean


def test_fashion_mnist_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load("fashion-mnist", root=missing)
    assert str(missing) in str(info.value)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


def test_fashion_mnist_missing_labels_file(tmp_path: Path) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm")
    (root / f"{LABELS_STEM}.gz").unlink()
    with pytest.raises(FileNotFoundError, match=LABELS_STEM) as info:
        load("fashion-mnist", root=root)
    assert str(root) in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_fashion_mnist_corrupt_gzip(tmp_path: Path, damage: str) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm")
    path = root / f"{IMAGES_STEM}.gz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2] if damage == "truncated" else b"not gzip at all")
    with pytest.raises(ValueError, match="gzip") as info:
        load("fashion-mnist", root=root)
    assert str(path) in str(info.value)


def test_fashion_mnist_bad_gzip_crc(tmp_path: Path) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm")
    path = root / f"{LABELS_STEM}.gz"
    blob = bytearray(path.read_bytes())
    blob[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="gzip") as info:
        load("fashion-mnist", root=root)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("stem", [IMAGES_STEM, LABELS_STEM])
def test_fashion_mnist_wrong_magic(tmp_path: Path, stem: str) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm", gz=False)
    path = root / stem
    blob = bytearray(path.read_bytes())
    blob[3] = 0x02  # 0x00000802: not what either file must hold
    path.write_bytes(bytes(blob))
    expected = "0x00000803" if stem == IMAGES_STEM else "0x00000801"
    with pytest.raises(ValueError, match=expected) as info:
        load("fashion-mnist", root=root)
    assert str(path) in str(info.value)
    assert "0x00000802" in str(info.value)


def test_fashion_mnist_images_shorter_than_header_says(tmp_path: Path) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm")
    images = _pixels(N_IMAGES - 1, 28 * 28).tobytes()
    path = _write(root / f"{IMAGES_STEM}.gz", _idx_bytes(0x803, (N_IMAGES, 28, 28), images))
    with pytest.raises(ValueError, match="dimensions") as info:
        load("fashion-mnist", root=root)
    assert str(path) in str(info.value)


def test_fashion_mnist_labels_longer_than_header_says(tmp_path: Path) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm", gz=False)
    path = root / LABELS_STEM
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(ValueError, match="dimensions") as info:
        load("fashion-mnist", root=root)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("length", [0, 3, 10])
def test_fashion_mnist_truncated_header(tmp_path: Path, length: int) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm", gz=False)
    path = root / IMAGES_STEM
    path.write_bytes(path.read_bytes()[:length])
    with pytest.raises(ValueError) as info:
        load("fashion-mnist", root=root)
    assert str(path) in str(info.value)


def test_fashion_mnist_image_and_label_counts_disagree(tmp_path: Path) -> None:
    labels = np.zeros(N_IMAGES - 1, dtype=np.uint8)
    root, _, _ = _fashion_dir(tmp_path / "fm", labels=labels)
    with pytest.raises(ValueError, match=r"30 images.*29 labels") as info:
        load("fashion-mnist", root=root)
    assert str(root / f"{IMAGES_STEM}.gz") in str(info.value)
    assert str(root / f"{LABELS_STEM}.gz") in str(info.value)


def test_fashion_mnist_label_out_of_range(tmp_path: Path) -> None:
    labels = np.zeros(N_IMAGES, dtype=np.uint8)
    labels[17] = 10
    root, _, _ = _fashion_dir(tmp_path / "fm", labels=labels)
    with pytest.raises(ValueError, match="label 10 at index 17") as info:
        load("fashion-mnist", root=root)
    assert str(root / f"{LABELS_STEM}.gz") in str(info.value)


def test_fashion_mnist_wrong_image_size(tmp_path: Path) -> None:
    images = np.zeros((N_IMAGES, 27, 28), dtype=np.uint8)
    root, _, _ = _fashion_dir(tmp_path / "fm", images=images)
    with pytest.raises(ValueError, match="27x28") as info:
        load("fashion-mnist", root=root)
    assert str(root / f"{IMAGES_STEM}.gz") in str(info.value)


# ---------------------------------------------------------------------------- load() itself


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown data set 'mnist'") as info:
        load("mnist")
    for name in NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize("val_size", [-1, N_IMAGES, N_IMAGES + 1, 2.5, "10"])
def test_bad_val_size(tmp_path: Path, val_size: object) -> None:
    root, _, _ = _fashion_dir(tmp_path / "fm")
    with pytest.raises(ValueError, match="val_size"):
        load("fashion-mnist", root=root, val_size=val_size)  # type: ignore[arg-type]


def test_names_and_augment_defaults_agree() -> None:
    assert set(NAMES) == set(DEFAULT_AUGMENT)


# ---------------------------------------------------------------------------- digits


def test_digits_bundled() -> None:
    data = load("digits")
    assert data.train[0].shape == (1437, 1, 8, 8)
    assert data.val[0].shape == (360, 1, 8, 8)
    assert (data.in_channels, data.image_size, data.num_classes) == (1, 8, 10)
    assert set(data.train[1].tolist()) == set(range(10))
    assert abs(data.train[0].mean().item()) < 1e-5
    smaller = load("digits", val_size=100, seed=4)
    assert len(smaller.val[1]) == 100
    assert "digits" in repr(smaller) and "val=100" in repr(smaller)


def test_digits_takes_no_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no root"):
        load("digits", root=tmp_path)


# ---------------------------------------------------------------------------- CIFAR-10/100


def _check_cifar(data: ImageSet, pixels: np.ndarray, labels: np.ndarray, classes: int) -> None:
    assert data.num_classes == classes
    assert (data.in_channels, data.image_size) == (3, 32)
    assert len(data.mean) == len(data.std) == 3
    images = pixels.reshape(-1, 3, 32, 32)
    seen = []
    for x, y in (data.train, data.val):
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        index = _source_index(x, data)
        np.testing.assert_array_equal(_recover(x, data), images[index])
        np.testing.assert_array_equal(y.numpy(), labels[index])
        seen.extend(index.tolist())
    assert sorted(seen) == list(range(len(images)))
    train = images[_source_index(data.train[0], data)].astype(np.float64) / 255
    assert data.mean == pytest.approx(tuple(train.mean(axis=(0, 2, 3))), rel=1e-12)
    assert data.std == pytest.approx(tuple(train.std(axis=(0, 2, 3))), rel=1e-12)


@pytest.mark.parametrize("where", ["folder", "parent", "archive", "archive-parent"])
def test_cifar10_layouts(tmp_path: Path, where: str) -> None:
    folder, pixels, labels = _cifar10_dir(tmp_path / "src")
    root = {"folder": folder, "parent": folder.parent}.get(where)
    if root is None:
        archive = _tar_gz(folder, tmp_path / "dl" / "cifar-10-python.tar.gz")
        root = archive if where == "archive" else archive.parent
    data = load("cifar10", root=root, val_size=5, seed=0)
    assert data.train[0].shape == (25, 3, 32, 32)
    assert data.val[0].shape == (5, 3, 32, 32)
    _check_cifar(data, pixels, labels, classes=10)


@pytest.mark.parametrize("where", ["folder", "archive"])
def test_cifar100_layouts(tmp_path: Path, where: str) -> None:
    folder, pixels, labels = _cifar100_dir(tmp_path / "src")
    root = folder if where == "folder" else _tar_gz(folder, tmp_path / "cifar-100-python.tar.gz")
    data = load("cifar100", root=root, val_size=6, seed=0)
    assert data.train[0].shape == (24, 3, 32, 32)
    _check_cifar(data, pixels, labels, classes=100)


def test_cifar_python2_pickle_with_legacy_numpy_names(tmp_path: Path) -> None:
    folder, pixels, labels = _cifar10_dir(tmp_path)
    for i in range(5):
        part = slice(i * 6, (i + 1) * 6)
        raw = _py2_pickle(pixels[part], labels[part].tolist())
        (folder / f"data_batch_{i + 1}").write_bytes(raw)
    data = load("cifar10", root=folder, val_size=5)
    _check_cifar(data, pixels, labels, classes=10)


def test_cifar_split_deterministic(tmp_path: Path) -> None:
    folder, _, _ = _cifar10_dir(tmp_path)
    first = load("cifar10", root=folder, val_size=8, seed=11)
    again = load("cifar10", root=folder, val_size=8, seed=11)
    other = load("cifar10", root=folder, val_size=8, seed=12)
    assert torch.equal(first.val[0], again.val[0])
    assert torch.equal(first.train[1], again.train[1])
    assert set(_source_index(first.val[0], first)) != set(_source_index(other.val[0], other))


def test_cifar_missing_root(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load("cifar10", root=tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)


def test_cifar_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py") as info:
        load("cifar10", root=tmp_path)
    assert str(tmp_path) in str(info.value)


def test_cifar_missing_batch_in_folder(tmp_path: Path) -> None:
    folder, _, _ = _cifar10_dir(tmp_path)
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load("cifar10", root=folder)
    assert str(folder / "data_batch_3") in str(info.value)


def test_cifar_missing_batch_in_archive(tmp_path: Path) -> None:
    folder, _, _ = _cifar10_dir(tmp_path / "src")
    (folder / "data_batch_5").unlink()
    archive = _tar_gz(folder, tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py/data_batch_5") as info:
        load("cifar10", root=archive)
    assert str(archive) in str(info.value)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "gzip-not-tar"])
def test_cifar_corrupt_archive(tmp_path: Path, damage: str) -> None:
    folder, _, _ = _cifar10_dir(tmp_path / "src")
    archive = _tar_gz(folder, tmp_path / "cifar-10-python.tar.gz")
    blob = archive.read_bytes()
    damaged = {
        "truncated": blob[: len(blob) * 2 // 3],
        "garbage": b"\x00" * 10 + b"definitely not a tar archive" * 40,
        "gzip-not-tar": gzip.compress(b"definitely not a tar archive" * 40),
    }[damage]
    archive.write_bytes(damaged)
    with pytest.raises(ValueError, match="archive") as info:
        load("cifar10", root=archive)
    assert str(archive) in str(info.value)


def _replace_batch(folder: Path, obj: object | bytes, name: str = "data_batch_2") -> Path:
    path = folder / name
    if isinstance(obj, bytes):
        path.write_bytes(obj)
    else:
        _dump(path, obj)
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a readable"),
        (b"\x80\x02}q\x00(U\x04data", "not a readable"),  # truncated
        (b"random bytes, not a pickle", "not a readable"),
        ([1, 2, 3], "expected a dict"),
        ({b"labels": [0]}, "no b'data'"),
        ({b"data": np.zeros((1, 3072), np.float32), b"labels": [0]}, "uint8"),
        ({b"data": [[0] * 3072], b"labels": [0]}, "uint8"),
        ({b"data": np.zeros((1, 3071), np.uint8), b"labels": [0]}, r"\(1, 3071\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, "label 10 at index 0"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, -1]}, "label -1 at index 1"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": ["cat"]}, "flat list of ints"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [[0, 1], [2]]}, "list of ints"),
    ],
    ids=[
        "empty",
        "truncated",
        "not-pickle",
        "list",
        "no-data",
        "float-data",
        "list-data",
        "short-rows",
        "count-mismatch",
        "label-10",
        "label-negative",
        "string-labels",
        "ragged-labels",
    ],
)
def test_cifar10_bad_batch(tmp_path: Path, content: object, message: str) -> None:
    folder, _, _ = _cifar10_dir(tmp_path)
    path = _replace_batch(folder, content)
    with pytest.raises(ValueError, match=message) as info:
        load("cifar10", root=folder)
    assert str(path) in str(info.value)


def test_cifar100_label_out_of_range(tmp_path: Path) -> None:
    folder, pixels, labels = _cifar100_dir(tmp_path)
    bad = labels.tolist()
    bad[4] = 100
    path = _replace_batch(folder, _cifar_batch(pixels, bad, fine=True, index=1), name="train")
    with pytest.raises(ValueError, match="label 100 at index 4") as info:
        load("cifar100", root=folder)
    assert str(path) in str(info.value)


def test_cifar100_wants_fine_labels(tmp_path: Path) -> None:
    folder, pixels, labels = _cifar100_dir(tmp_path)
    path = _replace_batch(folder, {b"data": pixels, b"labels": labels.tolist()}, name="train")
    with pytest.raises(ValueError, match="fine_labels") as info:
        load("cifar100", root=folder)
    assert str(path) in str(info.value)


def test_cifar_bad_batch_inside_archive_names_archive_and_member(tmp_path: Path) -> None:
    folder, _, _ = _cifar10_dir(tmp_path / "src")
    _replace_batch(folder, {b"data": np.zeros((1, 3072), np.uint8), b"labels": [12]})
    archive = _tar_gz(folder, tmp_path / "cifar-10-python.tar.gz")
    with pytest.raises(ValueError, match="label 12") as info:
        load("cifar10", root=archive)
    assert f"{archive}:cifar-10-batches-py/data_batch_2" in str(info.value)


@pytest.mark.parametrize("packed", [False, True], ids=["folder", "archive"])
def test_malicious_pickle_runs_nothing(tmp_path: Path, packed: bool) -> None:
    folder, pixels, labels = _cifar10_dir(tmp_path / "src")
    target = tmp_path / "pwned.txt"
    evil = _cifar_batch(pixels[:6], labels[:6].tolist(), fine=False, index=1)
    evil[b"payload"] = _Pwn(target)
    path = _replace_batch(folder, evil, name="data_batch_1")
    root = _tar_gz(folder, tmp_path / "cifar-10-python.tar.gz") if packed else folder
    with pytest.raises(ValueError, match=r"refusing to unpickle global posix\.system") as info:
        load("cifar10", root=root)
    assert not target.exists()
    assert (str(root) if packed else str(path)) in str(info.value)


@pytest.mark.parametrize("payload", [_Exec(), np.float64(1.0)], ids=["exec", "numpy-scalar"])
def test_other_globals_refused(tmp_path: Path, payload: object) -> None:
    folder, pixels, labels = _cifar10_dir(tmp_path)
    batch = _cifar_batch(pixels[:6], labels[:6].tolist(), fine=False, index=1)
    batch[b"extra"] = payload
    path = _replace_batch(folder, batch, name="data_batch_1")
    with pytest.raises(ValueError, match="refusing to unpickle global") as info:
        load("cifar10", root=folder)
    assert str(path) in str(info.value)
