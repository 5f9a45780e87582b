"""Fitness of a genome (SPEC 5): learning-rate screen, rejection thresholds, full run with
early stopping; fitness = best validation accuracy.

    from optevo.evaluate import fitness, preset
    result = fitness("Adam", preset("quick"))
    result.fitness, result.status, result.best_lr
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from optevo import library
from optevo.data import NAMES as DATASETS
from optevo.data import Augment, Dataset, load
from optevo.schedules import SCHEDULE_NAMES
from optevo.space.genome import Genome
from optevo.train import RunResult, StopRule, TrainSpec, resolve_device, train_copies

PRESETS: tuple[str, ...] = ("paper", "quick", "tiny")

Status = Literal["ok", "failed_screen", "failed_threshold", "diverged", "error"]


class FitnessConfig(BaseModel):
    """Every threshold, budget and size of the fitness protocol (SPEC 5). Defaults: the paper."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "cifar10"
    data_root: str | None = None
    val_size: int | None = Field(None, ge=1)
    split_seed: int = 0
    base: int = Field(48, ge=1)
    dropout: float = Field(0.2, ge=0.0, lt=1.0)
    batch_size: int = Field(128, ge=1)
    epoch_steps: int = Field(200, ge=1)
    screen_lrs: tuple[float, ...] = (10.0, 1.0, 0.1, 0.01, 1e-3, 1e-4, 1e-5)
    screen_steps: int = Field(800, ge=1)
    screen_stop_epoch: int = Field(3, ge=1)
    screen_min_acc: float = Field(0.25, ge=0.0, le=1.0)
    threshold_acc: float = Field(0.40, ge=0.0, le=1.0)
    total_steps: int = Field(8000, ge=1)
    warmup_fraction: float = Field(0.05, ge=0.0, le=1.0)
    hold_steps: int = Field(0, ge=0)
    full_stop_after: int = Field(1000, ge=0)
    full_min_acc: float = Field(0.40, ge=0.0, le=1.0)
    augment: bool | None = None
    device: str = "auto"
    amp: bool = False
    channels_last: bool = True
    cuda_graphs: bool = False
    """Packed runs on CUDA capture their training step as a CUDA graph and replay it
    (`TrainSpec.cuda_graphs`); elsewhere the same step runs eagerly."""
    strategy: Literal["auto", "sequential", "grouped"] = "auto"
    pack_copies: int = Field(64, ge=1)
    """`fitness_many`: at most this many model copies (candidates x screen rates) per packed
    model."""
    eval_batch_size: int = Field(1000, ge=1)
    seed: int = 0

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, v: str) -> str:
        if v not in DATASETS:
            raise ValueError(f"unknown data set {v!r}; known: {', '.join(DATASETS)}")
        return v

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


def fitness_preset_dict(name: str) -> dict[str, Any]:
    """The fields of a fitness preset, as written in its YAML file."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    text = resources.files("optevo").joinpath("configs", f"{name}.yaml").read_text()
    return dict(yaml.safe_load(text))


def preset(name: str, **overrides: Any) -> FitnessConfig:
    """A named configuration: "paper" (CIFAR-10, SPEC 5), "quick" (Fashion-MNIST, ~15 s per
    evaluation on a 2-core CPU) or "tiny" (digits, for tests). Overrides replace fields."""
    raw = fitness_preset_dict(name)
    return config_from_dict({**raw, **overrides}, source=f"preset {name!r}")


def load_config(path: str | Path) -> FitnessConfig:
    """A FitnessConfig from a YAML file holding a mapping of fields (an optional `preset`
    first fills in the rest); errors name the file and the field."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a config file")
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(
            f"{path}: a config file holds a mapping of fields (e.g. `base: 8`), "
            f"this one holds {_yaml_kind(raw)}"
        )
    if "preset" in raw:
        base = {str(k): v for k, v in raw.items()}
        name = base.pop("preset")
        if not isinstance(name, str):
            raise ValueError(f"{path}: preset must be a name ({', '.join(PRESETS)})")
        return preset(name, **base)
    return config_from_dict({str(k): v for k, v in raw.items()}, source=str(path))


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__}"


