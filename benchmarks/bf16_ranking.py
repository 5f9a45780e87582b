"""Does bf16 autocast change the ranking of candidates? Fitness in fp32 and under bf16 autocast
for the same genomes, and the rank correlation between the two.

The genomes: the named optimizers of the library (SGD, Momentum, Nesterov, RMSProp, Adam,
Opt1-Opt10, A1-A5) and `--random` random valid genomes of the search space (drawn as the
search draws them: acyclic, integrity-checked). Each is evaluated by the fitness protocol of
`--preset` in each mode: `fp32`, `bf16` (autocast, same seed) and `fp32-seed1` (fp32 with the
next seed: the yardstick, since two seeds already rank candidates differently). Printed: the
fitness per mode, how many statuses agree, and Spearman's rho / Kendall's tau between every
pair of modes, over the genomes both accept and over all genomes with rejected ones tied at
the bottom (fitness 0). bf16 changes the ranking no more than seed noise does when
fp32-vs-bf16 correlates about as well as fp32-vs-fp32-seed1.

    python benchmarks/bf16_ranking.py --out r.json            # quick preset, this machine
    python benchmarks/bf16_ranking.py --preset paper          # on a GPU
    python benchmarks/bf16_ranking.py --from r.json --modes fp32-seed1 --out r.json  # add one

On a CPU, bf16 autocast runs the convolutions in bfloat16 through oneDNN: the rounding is
that of the GPU's bf16 (8-bit mantissa inputs, fp32 accumulation), so the ranking effect is
measured here too, though not the speed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np
from scipy import stats

from optevo import library
from optevo.fitness import fitness, preset
from optevo.search.candidates import draw_random

NAMED = ("SGD", "Momentum", "Nesterov", "RMSProp", "Adam")
NAMED += tuple(f"Opt{i}" for i in range(1, 11)) + tuple(f"A{i}" for i in range(1, 6))
MODES = {"fp32": (False, 0), "bf16": (True, 0), "fp32-seed1": (False, 1)}  # amp, seed offset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="quick", help="fitness preset (quick, paper, tiny)")
    parser.add_argument("--random", type=int, default=10, help="random genomes besides the named")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random genomes")
    parser.add_argument("--limit", type=int, default=None, help="only the first N genomes")
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--from", dest="previous", default=None, help="keep this file's columns")
    args = parser.parse_args()

    genomes = [(name, library.genome(name)) for name in NAMED]
    rng = np.random.default_rng(args.seed)
    for i in range(args.random):
        genomes.append((f"random-{i}", draw_random(rng).genome))
    if args.limit is not None:
        genomes = genomes[: args.limit]

    rows: list[dict[str, object]] = []
    if args.previous:
        with open(args.previous) as fh:
            rows = json.load(fh)["rows"]
        if [r["genome"] for r in rows] != [str(g) for _, g in genomes]:
            raise SystemExit(f"{args.previous} holds other genomes (check --random/--seed)")
    else:
        rows = [{"name": name, "genome": str(genome)} for name, genome in genomes]
    modes = [m for m in MODES if m in args.modes or (rows and m in rows[0])]
    print(f"{len(genomes)} genomes, preset {args.preset!r}: fitness {' / '.join(modes)}")
    for row, (name, genome) in zip(rows, genomes, strict=True):
        for mode in args.modes:
            amp, seed = MODES[mode]
            base = preset(args.preset)
            t0 = time.perf_counter()
            result = fitness(genome, preset(args.preset, amp=amp, seed=base.seed + seed))
            row[mode] = result.fitness
            row[f"{mode}_status"] = result.status
            row[f"{mode}_seconds"] = time.perf_counter() - t0
        shown = "  ".join(
            f"{m} {_fmt(row[m])} ({row[f'{m}_status']}, {row[f'{m}_seconds']:.0f} s)" for m in modes
        )
        print(f"  {name:10s} {shown}", flush=True)

    summary: dict[str, object] = {"genomes": len(rows)}
    for a_mode, b_mode in itertools.combinations(modes, 2):
        pair = f"{a_mode} vs {b_mode}"
        same = sum(r[f"{a_mode}_status"] == r[f"{b_mode}_status"] for r in rows)
        print(f"{pair}: statuses agree for {same}/{len(rows)} genomes")
        summary[pair] = {"same_status": same}
        both = [r for r in rows if r[a_mode] is not None and r[b_mode] is not None]
        for label, subset in (("accepted by both", both), ("all, rejected = 0", rows)):
            if len(subset) < 3:
                print(f"  {label}: fewer than 3 genomes, no correlation")
                continue
            a = [float(r[a_mode] or 0.0) for r in subset]  # type: ignore[arg-type]
            b = [float(r[b_mode] or 0.0) for r in subset]  # type: ignore[arg-type]
            rho = float(stats.spearmanr(a, b).statistic)
            tau = float(stats.kendalltau(a, b).statistic)
            diff = np.abs(np.subtract(a, b))
            print(
                f"  {label} ({len(subset)}): Spearman {rho:.3f}, Kendall {tau:.3f}, "
                f"|difference| median {np.median(diff):.4f}, max {diff.max():.4f}"
            )
            summary[pair][label] = {"n": len(subset), "spearman": rho, "kendall": tau}  # type: ignore[index]
    seconds = {m: round(sum(float(r[f"{m}_seconds"]) for r in rows)) for m in modes}  # type: ignore[arg-type]
    print(f"seconds in all: {seconds}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"preset": args.preset, "rows": rows, "summary": summary}, fh, indent=2)


def _fmt(x: object) -> str:
    return "  -   " if x is None else f"{float(x):.4f}"  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
