"""The fitness protocol's configuration (SPEC 5): a discriminated union of two types, as the
strategies and executors are. `SingleTaskFitness` is the paper's protocol on one data set; its
defaults are the paper's (the `paper` preset is `SingleTaskFitness()`, `PAPER`), and the
single-task presets (`optevo/configs/fitness/`) and the elimination's paper sizes are stated
relative to it. `SuiteFitness` is the paired multi-task fitness (`optevo.fitness.suite`, the
`suite` preset). A mapping is read as the protocol its `protocol` names, else as a suite when it
names `tasks` (how every configuration stored before the union reads back)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeGuard

from pydantic import (
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
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


class _Shared(StrictModel):
    """What both protocols read: the screen's rates, the seed, the device."""

    screen_lrs: tuple[Float, ...] = PAPER_GRID
    device: str = "auto"
    seed: Int = 0

    @field_validator("screen_lrs")
    @classmethod
    def _positive_lrs(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not v or any(not (lr > 0 and math.isfinite(lr)) for lr in v):
            raise ValueError("screen_lrs must be a non-empty list of positive learning rates")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v != "auto" and v.split(":")[0] not in ("cpu", "cuda", "mps"):
            raise ValueError(f"device must be auto, cpu, cuda[:N] or mps, got {v!r}")
        return v


class SingleTaskFitness(_Shared):
    """The paper's protocol (SPEC 5) on one data set: every threshold, budget and size.
    Defaults: the paper (CIFAR-10, ConvNet base 48, batch 128, a 7-rate screen of 800 steps,
    a full run of 8,000 steps with W = T/20, early stops at 25% / 40%)."""

    protocol: Literal["single"] = "single"
    dataset: str = "cifar10"
    data_root: str | None = None
    val_size: Int | None = Field(None, ge=1)
    split_seed: Int = 0
    base: Int = Field(48, ge=1)
    dropout: Float = Field(0.2, ge=0.0, lt=1.0)
    batch_size: Int = Field(128, ge=1)
    epoch_steps: Int = Field(200, ge=1)
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

    @model_validator(mode="before")
    @classmethod
    def _legacy_names(cls, raw: Any) -> Any:
        """Runs stored before the `layout` field named it `strategy`, its packed value
        `grouped`: read them as they meant. Configurations stored before the protocols were
        two types hold the suite's fields at their defaults (`tasks: []`, ...): dropped."""
        if isinstance(raw, dict):
            raw = dict(raw)
            if "strategy" in raw:
                old = raw.pop("strategy")
                raw.setdefault("layout", "packed" if old == "grouped" else old)
            if not raw.get("tasks", ()):
                for key in SUITE_ONLY:
                    raw.pop(key, None)
        return raw

    @model_serializer(mode="wrap")
    def _no_protocol_key(self, handler: SerializerFunctionWrapHandler) -> Any:
        """The single-task protocol is the default: its stored form names no protocol (so a
        configuration stored before the field reads back equal)."""
        data = handler(self)
        if isinstance(data, dict):
            data.pop("protocol", None)
        return data

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        return known(v, DATASETS, "data set")

    @model_validator(mode="after")
    def _budgets(self) -> SingleTaskFitness:
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

    @property
    def horizon(self) -> int:
        """The longest training run of the protocol, in steps (the full run's)."""
        return self.total_steps

    def augmentation(self) -> Augment:
        default = Augment.default_for(self.dataset)
        if self.augment is None:
            return default
        return Augment(crop=self.augment, flip=self.augment, cutout=self.augment)

    @property
    def label(self) -> str:
        """A few words for a table's title: the data set."""
        return self.dataset

    @property
    def size_label(self) -> str:
        """The network and budget in a few words (elimination rounds)."""
        return f"ConvNet base {self.base}, {self.total_steps} steps"

    def describe(self) -> str:
        """One line: the data set, network and budget."""
        return f"{self.dataset}, ConvNet base {self.base}, {self.total_steps} steps"


class SuiteFitness(_Shared):
    """The paired multi-task fitness (`optevo.fitness.suite`): each task of `tasks` screens
    the rates of `screen_lrs` scaled by the task's reference rate over 1e-3, runs in full at
    the best one, and is scored against Adam's run of the same seed."""

    protocol: Literal["suite"] = "suite"
    tasks: tuple[TaskRef, ...]
    task_scale: Float = Field(1.0, gt=0, le=1000)
    """Every task's budget (steps, warm-up, hold) times this (smaller runs, tests)."""
    task_screen_fraction: Float = Field(0.2, gt=0, le=1)
    """A task's screen runs train this fraction of its schedule (0.2: to the end of the
    one-cycle warm-up and hold, the peak rate's whole stretch)."""
    fair_lr: bool = False
    """The fair rate rule (for the funnel's upper rungs, as in `optevo validate` and
    `optevo bench`): after the screen's best rate, the half-decades around it (x sqrt(10),
    / sqrt(10)) are screened too and the best of the three is kept; when the full run at the
    chosen rate diverges, the next lower rate that passed the screen runs in full instead
    (`TaskScore.lr_fallback` records it). Off (the default): the screen alone, as every preset
    before it; left out of the stored configuration when off, so a configuration written
    before it reads back equal."""

    screen_rule: Literal["full", "early-stop", "halving"] = "full"
    """`full`: every screen rate trains its whole share of the schedule (the rule of every
    preset before it; left out of the stored configuration). `early-stop`: the rates run
    nearest the task's reference rate first, and a rate is stopped at the first checkpoint (a
    quarter, half, three quarters of its screen) where it trails the best rate so far there by
    more than `early_stop_margin` of that rate's gain over the trivial score: hopeless, it is
    not chosen (`TaskScore.screen_stopped`). `halving`: successive halving over the rates
    (`optevo.fitness.suite.halving_screen`): every rate trains to a quarter of its screen,
    the better half goes on to the half, and so on (7 rates: 7, 4, 2, 1 rates train each
    quarter: half the screen's steps); on a task whose runner cannot resume a run, the full
    screen. Packed screens keep the full rule (their rates train together)."""
    early_stop_margin: Float = Field(0.5, gt=0, le=10)
    """How far behind the best rate so far a screen rate may fall at a checkpoint before it
    is stopped, as a fraction of the best rate's final gain over the trivial score."""

    @model_validator(mode="before")
    @classmethod
    def _single_task_fields(cls, raw: Any) -> Any:
        """The single-task protocol's fields mean nothing to a suite: a configuration stored
        before the protocols were two types holds them all, and a preset's `init_fitness`
        overrides (`{base: 2}`) may name them; they are dropped."""
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in SINGLE_ONLY and k != "strategy"}
        return raw

    @model_serializer(mode="wrap")
    def _omit_rules_off(self, handler: SerializerFunctionWrapHandler) -> Any:
        """A field of a rule that is off is left out (see `fair_lr`)."""
        data = handler(self)
        if isinstance(data, dict) and not self.fair_lr:
            data.pop("fair_lr", None)
        if isinstance(data, dict) and self.screen_rule == "full":
            data.pop("screen_rule", None)
            if self.early_stop_margin == 0.5:
                data.pop("early_stop_margin", None)
        return data

    @field_validator("tasks")
    @classmethod
    def _distinct_tasks(cls, v: tuple[TaskRef, ...]) -> tuple[TaskRef, ...]:
        if not v:
            raise ValueError("a suite fitness needs at least one task")
        seen: set[tuple[str, str]] = set()
        for ref in v:
            if (ref.name, ref.size) in seen:
                raise ValueError(f"task {ref.name} at size {ref.size} is given twice")
            seen.add((ref.name, ref.size))
        return v

    @property
    def horizon(self) -> int:
        """The longest training run of the protocol, in steps: the longest task's full run
        at its size, times `task_scale`."""
        from optevo.tasks.registry import get_task

        return max(
            get_task(t.name).size(t.size).scaled(self.task_scale).total_steps for t in self.tasks
        )

    @property
    def label(self) -> str:
        """A few words for a table's title: the suite and its size."""
        return f"suite of {len(self.tasks)} task{'s' if len(self.tasks) > 1 else ''}"

    @property
    def size_label(self) -> str:
        """The budget in a few words (elimination rounds)."""
        return f"suite tasks at {self.task_scale:g}x their budget"

    def describe(self) -> str:
        """One line: the paired suite, its tasks and scale."""
        names = ", ".join(t.name for t in self.tasks)
        scale = "" if self.task_scale == 1 else f" at {self.task_scale:g}x their budget"
        fair = ", fair rate rule" if self.fair_lr else ""
        early = {"early-stop": ", early-stopped screen", "halving": ", halving screen"}.get(
            self.screen_rule, ""
        )
        return f"paired suite vs Adam of {len(self.tasks)} tasks ({names}){scale}{fair}{early}"


