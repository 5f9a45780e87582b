"""What a training run and a fitness evaluation produce, and their strict-JSON form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["ok", "failed_screen", "failed_threshold", "diverged", "error"]

STATUSES: tuple[str, ...] = ("ok", "failed_screen", "failed_threshold", "diverged", "error")

ERROR_STREAK = 16
"""Consecutive evaluations failing with one same error message that stop a search (and a
simplification or ablation): a problem of the configuration, not of the genomes."""

TASK_STATUSES: tuple[str, ...] = ("ok", "failed_screen", "diverged", "error")
"""A suite task's outcome: its full run finished, no screen rate beat the trivial score, the
full run diverged, or the candidate's runs raised."""


@dataclass
class RunResult:
    """The curves and outcome of one copy. `status`: "ok" (ran to the end), "stopped" (a stop
    rule fired) or "diverged" (non-finite loss)."""

    lr: float
    seed: int
    status: str = "ok"
    steps: int = 0
    train_acc: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def final_train_acc(self) -> float:
        return self.train_acc[-1] if self.train_acc else 0.0

    @property
    def best_val_acc(self) -> float | None:
        finite = [a for a in self.val_acc if math.isfinite(a)]
        return max(finite) if finite else None

    @property
    def active(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "seed": self.seed,
            "status": self.status,
            "steps": self.steps,
            "train_acc": self.train_acc,
            "train_loss": self.train_loss,
            "val_acc": self.val_acc,
            "val_loss": self.val_loss,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        return cls(
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


@dataclass
class TaskScore:
    """One task of a suite fitness (`optevo.fitness.suite`).

    `score`: the candidate's metric on the task's validation split (the trivial score when it
    failed the screen or diverged; None after an error). `adam`: Adam's paired reference (same
    seed, initial weights and batch order, at Adam's own best rate `adam_lr`). `trivial`: the
    trivial predictor's score. `d`: the normalized difference the suite averages, in [-1, 1]
    (0 = Adam's score, -1 = the trivial score or worse). `lr`: the candidate's best screen
    rate; `screen`: its metric at each screen rate (None: diverged); `seconds`: the
    candidate's runs on the task (Adam's reference, when this evaluation computed it, counts
    in the result's `seconds` only). `lr_fallback`: with the fair rate rule, the rates whose
    full run diverged before `lr` (empty: the first full run finished; written only when not
    empty)."""

    task: str
    size: str
    weight: float
    status: str
    score: float | None
    adam: float
    adam_lr: float
    trivial: float
    d: float
    lr: float | None = None
    screen: dict[float, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    steps: int = 0
    """Optimizer steps the candidate trained on the task (screen and full run)."""
    lr_fallback: tuple[float, ...] = ()
    screen_stopped: tuple[float, ...] = ()
    """The early-stopped screen: the rates stopped as hopeless (written only when not
    empty)."""

    def to_dict(self) -> dict[str, Any]:
        fallback = {"lr_fallback": list(self.lr_fallback)} if self.lr_fallback else {}
        if self.screen_stopped:
            fallback["screen_stopped"] = list(self.screen_stopped)
        return {
            "task": self.task,
            "size": self.size,
            "weight": self.weight,
            "status": self.status,
            "score": self.score,
            "adam": self.adam,
            "adam_lr": self.adam_lr,
            "trivial": self.trivial,
            "d": self.d,
            "lr": self.lr,
            "screen": {repr(k): v for k, v in self.screen.items()},
            "seconds": self.seconds,
            "error": self.error,
            "steps": self.steps,
            **fallback,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskScore:
        status = d["status"]
        if status not in TASK_STATUSES:
            raise ValueError(f"unknown task status {status!r}")
        error = d.get("error")
        return cls(
            task=str(d["task"]),
            size=str(d["size"]),
            weight=float(d["weight"]),
            status=status,
            score=_opt_float(d.get("score")),
            adam=float(d["adam"]),
            adam_lr=float(d["adam_lr"]),
            trivial=float(d["trivial"]),
            d=float(d["d"]),
            lr=_opt_float(d.get("lr")),
            screen={float(k): _opt_float(v) for k, v in (d.get("screen") or {}).items()},
            seconds=float(d.get("seconds") or 0.0),
            error=None if error is None else str(error),
            steps=int(d.get("steps") or 0),
            lr_fallback=tuple(float(x) for x in d.get("lr_fallback") or ()),
            screen_stopped=tuple(float(x) for x in d.get("screen_stopped") or ()),
        )


@dataclass
class FitnessResult:
    """Outcome of one fitness evaluation.

    `fitness`: best validation accuracy of the full run (None when rejected or errored).
    `screen`: the final training accuracy at each screened learning rate.
    `runs`: the curves of every run (screen runs first, the full run last).
    `tasks`: a suite fitness's breakdown, one `TaskScore` per task (empty for the single-task
    protocol; its `fitness` is then the weighted mean of their `d`).
    """

    fitness: float | None
    status: Status
    best_lr: float | None = None
    screen: dict[float, float] = field(default_factory=dict)
    runs: list[RunResult] = field(default_factory=list)
    stopped_early: bool = False
    seconds: float = 0.0
    error: str | None = None
    tasks: list[TaskScore] = field(default_factory=list)

    @classmethod
    def failure(cls, message: str) -> FitnessResult:
        """The result of an evaluation that could not be run (status `error`)."""
        return cls(None, "error", error=message)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fitness": self.fitness,
            "status": self.status,
            "best_lr": self.best_lr,
            "screen": {repr(k): v for k, v in self.screen.items()},
            "stopped_early": self.stopped_early,
            "seconds": self.seconds,
            "error": self.error,
            "runs": [r.to_dict() for r in self.runs],
        }
        if self.tasks:  # only a suite fitness has the key: single-task records stay as they were
            out["tasks"] = [t.to_dict() for t in self.tasks]
        return out

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
            runs=[RunResult.from_dict(r) for r in d.get("runs") or []],
            stopped_early=bool(d.get("stopped_early", False)),
            seconds=float(d.get("seconds") or 0.0),
            error=d.get("error"),
            tasks=[TaskScore.from_dict(t) for t in d.get("tasks") or []],
        )

    @property
    def steps(self) -> int:
        """Optimizer steps this evaluation trained: every run's (screen and full), or every
        task's for a suite fitness (Adam's shared references not counted). What a search's
        budget is counted in (`benchmarks/strategies.py`)."""
        return sum(r.steps for r in self.runs) + sum(t.steps for t in self.tasks)

    @property
    def best_screen_acc(self) -> float | None:
        """The best final training accuracy of the screen (None without a screen)."""
        finite = [v for v in self.screen.values() if not math.isnan(v)]
        return max(finite) if finite else None


def _opt_float(x: Any) -> float | None:
    return None if x is None else float(x)


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)
