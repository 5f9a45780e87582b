"""What a task is: data (offline) + model factory + budget + metric and direction, at named
sizes, in suites.

A task's sizes are budgets named after what they are for: `search` (the suite a search selects
on; seconds per run), `validate` (the suite that checks whether what was found transfers; 3-10x
the search budget), `bench` (the paper's transfer benchmarks, `optevo bench`). A task belongs to
the suites it has a size for. `build(options, budget)` returns a `Runner`, whose `run` trains
one optimizer at one learning rate and seed and scores the model on a held-out split.

This module is the bottom of the task layer: the other modules of `optevo.tasks` build their
tasks out of these types.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from pydantic import ConfigDict, Field
from torch import nn

from optevo.config import Int, StrictModel

if TYPE_CHECKING:
    from optevo.optim.spec import OptimizerSpec

Suite = Literal["search", "validate", "bench"]
SUITES: tuple[Suite, ...] = ("search", "validate", "bench")
"""The suites, which are also the names of the sizes (a task in suite S has a size S)."""

Metric = Literal["accuracy", "perplexity", "bits-per-char", "mse", "cross-entropy"]
METRIC_DIRECTION: Mapping[str, Literal["max", "min"]] = MappingProxyType(
    {
        "accuracy": "max",
        "perplexity": "min",
        "bits-per-char": "min",
        "mse": "min",
        "cross-entropy": "min",
    }
)
"""Whether a metric is maximised or minimised: the one statement of each metric's direction."""


class Budget(StrictModel):
    """A task's training budget: steps, the one-cycle schedule's warm-up and hold, batch."""

    total_steps: Int = Field(ge=1)
    warmup_steps: Int = Field(ge=0)
    hold_steps: Int = Field(ge=0)
    batch_size: Int = Field(ge=1)

    @classmethod
    def proportional(cls, total: int, batch: int) -> Budget:
        """`total` steps whose warm-up and hold are 1/15 and 2/15 of the run (the proportions
        of the paper's CIFAR budget: 6,400 and 12,800 of 96,000)."""
        return cls(
            total_steps=total,
            warmup_steps=round(total / 15),
            hold_steps=round(2 * total / 15),
            batch_size=batch,
        )

    def scaled(self, scale: float) -> Budget:
        """Every step count times `scale` (at least one step; warm-up + hold fit inside)."""
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be positive and finite, got {scale}")
        total = max(1, round(self.total_steps * scale))
        warmup = min(round(self.warmup_steps * scale), total)
        hold = min(round(self.hold_steps * scale), total - warmup)
        return self.model_copy(
            update={"total_steps": total, "warmup_steps": warmup, "hold_steps": hold}
        )


class TaskOptions(StrictModel):
    """Where a task finds its files and how it runs.

    `model` overrides model arguments (tests shrink EfficientNetV2-S with `width_mult` /
    `depth_mult`, ResNet9 with `width`, the AWD-LSTM with `embedding_size` / `hidden_size`);
    `image_size` overrides the size images are decoded at (fine-tuning: 224); `batch_size`
    the task's batch size (small machines, tests); `data` an in-memory data set used instead
    of reading `root` (an `ImageSet`, a `TextSet` for PTB, a `TensorData` for the tasks of the
    search and validation suites: benchmarks, custom data).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    root: Path | None = None
    checkpoint: Path | None = None
    device: str = "cpu"
    model: dict[str, Any] = Field(default_factory=dict)
    image_size: Int | None = Field(None, ge=1)
    eval_batch_size: Int | None = Field(None, ge=1)
    batch_size: Int | None = Field(None, ge=1)
    data: Any = None


@dataclass(frozen=True)
class RunOutcome:
    """One training run: the metric on the requested split (None: no score), "ok" or
    "diverged", wall seconds, steps trained, and anything else the runner measured."""

    metric: float | None
    status: str
    seconds: float
    steps: int
    extra: dict[str, float]


@dataclass(frozen=True)
class RunRequest:
    """One training run a runner is asked for: `optimizer` at peak rate `lr`, from `seed`, for
    `steps` steps of a schedule `total_steps` long (with its one-cycle warm-up and hold), scored
    on `split` ("val" for a learning-rate test, "test" for a final run). `steps` below
    `total_steps` is a screen: the start of the full run's schedule."""

    optimizer: OptimizerSpec
    lr: float
    seed: int
    steps: int
    total_steps: int
    warmup_steps: int = 0
    hold_steps: int = 0
    split: str = "val"

    @classmethod
    def of(
        cls,
        optimizer: OptimizerSpec,
        lr: float,
        seed: int,
        budget: Budget,
        steps: int | None = None,
        split: str = "val",
    ) -> RunRequest:
        """A run on `budget`'s schedule: all of it, or its first `steps` steps."""
        return cls(
            optimizer,
            lr,
            seed,
            budget.total_steps if steps is None else steps,
            budget.total_steps,
            budget.warmup_steps,
            budget.hold_steps,
            split,
        )

    def __post_init__(self) -> None:
        if not 0 <= self.steps <= self.total_steps:
            raise ValueError(f"steps {self.steps} outside 0..{self.total_steps} (the schedule)")
        if self.split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {self.split!r}")

    def build(self, params: Any) -> torch.optim.Optimizer:
        """The optimizer for `params`, with its learning-rate schedule of this run."""
        return self.optimizer.build(
            params, self.lr, self.total_steps, self.warmup_steps, self.hold_steps, seed=self.seed
        )


