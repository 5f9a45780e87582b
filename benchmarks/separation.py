"""Separation on `quick`: does the fitness tell optimizers apart beyond seed noise?

Fitness and status of one `quick` evaluation each of Adam, SGD, Opt6, u = sign(g) and four
random genomes (drawn from seed 0) at seed 0, and of Adam at seeds 1 and 2 (the seed noise to
compare the differences with). About 2 minutes on a 2-core CPU.

    python benchmarks/separation.py                       # CPU
    python benchmarks/separation.py --threads 2 --out res.json
    python benchmarks/separation.py --device cuda
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

import common
import optevo
from common import fmt_fit, fmt_lr, load_note, section, total_steps
from optevo import library
from optevo.fitness import dataset_for, fitness, preset
from optevo.search.candidates import random_genome


def sign_g_genome() -> optevo.Genome:
    return optevo.Genome((optevo.Node("identity", ("sign_g",)),), optevo.Node("identity", ("h0",)))


def bench_separation(device: str) -> dict[str, Any]:
    section("separation on `quick`: one evaluation each (seed 0), Adam also at seeds 1, 2")
    print(load_note())
    rng = np.random.default_rng(0)
    candidates: list[tuple[str, optevo.Genome | str, int]] = [
        ("Adam", "Adam", 0),
        ("SGD", "SGD", 0),
        ("Opt6", "Opt6", 0),
        ("u = sign(g)", sign_g_genome(), 0),
    ]
    candidates += [(f"random #{i}", random_genome(rng), 0) for i in range(4)]
    candidates += [("Adam", "Adam", 1), ("Adam", "Adam", 2)]
    data = dataset_for(preset("quick", device=device))
    rows: list[dict[str, Any]] = []
    print(
        f"{'genome':<12} {'seed':>4} {'status':<17} {'fitness':>8} {'best lr':>8} "
        f"{'steps':>6} {'s':>7}  equation"
    )
    print("-" * 100)
    for name, genome, seed in candidates:
        cfg = preset("quick", device=device, seed=seed)
        result = fitness(genome, cfg, data=data)
        g = library.genome(genome) if isinstance(genome, str) else genome
        eq = g.equation() + ("" if g.momentum == "none" else f"  [{g.momentum}]")
        if isinstance(genome, str) and library.lr_schedule(genome):
            eq += f"  x {library.lr_schedule(genome)}"
        print(
            f"{name:<12} {seed:>4} {result.status:<17} {fmt_fit(result.fitness):>8} "
            f"{fmt_lr(result.best_lr):>8} {total_steps(result):>6} {result.seconds:>7.1f}  "
            f"{eq}",
            flush=True,
        )
        if result.error:
            print(f"    error: {result.error.splitlines()[0]}")
        rows.append(
            {
                "name": name,
                "seed": seed,
                "status": result.status,
                "fitness": result.fitness,
                "best_lr": result.best_lr,
                "steps": total_steps(result),
                "seconds": result.seconds,
                "equation": eq,
                "screen": {repr(k): v for k, v in result.screen.items()},
                "error": result.error,
            }
        )
    adam = [r["fitness"] for r in rows if r["name"] == "Adam" and r["fitness"] is not None]
    spread = max(adam) - min(adam) if adam else math.nan
    print(
        f"\nAdam over seeds 0, 1, 2: {', '.join(fmt_fit(a) for a in adam)}  (spread {spread:.4f})"
    )
    return {"rows": rows, "adam_seed_spread": spread}


def summary(d: dict[str, Any]) -> None:
    section("SUMMARY")
    parts = [
        f"{r['name']}[{r['seed']}]={fmt_fit(r['fitness'])}"
        + ("" if r["status"] == "ok" else f"({r['status']})")
        for r in d["rows"]
    ]
    print(", ".join(parts) + f"; Adam seed spread {d['adam_seed_spread']:.4f}")


def main() -> None:
    args = common.parser(__doc__).parse_args()
    t_start = time.perf_counter()
    device, res = common.start(args)
    res["separation"] = bench_separation(device)
    summary(res["separation"])
    common.finish(res, args.out, t_start)


if __name__ == "__main__":
    main()
