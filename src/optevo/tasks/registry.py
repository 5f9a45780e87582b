"""The one registry of tasks, read by suite: `TASKS` holds the bench suite's transfer
benchmarks (`optevo.tasks.bench`) and the search and validation suites' tasks
(`optevo.tasks.suites`).

    from optevo.tasks.registry import get_task, suite
    for task in suite("search"):
        runner = task.build(TaskOptions(), task.size("search"))
"""

from __future__ import annotations

from optevo.tasks.base import SUITES, Task, in_suite, registry
from optevo.tasks.bench import BENCH_TASKS
from optevo.tasks.suites import SUITE_TASKS

TASKS: dict[str, Task] = registry((*BENCH_TASKS, *SUITE_TASKS))
"""Every task, one registry: the transfer benchmarks, then the tensor tasks of the search and
validation suites, then the user's own tasks loaded in this process (`optevo.tasks.user`),
each under its reference (`my_tasks.py:fashion_cnn`)."""

TASK_NAMES: tuple[str, ...] = tuple(TASKS)
"""The shipped tasks' names."""


def register(task: Task) -> None:
    """Add a user's task (`optevo.tasks.user.load_task` does it); a shipped task's name is a
    ValueError."""
    if task.name in TASK_NAMES:
        raise ValueError(f"task {task.name!r} is a shipped task's name")
    TASKS[task.name] = task


def get_task(name: str) -> Task:
    """The task `name`: a shipped one, or a user's reference (`FILE.py:NAME`,
    `package.module:NAME`), loaded on first use; KeyError naming the known ones, or the
    one-line `TaskLoadError` of a reference that cannot be loaded."""
    if name in TASKS:
        return TASKS[name]
    from optevo.tasks import user

    if user.is_reference(name):
        return user.load_task(name)
    raise KeyError(
        f"unknown task {name!r}; known: {', '.join(TASKS)}, or your own as FILE.py:NAME"
    )


def suite(name: str) -> list[Task]:
    """The tasks of suite `name` ("search", "validate" or "bench"), in registry order."""
    return in_suite(TASKS.values(), name)


def sources(name: str) -> dict[str, list[str]]:
    """The data sources suite `name` reads, each with the tasks that read it."""
    found: dict[str, list[str]] = {}
    for task in suite(name):
        found.setdefault(task.source, []).append(task.name)
    return found


def shared_sources(a: str = "search", b: str = "validate") -> set[str]:
    """Data sources read by both suites (the search and validation suites must share none:
    a suite the search selects on cannot tell whether what it found transfers)."""
    return set(sources(a)) & set(sources(b))


__all__ = [
    "SUITES",
    "TASKS",
    "TASK_NAMES",
    "get_task",
    "register",
    "shared_sources",
    "sources",
    "suite",
]
