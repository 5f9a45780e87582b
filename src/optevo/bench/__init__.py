"""Transfer benchmarks (SPEC 7.5): the paper's tasks, its learning-rate test, seeded runs, and
tables in the layout of its Tables 11 and 13.

    from optevo.bench import BenchConfig, named, run_bench
    run_bench(BenchConfig("fashion-convnet", named(["Adam", "Opt6"]), scale=0.1), "runs/bench")
"""

from optevo.bench.lrtest import PAPER_GRID, LrTestResult, lr_test
from optevo.bench.optimizers import OptimizerSpec, from_run, named
from optevo.bench.runner import BenchConfig, BenchEvent, chosen_lrs, run_bench, write_tables
from optevo.bench.table import Summary, summarize
from optevo.bench.tasks import TASK_NAMES, TASKS, Budget, Task, TaskOptions, get_task

__all__ = [
    "PAPER_GRID",
    "TASKS",
    "TASK_NAMES",
    "BenchConfig",
    "BenchEvent",
    "Budget",
    "LrTestResult",
    "OptimizerSpec",
    "Summary",
    "Task",
    "TaskOptions",
    "chosen_lrs",
    "from_run",
    "get_task",
    "lr_test",
    "named",
    "run_bench",
    "summarize",
    "write_tables",
]