_SHARED = frozenset(_Shared.model_fields) | {"protocol"}
SINGLE_ONLY = frozenset(SingleTaskFitness.model_fields) - _SHARED
"""The single-task protocol's own fields (a suite drops them when it reads a mapping)."""
SUITE_ONLY = frozenset(SuiteFitness.model_fields) - _SHARED
"""The suite's own fields (the single-task protocol drops them when they are empty or at
their defaults in a stored configuration)."""


def _protocol_of(raw: Any) -> str:
    """Which protocol a configuration is: its `protocol`, else `suite` when it names tasks
    (how every configuration stored before the field reads)."""
    if isinstance(raw, dict):
        named = raw.get("protocol")
        if named in ("single", "suite"):
            return str(named)
        return "suite" if raw.get("tasks") else "single"
    return str(getattr(raw, "protocol", "single"))


FitnessConfig = Annotated[
    Annotated[SingleTaskFitness, Tag("single")] | Annotated[SuiteFitness, Tag("suite")],
    Discriminator(_protocol_of),
]
"""A fitness protocol (SPEC 5), one of two types: `SingleTaskFitness` (the paper's protocol
on one data set; the default, `PAPER`) or `SuiteFitness` (the paired multi-task fitness), told
apart by `protocol` (`single` or `suite`; a configuration that names `tasks` is a suite)."""

