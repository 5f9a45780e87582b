"""The early-stopped screen against the full screen (issue 26, item 2): does stopping hopeless
rates change what the suite fitness chooses, and what does it save?

For each genome (the named optimizers and `--random` random genomes of the paper's space,
seed 0), the suite fitness (preset `suite` at `--scale`, seed 0) is computed twice in this
process: with the full screen and with `screen_rule: early-stop`. Per task: whether the chosen
rate agrees, the two fitness contributions, and the optimizer steps each trained. Summary:
the share of (genome, task) pairs whose rate agrees, the largest and median |difference| of
the fitness, and the ratio of steps (early / full).

    python benchmarks/early_stop_screen.py --out docs/results/early-stop-screen/summary.json
    python benchmarks/early_stop_screen.py --named Adam,LR6 --random 1 --scale 0.05 \
        --out /tmp/smoke.json

Seconds are not compared here (one process, both rules interleaved); steps are the measure of
cost the search's budget counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from optevo import library
from optevo.fitness import fitness, preset
from optevo.search.candidates import random_genome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--random", type=int, default=50, help="random genomes")
    parser.add_argument("--named", default="", help="only these named optimizers (comma list)")
    parser.add_argument("--scale", type=float, default=0.5, help="task_scale of the suite")
    parser.add_argument("--margin", type=float, default=0.5, help="early_stop_margin")
    parser.add_argument("--tasks", default="", help="only these suite tasks (comma list)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    names = [n for n in args.named.split(",") if n] or list(library.names())
    subjects: list[tuple[str, Any]] = [(n, n) for n in names]
    subjects += [(f"random-{i}", random_genome(rng)) for i in range(args.random)]
    only = {"tasks": [t for t in args.tasks.split(",") if t]} if args.tasks else {}
    full = preset("suite", task_scale=args.scale, device="cpu", **only)
    early = preset(
        "suite", task_scale=args.scale, device="cpu", screen_rule="early-stop",
        early_stop_margin=args.margin, **only,
    )  # fmt: skip
    rows = []
    t0 = time.perf_counter()
    for label, genome in subjects:
        a, b = fitness(genome, full), fitness(genome, early)
        for result in (a, b):
            if result.error and not result.tasks:
                raise SystemExit(f"{label}: {result.error.splitlines()[0]}")
        for ta, tb in zip(a.tasks, b.tasks, strict=True):
            rows.append(
                {
                    "genome": label,
                    "task": ta.task,
                    "lr_full": ta.lr,
                    "lr_early": tb.lr,
                    "agree": ta.lr == tb.lr,
                    "d_full": ta.d,
                    "d_early": tb.d,
                    "steps_full": ta.steps,
                    "steps_early": tb.steps,
                    "stopped": list(tb.screen_stopped),
                }
            )
        print(f"{label:12s} fitness full {a.fitness} early {b.fitness}", flush=True)
    diffs = [abs(r["d_full"] - r["d_early"]) for r in rows]
    summary = {
        "genomes": len(subjects),
        "pairs": len(rows),
        "rate_agreement": sum(r["agree"] for r in rows) / len(rows),
        "d_abs_diff_max": max(diffs),
        "d_abs_diff_median": statistics.median(diffs),
        "steps_ratio": sum(r["steps_early"] for r in rows) / sum(r["steps_full"] for r in rows),
        "named_rate_agreement": sum(
            r["agree"] for r in rows if not r["genome"].startswith("random-")
        ) / max(1, sum(not r["genome"].startswith("random-") for r in rows)),
        "scale": args.scale,
        "margin": args.margin,
        "seconds": time.perf_counter() - t0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
