"""The transfer protocol that `optevo bench` and `optevo validate` share (one layer above the
tasks, below the fitness): the learning-rate test, the seeded final runs with the fair rate
rule, the results store, the summary and table helpers, and the paired verdict.

    from optevo.transfer import ResultStore, TaskRuns, compare, default_grid
    runs = TaskRuns(task, budget, ResultStore("runs/x"), lambda: task.build(options, budget))
    outcome = runs.optimizer(spec, default_grid(spec), seeds=5)      # test, finals, fallbacks
    compare({0: 0.91, 1: 0.92}, {0: 0.90, 1: 0.90}, higher_is_better=True).verdict

- `optevo.transfer.lrtest`: `PAPER_GRID` (the one copy of the paper's grid), `lr_test`,
  `pick_best`, `norm_lr`, the kinds' starting grids (`default_grid`).
- `optevo.transfer.protocol`: `TaskRuns` (test, finals, fallback), `Outcome`, `Fallback`,
  `TransferEvent`.
- `optevo.transfer.store`: `ResultStore`, `RunKey`, `RunRecord` (`runs.jsonl`).
- `optevo.transfer.table`: `summarize`, the bench's Markdown / CSV table.
- `optevo.transfer.verdict`: `compare` (the paired t-test), `equivalent` (TOST),
  `mean_ranks`, `tally`.
"""

from optevo.transfer.lrtest import (
    ADAM_GRID,
    LION_GRID,
    PAPER_GRID,
    LrTestResult,
    default_grid,
    lr_test,
    norm_lr,
    pick_best,
)
from optevo.transfer.protocol import (
    MAX_TOTAL_STEPS,
    Fallback,
    Outcome,
    TaskRuns,
    TransferEvent,
    lr_test_steps,
    run_key,
    train,
)
from optevo.transfer.store import ResultStore, RunKey, RunRecord
from optevo.transfer.table import Summary, summarize
from optevo.transfer.verdict import (
    ALPHA,
    Comparison,
    Equivalence,
    Verdict,
    compare,
    equivalence_test,
    equivalent,
    mean_ranks,
    paired_test,
    tally,
)

__all__ = [
    "ADAM_GRID",
    "ALPHA",
    "LION_GRID",
    "MAX_TOTAL_STEPS",
    "PAPER_GRID",
    "Comparison",
    "Equivalence",
    "Fallback",
    "LrTestResult",
    "Outcome",
    "ResultStore",
    "RunKey",
    "RunRecord",
    "Summary",
    "TaskRuns",
    "TransferEvent",
    "Verdict",
    "compare",
    "default_grid",
    "equivalence_test",
    "equivalent",
    "lr_test",
    "lr_test_steps",
    "mean_ranks",
    "norm_lr",
    "paired_test",
    "pick_best",
    "run_key",
    "summarize",
    "tally",
    "train",
]
