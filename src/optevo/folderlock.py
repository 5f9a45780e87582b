"""One process at a time per output folder: an exclusive `flock` on `FOLDER/lock`.

The kernel frees the lock when its process dies, however it dies (SIGKILL included), so a
killed run never leaves a folder locked. The lock file holds the holder's pid and host, which
the refusal names. Used by the search's run directories and by the `--out` folders of
`optevo validate` and `optevo bench` (two processes on one folder would both train
everything and interleave their records).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_NAME = "lock"


class FolderInUseError(RuntimeError):
    """The folder is locked by another process (or its lock file cannot be opened)."""


def lock_folder(folder: Path, what: str = "") -> int:
    """Take the exclusive lock of `folder` (which must exist) and return its file descriptor;
    `os.close` it (or `unlock`) to release. Raises FolderInUseError naming the holder.

    `what` names the folder's use in the message (e.g. "the validation output")."""
    path = folder / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise FolderInUseError(f"cannot open the lock file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        label = f"{what} {folder}" if what else str(folder)
        raise FolderInUseError(
            f"{label} is in use by {holder}; one process at a time may write it"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}".encode(), 0)
    return fd


def unlock(fd: int | None) -> None:
    """Release a lock `lock_folder` returned (None: nothing to release)."""
    if fd is not None:
        os.close(fd)
