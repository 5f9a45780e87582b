"""CIFAR-10/100 from the "python version" batches, as a folder or the ``.tar.gz`` archive.

The batches are pickles. A pickle can name any importable callable and have it called, so a
batch file from a stranger could run code under plain ``pickle.load``. The batches hold only
dicts, lists, ints, bytes and numpy ``uint8`` arrays, so the unpickler here resolves exactly the
handful of globals those need and refuses every other one.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, ClassVar, cast

import numpy as np

from optevo.data.raw import RawImages

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]

_PIXELS = 3 * 32 * 32


class UnsafePickleError(ValueError):
    """A batch file asked the unpickler for a global outside the allowed few."""


@dataclass(frozen=True)
class CifarFormat:
    """Where one CIFAR variant keeps its training batches and labels."""

    name: str
    folder: str
    archive: str
    batches: tuple[str, ...]
    label_key: bytes
    num_classes: int
    default_root: Path


CIFAR10 = CifarFormat(
    name="cifar10",
    folder="cifar-10-batches-py",
    archive="cifar-10-python.tar.gz",
    batches=tuple(f"data_batch_{i}" for i in range(1, 6)),
    label_key=b"labels",
    num_classes=10,
    default_root=Path("/usr/share/datasets/cifar10"),
)
CIFAR100 = CifarFormat(
    name="cifar100",
    folder="cifar-100-python",
    archive="cifar-100-python.tar.gz",
    batches=("train",),
    label_key=b"fine_labels",
    num_classes=100,
    default_root=Path("/usr/share/datasets/cifar100"),
)


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches, resolving only the globals they need."""

    # Real batches were written by Python 2 numpy ("numpy.core"); numpy 2 writes "numpy._core";
    # Python 3 protocol-2 pickles spell every bytes object as a _codecs.encode call. A batch
    # re-pickled with labels as numpy integers holds numpy scalars: integers only are built
    # (from their raw bytes, nothing called).
    _ALLOWED: ClassVar[dict[tuple[str, str], str]] = {
        ("numpy.core.multiarray", "_reconstruct"): "_make_array",
        ("numpy._core.multiarray", "_reconstruct"): "_make_array",
        ("numpy.core.multiarray", "scalar"): "_make_scalar",
        ("numpy._core.multiarray", "scalar"): "_make_scalar",
        ("numpy", "ndarray"): "_ndarray",
        ("numpy", "dtype"): "_dtype",
        ("_codecs", "encode"): "_latin1_bytes",
    }
    _ndarray = np.ndarray
    _dtype = np.dtype

    def __init__(self, data: bytes, source: str) -> None:
        # encoding="bytes" keeps Python 2 str (keys and pixel buffers) as bytes, as numpy expects.
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        attribute = self._ALLOWED.get((module, name))
        if attribute is None:
            raise UnsafePickleError(
                f"{self._source}: refusing to unpickle global {module}.{name}; a CIFAR batch "
                "holds only numpy arrays, lists, ints and bytes, so this file is not one "
                "(and may try to run code)"
            )
        return getattr(self, attribute)

    def _make_array(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not np.ndarray:
            raise UnsafePickleError(f"{self._source}: array of type {subtype!r} refused")
        return cast(np.ndarray, _reconstruct(subtype, shape, dtype))

    def _make_scalar(self, dtype: Any, data: Any = None) -> np.generic:
        if not isinstance(dtype, np.dtype) or dtype.kind not in "iu":
            raise UnsafePickleError(
                f"{self._source}: refusing to unpickle global numpy scalar of dtype {dtype!s:.40}; "
                "a CIFAR batch holds integer scalars at most (labels)"
            )
        if not isinstance(data, bytes) or len(data) != dtype.itemsize:
            raise UnsafePickleError(f"{self._source}: malformed numpy {dtype} scalar")
        return cast(np.generic, np.frombuffer(data, dtype=dtype)[0])

    def _latin1_bytes(self, text: Any, encoding: Any = "latin1") -> bytes:
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise UnsafePickleError(f"{self._source}: unexpected _codecs.encode({encoding!r})")
        return text.encode("latin1")


def unpickle_batch(data: bytes, source: str) -> object:
    """Unpickle one batch without running any code it names.

    Raises:
        ValueError: the data is not a pickle, is truncated, or names a global outside the few
            that CIFAR batches use (``UnsafePickleError``).
    """
    try:
        return _BatchUnpickler(data, source).load()
    except UnsafePickleError:
        raise
    # Corrupt pickles fail in many ways (UnpicklingError, EOFError, KeyError from a bad memo,
    # TypeError from a wrong argument...); to the caller each one means "not a CIFAR batch".
    except Exception as error:
        raise ValueError(
            f"{source}: not a readable CIFAR batch pickle ({type(error).__name__}: {error})"
        ) from error


def _field(batch: dict[Any, Any], key: bytes, source: str) -> Any:
    # Re-pickled batches from Python 3 often use str keys; accept both spellings.
    for candidate in (key, key.decode()):
        if candidate in batch:
            return batch[candidate]
    found = ", ".join(repr(k) for k in list(batch)[:8])
    raise ValueError(f"{source}: batch has no {key!r} entry (keys: {found})")


def parse_batch(batch: object, source: str, fmt: CifarFormat) -> tuple[np.ndarray, np.ndarray]:
    """Check one unpickled batch and return its images (``N x 3 x 32 x 32``) and labels."""
    if not isinstance(batch, dict):
        raise ValueError(f"{source}: expected a dict, the pickle holds a {type(batch).__name__}")
    data = _field(batch, b"data", source)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = f"{data.dtype} array" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{source}: b'data' must be a uint8 array, found {kind}")
    if data.ndim != 2 or data.shape[1] != _PIXELS:
        raise ValueError(
            f"{source}: b'data' has shape {data.shape}, expected (N, {_PIXELS}) for 3x32x32 images"
        )
    raw_labels = _field(batch, fmt.label_key, source)
    try:
        labels = np.asarray(raw_labels)
    except (ValueError, TypeError, OverflowError) as error:
        raise ValueError(f"{source}: {fmt.label_key!r} is not a list of ints ({error})") from error
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{source}: {fmt.label_key!r} must be a flat list of ints, "
            f"found {labels.dtype} with shape {labels.shape}"
        )
    if len(labels) != len(data):
        raise ValueError(f"{source}: {len(data)} images but {len(labels)} labels")
    out_of_range = (labels < 0) | (labels >= fmt.num_classes)
    if out_of_range.any():
        bad = int(np.argmax(out_of_range))
        raise ValueError(
            f"{source}: label {int(labels[bad])} at index {bad} is out of range "
            f"0..{fmt.num_classes - 1}"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _read_folder(folder: Path, fmt: CifarFormat) -> list[tuple[str, bytes]]:
    files = []
    for batch in fmt.batches:
        path = folder / batch
        if not path.is_file():
            raise FileNotFoundError(f"{path}: {fmt.name} training batch not found")
        files.append((str(path), path.read_bytes()))
    return files


def _read_archive(archive: Path, fmt: CifarFormat) -> list[tuple[str, bytes]]:
    found: dict[str, bytes] = {}
    try:
        # Stream mode reads the archive once, front to back; members are read into memory,
        # never extracted, so member paths cannot write anywhere.
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                name = PurePosixPath(member.name).name
                if member.isfile() and name in fmt.batches and name not in found:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[name] = handle.read()
    except FileNotFoundError:
        raise
    # A truncated archive ends in EOFError or tarfile.ReadError, damaged gzip data in
    # zlib.error or BadGzipFile (an OSError).
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ValueError(f"{archive}: corrupt or truncated tar archive ({error})") from error
    missing = [batch for batch in fmt.batches if batch not in found]
    if missing:
        cut = _truncation(archive)
        if cut is not None:
            raise ValueError(
                f"{archive}: truncated archive ({cut}): it ends before {fmt.folder}/{missing[0]}"
            )
        raise FileNotFoundError(
            f"{archive}: archive has no member {fmt.folder}/{missing[0]} "
            f"({fmt.name} training batch)"
        )
    return [(f"{archive}:{fmt.folder}/{batch}", found[batch]) for batch in fmt.batches]


_COMPRESSED: tuple[tuple[bytes, Callable[..., BinaryIO]], ...] = (
    (b"\x1f\x8b", cast(Callable[..., BinaryIO], gzip.open)),
    (b"BZh", cast(Callable[..., BinaryIO], bz2.open)),
    (b"\xfd7zXZ\x00", cast(Callable[..., BinaryIO], lzma.open)),
)


def _truncation(archive: Path) -> str | None:
    """Why `archive` looks cut short, or None: its compressed stream ends early, or the tar
    data does not end in the two zero blocks that close every tar archive. (Stream-mode
    tarfile takes an early end of data at a member boundary for the end of the archive.)"""
    with archive.open("rb") as raw:
        magic = raw.read(6)
    opener = next((op for m, op in _COMPRESSED if magic.startswith(m)), None)
    size, tail = 0, b""
    try:
        with (opener or open)(archive, "rb") as fh:
            while chunk := fh.read(1 << 20):
                size += len(chunk)
                tail = (tail + chunk)[-1024:]
    except EOFError:
        return "the compressed data ends early"
    except (OSError, zlib.error, lzma.LZMAError):
        return None  # damaged rather than cut: the caller's message stands
    if size % 512 or len(tail) < 1024 or tail.count(0) != len(tail):
        return "no end-of-archive marker"
    return None


def _batch_files(root: Path, fmt: CifarFormat) -> list[tuple[str, bytes]]:
    if root.is_file():
        return _read_archive(root, fmt)
    if not root.is_dir():
        raise FileNotFoundError(
            f"{root}: {fmt.name} not found; pass root= the {fmt.folder} folder, its parent, "
            f"or {fmt.archive}"
        )
    if (root / fmt.batches[0]).exists():
        return _read_folder(root, fmt)
    if (root / fmt.folder).is_dir():
        return _read_folder(root / fmt.folder, fmt)
    if (root / fmt.archive).is_file():
        return _read_archive(root / fmt.archive, fmt)
    raise FileNotFoundError(
        f"{root}: holds neither {fmt.batches[0]}, a {fmt.folder} folder nor {fmt.archive}"
    )


def read_cifar(fmt: CifarFormat, root: Path | None = None) -> RawImages:
    """Read the training batches of CIFAR-10 or CIFAR-100 (the test batch is not read).

    Args:
        fmt: ``CIFAR10`` or ``CIFAR100``.
        root: the batches folder (``cifar-10-batches-py`` / ``cifar-100-python``), a directory
            holding that folder or the archive, or the ``.tar.gz`` archive itself; default
            ``fmt.default_root``.
    """
    root = fmt.default_root if root is None else root
    images, labels = [], []
    for source, data in _batch_files(root, fmt):
        batch_images, batch_labels = parse_batch(unpickle_batch(data, source), source, fmt)
        images.append(batch_images)
        labels.append(batch_labels)
    return RawImages(images=np.concatenate(images), labels=np.concatenate(labels), max_value=255)
