"""Fashion-MNIST from its IDX files (raw or gzip-compressed)."""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path
from typing import Any, BinaryIO, cast

import numpy as np

from optevo.data.raw import RawImages

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = 10
_IMAGE_SIDE = 28
FASHION_FILES = "ROOT/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"
_INSTALL_HINT = (
    "install the OS package with `apt-get install dataset-fashion-mnist`, "
    f"or pass root= a directory holding the IDX files (expected files: {FASHION_FILES})"
)


MAX_IDX_BYTES = 1 << 28
"""Most data bytes one IDX file may promise (256 MiB: over five times Fashion-MNIST's 47 MB
of training images). A header promising more is refused before anything is read."""


def read_idx(path: Path, magic: int, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Decode one IDX file of unsigned bytes into a read-only ``uint8`` array.

    The file is streamed (a ``.gz`` one decompressed as it is read) and reading stops one
    byte past what the header promises, so a file far longer than its header (a gzip bomb)
    costs no more memory than an honest one.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.
        magic: the expected magic number, which also fixes the number of dimensions.
        max_bytes: the most data bytes the header may promise.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: corrupt gzip, wrong magic number, or a length that disagrees with the header
            or exceeds ``max_bytes``.
    """
    compressed = path.suffix == ".gz"
    try:
        with gzip.open(path, "rb") if compressed else path.open("rb") as fh:
            return _decode(cast(BinaryIO, fh), path, magic, max_bytes)
    except FileNotFoundError:
        raise
    # Truncation surfaces as EOFError, a bad header as BadGzipFile, damaged deflate data as
    # zlib.error: all mean the same thing to the caller.
    except (OSError, EOFError, zlib.error) as error:
        if not compressed:
            raise ValueError(f"{path}: cannot read ({error})") from error
        raise ValueError(f"{path}: corrupt or truncated gzip file ({error})") from error


def _decode(fh: BinaryIO, path: Path, magic: int, max_bytes: int) -> np.ndarray:
    ndim = magic & 0xFF
    header_size = 4 + 4 * ndim
    head = fh.read(header_size)
    if len(head) < 4:
        raise ValueError(f"{path}: file is {len(head)} bytes, too short for an IDX magic number")
    found = int.from_bytes(head[:4], "big")
    if found != magic:
        raise ValueError(
            f"{path}: IDX magic number is 0x{found:08X}, expected 0x{magic:08X} "
            f"(unsigned bytes in {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    if len(head) < header_size:
        raise ValueError(
            f"{path}: file is {len(head)} bytes, shorter than its {header_size}-byte header"
        )
    dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)
    if expected > max_bytes:
        raise ValueError(
            f"{path}: header gives dimensions {dims} = {expected:,} bytes of data, more than "
            f"the {max_bytes:,} this reader reads"
        )
    data = np.empty(expected, dtype=np.uint8)
    got = _read_into(fh, memoryview(cast(Any, data)))
    if got < expected:
        raise ValueError(
            f"{path}: header gives dimensions {dims} = {expected} bytes of data, "
            f"but the file holds {got}"
        )
    if fh.read(1):  # at the promised end: also checks a gzip file's CRC
        raise ValueError(
            f"{path}: header gives dimensions {dims} = {expected} bytes of data, "
            "but the file holds more"
        )
    data.flags.writeable = False
    return data.reshape(dims)


def _read_into(fh: BinaryIO, view: memoryview) -> int:
    got = 0
    while got < len(view):
        n = fh.readinto(view[got : got + (1 << 20)])  # type: ignore[attr-defined]
        if not n:
            break
        got += n
    return got


def _find(root: Path, stem: str, what: str) -> Path:
    # Raw files first: they skip decompression, and the OS package ships .gz only anyway.
    for candidate in (root / stem, root / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{root}: neither {stem} nor {stem}.gz ({what}) found; {_INSTALL_HINT}")


def read_fashion_mnist(root: Path | None = None, split: str = "train") -> RawImages:
    """Read one split of Fashion-MNIST: ``"train"`` (60,000 images) or ``"t10k"`` (the 10,000
    test images, which only the transfer benchmark reads). Every file is checked: its magic
    number and size, the image side, the label range, one label per image.

    Args:
        root: directory holding ``{split}-images-idx3-ubyte[.gz]`` and
            ``{split}-labels-idx1-ubyte[.gz]``; default ``/usr/share/datasets/fashion-mnist``.
        split: ``"train"`` or ``"t10k"``.
    """
    if split not in ("train", "t10k"):
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; known: train, t10k")
    root = FASHION_MNIST_ROOT if root is None else root
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: Fashion-MNIST directory not found; {_INSTALL_HINT}")
    what = "training" if split == "train" else "test"
    images_path = _find(root, f"{split}-images-idx3-ubyte", f"{what} images")
    labels_path = _find(root, f"{split}-labels-idx1-ubyte", f"{what} labels")
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.shape[1:] != (_IMAGE_SIDE, _IMAGE_SIDE):
        raise ValueError(
            f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, "
            f"Fashion-MNIST images are {_IMAGE_SIDE}x{_IMAGE_SIDE}"
        )
    if len(images) != len(labels):
        raise ValueError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    if len(labels) and int(labels.max()) >= FASHION_MNIST_CLASSES:
        bad = int(np.argmax(labels >= FASHION_MNIST_CLASSES))
        raise ValueError(
            f"{labels_path}: label {int(labels[bad])} at index {bad} is out of range "
            f"0..{FASHION_MNIST_CLASSES - 1}"
        )
    return RawImages(images=images[:, None, :, :], labels=labels.astype(np.int64), max_value=255)
