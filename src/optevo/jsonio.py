"""Strict JSON for everything optevo writes: non-finite numbers become `null` (bare `NaN` is
not JSON), and whole records are written with one `write` call and flushed, so a crash leaves
at most one partial last line, which `read_json_lines` detects and skips."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
    starts on a new line so both stay distinguishable; the write is one call, then fsync."""
    line = dumps(record) + "\n"
    with path.open("ab") as fh:
        if fh.tell() > 0:
            with path.open("rb") as rd:
                rd.seek(-1, os.SEEK_END)
                if rd.read(1) != b"\n":
                    line = "\n" + line
        fh.write(line.encode())
        fh.flush()
        os.fsync(fh.fileno())


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
