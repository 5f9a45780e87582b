"""The transfer protocol that `optevo bench` and `optevo validate` share: per optimizer on a
task, the learning-rate test, then seeded final runs at the chosen rate, every run stored as
it ends (resumable) and read back instead of trained again.

Per optimizer, in order:

1. The learning-rate test (SPEC 7.5, `optevo.transfer.lrtest`): each rate of the starting grid
   trains the first third of the run's schedule (two thirds for Adam under a discovered
   schedule, LR1-LR9) at seed `lr_seed` and is scored on the validation split; the grid grows
   a decade at a time past an edge winner; fine-tuning tasks also try half and five times the
   winner.
2. With the fair rule (`fair=True`): the test also tries the half-decades around its
   winner (x sqrt(10), / sqrt(10)) and keeps the best of the three.
3. `seeds` full runs (seeds 0..seeds-1) at the chosen rate, scored on the test split. With the
   fair rule the full runs check the rate over the whole schedule: when one diverges (the task
   runner's rule: a run whose status is not "ok", or without a finite metric), the rate moves
   to the next lower rate of the test whose test run did not diverge, and the final runs start
   again there (`Fallback`, recorded in the outcome, in the new runs' `extra` and in the
   tables). The lowest rate left keeps its runs, diverged or not.

The task's data and model are only built when some run is missing (a finished bench or
validation re-renders its tables without touching the data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from optevo.optim.spec import OptimizerSpec
from optevo.tasks.base import Budget, Runner, RunRequest, Task
from optevo.transfer.lrtest import LrTestResult, lr_test, norm_lr
from optevo.transfer.store import ResultStore, RunKey, RunRecord
from optevo.transfer.table import summarize

MAX_TOTAL_STEPS = 10**9
"""The longest run a bench or validation trains (a scale past it is refused)."""

EventKind = Literal["plan", "extend", "start", "done", "skip", "lr", "fallback", "finals"]


@dataclass(frozen=True)
class TransferEvent:
    """What a bench or a validation reports as it goes.

    - "plan": `cost` = the estimated seconds of every planned run (starting grids and seeds);
    - "extend": `cost` seconds of work added (a grid extension, a refinement, a fallback's
      runs) or removed (negative: no final runs after a test in which every rate failed);
    - "start" / "done": a run began / ended (`record`); "skip": a run was found stored;
    - "lr": a learning rate was chosen (`lr`; None when every rate failed; `message`: a note);
    - "fallback": a full run diverged at `lr`; `message` says which rate comes next;
    - "finals": an optimizer's final runs on a task are all there (`message`: mean ± std).

    `cost` of a run: its estimated seconds (the task's seconds per step x its steps; 0 where
    the caller gives no estimate).
    """

    kind: EventKind
    task: str = ""
    optimizer: str = ""
    phase: str = ""
    lr: float | None = None
    seed: int | None = None
    record: RunRecord | None = None
    cost: float = 0.0
    message: str = ""


Emit = Callable[[TransferEvent], None]


@dataclass(frozen=True)
class Fallback:
    """A full run at `lr` (seed `seed`) diverged; the final runs moved to the rate `to`."""

    lr: float
    seed: int
    to: float

    def as_dict(self) -> dict[str, Any]:
        return {"lr": self.lr, "seed": self.seed, "to": self.to}


@dataclass
class Outcome:
    """One optimizer on one task: its learning-rate test, the rate of its final runs (`lr`:
    the test's winner unless a fallback moved it; None when every rate failed), the final runs
    in seed order and the fallbacks on the way."""

    spec: OptimizerSpec
    test: LrTestResult
    lr: float | None = None
    finals: list[RunRecord] = field(default_factory=list)
    fallbacks: tuple[Fallback, ...] = ()

    @property
    def fell_back(self) -> bool:
        """Whether the final runs left the test's winner (a full run diverged there)."""
        return bool(self.fallbacks)

    @property
    def test_lr(self) -> float | None:
        """The rate the learning-rate test chose."""
        return self.test.winner


def lr_test_steps(total_steps: int, spec: OptimizerSpec) -> int:
    """A third of the run (two thirds for Adam under LR1-LR9), at least one step."""
    fraction = 2 / 3 if spec.adam_schedule else 1 / 3
    return max(1, math.ceil(total_steps * fraction))


def run_key(
    task: str, spec: OptimizerSpec, phase: str, lr: float, seed: int, steps: int, total_steps: int
) -> RunKey:
    """The store's key of one run of `spec` on `task` (phase "lr" or "final")."""
    return RunKey(
        task, spec.label, spec.genome_hash, spec.schedule, phase, lr, seed, steps, total_steps
    )


def train(
    runner: Runner,
    spec: OptimizerSpec,
    key: RunKey,
    budget: Budget,
    extra: dict[str, Any] | None = None,
) -> RunRecord:
    """Train the run `key` names (its learning rate, seed and steps of `budget`'s schedule) and
    score it: on the validation split in a learning-rate test, else on the test split. `extra`
    is stored with the record (e.g. `fallback_from`)."""
    split = "val" if key.phase == "lr" else "test"
    outcome = runner.run(RunRequest.of(spec, key.lr, key.seed, budget, key.steps, split))
    return RunRecord(
        key,
        outcome.metric,
        outcome.status,
        outcome.seconds,
        {"trained": outcome.steps, **outcome.extra, **(extra or {})},
    )


def fallback_rates(
    winner: float, tests: dict[float, RunRecord], ordered: Iterable[float] | None = None
) -> list[float]:
    """The rates a fair rule falls back to below `winner`, next lower first: the test's rates
    below it whose test run did not diverge."""
    rates = tests if ordered is None else ordered
    return sorted((lr for lr in rates if lr < winner and not tests[lr].diverged), reverse=True)


@dataclass
class TaskRuns:
    """The runs of one task at one budget: read back from `store`, or trained by the runner
    `build()` returns (built at the first run that is missing; `on_build` is called then,
    before that run: a bench records its settings there).

    `per_step`: the estimated seconds of one step (the events' costs)."""

    task: Task
    budget: Budget
    store: ResultStore
    build: Callable[[], Runner]
    emit: Emit = lambda event: None
    per_step: float = 0.0
    on_build: Callable[[], None] | None = None
    runner: Runner | None = None

    def execute(
        self,
        spec: OptimizerSpec,
        phase: str,
        lr: float,
        seed: int,
        steps: int,
        extra: dict[str, Any] | None = None,
    ) -> RunRecord:
        """The run of `spec` at (phase, lr, seed, steps): from the store, else trained."""
        key = run_key(self.task.name, spec, phase, lr, seed, steps, self.budget.total_steps)
        cost = self.per_step * steps
        event = TransferEvent("skip", self.task.name, spec.label, phase, key.lr, seed, cost=cost)
        found = self.store.get(key)
        if found is not None:
            self.emit(replace(event, record=found))
            return found
        if self.runner is None:
            self.runner = self.build()
            if self.on_build is not None:
                self.on_build()
                found = self.store.get(key)  # stored meanwhile (a bench's lock re-reads)
                if found is not None:
                    self.emit(replace(event, record=found))
                    return found
        self.emit(replace(event, kind="start"))
        record = train(self.runner, spec, key, self.budget, extra)
        self.store.add(record)
        self.emit(replace(event, kind="done", record=record))
        return record

    def optimizer(
        self,
        spec: OptimizerSpec,
        grid: Iterable[float],
        seeds: int,
        lr_seed: int = 0,
        fair: bool = True,
    ) -> Outcome:
        """The learning-rate test of `spec` from `grid`, then its final runs (see the
        module)."""
        grid = tuple(norm_lr(x) for x in grid)
        steps = lr_test_steps(self.budget.total_steps, spec)
        name, label = self.task.name, spec.label
        tests: dict[float, RunRecord] = {}

        def score(lr: float) -> float | None:
            if norm_lr(lr) not in grid:
                added = self.per_step * steps
                self.emit(TransferEvent("extend", name, label, "lr", lr, cost=added))
            record = self.execute(spec, "lr", lr, lr_seed, steps)
            tests[record.key.lr] = record
            return record.metric

        tested = lr_test(
            score, grid, self.task.higher_is_better, self.task.finetune, refine=fair
        )
        note = " (still on the grid's edge)" if tested.on_edge else ""
        self.emit(TransferEvent("lr", name, label, "lr", tested.winner, message=note))
        total = self.budget.total_steps
        if tested.winner is None:
            lost = -self.per_step * total * seeds
            self.emit(TransferEvent("extend", name, label, "final", cost=lost))
            return Outcome(spec, tested)
        rates = [tested.winner]
        if fair:
            rates += fallback_rates(tested.winner, tests)
        fallbacks: list[Fallback] = []
        finals: list[RunRecord] = []
        for i, lr in enumerate(rates):
            last = i == len(rates) - 1
            extra = {"fallback_from": fallbacks[0].lr} if fallbacks else None
            finals = []
            for seed in range(seeds):
                finals.append(self.execute(spec, "final", lr, seed, total, extra))
                if finals[-1].diverged and not last:
                    break
            bad = next((r for r in finals if r.diverged), None)
            if bad is None or last:
                break
            fallbacks.append(Fallback(lr, bad.key.seed, rates[i + 1]))
            self.emit(
                TransferEvent(
                    "fallback",
                    name,
                    label,
                    "final",
                    lr,
                    bad.key.seed,
                    bad,
                    message=f"diverged at seed {bad.key.seed}; next: lr {rates[i + 1]:g}",
                )
            )
            added = self.per_step * total * len(finals)
            self.emit(TransferEvent("extend", name, label, "final", cost=added))
        final_lr = finals[0].key.lr if finals else tested.winner
        s = summarize([r.metric for r in finals])
        text = "-" if s.mean is None else f"{s.mean:.4g}"
        if s.std is not None:
            text += f" ± {s.std:.2g}"
        self.emit(TransferEvent("finals", name, label, "final", final_lr, message=text))
        return Outcome(spec, tested, final_lr, finals, tuple(fallbacks))


__all__ = [
    "MAX_TOTAL_STEPS",
    "Emit",
    "EventKind",
    "Fallback",
    "Outcome",
    "TaskRuns",
    "TransferEvent",
    "fallback_rates",
    "lr_test_steps",
    "run_key",
    "train",
]
