"""The one registry of tasks, read by suite: `TASKS` is `optevo.bench.TASKS` (the transfer
benchmarks and the search and validation suites' tasks).

    from optevo.tasks.registry import get_task, suite
    for task in suite("search"):
        runner = task.build(TaskOptions(), task.size("search"))
"""

from __future__ import annotations

from optevo.bench.tasks import TASKS, get_task
from optevo.tasks.base import SUITES, Task, in_suite


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


__all__ = ["SUITES", "TASKS", "get_task", "shared_sources", "sources", "suite"]
