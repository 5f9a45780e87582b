"""The suite fitness's learning-rate screen on the small tasks: packed vs one run after another.

For each task, the screen of the suite fitness (the preset's 7 `screen_lrs` times the task's
reference rate over 1e-3, `task_screen_fraction` of the search budget, seed 0, scored on the
validation split) for one candidate (Adam: 7 copies) and for a batch of 4 candidates (Adam,
Opt6, Opt1, Opt10: 28 copies), trained

- "sequential": `TensorRunner.run` once per (candidate, rate), as the suite did before;
- "packed": `optevo.tasks.packed.run_packed`, all copies as one model with stacked weights
  (the hand-written `PackedNet` for the MLP-like tasks; `FuncPackedNet`, `torch.func`, for
  the others but the LSTM: `--tasks fashion-quick,sort-transformer`).

Every measurement runs in a fresh Python process (one torch thread), the two modes
alternating, repeated `--repeats` times; medians. The metrics of the two modes are compared
run by run (largest relative difference over the runs neither mode diverged, and whether
the diverged flags agree).

--suite adds seconds per candidate for the whole suite fitness (preset "suite": its six
tasks, screen and full run each, Adam's references computed before the clock starts),
with the packed screen (`PACKED_TASKS`) and without it, fresh processes alternating.

    python benchmarks/packed_tasks.py [--tasks a,b] [--repeats 3] [--suite] [--out res.json]
    python benchmarks/packed_tasks.py --tasks '' --suite     # the whole suite only

Compare ratios, never absolute seconds across runs (common.py: the load note).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import torch

import common
from optevo.fitness import preset
from optevo.fitness.suite import SPLIT, build_runner, task_budget, task_grid
from optevo.optim.spec import named
from optevo.tasks.base import RunRequest
from optevo.tasks.registry import get_task

TASKS = ("teacher-mlp", "heavy-tailed-logreg", "manifold-autoencoder")
BATCHES = {"1": ("Adam",), "4": ("Adam", "Opt6", "Opt1", "Opt10")}
MODES = ("sequential", "packed")


def one(name: str, mode: str, batch: str) -> dict[str, Any]:
    """One screen of the batch's candidates on a task, in this process: seconds and metrics."""
    from optevo.tasks.packed import run_packed

    config = preset("suite")
    task = get_task(name)
    budget = task_budget(task, "search", config.task_scale)
    steps = max(1, round(budget.total_steps * config.task_screen_fraction))
    runner = build_runner(name, "search", "cpu")
    runs = [(spec, lr) for spec in named(BATCHES[batch]) for lr in task_grid(config, task)]
    requests = [RunRequest.of(s, lr, config.seed, budget, steps, SPLIT) for s, lr in runs]
    runner.worst(SPLIT)
    t0 = time.perf_counter()
    if mode == "packed":
        outs = run_packed(runner, requests)
    else:
        outs = [runner.run(request) for request in requests]
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "copies": len(runs),
        "steps": steps,
        "metrics": [o.metric for o in outs],
        "diverged": [o.status == "diverged" for o in outs],
    }


def suite_candidate(packed: bool) -> dict[str, Any]:
    """Seconds of one candidate's suite fitness (Adam's references computed beforehand)."""
    from optevo import library
    from optevo.fitness import suite as suite_mod

    if not packed:
        suite_mod.PACKED_TASKS = frozenset()  # type: ignore[misc]
    config = preset("suite")
    for ref in config.tasks:
        suite_mod.adam_reference(ref, config)
    t0 = time.perf_counter()
    result = suite_mod.suite_fitness(library.genome("Opt6"), "one_cycle", config)
    return {"seconds": time.perf_counter() - t0, "fitness": result.fitness}


def fresh(what: list[str], threads: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--threads", str(threads), "--one", *what]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, bool]:
    """(largest relative metric difference where neither diverged, diverged flags equal)."""
    worst = 0.0
    for x, y, dx, dy in zip(a["metrics"], b["metrics"], a["diverged"], b["diverged"], strict=True):
        if not dx and not dy and x is not None and y is not None:
            worst = max(worst, abs(x - y) / max(abs(x), 1e-12))
    return worst, a["diverged"] == b["diverged"]


def main() -> None:
    parser = common.parser(__doc__, repeats=3)
    parser.set_defaults(threads=1)
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated")
    parser.add_argument("--batches", default="1,4", help="candidates per screen: 1, 4 or both")
    parser.add_argument("--suite", action="store_true", help="also the whole suite's s/candidate")
    parser.add_argument("--one", nargs="+", default=None, help=argparse.SUPPRESS)  # a child
    args = parser.parse_args()
    if args.one is not None:
        torch.set_num_threads(args.threads)
        if args.one[0] == "suite":
            print(json.dumps(suite_candidate(args.one[1] == "packed")))
        else:
            print(json.dumps(one(*args.one)))
        return
    t_start = time.perf_counter()
    _, res = common.start(args)
    print(
        "\n| task | candidates | copies | steps | sequential s | packed s | ratio | "
        "max rel. diff | diverged equal |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in filter(None, args.tasks.split(",")):
        for batch in args.batches.split(","):
            times: dict[str, list[float]] = {m: [] for m in MODES}
            last: dict[str, dict[str, Any]] = {}
            for r in range(args.repeats):
                for mode in MODES if r % 2 == 0 else MODES[::-1]:
                    out = fresh([name, mode, batch], args.threads)
                    times[mode].append(out["seconds"])
                    last[mode] = out
            diff, same = compare(last["sequential"], last["packed"])
            seq, pk = common.median(times["sequential"]), common.median(times["packed"])
            row = {
                "task": name,
                "candidates": int(batch),
                "copies": last["packed"]["copies"],
                "steps": last["packed"]["steps"],
                "sequential_s": seq,
                "packed_s": pk,
                "ratio": seq / pk,
                "times": times,
                "max_rel_diff": diff,
                "diverged_equal": same,
                "diverged": last["packed"]["diverged"],
                "metrics": {m: last[m]["metrics"] for m in MODES},
            }
            rows.append(row)
            print(
                f"| {name} | {batch} | {row['copies']} | {row['steps']} | {seq:.2f} | {pk:.2f} "
                f"| {seq / pk:.2f}x | {diff:.2e} | {same} |",
                flush=True,
            )
    res["screens"] = rows
    if args.suite:
        common.section("whole suite fitness (preset suite), seconds per candidate (Opt6)")
        suite_times: dict[str, list[float]] = {m: [] for m in MODES}
        for r in range(args.repeats):
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                out = fresh(["suite", mode], args.threads)
                suite_times[mode].append(out["seconds"])
                print(f"  {mode}: {out['seconds']:.2f} s, fitness {out['fitness']}", flush=True)
        seq, pk = common.median(suite_times["sequential"]), common.median(suite_times["packed"])
        print(f"median s/candidate: sequential {seq:.2f}, packed {pk:.2f}, ratio {seq / pk:.2f}x")
        res["suite"] = {"times": suite_times, "sequential_s": seq, "packed_s": pk}
    common.finish(res, args.out, t_start)


if __name__ == "__main__":
    main()
