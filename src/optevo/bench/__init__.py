"""Transfer benchmarks (SPEC 7.5): the optimizers of a table on one task of the registry, by
the transfer protocol (`optevo.transfer`: learning-rate test, seeded final runs, results
store), in tables in the layout of the paper's Tables 11 and 13.

    from optevo.bench import BenchConfig, run_bench
    from optevo.optim.spec import named
    run_bench(BenchConfig("fashion-convnet", named(["Adam", "Opt6"]), scale=0.1), "runs/bench")

The tasks are `optevo.tasks.registry.TASKS`; a search run's best genomes are
`optevo.search.named.from_run(run_dir, top)`.
"""

from optevo.bench.runner import BenchConfig, chosen_lrs, run_bench, write_tables

__all__ = ["BenchConfig", "chosen_lrs", "run_bench", "write_tables"]