class Monitor(Protocol):
    """Watches a run at its checkpoints: `checkpoints(steps)` says at which steps (done) the
    runner scores the run on the request's split; `__call__(done, score)` returns True to stop
    it there (the outcome's status is then "stopped", its metric that score)."""

    def checkpoints(self, steps: int) -> tuple[int, ...]: ...

    def __call__(self, done: int, score: float) -> bool: ...


class Runner(Protocol):
    def run(self, request: RunRequest) -> RunOutcome: ...


BLOWUP = 1e3
"""A training loss above this many times the first batch's ends the run as diverged."""


class DivergenceWatch:
    """The one divergence rule of every task's training loop, stated here once.

    A run has diverged when its training loss is not finite or rises above `BLOWUP` times the
    first batch's loss (the initial model's), or when a weight is not finite after the last
    step (`finite_weights`). The loss is read at the first step, then every step on a CPU
    (where reading it costs nothing) and every `gpu_every` steps elsewhere (where a read syncs:
    a diverged run wastes at most `gpu_every - 1` steps), and at the last step. SGD at a rate
    of 1e6 takes every task's loss past 1e4 times its first within a few steps, while some
    saturating models (an LSTM, batch norm, a linear model) never reach inf.

        watch = DivergenceWatch(device, steps)
        for step in range(steps):
            ...
            if watch.diverged(step + 1, loss):
                break
    """

    def __init__(self, device: str | torch.device, steps: int, gpu_every: int = 20) -> None:
        self.every = 1 if str(device) == "cpu" else gpu_every
        self.steps = steps
        self.limit = math.inf
        self.last = math.nan
        """The last loss read (NaN before the first)."""

    def diverged(self, done: int, loss: torch.Tensor | float, force: bool = False) -> bool:
        """Whether the run has diverged after `done` steps whose last loss is `loss`; `force`
        reads the loss whatever the step (the end of a segment of a resumable run, which
        must be read there as a run of that length is at its last step)."""
        if not (force or done == 1 or done % self.every == 0 or done == self.steps):
            return False
        self.last = loss if isinstance(loss, float) else float(loss.item())
        if done == 1:
            self.limit = BLOWUP * max(abs(self.last), 1e-6)
        return not self.last <= self.limit  # also NaN


def finite_weights(model: nn.Module) -> bool:
    """Whether every parameter is finite (one sync for the whole model)."""
    with torch.no_grad():
        return bool(torch.stack([torch.isfinite(p).all() for p in model.parameters()]).all())


@dataclass(frozen=True)
class Task:
    """One registry entry (see the module docstring).

    `budget` is the size `optevo bench` runs (times its `--scale`): the `bench` size where the
    task has one, else its suite's. `sizes` defaults to `{"bench": budget}` and `suites` to the
    suites named by `sizes`. `source` names the data set (two tasks with the same source share
    data; the search and validation suites share none). `reference_lr` is a peak learning rate
    at which Adam trains the task well (what `optevo tasks --measure` times). `seconds` holds
    measured seconds per run at each size (one thread, `benchmarks/task_suite.py`), for the
    listing only.
    """

    name: str
    column: str  # the table header, as in the paper
    metric: Metric
    budget: Budget
    files: str  # where the data lies: the files or folders it reads ("" for built-in data)
    build: Callable[[TaskOptions, Budget], Runner]
    finetune: bool = False
    needs_root: bool = True
    needs_checkpoint: bool = False
    family: str = ""
    source: str = ""
    sizes: Mapping[str, Budget] = field(default_factory=dict)
    reference_lr: float = 1e-3
    seconds: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sizes = dict(self.sizes) or {"bench": self.budget}
        unknown = sorted(set(sizes) - set(SUITES))
        if unknown:
            raise ValueError(f"task {self.name}: unknown sizes {unknown}; known: {SUITES}")
        if self.budget not in sizes.values():
            raise ValueError(f"task {self.name}: its budget is none of its sizes")
        if self.metric not in METRIC_DIRECTION:
            raise ValueError(f"task {self.name}: unknown metric {self.metric!r}")
        ordered = {s: sizes[s] for s in SUITES if s in sizes}
        object.__setattr__(self, "sizes", MappingProxyType(ordered))
        object.__setattr__(self, "seconds", MappingProxyType(dict(self.seconds)))

    @property
    def suites(self) -> tuple[str, ...]:
        """The suites this task belongs to: those it has a size for, in `SUITES` order."""
        return tuple(self.sizes)

    @property
    def direction(self) -> Literal["max", "min"]:
        return METRIC_DIRECTION[self.metric]

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "max"

    def size(self, name: str) -> Budget:
        """The budget of size `name`; KeyError naming the sizes the task has."""
        if name not in self.sizes:
            raise KeyError(
                f"task {self.name} has no {name!r} size; it has: {', '.join(self.sizes)}"
            )
        return self.sizes[name]


def registry(tasks: Iterable[Task]) -> dict[str, Task]:
    """Tasks by name; a name given twice is a ValueError (a dict would keep the last)."""
    out: dict[str, Task] = {}
    for task in tasks:
        if task.name in out:
            raise ValueError(f"two tasks are named {task.name!r}")
        out[task.name] = task
    return out


def in_suite(tasks: Iterable[Task], suite: str) -> list[Task]:
    """The tasks of `suite`, in the order given."""
    if suite not in SUITES:
        raise KeyError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    return [t for t in tasks if suite in t.sizes]


__all__ = [
    "BLOWUP",
    "METRIC_DIRECTION",
    "SUITES",
    "Budget",
    "DivergenceWatch",
    "Metric",
    "RunOutcome",
    "RunRequest",
    "Runner",
    "Suite",
    "Task",
    "TaskOptions",
    "finite_weights",
    "in_suite",
    "registry",
]
