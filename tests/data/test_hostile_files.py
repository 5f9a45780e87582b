"""Hostile and damaged data files (issue 7, items 12 and 13), built here; no network."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from optevo.data import load
from optevo.data.cifar import unpickle_batch
from optevo.data.idx import IMAGES_MAGIC, LABELS_MAGIC, MAX_IDX_BYTES, read_idx

IMAGES = "train-images-idx3-ubyte"
LABELS = "train-labels-idx1-ubyte"


# -- item 12: gzip bombs ------------------------------------------------------------------------


def gzip_bomb(path: Path, dims: tuple[int, ...], extra_bytes: int) -> Path:
    """An IDX images file whose header promises `dims` and which inflates to `extra_bytes`
    more: gzip members of zeros repeated (a reader decompresses them one after another)."""
    header = struct.pack(">I", IMAGES_MAGIC) + struct.pack(f">{len(dims)}I", *dims)
    block = 8 << 20
    zeros = gzip.compress(bytes(block), compresslevel=9)
    payload = np.prod(dims, dtype=np.int64)
    with path.open("wb") as fh:
        fh.write(gzip.compress(header + bytes(int(payload))))
        for _ in range(extra_bytes // block):
            fh.write(zeros)
    return path


def test_gzip_bomb_is_refused_after_reading_what_the_header_promises(tmp_path: Path) -> None:
    path = gzip_bomb(tmp_path / f"{IMAGES}.gz", (100, 28, 28), extra_bytes=2 << 30)
    assert path.stat().st_size < 3 << 20  # about 2 MB on disk, 2 GB inflated
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match="holds more") as info:
            read_idx(path, IMAGES_MAGIC)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2
    assert peak < 16 << 20  # megabytes, not the gigabytes the whole file inflates to
    assert str(path) in str(info.value)


def test_header_promising_too_much_is_refused_before_reading(tmp_path: Path) -> None:
    header = struct.pack(">IIII", IMAGES_MAGIC, 1 << 20, 1 << 10, 1 << 10)  # 1 TiB promised
    path = tmp_path / f"{IMAGES}.gz"
    path.write_bytes(gzip.compress(header + bytes(1000)))
    with pytest.raises(ValueError, match=f"more than the {MAX_IDX_BYTES:,}"):
        read_idx(path, IMAGES_MAGIC)


def test_honest_gzip_files_still_load(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 10
    for stem, magic, array in ((IMAGES, IMAGES_MAGIC, images), (LABELS, LABELS_MAGIC, labels)):
        head = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
        (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(head + array.tobytes()))
    data = load("fashion-mnist", root=tmp_path, val_size=5)
    assert len(data.train[1]) == 15 and len(data.val[1]) == 5
    back = read_idx(tmp_path / f"{IMAGES}.gz", IMAGES_MAGIC)
    assert np.array_equal(back, images) and not back.flags.writeable


# -- item 13: CIFAR batches ---------------------------------------------------------------------


def batch(n: int, labels: list) -> dict:
    pixels = np.random.default_rng(1).integers(0, 256, (n, 3072), dtype=np.uint8)
    return {b"data": pixels, b"labels": labels}


def cifar_folder(parent: Path, label_type: type, protocol: int) -> Path:
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        labels = [label_type(j % 10) for j in range(4)]
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch(4, labels), protocol))
    return folder


@pytest.mark.parametrize("protocol", [2, 4])
@pytest.mark.parametrize("label_type", [np.int64, np.int32, np.uint8])
def test_numpy_integer_labels_are_accepted(
    tmp_path: Path, label_type: type, protocol: int
) -> None:
    folder = cifar_folder(tmp_path, label_type, protocol)
    data = load("cifar10", root=folder, val_size=4)
    assert len(data.train[1]) == 16
    assert sorted(np.concatenate([data.train[1], data.val[1]]).tolist()) == sorted(
        [0, 1, 2, 3] * 5
    )


class _ObjectScalar:
    """Pickles as numpy's scalar constructor asked for an object: what a hostile file could
    use to smuggle a callable in."""

    def __reduce__(self) -> tuple:
        return (np._core.multiarray.scalar, (np.dtype("O"), b"\x00" * 8))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (np.float64(1.5), "dtype float64"),
        (np.complex128(1j), "dtype complex128"),
        (_ObjectScalar(), "dtype object"),
    ],
    ids=["float", "complex", "object"],
)
def test_only_integer_scalars_are_built(payload: object, message: str) -> None:
    data = pickle.dumps({b"labels": [payload]}, protocol=2)
    with pytest.raises(ValueError, match=f"refusing to unpickle global numpy scalar of {message}"):
        unpickle_batch(data, "batch")


def test_malformed_integer_scalar_is_refused() -> None:
    good = pickle.dumps([np.int64(7)], protocol=2)
    assert unpickle_batch(good, "batch") == [7]
    bad = good.replace(b"\x07\x00\x00\x00\x00\x00\x00\x00", b"\x07\x00\x00")
    with pytest.raises(ValueError, match="batch"):
        unpickle_batch(bad, "batch")


def tar_cut_before_last_member(folder: Path) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.add(folder, arcname=folder.name)
    blob = raw.getvalue()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        last = next(m for m in tar.getmembers() if m.name.endswith("data_batch_5"))
    return blob[: last.offset]  # ends exactly where the member's header would start


@pytest.mark.parametrize("compress", [True, False], ids=["tar.gz", "tar"])
def test_archive_cut_at_a_member_boundary_is_called_truncated(
    tmp_path: Path, compress: bool
) -> None:
    folder = cifar_folder(tmp_path / "src", int, 2)
    cut = tar_cut_before_last_member(folder)
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(gzip.compress(cut) if compress else cut)
    with pytest.raises(ValueError, match="truncated archive") as info:
        load("cifar10", root=archive)
    assert str(archive) in str(info.value) and "data_batch_5" in str(info.value)


def test_gzip_stream_cut_short_is_called_truncated(tmp_path: Path) -> None:
    folder = cifar_folder(tmp_path / "src", int, 2)
    archive = tmp_path / "cifar-10-python.tar.gz"
    # The tar data stops at a member boundary and the gzip stream has no end: both cut.
    archive.write_bytes(gzip.compress(tar_cut_before_last_member(folder))[:-8])
    with pytest.raises(ValueError, match="truncated"):
        load("cifar10", root=archive)


def test_complete_archive_missing_a_member_is_still_file_not_found(tmp_path: Path) -> None:
    folder = cifar_folder(tmp_path / "src", int, 2)
    (folder / "data_batch_5").unlink()
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    with pytest.raises(FileNotFoundError, match="archive has no member"):
        load("cifar10", root=archive)
