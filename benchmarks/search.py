"""Search throughput: evaluations per hour for the serial, process-pool and Ray executors on
the same small run, and the share of wall time spent outside fitness evaluation.

Each configuration runs in a fresh subprocess (as `optevo search` would), on the same seed,
so every executor evaluates the same candidates. Per configuration it reports:

- evaluations per hour: trained candidates / wall time of the whole run (executor start-up,
  data loading and the final re-evaluation included);
- driver share: wall time spent in the driver outside `executor.run` and the executor's
  shutdown (drawing and checking candidates, duplicate hashing, the store) — the search
  machinery's own cost; target < 5%;
- outside fitness: 1 - (seconds inside `fitness()` summed over trials) / (wall x workers):
  everything that is not training, idle workers waiting for a batch's last candidate included.

    python benchmarks/search.py                      # tiny preset, bigger strategy
    python benchmarks/search.py --configs serial process
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
from optevo.search.api import start_search
from optevo.search.config import run_preset
from optevo.search.executors import make_executor
from optevo.search.store import RunStore

overrides = json.loads(sys.argv[1])
run_dir = Path(sys.argv[2])
t0 = time.perf_counter()
cfg = run_preset(overrides.pop("preset"), **overrides)
executor = make_executor(cfg)
inside = [0.0]
real_run = executor.run
def timed(trials, on_done):
    t = time.perf_counter()
    try:
        real_run(trials, on_done)
    finally:
        inside[0] += time.perf_counter() - t
executor.run = timed
start_search(cfg, run_dir, executor=executor)
t_close = time.perf_counter()
executor.close()
wall = time.perf_counter() - t0
close = time.perf_counter() - t_close
with RunStore.open(run_dir, lock=False) as store:
    evs = store.evaluations()
    trial_seconds = sum(
        t.result.seconds for e in evs if e.duplicate_of is None
        for t in store.trials(e.key).values()
    )
    trained = sum(e.duplicate_of is None for e in evs)
    fingerprint = [(e.key, e.status, e.fitness) for e in sorted(evs, key=lambda e: e.key)]
workers = 1 if cfg.executor.kind == "serial" else getattr(executor, "size", cfg.executor.workers)
print(json.dumps({
    "wall": wall, "inside_executor": inside[0], "trial_seconds": trial_seconds, "close": close,
    "trained": trained, "requested": len(evs), "workers": workers,
    "fingerprint": fingerprint,
}))
"""

CONFIGS = {
    "serial": {"executor.kind": "serial", "executor.threads": 2},
    "serial-1thread": {"executor.kind": "serial", "executor.threads": 1},
    "process": {"executor.kind": "process", "executor.workers": 2, "executor.threads": 1},
    "ray": {"executor.kind": "ray", "executor.workers": 2, "executor.threads": 1},
}


def run_one(name: str, base: dict[str, object]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        args = json.dumps({**base, **CONFIGS[name]})
        done = subprocess.run(
            [sys.executable, "-c", CHILD, args, str(Path(tmp) / "run")],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["serial", "process", "ray"])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[
            "strategy.particles=4",
            "strategy.time_steps=2",
            "strategy.mutations=4",
            "strategy.init_factor=3",
        ],
    )
    args = parser.parse_args()
    base: dict[str, object] = {"preset": args.preset}
    for pair in args.set:
        key, _, value = pair.partition("=")
        base[key] = json.loads(value) if value[:1] in "[{0123456789-" else value
    print(f"preset {args.preset} with {args.set}; {args.repeats} repeat(s), fresh process each")
    print(
        f"{'executor':16} {'evals':>5} {'wall s':>8} {'evals/hour':>10} "
        f"{'driver share':>12} {'outside fitness':>15} {'shutdown s':>10}"
    )
    fingerprints = {}
    for name in args.configs:
        results = [run_one(name, base) for _ in range(args.repeats)]
        wall = statistics.median(r["wall"] for r in results)
        r = results[0]
        driver = statistics.median(
            (x["wall"] - x["inside_executor"] - x["close"]) / x["wall"] for x in results
        )
        outside = statistics.median(
            1 - x["trial_seconds"] / (x["wall"] * x["workers"]) for x in results
        )
        fingerprints[name] = r["fingerprint"]
        print(
            f"{name:16} {r['trained']:>5} {wall:>8.1f} {r['trained'] / wall * 3600:>10.0f} "
            f"{driver:>11.1%} {outside:>15.1%} {r['close']:>10.1f}"
        )
    first = next(iter(fingerprints.values()))
    same = all(f == first for f in fingerprints.values())
    print(f"same candidates and results on every executor: {same}")
    print(time.strftime("measured %Y-%m-%d %H:%M"))


if __name__ == "__main__":
    main()
