"""`optevo.discover` (this module: `optevo.discovery`): search for an optimizer on your own
task from Python, as the CLI does.

    import optevo
    found = optevo.discover("my_tasks.py:fashion_cnn", preset="tiny", run_dir="runs/mine")
    found.best                       # the leaderboard's genomes other than the baselines
    Optimizer = found.optimizer()    # a torch.optim.Optimizer class: Optimizer(params, lr=...)
    found.export("found_opt.py")     # one standalone Python file (needs only torch)
    found.report("runs/mine/report") # the run's HTML and Markdown report
    found.validate(seeds=5)          # the best genome beside Adam, AdamW and Lion on the task

`tasks`: a registry task, your own task's reference (`FILE.py:NAME`, `package.module:NAME`;
see `optevo.tasks.user`), a `Task` object made in this process with
`optevo.tasks.user.task`, or a list of them. A `Task` object cannot be imported by worker
processes: a run given one evaluates in this process (the serial executor); give a reference
to use the preset's workers. The run is stored in `run_dir` as the CLI's is: calling
`discover` again with the same `run_dir` resumes it (Ctrl-C keeps what was evaluated), and
the same preset, tasks and seed give the same result as `optevo search --preset P --task T
--seed S`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optevo.search.api import RunSummary, Standing, read_summary, resume_search, start_search
from optevo.search.config import RunConfig, run_preset
from optevo.search.runner import Event
from optevo.search.store import RunStore
from optevo.space.genome import Genome
from optevo.tasks.base import Task
from optevo.tasks.registry import TASK_NAMES, TASKS, register

TaskLike = str | Task


def _task_names(tasks: TaskLike | Sequence[TaskLike]) -> tuple[list[str], bool]:
    """The tasks' registry names, and whether one is a `Task` object (in-process only)."""
    items: Sequence[TaskLike] = [tasks] if isinstance(tasks, (str, Task)) else list(tasks)
    if not items:
        raise ValueError("discover: give at least one task")
    names, objects = [], False
    for item in items:
        if isinstance(item, Task):
            if item.name in TASK_NAMES:
                raise ValueError(f"discover: task {item.name!r} is a shipped task's name")
            if TASKS.get(item.name) not in (None, item):
                TASKS.pop(item.name)  # a notebook redefined it: the new one is meant
            if item.name not in TASKS:
                register(item)
            names.append(item.name)
            objects = True
        elif isinstance(item, str):
            names.append(item)
        else:
            raise TypeError(
                f"discover: a task is a name, a reference (FILE.py:NAME) or a Task, not "
                f"{type(item).__name__}"
            )
    return names, objects


