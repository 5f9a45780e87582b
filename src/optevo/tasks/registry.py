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
validation suites."""

TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(name: str) -> Task:
    """The task `name`; KeyError naming the known ones."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


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
    "shared_sources",
    "sources",
    "suite",
]
