"""Reading genomes back out of a run directory."""

from __future__ import annotations

from pathlib import Path

from optevo.search.config import ConfigError
from optevo.search.store import RunStore
from optevo.space.genome import Genome


def find_genome(run_dir: str | Path, prefix: str) -> Genome:
    """The genome of a run whose canonical hash starts with `prefix` (at least 4 hex digits,
    unique in the run)."""
    prefix = prefix.strip().lower().lstrip("#")
    if len(prefix) < 4 or len(prefix) > 64 or any(c not in "0123456789abcdef" for c in prefix):
        raise ConfigError(f"{prefix[:70]!r} is not a genome hash (4 to 64 hex digits)")
    with RunStore.open(run_dir, lock=False) as store:
        matches = {
            ev.canonical_hash: ev.genome
            for ev in store.evaluations()
            if ev.canonical_hash.startswith(prefix)
        }
    if not matches:
        raise ConfigError(f"no genome with hash {prefix}... in {run_dir}")
    if len(matches) > 1:
        shown = ", ".join(h[:12] for h in sorted(matches)[:5])
        raise ConfigError(f"hash prefix {prefix} is ambiguous in {run_dir}: {shown}")
    return next(iter(matches.values()))
