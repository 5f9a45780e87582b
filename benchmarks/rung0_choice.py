"""Which tasks should rung 0 of the funnel train? (issue 24, item 6)

Rung 0 screens every candidate; the upper rungs train the whole search suite on fresh seeds.
So rung 0 is worth what it says about the upper rungs per second it costs. This script reads
the committed proxy-validity fitness store (54 genomes: the library and drawn genomes, each
task's paired difference d against Adam at seed 0, and the whole suite at seed 1) and the
committed task timings, and ranks every subset of the six search tasks by

    Spearman( mean of the subset's d at seed 0 , whole-suite fitness at seed 1 )

over the 54 genomes, with a bootstrap 95% interval, against its cost (the sum of the tasks'
seconds per run on this CPU). It never reads a validation-suite result: rung 0 is chosen on
the search suite alone (the validation suite is never selected on).

    python benchmarks/rung0_choice.py --out docs/results/rung0
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
FITNESS = ROOT / "docs/results/proxy-validity/fitness.jsonl"
TIMING = ROOT / "docs/results/task-suite-cpu.json"
TASKS = (
    "fashion-quick",
    "teacher-mlp",
    "stdlib-lstm",
    "sort-transformer",
    "heavy-tailed-logreg",
    "manifold-autoencoder",
)


def read() -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Per genome: each task's d at seed 0 and the suite fitness at seed 1."""
    rows: dict[str, dict[str, float]] = {}
    for line in FITNESS.read_text().splitlines():
        rec = json.loads(line)
        mine = rows.setdefault(rec["name"], {})
        if rec["column"] == "suite":
            for task, t in rec["tasks"].items():
                mine[task] = t["d"]
        elif rec["column"] == "suite-s1" and rec["fitness"] is not None:
            mine["target"] = rec["fitness"]
    complete = {n: r for n, r in rows.items() if "target" in r and all(t in r for t in TASKS)}
    return complete, seconds_per_run()


def seconds_per_run() -> dict[str, float]:
    raw = json.loads(TIMING.read_text())
    items = raw["tasks"] if isinstance(raw, dict) and "tasks" in raw else raw
    out = {}
    for item in items:
        name = item.get("task") or item.get("name")
        if name in TASKS:
            out[name] = float(item["run_seconds"])
    return out


def rho(x: np.ndarray, y: np.ndarray) -> float:
    return float(spearmanr(x, y).statistic)


def boot(x: np.ndarray, y: np.ndarray, n: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(n):
        i = rng.integers(len(x), size=len(x))
        if len(set(x[i])) > 2 and len(set(y[i])) > 2:
            vals.append(rho(x[i], y[i]))
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def paired_difference(
    a: np.ndarray, b: np.ndarray, y: np.ndarray, n: int = 2000, seed: int = 0
) -> tuple[float, float, float]:
    """rho(a, y) - rho(b, y) and its paired bootstrap 95% interval (the same resampled
    genomes for both)."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n):
        i = rng.integers(len(y), size=len(y))
        if len(set(y[i])) > 2:
            diffs.append(rho(a[i], y[i]) - rho(b[i], y[i]))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return rho(a, y) - rho(b, y), float(lo), float(hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs/results/rung0")
    args = ap.parse_args()
    rows, secs = read()
    names = sorted(rows)
    named = [i for i, n in enumerate(names) if not n.startswith(("mut", "rand", "drawn"))]
    target = np.array([rows[n]["target"] for n in names])
    results = []
    for k in range(1, len(TASKS) + 1):
        for subset in itertools.combinations(TASKS, k):
            score = np.array([np.mean([rows[n][t] for t in subset]) for n in names])
            r = rho(score, target)
            lo, hi = boot(score, target)
            cost = sum(secs[t] for t in subset)
            results.append(
                {
                    "tasks": list(subset),
                    "spearman": r,
                    "ci95": [lo, hi],
                    "spearman_named": rho(score[named], target[named]),
                    "seconds": cost,
                }
            )
    results.sort(key=lambda r: r["seconds"])
    front, top = [], -math.inf
    for r in results:  # the Pareto front: no cheaper subset predicts better
        if r["spearman"] > top:
            front.append(r)
            top = r["spearman"]
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{len(names)} genomes ({len(named)} named). Pareto front: each row predicts the whole "
        "suite at a held-out seed better than every cheaper subset.",
        "",
        "| tasks | Spearman vs suite (seed 1) | bootstrap 95% | named only | s/run |",
        "|---|---|---|---|---|",
    ]
    for r in front:
        lines.append(
            f"| {', '.join(r['tasks'])} | {r['spearman']:.3f} | {r['ci95'][0]:.2f} to "
            f"{r['ci95'][1]:.2f} | {r['spearman_named']:.3f} | {r['seconds']:.2f} |"
        )
    current = ["teacher-mlp", "heavy-tailed-logreg", "manifold-autoencoder"]
    for r in results:
        if r["tasks"] == current:
            lines.append(
                f"| (the old rung 0) {', '.join(current)} | {r['spearman']:.3f} | "
                f"{r['ci95'][0]:.2f} to {r['ci95'][1]:.2f} | {r['spearman_named']:.3f} | "
                f"{r['seconds']:.2f} |"
            )
    old_score = np.array([np.mean([rows[n][t] for t in current]) for n in names])
    lines += [
        "",
        "Paired bootstrap over genomes (2,000 resamples, seed 0) of each front subset's "
        "Spearman minus the old rung 0's, two-sided 95% interval:",
        "",
        "| tasks | difference | 95% interval |",
        "|---|---|---|",
    ]
    for r in front:
        score = np.array([np.mean([rows[n][t] for t in r["tasks"]]) for n in names])
        diff, lo, hi = paired_difference(score, old_score, target)
        r["vs_old"] = {"diff": diff, "ci95": [lo, hi]}
        lines.append(f"| {', '.join(r['tasks'])} | {diff:+.3f} | {lo:+.3f} to {hi:+.3f} |")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    print(f"{len(names)} genomes")
    print("\n".join(lines))
    assert all(math.isfinite(r["spearman"]) for r in results)


if __name__ == "__main__":
    main()
