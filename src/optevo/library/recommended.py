"""Recommended peak learning rates of the named optimizers, measured by `optevo bench`.

`recommended_lr.json` beside this file is written by `tools/build_recommended_lr.py` from a
bench folder: for each optimizer, the learning rate its learning-rate test chose on each task
measured, and the recommendation (the geometric median of those choices, i.e. the middle one on
a log scale). Caveat: a rate chosen on one task, at one budget, is a starting point for another,
not a guarantee; each entry says where it was measured.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

SCHEMA = "optevo.recommended_lr/1"


@dataclass(frozen=True)
class Measurement:
    task: str
    lr: float
    scale: float
    total_steps: int


@dataclass(frozen=True)
class RecommendedLR:
    """A named optimizer's recommended peak learning rate and where it was measured."""

    name: str
    lr: float
    measured_on: tuple[Measurement, ...]

    @property
    def where(self) -> str:
        """e.g. "fashion-convnet (scale 0.1, 300 steps)"."""
        return "; ".join(
            f"{m.task} (scale {m.scale:g}, {m.total_steps:,} steps)" for m in self.measured_on
        )


def parse(raw: dict[str, Any]) -> dict[str, RecommendedLR]:
    """The entries of a recommended_lr.json document (validated)."""
    if raw.get("schema") != SCHEMA:
        raise ValueError(f"unknown recommended-lr schema {raw.get('schema')!r}")
    out = {}
    for name, entry in raw.get("optimizers", {}).items():
        lr = float(entry["lr"])
        if not lr > 0:
            raise ValueError(f"recommended lr of {name} must be positive, got {lr}")
        measured = tuple(
            Measurement(str(m["task"]), float(m["lr"]), float(m["scale"]), int(m["total_steps"]))
            for m in entry.get("measured_on", [])
        )
        out[name] = RecommendedLR(name, lr, measured)
    return out


@functools.cache
def _entries() -> dict[str, RecommendedLR]:
    path = resources.files(__package__).joinpath("recommended_lr.json")
    if not path.is_file():
        return {}
    return parse(json.loads(path.read_text()))


def recommended_lr(name: str) -> RecommendedLR | None:
    """The recommendation for named optimizer `name`, or None if none was measured."""
    return _entries().get(name)


def recommended_names() -> tuple[str, ...]:
    return tuple(_entries())
