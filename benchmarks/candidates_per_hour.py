"""Candidates per core-hour of the `discover` preset's rungs, before and after (issue 26, item 4).

Each arm evaluates the same candidates with the suite fitness of one rung, in a fresh
subprocess with one torch thread (as a search worker does): Adam's references first (once
per process and seed; timed apart), then each candidate in turn. Arms:

- `before`: the code at `--before` (a source tree, e.g. a worktree of an earlier commit),
  the full screen;
- `after`: this tree, the full screen (a chosen rate's screen run continues into its full
  run: the same fitness, fewer steps);
- `halving`: this tree, `screen_rule: halving`;
- `pack`: this tree, the full screen, all candidates at once (`fitness_many`, what an
  executor's `pack` hands a worker): on the packed-screen tasks their full runs train as one
  packed model; the seconds per candidate are the batch's over the number of candidates.

Rungs (`optevo/configs/search/discover.yaml`): rung 0 is the three small tasks at half
budget (their screens packed), rung 1 the whole search suite at full budget with the fair
rate rule. `--scale` multiplies a rung's task_scale (a shorter measurement; the ratios, not
the seconds, are the result). The arms alternate in each of `--repeats` rounds; the median
seconds per candidate gives candidates per core-hour (3600 / seconds: one thread is one core).

    git worktree add /tmp/before 3f9bfa0
    python benchmarks/candidates_per_hour.py --before /tmp/before/src \
        --out docs/results/candidates-per-hour/rungs.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SRC = HERE.parents[1] / "src"
RUNGS: dict[str, dict[str, Any]] = {
    "0": {
        "tasks": ["teacher-mlp", "heavy-tailed-logreg", "manifold-autoencoder"],
        "task_scale": 0.5,
        "fair_lr": False,
    },
    "1": {"task_scale": 1.0, "fair_lr": True},
}


def child(rung: str, rule: str, scale: float, genomes: list[str]) -> dict[str, Any]:
    """One arm's measurement, in this (fresh) process."""
    import torch

    from optevo.fitness import fitness, fitness_many, preset

    torch.set_num_threads(1)
    fields = dict(RUNGS[rung])
    fields["task_scale"] = fields["task_scale"] * scale
    if rule not in ("full", "pack"):
        fields["screen_rule"] = rule
    config = preset("suite", device="cpu", **fields)
    t0 = time.perf_counter()
    adam = fitness("Adam", config)
    if adam.fitness is None:
        raise SystemExit(f"Adam's references failed: {adam.error}")
    ref_seconds = time.perf_counter() - t0
    rows = []
    if rule == "pack":
        t0 = time.perf_counter()
        results = fitness_many(genomes, config)
        per = (time.perf_counter() - t0) / len(genomes)
        rows = [
            {
                "genome": genome,
                "seconds": per,
                "fitness": result.fitness,
                "steps": sum(t.steps for t in result.tasks),
            }
            for genome, result in zip(genomes, results, strict=True)
        ]
        return {"reference_seconds": ref_seconds, "candidates": rows}
    for genome in genomes:
        t0 = time.perf_counter()
        result = fitness(genome, config)
        rows.append(
            {
                "genome": genome,
                "seconds": time.perf_counter() - t0,
                "fitness": result.fitness,
                "steps": sum(t.steps for t in result.tasks),
            }
        )
    return {"reference_seconds": ref_seconds, "candidates": rows}


def measure(src: Path, rung: str, rule: str, scale: float, genomes: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(HERE), "--child", rung, rule, str(scale), ",".join(genomes)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{src} rung {rung} {rule}: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        rung, rule, scale, genomes = sys.argv[2:6]
        print(json.dumps(child(rung, rule, float(scale), genomes.split(","))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--before", type=Path, required=True, help="an earlier src tree")
    parser.add_argument("--genomes", default="Adam,AdamW,Lion,LR6,Opt6,A3")
    parser.add_argument("--rungs", default="0,1")
    parser.add_argument("--scale", type=float, default=1.0, help="times each rung's task_scale")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--arms", default="before,after,halving,pack")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    genomes = args.genomes.split(",")
    arms = {
        "before": (args.before, "full"),
        "after": (SRC, "full"),
        "halving": (SRC, "halving"),
        "pack": (SRC, "pack"),
    }
    arms = {a: v for a, v in arms.items() if a in args.arms.split(",")}
    report: dict[str, Any] = {
        "genomes": genomes,
        "scale": args.scale,
        "repeats": args.repeats,
        "machine": f"{os.cpu_count()} cores, one torch thread per arm",
        "rungs": {},
    }
    for rung in args.rungs.split(","):
        runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
        for r in range(args.repeats):
            order = list(arms) if r % 2 == 0 else list(reversed(arms))
            for arm in order:
                src, rule = arms[arm]
                runs[arm].append(measure(src, rung, rule, args.scale, genomes))
                per = statistics.fmean(c["seconds"] for c in runs[arm][-1]["candidates"])
                print(f"rung {rung} round {r} {arm:8s} {per:7.2f} s per candidate", flush=True)
        summary: dict[str, Any] = {}
        for arm, measured in runs.items():
            per_round = [statistics.fmean(c["seconds"] for c in m["candidates"]) for m in measured]
            seconds = statistics.median(per_round)
            summary[arm] = {
                "seconds_per_candidate_median": seconds,
                "seconds_per_candidate_rounds": per_round,
                "candidates_per_core_hour": 3600 / seconds,
                "steps_per_candidate": statistics.fmean(
                    c["steps"] for c in measured[0]["candidates"]
                ),
                "reference_seconds_median": statistics.median(
                    m["reference_seconds"] for m in measured
                ),
                "fitness": {c["genome"]: c["fitness"] for c in measured[0]["candidates"]},
            }
        for arm in [a for a in arms if a != "before"]:
            summary[arm]["speedup_vs_before"] = (
                summary["before"]["seconds_per_candidate_median"]
                / summary[arm]["seconds_per_candidate_median"]
            )
            summary[arm]["steps_ratio_vs_before"] = (
                summary[arm]["steps_per_candidate"] / summary["before"]["steps_per_candidate"]
            )
        report["rungs"][rung] = summary
        print(json.dumps({rung: summary}, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
