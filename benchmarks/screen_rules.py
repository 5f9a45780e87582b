"""The suite fitness's screen rules against the full screen (issue 26, item 2): does a cheaper
screen change what the fitness chooses, and what does it save?

For each genome (the named optimizers and `--random` random genomes of the paper's space
that pass the integrity check, drawn from seed 0), the suite fitness (preset `suite` at
`--scale`, seed 0; `--fair` the funnel's upper-rung rate rule) is computed with the full
screen and with each rule of `--rules`, in this process, one after the other. Per task: the
chosen rate under each rule, the task's d, the optimizer steps trained and the seconds.
Rows go to `OUT/rows-PART.jsonl` as each genome finishes (the same command resumes; run
`--part 0/2` and `--part 1/2` side by side on two cores), then `--analyze` writes
`OUT/summary.json`: per rule, the share of (genome, task) pairs whose rate agrees with the
full screen's (all, named only, and where the rule applied: the unpacked tasks), the
paired difference of the suite fitness (mean, 95% t interval at n - 1 degrees of freedom,
and a two-sided equivalence test at `--tolerance`: two one-sided t-tests at level 0.05),
and the ratio of steps (rule / full) per task and for the suite.

    python benchmarks/screen_rules.py --out docs/results/screen-rules --part 0/2
    python benchmarks/screen_rules.py --out docs/results/screen-rules --part 1/2
    python benchmarks/screen_rules.py --out docs/results/screen-rules --analyze
    python benchmarks/screen_rules.py --named Adam,LR6 --random 1 --scale 0.05 \
        --out /tmp/screen-smoke --analyze-after

Steps are the cost the search's budget counts; the seconds here are one process with the
rules interleaved (`benchmarks/candidates_per_hour.py` times them in fresh processes).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats

from optevo import library
from optevo.fitness import fitness, preset
from optevo.fitness.suite import PACKED_TASKS
from optevo.search.candidates import draw_random


def subjects(named: str, random: int) -> list[tuple[str, Any]]:
    names = [n for n in named.split(",") if n] or list(library.names())
    rng = np.random.default_rng(0)
    out: list[tuple[str, Any]] = [(n, n) for n in names]
    return out + [(f"random-{i}", draw_random(rng).genome) for i in range(random)]


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    part, parts = (int(x) for x in args.part.split("/"))
    rows_path = args.out / f"rows-{part}.jsonl"
    args.out.mkdir(parents=True, exist_ok=True)
    done = set()
    if rows_path.exists():
        done = {json.loads(line)["genome"] for line in rows_path.read_text().splitlines()}
    only = {"tasks": [t for t in args.tasks.split(",") if t]} if args.tasks else {}
    rules = ["full", *[r for r in args.rules.split(",") if r and r != "full"]]
    configs = {
        rule: preset(
            "suite",
            task_scale=args.scale,
            device="cpu",
            fair_lr=args.fair,
            screen_rule=rule,
            **only,
        )
        for rule in rules
    }
    for i, (label, genome) in enumerate(subjects(args.named, args.random)):
        if i % parts != part or label in done:
            continue
        results = {}
        for rule, cfg in configs.items():
            t0 = time.perf_counter()
            result = fitness(genome, cfg)
            if result.error and not result.tasks:
                raise SystemExit(f"{label}: {result.error.splitlines()[0]}")
            results[rule] = (result, time.perf_counter() - t0)
        row = {
            "genome": label,
            "named": not label.startswith("random-"),
            "fitness": {rule: r.fitness for rule, (r, _) in results.items()},
            "seconds": {rule: s for rule, (_, s) in results.items()},
            "tasks": [
                {
                    "task": scores[0].task,
                    "lr": {rule: s.lr for rule, s in zip(results, scores, strict=True)},
                    "d": {rule: s.d for rule, s in zip(results, scores, strict=True)},
                    "steps": {rule: s.steps for rule, s in zip(results, scores, strict=True)},
                    "status": {rule: s.status for rule, s in zip(results, scores, strict=True)},
                    "stopped": {
                        rule: list(s.screen_stopped)
                        for rule, s in zip(results, scores, strict=True)
                    },
                }
                for scores in zip(*(r.tasks for r, _ in results.values()), strict=True)
            ],
        }
        with rows_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(
            f"{label:12s} "
            + " ".join(f"{rule} {r.fitness:+.4f} ({s:.0f}s)" for rule, (r, s) in results.items()),
            flush=True,
        )


def equivalence(diffs: list[float], tolerance: float) -> dict[str, Any]:
    """Mean paired difference, its 95% t interval at n - 1 df, and TOST at `tolerance`."""
    n = len(diffs)
    mean = statistics.fmean(diffs)
    sd = statistics.stdev(diffs) if n > 1 else math.nan
    se = sd / math.sqrt(n) if n > 1 else math.nan
    if n < 2 or se == 0:
        same = all(abs(d) < tolerance for d in diffs)
        return {"n": n, "mean": mean, "ci95": [mean, mean], "tost_p": 0.0 if same else 1.0}
    half = stats.t.ppf(0.975, n - 1) * se
    p_low = 1 - stats.t.cdf((mean + tolerance) / se, n - 1)  # H0: mean <= -tolerance
    p_high = stats.t.cdf((mean - tolerance) / se, n - 1)  # H0: mean >= +tolerance
    return {
        "n": n,
        "mean": mean,
        "ci95": [mean - half, mean + half],
        "tost_p": max(p_low, p_high),
        "equivalent_at_0.05": bool(max(p_low, p_high) < 0.05),
        "tolerance": tolerance,
    }


def analyze(out: Path, tolerance: float) -> dict[str, Any]:
    rows = [
        json.loads(line) for path in sorted(out.glob("rows-*.jsonl"))
        for line in path.read_text().splitlines()
    ]  # fmt: skip
    rules = [r for r in rows[0]["fitness"] if r != "full"]
    summary: dict[str, Any] = {"genomes": len(rows), "named": sum(r["named"] for r in rows)}
    for rule in rules:
        pairs = [(row, t) for row in rows for t in row["tasks"]]

        def agree(
            sel: list[tuple[dict[str, Any], dict[str, Any]]], rule: str = rule
        ) -> dict[str, Any]:
            same = sum(t["lr"]["full"] == t["lr"][rule] for _, t in sel)
            return {"pairs": len(sel), "agree": same, "share": same / max(1, len(sel))}

        unpacked = [(r, t) for r, t in pairs if t["task"] not in PACKED_TASKS]
        diffs = [
            row["fitness"][rule] - row["fitness"]["full"]
            for row in rows
            if row["fitness"][rule] is not None and row["fitness"]["full"] is not None
        ]
        per_task: dict[str, Any] = {}
        for name in dict.fromkeys(t["task"] for _, t in pairs):
            sel = [t for _, t in pairs if t["task"] == name]
            per_task[name] = {
                "rate_agreement": sum(t["lr"]["full"] == t["lr"][rule] for t in sel) / len(sel),
                "steps_ratio": sum(t["steps"][rule] for t in sel)
                / max(1, sum(t["steps"]["full"] for t in sel)),
                "d_abs_diff_max": max(abs(t["d"][rule] - t["d"]["full"]) for t in sel),
            }
        summary[rule] = {
            "rate_agreement": agree(pairs),
            "rate_agreement_named": agree([(r, t) for r, t in pairs if r["named"]]),
            "rate_agreement_unpacked": agree(unpacked),
            "fitness_identical": sum(d == 0 for d in diffs),
            "fitness_abs_diff_max": max(abs(d) for d in diffs),
            "fitness_abs_diff_median": statistics.median(abs(d) for d in diffs),
            "fitness_difference": equivalence(diffs, tolerance),
            "steps_ratio": sum(t["steps"][rule] for _, t in pairs)
            / sum(t["steps"]["full"] for _, t in pairs),
            "seconds_ratio_same_process": sum(r["seconds"][rule] for r in rows)
            / sum(r["seconds"]["full"] for r in rows),
            "per_task": per_task,
        }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--random", type=int, default=50, help="random genomes")
    parser.add_argument("--named", default="", help="only these named optimizers (comma list)")
    parser.add_argument("--scale", type=float, default=0.5, help="task_scale of the suite")
    parser.add_argument("--fair", action="store_true", help="the fair rate rule (upper rungs)")
    parser.add_argument("--rules", default="halving", help="rules besides full (comma list)")
    parser.add_argument("--tasks", default="", help="only these suite tasks (comma list)")
    parser.add_argument("--part", default="0/1", help="I/N: every N-th genome from the I-th")
    parser.add_argument("--tolerance", type=float, default=0.02, help="equivalence margin")
    parser.add_argument("--analyze", action="store_true", help="only write summary.json")
    parser.add_argument("--analyze-after", action="store_true", help="run, then analyze")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not args.analyze:
        run(args)
    if args.analyze or args.analyze_after:
        print(json.dumps(analyze(args.out, args.tolerance), indent=1))


if __name__ == "__main__":
    main()
