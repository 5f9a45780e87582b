"""What a plot is of: a named optimizer, a genome JSON file, or a run's genome by hash."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from optevo import library
from optevo.search.store import RunStore, StoreError
from optevo.space.genome import Genome


class SubjectError(ValueError):
    """A name, file or hash that names no genome; the message says why."""


@dataclass(frozen=True)
class Subject:
    """A genome to draw, its label and its learning-rate schedule (`one_cycle` or LRk)."""

    label: str
    genome: Genome
    schedule: str = "one_cycle"


def named(name: str) -> Subject:
    entry = library.get(name)
    return Subject(name, entry.genome, entry.lr_schedule or "one_cycle")


def resolve(spec: str, run_dir: str | Path | None = None) -> Subject:
    """`spec`: a named optimizer (`Opt6`, `LR3`), a genome JSON file, or with `run_dir` a
    hash prefix (at least 4 hex digits) of a genome evaluated in that run."""
    if spec in library.names():
        return named(spec)
    path = Path(spec)
    if path.suffix == ".json" and path.is_file():
        from optevo.optim.spec import read_genome_file

        try:
            return Subject(path.stem, read_genome_file(path))
        except ValueError as exc:
            raise SubjectError(str(exc)) from None
    prefix = spec.strip().lower().lstrip("#")
    is_hash = 4 <= len(prefix) <= 64 and all(c in "0123456789abcdef" for c in prefix)
    if not is_hash:
        close = [n for n in library.names() if n.lower() == spec.lower()]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SubjectError(
            f"{spec!r} is not a named optimizer{hint}, a genome JSON file or a genome hash "
            "(4 to 64 hex digits); see `optevo list`"
        )
    if run_dir is None:
        raise SubjectError(f"{spec!r} looks like a genome hash: give the run with --run RUNDIR")
    return from_run(run_dir, prefix)


def from_run(run_dir: str | Path, prefix: str) -> Subject:
    """The genome of `run_dir` whose canonical hash starts with `prefix`, with the schedule
    it was evaluated with."""
    try:
        with RunStore.open(run_dir, lock=False) as store:
            matches: dict[str, Subject] = {}
            for ev in store.evaluations():
                h = ev.canonical_hash
                if h.startswith(prefix) and h not in matches:
                    matches[h] = Subject(h[:10], ev.genome, ev.request.schedule)
    except StoreError as exc:
        raise SubjectError(str(exc)) from None
    if not matches:
        raise SubjectError(f"no genome with hash {prefix}... in {run_dir}")
    if len(matches) > 1:
        shown = ", ".join(h[:12] for h in sorted(matches)[:5])
        raise SubjectError(f"hash prefix {prefix} is ambiguous in {run_dir}: {shown}")
    return next(iter(matches.values()))
