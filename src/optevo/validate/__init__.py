"""`optevo validate`: whether optimizers transfer, against Adam, AdamW and Lion.

Each optimizer on each task of the validation suite (data the search never reads): the bench's
learning-rate test (a grid extended past an edge winner), final runs at several seeds at the
chosen rate, then per task a table of mean ± std with wins and losses against each baseline
beyond 2 standard errors of the paired (by seed) difference.

    from optevo.bench import named
    from optevo.validate import ValidateConfig, baselines, run_validate
    config = ValidateConfig((*named(["Opt6"]), *baselines()), seeds=3)
    run_validate(config, "runs/validate-opt6")

- `optevo.validate.baselines`: Adam, AdamW, Lion and each kind's starting grid.
- `optevo.validate.compare`: the paired comparison and its verdict.
- `optevo.validate.run`: `ValidateConfig`, `run_validate` (resumable, events for a progress bar).
- `optevo.validate.tables`: `summary.json`, `table.md`, `table.csv`.
"""

from optevo.validate.baselines import BASELINE_NAMES, baseline, baselines, default_grid
from optevo.validate.compare import Comparison, compare
from optevo.validate.run import ValidateConfig, ValidateEvent, run_validate

__all__ = [
    "BASELINE_NAMES",
    "Comparison",
    "ValidateConfig",
    "ValidateEvent",
    "baseline",
    "baselines",
    "compare",
    "default_grid",
    "run_validate",
]
