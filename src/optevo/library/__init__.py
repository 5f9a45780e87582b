"""The named optimizers of the paper as genomes in the search space, stored as data.

`genomes.json` beside this file holds each one's genome, its learning-rate factor (SPEC 7.2:
Opt4 = its genome + LR1) and a one-line description. `tools/build_library.py` shows how each
equation maps onto the search space. `recommended_lr.json` holds the peak learning rates that
`optevo bench` chose for them (`recommended_lr(name)`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

from optevo.library.recommended import RecommendedLR, recommended_lr
from optevo.space.genome import Genome


@dataclass(frozen=True)
class NamedOptimizer:
    """A named optimizer: its genome, its learning-rate factor (None = base schedule only)."""

    name: str
    genome: Genome
    lr_schedule: str | None
    description: str


@functools.cache
def _entries() -> dict[str, NamedOptimizer]:
    raw = json.loads(resources.files(__package__).joinpath("genomes.json").read_text())
    if raw.get("schema") != "optevo.library/1":
        raise ValueError(f"unknown library schema {raw.get('schema')!r}")
    return {
        name: NamedOptimizer(
            name, Genome.from_dict(e["genome"]), e["lr_schedule"], e["description"]
        )
        for name, e in raw["optimizers"].items()
    }


def names() -> tuple[str, ...]:
    """Every named optimizer, in the order of the paper's tables."""
    return tuple(_entries())


def get(name: str) -> NamedOptimizer:
    """The named optimizer `name` (case-sensitive, e.g. "Opt6", "Adam", "PowerSign-ld")."""
    entries = _entries()
    if name not in entries:
        close = [n for n in entries if n.lower() == str(name).lower()]
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown optimizer {name!r}.{hint} Known: {', '.join(entries)}")
    return entries[name]


def genome(name: str) -> Genome:
    """The genome of the named optimizer."""
    return get(name).genome


def lr_schedule(name: str) -> str | None:
    """The learning-rate factor the named optimizer was found with (e.g. "LR1"), or None."""
    return get(name).lr_schedule


__all__ = [
    "NamedOptimizer",
    "RecommendedLR",
    "genome",
    "get",
    "lr_schedule",
    "names",
    "recommended_lr",
]