FITNESS_CONFIG: TypeAdapter[SingleTaskFitness | SuiteFitness] = TypeAdapter(FitnessConfig)


def is_suite(config: SingleTaskFitness | SuiteFitness) -> TypeGuard[SuiteFitness]:
    return isinstance(config, SuiteFitness)


def build_fitness(raw: Any, source: str = "fitness") -> SingleTaskFitness | SuiteFitness:
    """A fitness configuration from a mapping; every problem is one ConfigError line naming
    the field (the protocol's tag is not part of the path: `optevo.config.UNION_TAGS`)."""
    from optevo.config import build

    return build(FITNESS_CONFIG, raw, source)


def as_suite(
    config: SingleTaskFitness | SuiteFitness, tasks: tuple[TaskRef, ...]
) -> SuiteFitness:
    """`config` as the paired suite fitness of `tasks`: what both protocols share is kept,
    and a suite's own settings (scale, screen fraction, the fair rule) when it is one."""
    keep = {k: getattr(config, k) for k in _Shared.model_fields}
    if isinstance(config, SuiteFitness):
        keep.update({k: getattr(config, k) for k in SUITE_ONLY if k != "tasks"})
    return SuiteFitness(**keep, tasks=tasks)


PAPER = SingleTaskFitness()
"""The paper's fitness protocol (SPEC 5), the `paper` preset."""


def preset(name: str, /, **overrides: Any) -> SingleTaskFitness | SuiteFitness:
    """A named fitness protocol from `optevo/configs/fitness/` ("paper": CIFAR-10, SPEC 5;
    "quick": Fashion-MNIST, ~15 s per evaluation on a 2-core CPU; "tiny": digits, for tests;
    "suite": the paired multi-task fitness), with fields replaced by `overrides`."""
    from optevo.config import preset_dict

    return build_fitness({**preset_dict("fitness", name), **overrides}, f"preset {name!r}")


def load_config(
    path: str, overrides: dict[str, Any] | None = None
) -> SingleTaskFitness | SuiteFitness:
    """A fitness configuration from a YAML file holding a mapping of fields (an optional
    `preset` first fills in the rest); errors name the file and the field."""
    from optevo.config import apply_overrides, expand_preset, read_yaml

    raw = expand_preset("fitness", read_yaml(path))
    return build_fitness(apply_overrides(raw, overrides or {}), str(path))
