"""Strict JSON for everything optevo writes: non-finite numbers become `null` (bare `NaN` is
not JSON), and whole records are written with one `write` call and flushed, so a crash leaves
at most one partial last line, which `read_json_lines` detects and skips.

Output paths are checked before any work (`check_output`), so a bad `--out` costs nothing;
a write that fails (a full disk) takes back what it wrote of its record and raises, leaving
every earlier record whole.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class OutputError(ValueError):
    """An output path that cannot be written: its folder is missing, it is a directory, or
    it is not writable."""


def check_output(path: Path) -> None:
    """Raise OutputError unless records can be written to `path` (existing or not); a file
    that exists is opened for appending, which changes nothing in it."""
    folder = path.parent
    if path.is_dir():
        raise OutputError(f"{path} is a directory, not a file")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"cannot write {path}: the folder {folder} {what}")
    if path.exists():
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    elif not os.access(folder, os.W_OK):
        raise OutputError(f"cannot write {path}: the folder {folder} is not writable")


def finite(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None (recursively; tuples become lists)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps that never writes NaN or Infinity (they become null)."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)


def append_line(path: Path, record: Any) -> None:
    """Append one JSON line. If the file ends in a partial line (an earlier crash), the record
    starts on a new line so both stay distinguishable; the write is one call, then fsync.

    Raises OSError if the write fails (a full disk), after cutting the file back to where
    the record began (where the file allows it), so no partial record is left behind."""
    line = dumps(record) + "\n"
    with path.open("ab", buffering=0) as fh:
        start = fh.seek(0, os.SEEK_END)
        if start > 0:
            with path.open("rb") as rd:
                rd.seek(-1, os.SEEK_END)
                if rd.read(1) != b"\n":
                    line = "\n" + line
        try:
            _write_all(fh.fileno(), line.encode())
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fh.fileno(), start)
            raise


def temp_beside(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new temporary file in `path`'s folder, open for writing (its fd and name), to be
    renamed over `path`: a file written whole or not at all. Its mode is what `open` would
    give a new file under the process's umask (mkstemp alone makes it 0600)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    mask = os.umask(0)
    os.umask(mask)
    try:
        os.fchmod(fd, 0o666 & ~mask)
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return fd, tmp


def write_lines(path: Path, records: Iterable[Any]) -> None:
    """Write `path` as JSON lines, whole or not at all: the lines go to a temporary file in
    the same folder, which then replaces `path` (raises OSError, `path` untouched)."""
    data = "".join(dumps(r) + "\n" for r in records).encode()
    fd, tmp = temp_beside(path)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # a device (a pipe, /dev/null) cannot sync
            raise


def read_json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a JSON-lines file; a line that does not parse (a record cut short by a
    crash or a full disk) is skipped."""
    with path.open("rb") as fh:
        for raw in fh:
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                yield record
