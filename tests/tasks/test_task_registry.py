"""The one registry: unique names, sizes and suites that agree, disjoint search and validation
data, the suites' shape (families, budgets), and the bench's tasks in it unchanged."""

from __future__ import annotations

import pytest

from optevo import data
from optevo.tasks.base import METRIC_DIRECTION, SUITES, Budget, Task, registry
from optevo.tasks.registry import TASKS, get_task, shared_sources, sources, suite
from optevo.tasks.registry import TASKS as BENCH_TASKS
from optevo.tasks.suites import SEARCH_TASKS, SUITE_TASKS, VALIDATION_TASKS

PAPER_TASKS = (
    "fashion-convnet",
    "cifar10-convnet",
    "cifar10-effnetv2s",
    "cifar100-effnetv2s",
    "tinyimagenet-resnet9",
    "flowers102-finetune",
    "cars196-finetune",
    "caltech101-finetune",
    "ptb-awdlstm",
)

# Each validation task's budget against the search task of the same kind: 3-10x its steps.
COUNTERPARTS = {
    "shapes-resnet": "fashion-quick",
    "docs-gru": "stdlib-lstm",
    "docs-transformer": "sort-transformer",
    "cancer-logreg": "heavy-tailed-logreg",
    "ratings-mf": "teacher-mlp",
}


def test_one_registry_for_the_bench_and_the_suites() -> None:
    assert TASKS is BENCH_TASKS
    assert list(TASKS) == [*PAPER_TASKS, *(t.name for t in SUITE_TASKS)]
    assert all(name == task.name for name, task in TASKS.items())
    assert [t.name for t in suite("bench")] == list(PAPER_TASKS)
    assert suite("search") == list(SEARCH_TASKS)
    assert suite("validate") == list(VALIDATION_TASKS)
    with pytest.raises(KeyError, match="unknown suite 'nope'"):
        suite("nope")


def test_a_name_given_twice_is_refused() -> None:
    task = TASKS["teacher-mlp"]
    with pytest.raises(ValueError, match="two tasks are named 'teacher-mlp'"):
        registry([task, task])


@pytest.mark.parametrize("task", TASKS.values(), ids=list(TASKS))
def test_every_task_has_the_sizes_it_claims(task: Task) -> None:
    assert task.suites and set(task.suites) <= set(SUITES)
    for name in task.suites:
        budget = task.size(name)
        assert budget.warmup_steps + budget.hold_steps <= budget.total_steps
    assert task.budget in task.sizes.values()
    assert task.direction == METRIC_DIRECTION[task.metric]
    assert task.family and task.source and task.reference_lr > 0
    assert set(task.seconds) <= set(task.sizes)
    missing = next(s for s in (*SUITES, "x") if s not in task.sizes)
    with pytest.raises(KeyError, match="has no"):
        task.size(missing)


def test_the_bench_tasks_keep_their_budgets() -> None:
    assert TASKS["fashion-convnet"].budget == Budget.proportional(3_000, 64)
    assert TASKS["ptb-awdlstm"].budget == Budget.proportional(99_600, 80)
    assert TASKS["ptb-awdlstm"].higher_is_better is False
    for name in PAPER_TASKS:
        assert TASKS[name].suites == ("bench",)


def test_a_task_checks_its_sizes() -> None:
    good = TASKS["teacher-mlp"]
    with pytest.raises(ValueError, match="unknown sizes"):
        Task("x", "x", "mse", good.budget, "", good.build, sizes={"huge": good.budget})
    other = Budget.proportional(7, 1)
    with pytest.raises(ValueError, match="none of its sizes"):
        Task("x", "x", "mse", other, "", good.build, sizes={"search": good.budget})


def test_the_search_suite() -> None:
    tasks = suite("search")
    assert len(tasks) >= 6
    families = {t.family for t in tasks}
    assert len(families) == len(tasks)  # six different families
    assert {"convnet", "mlp", "lstm", "transformer", "convex", "autoencoder"} <= families
    assert get_task("fashion-quick").source == "fashion-mnist"


def test_the_validation_suite() -> None:
    tasks = suite("validate")
    assert len(tasks) >= 4
    search_families = {t.family for t in suite("search")}
    assert {"resnet", "embedding"} <= {t.family for t in tasks} - search_families
    for name, counterpart in COUNTERPARTS.items():
        ratio = (
            get_task(name).size("validate").total_steps
            / get_task(counterpart).size("search").total_steps
        )
        assert 3 <= ratio <= 10, (name, ratio)
    assert set(COUNTERPARTS) == {t.name for t in tasks}


def test_search_and_validation_data_are_disjoint() -> None:
    assert shared_sources("search", "validate") == set()
    search, validate = sources("search"), sources("validate")
    assert not set(search) & set(validate)
    # Nor does validation read any data set a fitness preset can select on (data.NAMES).
    assert not {s.rpartition(":")[2] for s in validate} & set(data.NAMES)
    assert {t.name for t in suite("validate") if t.source == "python:pydoc-topics"} == {
        "docs-gru",
        "docs-transformer",
    }
