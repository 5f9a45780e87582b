"""Simplification on random genomes and the named optimizers (issue 17's measured targets,
issue 27's two-sided rule).

For 20 valid random genomes from a fixed seed and every named optimizer, with the `tiny`
fitness (digits, seconds per evaluation):
- the exact pass alone (no training): nodes removed and seconds per genome;
- the whole simplification (exact pass, then the noise-aware pass on paired seeds 0..K-1,
  at most --max-evals fitness evaluations per genome; an edit is kept when equivalent within
  ± --tolerance by the TOST): size before and after, evaluations;
- the check on fresh seeds (100..100+K-1, never used to select): the simplified genome's
  fitness minus the original's, paired by seed, with its 90% confidence interval;
  "equivalent" when that interval lies inside ± tolerance (the TOST at level 0.05; a genome
  the exact pass alone changed, or left as it was, behaves identically). The old one-sided
  verdict ("within noise": not below -2 standard errors) is kept beside it.
Targets: equivalent for at least 90% of all genomes; the median size of the random genomes
falls.

Every fitness result is kept in a SQLite file (--store) as it finishes: run the script again
to go on after a crash; results go to --out (JSON) and a Markdown table beside it.

    python benchmarks/simplify.py --out docs/results/simplify/simplify.json
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

from optevo import library
from optevo.fitness import preset
from optevo.search.candidates import random_genome
from optevo.simplify import FitnessScorer, ScoreStore, exact_pass, simplify, size
from optevo.space.genome import Genome
from optevo.transfer.verdict import equivalence_test


def paired(
    scorer: FitnessScorer, a: Genome, b: Genome, seeds: list[int], tolerance: float
) -> dict[str, Any]:
    diffs = [scorer.score(b, s) - scorer.score(a, s) for s in seeds]
    mean = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
    tost = equivalence_test(diffs, tolerance)
    ci = tost.ci if tost.ci is not None else (mean, mean)
    return {
        "mean": mean,
        "se": se,
        "ci90": list(ci),
        "equivalent": tost.equivalent,
        "within_noise": mean >= -2 * se,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--random", type=int, default=20, help="random genomes (fixed seed)")
    p.add_argument("--genome-seed", type=int, default=17)
    p.add_argument("--seeds", type=int, default=3, help="paired seeds (selection and check)")
    p.add_argument("--max-evals", type=int, default=60, help="per genome, noise-aware pass")
    p.add_argument("--fitness", default="tiny")
    p.add_argument("--tolerance", type=float, default=0.005, help="the pass's rule")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--store", type=Path, default=Path("runs/bench-simplify/scores.sqlite"))
    p.add_argument("--out", type=Path, default=Path("docs/results/simplify/simplify.json"))
    p.add_argument("--only", default=None, help="comma-separated names (for a quick look)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    config = preset(args.fitness)
    rng = np.random.default_rng(args.genome_seed)
    subjects: list[tuple[str, str, Genome, str]] = [
        (f"random-{i}", "random", random_genome(rng), "one_cycle") for i in range(args.random)
    ]
    for name in library.names():
        entry = library.get(name)
        subjects.append((name, "named", entry.genome, entry.lr_schedule or "one_cycle"))
    if args.only:
        keep = set(args.only.split(","))
        subjects = [s for s in subjects if s[0] in keep]
    store = ScoreStore(args.store)
    select = list(range(args.seeds))
    fresh = list(range(100, 100 + args.seeds))
    rows = []
    t_all = time.perf_counter()
    for label, kind, genome, schedule in subjects:
        scorer = FitnessScorer(config, schedule, store)
        t0 = time.perf_counter()
        exact = exact_pass(genome, config.total_steps)
        exact_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = simplify(
            genome,
            scorer,
            select,
            config.total_steps,
            max_evaluations=args.max_evals,
            tolerance=args.tolerance,
        )
        check = paired(scorer, genome, result.genome, fresh, args.tolerance)
        row = {
            "label": label,
            "kind": kind,
            "schedule": schedule,
            "original": genome.equation(),
            "exact": exact.genome.equation(),
            "simplified": result.genome.equation(),
            "simplified_genome": result.genome.to_dict(),
            "size": size(genome),
            "size_exact": size(exact.genome),
            "size_simplified": size(result.genome),
            "exact_seconds": exact_seconds,
            "evaluations": result.evaluations,
            "budget_spent": result.budget_spent,
            "kept_edits": [s.description for s in result.steps],
            "refused_substitutions": result.refused,
            "fresh_original": [scorer.score(genome, s) for s in fresh],
            "fresh_simplified": [scorer.score(result.genome, s) for s in fresh],
            "fresh_diff_mean": check["mean"],
            "fresh_diff_se": check["se"],
            "fresh_diff_ci90": check["ci90"],
            "equivalent": check["equivalent"],
            "within_noise": check["within_noise"],
            "improved_edits": [s.description for s in result.steps if s.how == "improved"],
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        print(
            f"{label:12s} size {row['size']:2d} -> exact {row['size_exact']:2d} -> "
            f"{row['size_simplified']:2d} ({row['evaluations']:3d} evals, "
            f"{row['seconds']:5.1f} s) fresh diff {check['mean']:+.4f} ± {check['se']:.4f} "
            f"{'equivalent' if check['equivalent'] else 'NOT equivalent'} | {row['simplified']}",
            flush=True,
        )
    random_rows = [r for r in rows if r["kind"] == "random"]
    summary: dict[str, Any] = {
        "fitness": args.fitness,
        "seeds": args.seeds,
        "max_evals": args.max_evals,
        "tolerance": args.tolerance,
        "genomes": len(rows),
        "equivalent": sum(r["equivalent"] for r in rows),
        "equivalent_fraction": sum(r["equivalent"] for r in rows) / max(1, len(rows)),
        "simplified": sum(r["size_simplified"] < r["size"] for r in rows),
        "within_noise_one_sided": sum(r["within_noise"] for r in rows),
        "refused_substitutions_total": sum(len(r["refused_substitutions"]) for r in rows),
        "exact_removed_total": sum(r["size"] - r["size_exact"] for r in rows),
        "exact_seconds_median": statistics.median(r["exact_seconds"] for r in rows),
        "evaluations_median": statistics.median(r["evaluations"] for r in rows),
        "seconds_total": time.perf_counter() - t_all,
    }
    if random_rows:
        before = statistics.median(r["size"] for r in random_rows)
        after = statistics.median(r["size_simplified"] for r in random_rows)
        summary.update(
            random_median_size_before=before,
            random_median_size_after=after,
            random_median_exact=statistics.median(r["size_exact"] for r in random_rows),
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    lines = [
        f"# Simplification ({args.fitness} fitness, {args.seeds} paired seeds, at most "
        f"{args.max_evals} evaluations per genome)",
        "",
        "Made by `python benchmarks/simplify.py --out docs/results/simplify/simplify.json` "
        "(defaults: 20 random genomes from seed 17, every named optimizer, tiny fitness, 3 "
        "paired seeds 0-2, fresh seeds 100-102, tolerance 0.005; one torch thread). The rule "
        "(issue 27): an edit is kept when the edited genome is equivalent to the current one "
        "within ± 0.005 by two one-sided paired t-tests (level 0.05: the 90% interval of the "
        "mean difference inside ± 0.005). A substitution (a subtree replaced by a different, "
        "non-constant operand) is scored only when its values match the subtree's within 1% "
        "on the behaviour hash's fixed stream (`optevo.simplify.probe`). The fresh-seed "
        "column is the simplified genome minus the original on seeds no edit was chosen on, "
        "with its 90% interval; 'not equivalent' "
        "when that interval leaves ± 0.005 (identical genomes: 0).",
        "",
        "| genome | size: original / exact / simplified | evals | fresh-seed change [90% CI] | "
        "simplified equation |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        verdict = "" if r["equivalent"] else " (not equivalent)"
        low, high = r["fresh_diff_ci90"]
        lines.append(
            f"| {r['label']} | {r['size']} / {r['size_exact']} / {r['size_simplified']} | "
            f"{r['evaluations']} | {r['fresh_diff_mean']:+.4f} [{low:+.4f}, {high:+.4f}]"
            f"{verdict} | `{r['simplified']}` |"
        )
    lines += ["", "```", json.dumps(summary, indent=1), "```", ""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