def preflight(config: FitnessConfig, data: Dataset) -> None:
    """Raise ValueError now for a config that would make every evaluation an `error`: a
    device that is not there, or a batch larger than the training split."""
    import torch

    device = resolve_device(config.device)
    kind, _, index = device.partition(":")
    if index and not (index.isascii() and index.isdigit()):
        raise ValueError(f"device {device!r}: the device index must be a number")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: no CUDA device is available here")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here"
            )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r}: no MPS device is available here")
    n = len(data.train[1])
    if config.batch_size > n:
        raise ValueError(
            f"batch_size {config.batch_size} exceeds the {n} training images of {config.dataset}"
        )


def config_from_dict(raw: dict[str, Any], source: str = "config") -> FitnessConfig:
    try:
        return FitnessConfig(**raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(config)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{source}: {problems}") from None


# ----------------------------------------------------------------------------------------------


@dataclass
class FitnessResult:
    """Outcome of one fitness evaluation.

    `fitness`: best validation accuracy of the full run (None when rejected or errored).
    `screen`: the final training accuracy at each screened learning rate.
    `runs`: the curves of every run (screen runs first, the full run last).
    """

    fitness: float | None
    status: Status
    best_lr: float | None = None
    screen: dict[float, float] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "fitness": self.fitness,
            "status": self.status,
            "best_lr": self.best_lr,
            "screen": {repr(k): v for k, v in self.screen.items()},
            "stopped_early": self.stopped_early,
            "seconds": self.seconds,
            "error": self.error,
            "runs": [_run_dict(r) for r in self.runs],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitnessResult:
        """The inverse of `to_dict` (also after a strict-JSON round trip, where non-finite
        numbers were written as null: they read back as NaN in the curves)."""
        status = d["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown fitness status {status!r}")
        return cls(
            fitness=_opt_float(d.get("fitness")),
            status=status,
            best_lr=_opt_float(d.get("best_lr")),
            screen={float(k): _nan(v) for k, v in (d.get("screen") or {}).items()},
            runs=[_run_from_dict(r) for r in d.get("runs") or []],
            stopped_early=bool(d.get("stopped_early", False)),
            seconds=float(d.get("seconds") or 0.0),
            error=d.get("error"),
        )


STATUSES: tuple[str, ...] = ("ok", "failed_screen", "failed_threshold", "diverged", "error")


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def _run_from_dict(d: dict[str, Any]) -> RunResult:
    return RunResult(
        lr=float(d["lr"]),
        seed=int(d["seed"]),
        status=str(d["status"]),
        steps=int(d["steps"]),
        train_acc=[_nan(x) for x in d["train_acc"]],
        train_loss=[_nan(x) for x in d["train_loss"]],
        val_acc=[_nan(x) for x in d["val_acc"]],
        val_loss=[_nan(x) for x in d["val_loss"]],
        seconds=float(d.get("seconds") or 0.0),
    )


def _run_dict(r: RunResult) -> dict[str, Any]:
    return {
        "lr": r.lr,
        "seed": r.seed,
        "status": r.status,
        "steps": r.steps,
        "train_acc": r.train_acc,
        "train_loss": r.train_loss,
        "val_acc": r.val_acc,
        "val_loss": r.val_loss,
        "seconds": r.seconds,
    }


@functools.lru_cache(maxsize=4)
def _dataset(name: str, root: str | None, val_size: int | None, seed: int) -> Dataset:
    return load(name, root, val_size, seed)


def dataset_for(config: FitnessConfig) -> Dataset:
    """The config's data set (loaded once per process and kept in memory)."""
    return _dataset(config.dataset, config.data_root, config.val_size, config.split_seed)


def _resolve(genome: Genome | str, schedule: str | None) -> tuple[Genome, str]:
    if isinstance(genome, str):
        entry = library.get(genome)
        return entry.genome, schedule or entry.lr_schedule or "one_cycle"
    if not isinstance(genome, Genome):
        raise TypeError(f"genome must be a Genome or a named optimizer, got {type(genome)}")
    return genome, schedule or "one_cycle"


def fitness(
    genome: Genome | str,
    config: FitnessConfig,
    schedule: str | None = None,
    data: Dataset | None = None,
) -> FitnessResult:
    """Evaluate a genome (or a named optimizer, with its learning-rate factor) by SPEC 5.

    1. Screen: train at every `screen_lrs` for `screen_steps` of the full run's schedule,
       batched; a run below `screen_min_acc` training accuracy after `screen_stop_epoch`
       epochs stops. No rate reaching `screen_min_acc` -> "failed_screen".
    2. Best screen accuracy below `threshold_acc` -> "failed_threshold".
    3. Full run at the best rate, validated every epoch; from `full_stop_after` steps on, an
       epoch below `full_min_acc` training accuracy stops it. Fitness = best validation
       accuracy. A non-finite loss ends a run ("diverged" if it ends the full run).
    Errors inside the evaluation are caught and returned as status "error".
    """
    t0 = time.perf_counter()
    g, sched = _resolve(genome, schedule)
    if sched not in SCHEDULE_NAMES:
        raise ValueError(f"unknown schedule {sched!r}; known: {SCHEDULE_NAMES}")
    try:
        result = _protocol(g, sched, config, data if data is not None else dataset_for(config))
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # an evaluation error must not stop a search
        result = FitnessResult(
            None, "error", error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        )
    result.seconds = time.perf_counter() - t0
    return result


def _spec(config: FitnessConfig, schedule: str, screen: bool) -> TrainSpec:
    if screen:
        stop = (
            StopRule(
                config.screen_stop_epoch * config.epoch_steps, config.screen_min_acc, once=True
            ),
        )
    else:
        stop = (StopRule(config.full_stop_after, config.full_min_acc),)
    return TrainSpec(
        base=config.base,
        total_steps=config.total_steps,
        max_steps=config.screen_steps if screen else None,
        warmup_steps=config.warmup_steps,
        hold_steps=config.hold_steps,
        schedule=schedule,
        batch_size=config.batch_size,
        epoch_steps=config.epoch_steps,
        validate=not screen,
        stop_rules=stop,
        augment=config.augmentation(),
        dropout=config.dropout,
        seed=config.seed,
        device=resolve_device(config.device),
        channels_last=config.channels_last,
        amp=config.amp,
        eval_batch_size=config.eval_batch_size,
        cuda_graphs=config.cuda_graphs,
    )


def _protocol(genome: Genome, schedule: str, config: FitnessConfig, data: Dataset) -> FitnessResult:
    screen_runs = train_copies(
        genome,
        data,
        _spec(config, schedule, screen=True),
        config.screen_lrs,
        strategy=config.strategy,
    )
    rejected, best_lr = screen_outcome(screen_runs, config)
    if rejected is not None:
        return rejected
    (full,) = train_copies(
        genome, data, _spec(config, schedule, screen=False), [best_lr], strategy="sequential"
    )
    return full_outcome(screen_runs, best_lr, full)


def screen_outcome(
    screen_runs: list[RunResult], config: FitnessConfig
) -> tuple[FitnessResult | None, float]:
    """SPEC 5 steps 1-2 on a genome's screen runs: the rejection (or None) and the best rate."""
    screen = {r.lr: (r.final_train_acc if r.status != "diverged" else 0.0) for r in screen_runs}
    best_lr = max(screen, key=lambda lr: screen[lr])
    best = screen[best_lr]
    if best < config.screen_min_acc:
        return FitnessResult(None, "failed_screen", None, screen, screen_runs), best_lr
    if best < config.threshold_acc:
        return FitnessResult(None, "failed_threshold", best_lr, screen, screen_runs), best_lr
    return None, best_lr


def full_outcome(screen_runs: list[RunResult], best_lr: float, full: RunResult) -> FitnessResult:
    """SPEC 5 step 3: the result of the full run at the best screen rate."""
    screen = {r.lr: (r.final_train_acc if r.status != "diverged" else 0.0) for r in screen_runs}
    runs = [*screen_runs, full]
    if full.status == "diverged":
        return FitnessResult(full.best_val_acc, "diverged", best_lr, screen, runs)
    return FitnessResult(
        full.best_val_acc, "ok", best_lr, screen, runs, stopped_early=full.status == "stopped"
    )