class _Progress:
    """A progress bar over the run's optimizer steps or evaluations (rich: a terminal or a
    notebook)."""

    def __init__(self, config: RunConfig, enabled: bool) -> None:
        from optevo.search.api import planned_evaluations

        self.enabled = enabled
        self.steps = config.budget_steps
        self.total = config.budget_steps or planned_evaluations(config)
        self.done = 0
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
            )
            self._bar.start()
            what = "optimizer steps" if self.steps else "evaluations"
            self._id = self._bar.add_task(f"discover ({what})", total=self.total)
        return self

    def __call__(self, event: Event) -> None:
        if self._bar is None:
            return
        self.done = min(self.total, event.steps) if self.steps else self.done + 1
        self._bar.update(self._id, completed=self.done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@dataclass
class Discovery:
    """What `discover` found: the run's summary and ways to use its best genome."""

    run_dir: Path
    summary: RunSummary
    tasks: tuple[str, ...]
    seconds: float = 0.0
    _baselines: frozenset[str] = field(default_factory=frozenset, repr=False)

    @property
    def best(self) -> list[Standing]:
        """The final stage's standings (else the leaderboard's) other than the baselines,
        best first."""
        rows = self.summary.final or self.summary.leaderboard
        return [r for r in rows if r.evaluation.request.name not in self._baselines]

    @property
    def genome(self) -> Genome:
        """The best genome found (ValueError when the run found none)."""
        if not self.best:
            raise ValueError(f"{self.run_dir}: the run has no genome with a fitness yet")
        return self.best[0].evaluation.genome

    @property
    def schedule(self) -> str:
        """The best genome's learning-rate schedule (`one_cycle` or one of LR1-LR9)."""
        return self.best[0].evaluation.request.schedule

    def optimizer(self) -> type:
        """A `torch.optim.Optimizer` class stepping the best genome under its schedule:
        `Optimizer(params, lr=1e-3, total_steps=T, warmup_steps=0, hold_steps=0)`."""
        from optevo.optim.evolved import EvolvedOptimizer

        genome, schedule = self.genome, self.schedule

        class Found(EvolvedOptimizer):
            __doc__ = f"The optimizer `discover` found: u = {genome.equation()}."

            def __init__(
                self,
                params: Any,
                lr: float = 1e-3,
                total_steps: int = 10_000,
                warmup_steps: int = 0,
                hold_steps: int = 0,
                **kwargs: Any,
            ) -> None:
                super().__init__(
                    params,
                    genome,
                    lr,
                    total_steps,
                    warmup_steps,
                    hold_steps,
                    schedule=schedule,
                    **kwargs,
                )

        Found.__name__ = Found.__qualname__ = "Found"
        return Found

    def export(self, path: str | Path) -> Path:
        """Write the best genome as one standalone Python file (a torch optimizer that needs
        only torch)."""
        from optevo.export import python_source

        out = Path(path)
        out.write_text(python_source(self.genome, schedule=self.schedule), encoding="utf-8")
        return out

    def report(self, out: str | Path | None = None) -> Path:
        """Write the run's report (`index.html`, `report.md`); returns the HTML file."""
        from optevo.report.page import write_report

        return write_report(self.run_dir, out).html

    def validate(
        self,
        seeds: int = 5,
        tasks: Sequence[str] | None = None,
        out: str | Path | None = None,
        scale: float = 1.0,
        baselines: bool = True,
    ) -> dict[str, Any]:
        """The best genome beside Adam, AdamW and Lion (with `baselines`) on `tasks` (default:
        the tasks it was found on, at their `validate` size), `seeds` seeds each, by
        `optevo validate`'s protocol; returns its summary (also written to `out`, default
        RUN/validate)."""
        import json

        from optevo.optim.spec import OptimizerSpec
        from optevo.optim.spec import baselines as baseline_specs
        from optevo.validate.run import ValidateConfig, run_validate

        spec = OptimizerSpec("found", self.genome, self.schedule)
        rows = (spec, *(baseline_specs() if baselines else ()))
        config = ValidateConfig(
            rows, tuple(tasks or self.tasks), suite="validate", seeds=seeds, scale=scale
        )
        target = Path(out) if out is not None else self.run_dir / "validate"
        run_validate(config, target)
        result: dict[str, Any] = json.loads((target / "summary.json").read_text())
        return result


def discover(
    tasks: TaskLike | Sequence[TaskLike],
    preset: str = "main",
    run_dir: str | Path | None = None,
    budget_steps: int | None = None,
    seed: int | None = None,
    progress: bool = True,
    **overrides: Any,
) -> Discovery:
    """Search for an optimizer on `tasks` with `preset`'s strategy, space and funnel, on the
    paired fitness against Adam on those tasks (see the module). `budget_steps` caps the
    optimizer steps the search trains; `overrides` replace fields of the preset as
    `--set` does (`{"strategy.population": 4}`). A `run_dir` that holds a run resumes it
    (its stored configuration: `preset`, `budget_steps`, `seed` and `overrides` must be left
    as they were)."""
    names, in_process = _task_names(tasks)
    t0 = time.perf_counter()
    fields: dict[str, Any] = dict(overrides)
    if budget_steps is not None:
        fields["budget_steps"] = budget_steps
    if seed is not None:
        fields["seed"] = seed
    if in_process:
        fields["executor.kind"] = "serial"
    config = run_preset(preset, **fields).with_tasks(names)
    target = Path(run_dir) if run_dir is not None else Path("runs") / f"discover-{time.time():.0f}"
    resume = (target / "run.sqlite").exists()
    with _Progress(config, progress) as bar:
        if resume:  # the stored configuration runs (see `resume_search`)
            resume_search(RunStore.open(target), bar)
        else:
            start_search(config, target, bar)
    summary = read_summary(target)
    baselines = frozenset(summary.config.final.baselines)
    return Discovery(target, summary, tuple(names), time.perf_counter() - t0, baselines)


__all__ = ["Discovery", "discover"]
