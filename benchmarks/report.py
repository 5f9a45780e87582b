"""After the search: what elimination bookkeeping and `optevo report` cost.

A particle search (the `tiny` preset's space and sphere, a larger strategy) is run with a
synthetic fitness (a number fixed by each genome's hash: no training), then eliminated with
the paper's tops (50 -> 24 -> 12 -> 6, 3 seeds), then reported. So the figures are the
machinery's own cost, not training:

- elimination: wall time per stored evaluation (store, duplicate hashing, ranking);
- report: wall time of `write_report` and its parts (equations typeset by mathtext, figures).

    python benchmarks/report.py
    python benchmarks/report.py --particles 20 --top 5
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

from optevo.fitness import FitnessResult
from optevo.search.api import start_search
from optevo.search.config import run_preset
from optevo.search.elimination import eliminate
from optevo.search.elimination_config import elimination_protocol
from optevo.search.records import Trial


class HashFitness:
    """An executor that trains nothing: fitness in [0.3, 0.95) from the genome and seed."""

    def __init__(self) -> None:
        self.trials = 0

    def run(self, trials: list[Trial], on_done: Any) -> None:
        for trial in trials:
            self.trials += 1
            digest = hashlib.sha256(f"{trial.genome_json}|{trial.seed}".encode()).digest()
            score = 0.3 + 0.65 * int.from_bytes(digest[:4], "little") / 2**32
            result = FitnessResult(score, "ok", 0.1, {0.1: score}, seconds=0.0).to_dict()
            on_done(trial, {**result, "host": "bench"})

    def close(self) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--particles", type=int, default=12)
    parser.add_argument("--time-steps", type=int, default=3)
    parser.add_argument("--mutations", type=int, default=5)
    parser.add_argument("--top", type=int, default=3, help="genomes drawn in the report")
    args = parser.parse_args()
    cfg = run_preset(
        "tiny",
        **{
            "strategy.particles": args.particles,
            "strategy.time_steps": args.time_steps,
            "strategy.mutations": args.mutations,
            "strategy.init_factor": 2,
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        t0 = time.perf_counter()
        start_search(cfg, run_dir, executor=HashFitness())
        search_s = time.perf_counter() - t0

        elim = elimination_protocol(cfg.fitness, "paper")
        executor = HashFitness()
        t0 = time.perf_counter()
        result = eliminate(run_dir, elim, executor=executor)
        elim_s = time.perf_counter() - t0
        evaluations = sum(len(r.ranking) for r in result.rounds)

        from optevo.report import equations, page, plots

        timings: dict[str, float] = {"equations": 0.0, "figures": 0.0}
        real_eq, real_save = equations.render_latex, plots.save

        def timed_eq(*a: Any, **k: Any) -> bool:
            t = time.perf_counter()
            try:
                return real_eq(*a, **k)
            finally:
                timings["equations"] += time.perf_counter() - t

        def timed_save(*a: Any, **k: Any) -> Path:
            t = time.perf_counter()
            try:
                return real_save(*a, **k)
            finally:
                timings["figures"] += time.perf_counter() - t

        page.render_latex, page.save = timed_eq, timed_save  # type: ignore[assignment]
        files = page.write_report(run_dir, Path(tmp) / "report", top=args.top)
        size = sum(p.stat().st_size for p in files.images) + files.html.stat().st_size

    print("| what | figure |")
    print("|---|---|")
    print(f"| synthetic search (no training) | {search_s:.1f} s |")
    print(
        f"| elimination bookkeeping, paper tops {'/'.join(map(str, elim.tops()))} x 3 seeds | "
        f"{evaluations} evaluations, {executor.trials} trials in {elim_s:.2f} s "
        f"({1000 * elim_s / max(1, evaluations):.1f} ms per evaluation) |"
    )
    print(
        f"| `write_report`, top {args.top} | {files.seconds:.1f} s: equations "
        f"{timings['equations']:.1f} s, figures {timings['figures']:.1f} s; "
        f"{len(files.images)} images, {size / 1e6:.1f} MB |"
    )


if __name__ == "__main__":
    main()
