"""Seconds per run of every task of the search and validation suites, at each of its sizes.

One run = what the paired fitness and `optevo validate` will repeat per candidate and learning
rate: build the model and optimizer, train the size's steps with Adam at the task's reference
learning rate (seed 0), score the validation split (`optevo.tasks.timing.measure`, after a
one-step warm-up run). The data are built once per process before the clock starts (their
build time is printed apart). Wall
and CPU seconds are both printed: on a shared machine the wall time includes waiting for a
core, while with one torch thread the CPU time is about what one idle core would take.

    python benchmarks/task_suite.py [--threads 1] [--tasks a,b] [--repeats N] [--fresh]
                                    [--device cpu] [--out results.json]

--fresh runs each task in a new Python process (nothing cached or warmed up by the tasks
before it). The figures go into each task's `seconds` (src/optevo/tasks/suites.py) and the
README's task table.
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
from optevo.tasks.base import TaskOptions
from optevo.tasks.registry import get_task, suite
from optevo.tasks.timing import measure

SUITES = ("search", "validate")


def one(name: str, size: str, repeats: int, device: str) -> dict[str, Any]:
    """`repeats` runs of one task at one size in this process (median wall and CPU seconds)."""
    task = get_task(name)
    options = TaskOptions(device=device)
    t0 = time.perf_counter()
    task.build(options, task.size(size))  # builds (and caches) the data set
    data_s = time.perf_counter() - t0
    walls, cpus, timing = [], [], None
    for i in range(repeats):
        timing = measure(task, size, options, warmup=i == 0)
        cpus.append(timing.cpu_seconds)
        walls.append(timing.run_seconds)
    assert timing is not None
    return {
        **timing.as_dict(),
        "family": task.family,
        "data_seconds": data_s,
        "run_seconds": common.median(walls),
        "cpu_seconds": common.median(cpus),
        "runs": walls,
    }


def fresh(name: str, size: str, args: Any) -> dict[str, Any]:
    """`one` in a new Python process."""
    command = [sys.executable, __file__, "--one", f"{name}:{size}"]
    command += ["--repeats", str(args.repeats), "--device", args.device]
    command += ["--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = common.parser(__doc__, repeats=1)
    parser.set_defaults(threads=1)
    parser.add_argument("--tasks", default=None, help="comma-separated (default: both suites)")
    parser.add_argument("--fresh", action="store_true", help="a new process per task")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # TASK:SIZE, a child
    args = parser.parse_args()
    if args.one is not None:  # a --fresh child: one JSON line on stdout
        torch.set_num_threads(args.threads)
        name, size = args.one.split(":")
        print(json.dumps(one(name, size, args.repeats, args.device)))
        return
    t_start = time.perf_counter()
    device, res = common.start(args)
    names = args.tasks.split(",") if args.tasks else [t.name for s in SUITES for t in suite(s)]
    print(
        "\n| task | family | size | steps | batch | s/run (wall) | s/run (CPU) | data s | "
        "score | status |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in names:
        for size in get_task(name).sizes:
            r = fresh(name, size, args) if args.fresh else one(name, size, args.repeats, device)
            rows.append(r)
            score = "-" if r["metric"] is None else f"{r['metric']:.4g}"
            print(
                f"| {name} | {r['family']} | {size} | {r['steps']:,} | {r['batch_size']} "
                f"| {r['run_seconds']:.2f} | {r['cpu_seconds']:.2f} | {r['data_seconds']:.2f} "
                f"| {score} | {r['status']} |",
                flush=True,
            )
    res.update(fresh=args.fresh, tasks=rows)
    common.finish(res, args.out, t_start)


if __name__ == "__main__":
    main()
