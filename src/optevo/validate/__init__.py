"""`optevo validate`: whether optimizers transfer, against Adam, AdamW and Lion.

Each optimizer on each task of the validation suite (data the search never reads), by the
transfer protocol (`optevo.transfer`: the learning-rate test with the fair rate rule, final
runs at several seeds), then per task a table of mean ± std with wins and losses against each
baseline by the paired t-test (by seed, n - 1 degrees of freedom, level alpha = 0.05) and the
effect with its confidence interval.

    from optevo.optim.spec import baselines, named
    from optevo.validate import ValidateConfig, run_validate
    config = ValidateConfig((*named(["Opt6"]), *baselines()))
    run_validate(config, "runs/validate-opt6")

- `optevo.validate.run`: `ValidateConfig`, `run_validate` (resumable, events for a progress bar).
- `optevo.validate.tables`: `summary.json`, `table.md`, `table.csv`.

The baselines are `optevo.optim.spec.baselines()`; the verdict `optevo.transfer.verdict`; a
search run's validation stage `optevo.search.validation`.
"""

from optevo.validate.run import DEFAULT_SEEDS, ValidateConfig, run_validate

__all__ = ["DEFAULT_SEEDS", "ValidateConfig", "run_validate"]
