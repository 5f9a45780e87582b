"""What names an optimizer that a task trains: `OptimizerSpec`, the baselines every validation
includes, and the one resolver of a name, baseline or genome file to an optimizer.

- `OptimizerSpec`: a genome with its learning-rate schedule (and decoupled weight decay), or a
  factory of any torch optimizer (`OptimizerSpec.of_factory`: Lion).
- The baselines (`BASELINE_NAMES`):
  - Adam: the library's Adam genome, one-cycle schedule, no weight decay.
  - AdamW: the library's AdamW genome (the extended space: torch.optim.AdamW's update with its
    defaults, beta2 0.999, eps 1e-8 and decoupled weight decay 0.01, `w <- w - lr_t * 0.01 * w`),
    one-cycle schedule. (Until 2026-12-06 the baseline was the paper's Adam genome, beta2 0.99
    and eps 1e-7, with that weight decay: the committed tables before that date used it.)
  - Lion (Chen et al. 2023): `optevo.optim.lion.Lion`, beta1 = 0.9, beta2 = 0.99, no weight
    decay, under the same one-cycle schedule.
- `resolve(name)`: a baseline, a named optimizer of the library (with its learning-rate
  factor as its schedule) or a genome JSON file; `named(names)` for library names.

This module sits below the tasks (they train an `OptimizerSpec`); it reads no search run (a
run's best genomes are `optevo.search.named.from_run`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from optevo import library
from optevo.optim.evolved import EvolvedOptimizer
from optevo.optim.lion import Lion
from optevo.schedules import BASE_SCHEDULE
from optevo.space.genome import Genome
from optevo.space.limits import MAX_GENOME_BYTES, quote


@functools.cache
def _adam_hash() -> str:
    return library.genome("Adam").canonical_hash()


@functools.cache
def _adam_family() -> frozenset[str]:
    """Adam and AdamW (the same update; AdamW's constants and weight decay)."""
    return frozenset(library.genome(n).canonical_hash() for n in ("Adam", "AdamW"))


Params = Iterable[Tensor] | Iterable[dict[str, Any]]
OptimizerFactory = Callable[[Params, float, int, int, int, int], torch.optim.Optimizer]
"""(params, peak lr, total_steps, warmup_steps, hold_steps, seed) -> a torch optimizer that
follows optevo's convention: the peak learning rate under the one-cycle schedule over the whole
run (linear warm-up, hold, cosine decay)."""


@dataclass(frozen=True)
class OptimizerSpec:
    """A row of a bench or validation table: a genome with its learning-rate schedule (and
    decoupled weight decay, as `EvolvedOptimizer` applies it: `w <- w - lr_t * weight_decay *
    w`), or a factory of any torch optimizer (`of_factory`) identified by `ident`.

    `adam_schedule` marks Adam under a discovered schedule (LR1-LR9): the paper ran their
    learning-rate test for two thirds of the training instead of one third.
    """

    label: str
    genome: Genome | None
    schedule: str = BASE_SCHEDULE
    weight_decay: float = 0.0
    factory: OptimizerFactory | None = field(default=None, compare=False, repr=False)
    ident: str = ""

    def __post_init__(self) -> None:
        if (self.genome is None) == (self.factory is None):
            raise ValueError(f"{self.label}: give a genome or a factory, not both or neither")
        if self.factory is not None and not self.ident:
            raise ValueError(f"{self.label}: a factory needs an ident (its name in results)")
        if not self.weight_decay >= 0:
            raise ValueError(f"{self.label}: weight decay must be >= 0, got {self.weight_decay}")

    @classmethod
    def of_factory(
        cls, label: str, factory: OptimizerFactory, ident: str, schedule: str = BASE_SCHEDULE
    ) -> OptimizerSpec:
        """A spec building any torch optimizer; `ident` names it in stored results (include
        its hyperparameters: "lion(b1=0.9,b2=0.99,wd=0)")."""
        return cls(label, None, schedule, factory=factory, ident=ident)

    @property
    def genome_hash(self) -> str:
        """What identifies the optimizer in stored results: the genome's canonical hash
        (`+wd=<value>` with weight decay), or a factory's `ident`."""
        if self.genome is None:
            return self.ident
        digest = self.genome.canonical_hash()
        return digest if self.weight_decay == 0 else f"{digest}+wd={self.weight_decay:g}"

    @property
    def adam_schedule(self) -> bool:
        return self.schedule != BASE_SCHEDULE and self.genome_hash == _adam_hash()

    def build(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        total_steps: int,
        warmup_steps: int,
        hold_steps: int,
        seed: int = 0,
    ) -> torch.optim.Optimizer:
        if self.factory is not None:
            return self.factory(params, lr, total_steps, warmup_steps, hold_steps, seed)
        assert self.genome is not None
        return EvolvedOptimizer(
            params,
            self.genome,
            lr,
            total_steps,
            warmup_steps,
            hold_steps,
            self.schedule,
            weight_decay=self.weight_decay,
            seed=seed,
        )


def named(names: Iterable[str]) -> list[OptimizerSpec]:
    """Specs for library names ("Adam", "Opt6", "LR3", ...); unknown names raise KeyError."""
    specs = []
    for name in names:
        entry = library.get(name)
        specs.append(OptimizerSpec(name, entry.genome, entry.lr_schedule or BASE_SCHEDULE))
    return specs


# -- the baselines ------------------------------------------------------------------------------

BASELINE_NAMES: tuple[str, ...] = ("Adam", "AdamW", "Lion")
ADAMW_WEIGHT_DECAY = 0.01
"""The AdamW baseline's decoupled weight decay (a constant of its genome)."""
LION_BETAS = (0.9, 0.99)
LION_WEIGHT_DECAY = 0.0
LION_IDENT = f"lion(b1={LION_BETAS[0]:g},b2={LION_BETAS[1]:g},wd={LION_WEIGHT_DECAY:g})"
"""Lion's identity in stored results (a factory has no genome hash)."""


def _lion(
    params: Iterable[Tensor] | Iterable[dict[str, Any]],
    lr: float,
    total_steps: int,
    warmup_steps: int,
    hold_steps: int,
    seed: int,
) -> torch.optim.Optimizer:
    return Lion(
        params,
        lr,
        total_steps,
        warmup_steps,
        hold_steps,
        betas=LION_BETAS,
        weight_decay=LION_WEIGHT_DECAY,
    )


def baseline(name: str) -> OptimizerSpec:
    """The baseline `name` (one of `BASELINE_NAMES`); KeyError otherwise."""
    if name == "Adam":
        return OptimizerSpec("Adam", library.genome("Adam"))
    if name == "AdamW":
        return OptimizerSpec("AdamW", library.genome("AdamW"))
    if name == "Lion":
        return OptimizerSpec.of_factory("Lion", _lion, LION_IDENT)
    raise KeyError(f"unknown baseline {name!r}; known: {', '.join(BASELINE_NAMES)}")


def baselines() -> list[OptimizerSpec]:
    """Adam, AdamW and Lion."""
    return [baseline(name) for name in BASELINE_NAMES]


def is_baseline(spec: OptimizerSpec) -> bool:
    """Whether `spec` is one of the baselines (same label and the same optimizer)."""
    return spec.label in BASELINE_NAMES and spec.genome_hash == baseline(spec.label).genome_hash


def is_adam(spec: OptimizerSpec) -> bool:
    """Whether `spec` steps as Adam under the one-cycle schedule (with or without weight
    decay: Adam and AdamW)."""
    return (
        spec.genome is not None
        and spec.schedule == BASE_SCHEDULE
        and spec.genome.canonical_hash() in _adam_family()
    )


def is_lion(spec: OptimizerSpec) -> bool:
    """Whether `spec` is the Lion baseline's optimizer."""
    return spec.factory is not None and spec.genome_hash == LION_IDENT


# -- the resolver ---------------------------------------------------------------------------


def _exists(path: Path) -> bool:
    """Whether `path` exists; a name the OS cannot even look up (over 255 bytes, ...) does
    not."""
    try:
        return path.exists()
    except OSError:
        return False


def read_genome_file(path: str | Path) -> Genome:
    """The genome in a JSON file; ValueError saying what is wrong (not a file, too large,
    unreadable, not a genome)."""
    path = Path(path)
    if not _exists(path):
        raise ValueError(
            f"{quote(str(path))} is neither a named optimizer (see: optevo list) nor a file"
        )
    if not path.is_file():
        raise ValueError(f"{path} is not a file (a genome is a JSON file or a named optimizer)")
    try:
        size = path.stat().st_size
        if size > MAX_GENOME_BYTES:
            raise ValueError(
                f"{path}: {size:,} bytes, more than the genome size limit of {MAX_GENOME_BYTES:,}"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return Genome.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def file_label(path: str | Path, taken: Collection[str] = ()) -> str:
    """A genome file's row label: its stem, or the path where the stem is taken (by another
    row, a baseline or a named optimizer)."""
    stem = Path(path).stem
    clash = stem in taken or stem in BASELINE_NAMES or stem in library.names()
    return str(path) if clash else stem


def _unknown(name: str) -> ValueError:
    known = (*BASELINE_NAMES, *library.names())
    close = [n for n in known if n.lower() == name.lower()]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(
        f"{quote(name)} is neither a named optimizer (see: optevo list) nor a file.{hint}"
    )


def _check_name(name: str) -> None:
    if not name.strip():
        raise ValueError(
            "an empty name: give a named optimizer (see: optevo list) or a genome file"
        )
    if name not in library.names() and not _exists(Path(name)):
        raise _unknown(name)


def genome_of(name: str) -> tuple[Genome, str]:
    """The genome a name stands for, with its schedule: a named optimizer of the library
    brings its learning-rate factor ("LR6" -> Adam's genome under LR6), a genome JSON file the
    base schedule (one-cycle). ValueError saying what is wrong (empty, unknown, unreadable,
    not a genome). The one name-to-genome rule of every command and config."""
    _check_name(name)
    if name in library.names():
        entry = library.get(name)
        return entry.genome, entry.lr_schedule or BASE_SCHEDULE
    return read_genome_file(name), BASE_SCHEDULE


def resolve(name: str, taken: Collection[str] = ()) -> OptimizerSpec:
    """The optimizer `name` stands for: a baseline (Adam, AdamW, Lion), a named optimizer of
    the library under its learning-rate factor ("Opt4" -> its genome under LR1), or a genome
    JSON file (labelled `file_label(name, taken)`, one-cycle schedule). ValueError when it
    is none of them."""
    if name in BASELINE_NAMES:
        return baseline(name)
    _check_name(name)
    if name in library.names():
        return named([name])[0]
    return OptimizerSpec(file_label(name, taken), read_genome_file(name))


def resolve_all(names: Iterable[str]) -> list[OptimizerSpec]:
    """`resolve` of each name, labels kept distinct; a name given twice is a ValueError."""
    names = list(names)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} given more than once")
    specs: list[OptimizerSpec] = []
    for name in names:
        specs.append(resolve(name, {s.label for s in specs}))
    return specs


__all__ = [
    "ADAMW_WEIGHT_DECAY",
    "BASELINE_NAMES",
    "LION_BETAS",
    "LION_IDENT",
    "LION_WEIGHT_DECAY",
    "OptimizerFactory",
    "OptimizerSpec",
    "baseline",
    "baselines",
    "file_label",
    "genome_of",
    "is_adam",
    "is_baseline",
    "is_lion",
    "named",
    "read_genome_file",
    "resolve",
    "resolve_all",
]
