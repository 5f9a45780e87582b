"""Does bf16 autocast change the ranking of candidates? Fitness in fp32 and under bf16 autocast
for the same genomes, and the rank correlation between the two.

The genomes: the named optimizers of the library (SGD, Momentum, Nesterov, RMSProp, Adam,
Opt1-Opt10, A1-A5) and `--random` random valid genomes of the search space (drawn as the
search draws them: acyclic, integrity-checked). Each is evaluated by the fitness protocol of
`--preset` twice, with `amp` off and on, same seed. Printed: the fitness pairs, how many
statuses agree, Spearman's rho and Kendall's tau over the genomes both modes accept, and over
all genomes with rejected ones tied at the bottom (fitness 0).

    python benchmarks/bf16_ranking.py                       # quick preset, on this machine
    python benchmarks/bf16_ranking.py --preset paper        # on a GPU
    python benchmarks/bf16_ranking.py --out bf16.json

On a CPU, bf16 autocast runs the convolutions in bfloat16 through oneDNN: the rounding is
that of the GPU's bf16 (8-bit mantissa inputs, fp32 accumulation), so the ranking effect is
measured here too, though not the speed.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import stats

from optevo import library
from optevo.evaluate import fitness, preset
from optevo.search.candidates import draw_random

NAMED = ("SGD", "Momentum", "Nesterov", "RMSProp", "Adam")
NAMED += tuple(f"Opt{i}" for i in range(1, 11)) + tuple(f"A{i}" for i in range(1, 6))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick", help="fitness preset (quick, paper, tiny)")
    parser.add_argument("--random", type=int, default=10, help="random genomes besides the named")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random genomes")
    parser.add_argument("--limit", type=int, default=None, help="only the first N genomes")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    genomes = [(name, library.genome(name)) for name in NAMED]
    rng = np.random.default_rng(args.seed)
    for i in range(args.random):
        genomes.append((f"random-{i}", draw_random(rng).genome))
    if args.limit is not None:
        genomes = genomes[: args.limit]

    rows = []
    print(f"{len(genomes)} genomes, preset {args.preset!r}: fitness fp32 / bf16")
    for name, genome in genomes:
        row: dict[str, object] = {"name": name, "genome": str(genome)}
        for label, amp in (("fp32", False), ("bf16", True)):
            t0 = time.perf_counter()
            result = fitness(genome, preset(args.preset, amp=amp))
            row[label] = result.fitness
            row[f"{label}_status"] = result.status
            row[f"{label}_seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(
            f"  {name:10s} fp32 {_fmt(row['fp32'])} ({row['fp32_status']}, "
            f"{row['fp32_seconds']:.0f} s)  bf16 {_fmt(row['bf16'])} ({row['bf16_status']}, "
            f"{row['bf16_seconds']:.0f} s)",
            flush=True,
        )

    same_status = sum(r["fp32_status"] == r["bf16_status"] for r in rows)
    both = [r for r in rows if r["fp32"] is not None and r["bf16"] is not None]
    summary: dict[str, object] = {
        "genomes": len(rows),
        "same_status": same_status,
        "accepted_by_both": len(both),
    }
    print(f"statuses agree for {same_status}/{len(rows)} genomes")
    for label, subset in (("accepted by both", both), ("all (rejected = 0)", rows)):
        if len(subset) < 3:
            print(f"{label}: fewer than 3 genomes, no correlation")
            continue
        a = [float(r["fp32"] or 0.0) for r in subset]
        b = [float(r["bf16"] or 0.0) for r in subset]
        rho = float(stats.spearmanr(a, b).statistic)
        tau = float(stats.kendalltau(a, b).statistic)
        diff = np.abs(np.subtract(a, b))
        print(
            f"{label} ({len(subset)}): Spearman {rho:.3f}, Kendall {tau:.3f}, "
            f"|fp32 - bf16| median {np.median(diff):.4f}, max {diff.max():.4f}"
        )
        summary[label] = {"n": len(subset), "spearman": rho, "kendall": tau}
    seconds = {m: sum(float(r[f"{m}_seconds"]) for r in rows) for m in ("fp32", "bf16")}
    print(f"seconds in all: fp32 {seconds['fp32']:.0f}, bf16 {seconds['bf16']:.0f}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"preset": args.preset, "rows": rows, "summary": summary}, fh, indent=2)


def _fmt(x: object) -> str:
    return "  -   " if x is None else f"{float(x):.4f}"  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
