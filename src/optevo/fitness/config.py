"""The fitness protocol's configuration (SPEC 5). Its defaults are the paper's protocol: the
`paper` preset is `FitnessConfig()`, and every other preset (`optevo/configs/fitness/`) and
the elimination's paper sizes are stated relative to it. A config that names `tasks` is the
paired multi-task fitness instead (`optevo.fitness.suite`, the `suite` preset)."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from optevo.config import Float, Int, StrictModel, known
from optevo.data import NAMES as DATASETS
from optevo.data import Augment
from optevo.fitness.spec import Layout
from optevo.transfer.lrtest import PAPER_GRID


class TaskRef(StrictModel):
    """One task of the paired multi-task fitness: a registry task (`optevo tasks`), its weight
    in the suite's mean, and the size it runs at (its `search` or `validate` budget). A bare
    name stands for `{name: NAME}`."""

    name: str
    weight: Float = Field(1.0, gt=0, le=1e6, allow_inf_nan=False)
    """Relative: only the ratios matter (at most 1e6, so that a sum of weights cannot
    overflow)."""
    size: Literal["search", "validate"] = "search"

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, raw: Any) -> Any:
        return {"name": raw} if isinstance(raw, str) else raw

    @field_validator("name")
    @classmethod
    def _known_task(cls, v: str) -> str:
        from optevo.tasks.registry import TASKS
        from optevo.tasks.user import is_reference

        if is_reference(v):  # a user's task (FILE.py:NAME): loaded by `_has_size`
            return v
        return known(v, TASKS, "task")

    @model_validator(mode="after")
    def _has_size(self) -> TaskRef:
        from optevo.tasks.registry import get_task
        from optevo.tasks.user import imports_allowed, is_reference

        if is_reference(self.name) and not imports_allowed():
            return self  # a command that only reads a run: the task's code is not imported
        sizes = get_task(self.name).sizes
        if self.size not in sizes:
            raise ValueError(
                f"task {self.name} has no {self.size!r} size; it has: {', '.join(sizes)}"
            )
        return self


class FitnessConfig(StrictModel):
    """Every threshold, budget and size of the fitness protocol (SPEC 5). Defaults: the paper
    (CIFAR-10, ConvNet base 48, batch 128, a 7-rate screen of 800 steps, a full run of 8,000
    steps with W = T/20, early stops at 25% / 40%)."""

    dataset: str = "cifar10"
    data_root: str | None = None
    val_size: Int | None = Field(None, ge=1)
    split_seed: Int = 0
    base: Int = Field(48, ge=1)
    dropout: Float = Field(0.2, ge=0.0, lt=1.0)
    batch_size: Int = Field(128, ge=1)
    epoch_steps: Int = Field(200, ge=1)
    screen_lrs: tuple[Float, ...] = PAPER_GRID
    screen_steps: Int = Field(800, ge=1)
    screen_stop_epoch: Int = Field(3, ge=1)
    screen_min_acc: Float = Field(0.25, ge=0.0, le=1.0)
    threshold_acc: Float = Field(0.40, ge=0.0, le=1.0)
    total_steps: Int = Field(8000, ge=1)
    warmup_fraction: Float = Field(0.05, ge=0.0, le=1.0)
    hold_steps: Int = Field(0, ge=0)
    full_stop_after: Int = Field(1000, ge=0)
    full_min_acc: Float = Field(0.40, ge=0.0, le=1.0)
    augment: bool | None = None
    device: str = "auto"
    amp: bool = False
    channels_last: bool = True
    cuda_graphs: bool = False
    """Packed runs on CUDA capture their training step as a CUDA graph and replay it
    (`TrainSpec.cuda_graphs`); elsewhere the same step runs eagerly."""
    layout: Layout = "auto"
    """How a candidate's copies train: `sequential`, `packed` or `auto` (packed on CUDA)."""
    pack_copies: Int = Field(64, ge=1)
    """`fitness_many`: at most this many model copies (candidates x screen rates) per packed
    model."""
    eval_batch_size: Int = Field(1000, ge=1)
    seed: Int = 0
    tasks: tuple[TaskRef, ...] = ()
    """The paired multi-task fitness (`optevo.fitness.suite`): each task screens the rates of
    `screen_lrs` scaled by the task's reference rate over 1e-3, runs in full at the best one,
    and is scored against Adam's run of the same seed. Empty: the single-task protocol of the
    fields above (dataset, base, steps, thresholds), which a suite ignores except for
    `screen_lrs`, `seed` and `device`."""
    task_scale: Float = Field(1.0, gt=0, le=1000)
    """Every task's budget (steps, warm-up, hold) times this (smaller runs, tests)."""
    task_screen_fraction: Float = Field(0.2, gt=0, le=1)
    """A task's screen runs train this fraction of its schedule (0.2: to the end of the
    one-cycle warm-up and hold, the peak rate's whole stretch)."""
    fair_lr: bool = False
    """The fair rate rule in the paired suite fitness (for the funnel's upper rungs, as in
    `optevo validate` and `optevo bench`): after the screen's best rate, the half-decades
    around it (x sqrt(10), / sqrt(10)) are screened too and the best of the three is kept;
    when the full run at the chosen rate diverges, the next lower rate that passed the screen
    runs in full instead (`TaskScore.lr_fallback` records it). Off (the default): the screen
    alone, as every preset before it; left out of the stored configuration when off, so a
    configuration written before it reads back equal."""

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, raw: Any) -> Any:
        """Runs stored before the `layout` field named it `strategy`, its packed value
        `grouped`: read them as they meant."""
        if isinstance(raw, dict) and "strategy" in raw:
            raw = dict(raw)
            old = raw.pop("strategy")
            raw.setdefault("layout", "packed" if old == "grouped" else old)
        return raw

    @model_serializer(mode="wrap")
    def _omit_rules_off(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A field of a rule that is off is left out (see `fair_lr`)."""
        data = handler(self)
        if isinstance(data, dict) and not self.fair_lr:
            data.pop("fair_lr", None)
        return data

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        return known(v, DATASETS, "data set")

    @field_validator("screen_lrs")
    @classmethod
    def _positive_lrs(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(not (lr > 0 and math.isfinite(lr)) for lr in v):
            raise ValueError("screen_lrs must be a non-empty list of positive learning rates")
        return v

    @field_validator("tasks")
    @classmethod
    def _distinct_tasks(cls, v: tuple[TaskRef, ...]) -> tuple[TaskRef, ...]:
        seen: set[tuple[str, str]] = set()
        for ref in v:
            if (ref.name, ref.size) in seen:
                raise ValueError(f"task {ref.name} at size {ref.size} is given twice")
            seen.add((ref.name, ref.size))
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v != "auto" and v.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device must be auto, cpu, cuda[:N] or mps, got {v!r}")
        return v

    @model_validator(mode="after")
    def _budgets(self) -> FitnessConfig:
        if self.screen_steps > self.total_steps:
            raise ValueError(
                f"screen_steps ({self.screen_steps}) exceeds total_steps ({self.total_steps})"
            )
        if self.warmup_steps + self.hold_steps > self.total_steps:
            raise ValueError("warm-up plus hold steps exceed total_steps")
        return self

    @property
    def warmup_steps(self) -> int:
        return round(self.warmup_fraction * self.total_steps)

    def augmentation(self) -> Augment:
        default = Augment.default_for(self.dataset)
        if self.augment is None:
            return default
        return Augment(crop=self.augment, flip=self.augment, cutout=self.augment)

    def describe(self) -> str:
        """One line: the paired suite (its tasks and scale) or the single task's data set,
        network and budget."""
        if self.tasks:
            names = ", ".join(t.name for t in self.tasks)
            scale = "" if self.task_scale == 1 else f" at {self.task_scale:g}x their budget"
            fair = ", fair rate rule" if self.fair_lr else ""
            return f"paired suite vs Adam of {len(self.tasks)} tasks ({names}){scale}{fair}"
        return f"{self.dataset}, ConvNet base {self.base}, {self.total_steps} steps"


PAPER = FitnessConfig()
"""The paper's fitness protocol (SPEC 5), the `paper` preset."""


def preset(name: str, /, **overrides: Any) -> FitnessConfig:
    """A named fitness protocol from `optevo/configs/fitness/` ("paper": CIFAR-10, SPEC 5;
    "quick": Fashion-MNIST, ~15 s per evaluation on a 2-core CPU; "tiny": digits, for tests),
    with fields replaced by `overrides`."""
    from optevo.config import build, preset_dict

    return build(FitnessConfig, {**preset_dict("fitness", name), **overrides}, f"preset {name!r}")


def load_config(path: str, overrides: dict[str, Any] | None = None) -> FitnessConfig:
    """A FitnessConfig from a YAML file holding a mapping of fields (an optional `preset`
    first fills in the rest); errors name the file and the field."""
    from optevo.config import load

    return load(FitnessConfig, "fitness", path, overrides)
