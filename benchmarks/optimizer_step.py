"""Optimizer step time against torch Adam, and the rate of valid candidates (issue 8).

1. The time of one `step()` of an evolved optimizer against `torch.optim.Adam(foreach=True)`
   on the same parameters, measured interleaved (each repeat steps both, in alternating
   order): medians, and the median over repeats of the ratio within a repeat. Every
   configuration (model x threads x optimizer) runs in a fresh subprocess, so no earlier work
   has warmed the allocator; then, per model and thread count, one more process holds all the
   optimizers side by side on their own copies of the model, as a user comparing optimizers
   would. Models: the parameters of ConvNet(base 48) (SPEC 5) and of an MLP 784-128-10.
   Targets: the Adam genome <= 1.3x torch Adam, Opt6 and A5
   <= 2x, Opt10 <= 3x, with no allocator environment variables.
2. Valid random genomes (SPEC 1.4 draw + integrity check, redrawn until valid) and valid
   mutations (SPEC 1.5, walking from a random genome) per second on one core (one thread),
   per CPU second of the process and per wall second (the two differ when other processes
   share the machine). Target for the random genomes: >= 100/s.

    python benchmarks/optimizer_step.py [--repeats 300] [--threads 1 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

TORCH_ADAM = "torch Adam"
OPTIMIZERS = ("Adam", "Opt6", "A5", "Opt10")
TARGETS = {"Adam": 1.3, "Opt6": 2.0, "A5": 2.0, "Opt10": 3.0}
MODELS = ("convnet48", "mlp")
TOTAL_STEPS = 100_000  # long enough never to run past the end


# ---------------------------------------------------------------------------------------------
# Worker side: runs in a fresh process, prints one JSON line.
# ---------------------------------------------------------------------------------------------


def _model(name: str) -> Any:
    import torch

    from optevo.models import ConvNet

    torch.manual_seed(0)
    if name == "convnet48":
        return ConvNet(48, 3, 10)
    if name == "mlp":
        return torch.nn.Sequential(
            torch.nn.Flatten(), torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
        )
    raise ValueError(f"unknown model {name!r}")


def _optimizer(name: str, params: list[Any]) -> Any:
    import torch

    from optevo.optim import create

    if name == TORCH_ADAM:
        return torch.optim.Adam(params, lr=1e-9, foreach=True)
    return create(name, params, lr=1e-9, total_steps=TOTAL_STEPS, warmup_steps=100)


def _with_grads(model_name: str) -> list[Any]:
    import torch

    params = list(_model(model_name).parameters())
    gen = torch.Generator().manual_seed(1)
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen) * 1e-2
    return params


def _time_steps(names: list[str], model_name: str, repeats: int) -> dict[str, list[float]]:
    """Seconds per step of each optimizer at every repeat, each on its own copy of the
    model."""
    opts = {name: _optimizer(name, _with_grads(model_name)) for name in names}
    for opt in opts.values():  # state creation, tables
        for _ in range(3):
            opt.step()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            opts[name].step()
            times[name].append(time.perf_counter() - t0)
    return times


def _rates(seconds: float) -> dict[str, float]:
    """Valid random genomes and valid mutations per second: per CPU second of this process
    (what one core does, whatever else the machine runs) and per wall second."""
    import numpy as np

    from optevo.search.candidates import draw_child, draw_random

    def rate(draw: Any) -> tuple[float, float]:
        n, w0, c0 = 0, time.perf_counter(), time.process_time()
        while time.process_time() - c0 < seconds:
            draw()
            n += 1
        return n / (time.process_time() - c0), n / (time.perf_counter() - w0)

    rng = np.random.default_rng(0)
    random_cpu, random_wall = rate(lambda: draw_random(rng))
    rng = np.random.default_rng(1)
    parent = [draw_random(rng).genome]

    def walk() -> None:  # a particle walking by mutations
        parent[0] = draw_child(parent[0], rng).genome

    mutation_cpu, mutation_wall = rate(walk)
    return {
        "random_per_cpu_s": random_cpu,
        "random_per_wall_s": random_wall,
        "mutations_per_cpu_s": mutation_cpu,
        "mutations_per_wall_s": mutation_wall,
    }


def worker(job: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(job["threads"])
    if job["kind"] == "rates":
        return _rates(job["seconds"])
    return _time_steps(job["names"], job["model"], job["repeats"])


# ---------------------------------------------------------------------------------------------
# Driver side
# ---------------------------------------------------------------------------------------------


def run_fresh(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a fresh interpreter (same environment, no allocator variables added)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env["OMP_NUM_THREADS"] = str(job["threads"])
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def step_rows(models: list[str], threads: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for model in models:
        for n in threads:
            for name in OPTIMIZERS:
                job = {
                    "kind": "steps",
                    "model": model,
                    "threads": n,
                    "repeats": repeats,
                    "names": [TORCH_ADAM, name],
                }
                t = run_fresh(job)
                rows.append(_row(model, n, "fresh", name, t))
            job = {
                "kind": "steps",
                "model": model,
                "threads": n,
                "repeats": repeats,
                "names": [TORCH_ADAM, *OPTIMIZERS],
            }
            t = run_fresh(job)
            rows += [_row(model, n, "shared", name, t) for name in OPTIMIZERS]
    return rows


def _row(
    model: str, threads: int, process: str, name: str, t: dict[str, list[float]]
) -> dict[str, Any]:
    """Medians, and the median over repeats of the ratio within a repeat (robust to a burst
    of load from other processes slowing a stretch of repeats)."""
    ratios = [a / b for a, b in zip(t[name], t[TORCH_ADAM], strict=True)]
    return {
        "model": model,
        "threads": threads,
        "process": process,
        "optimizer": name,
        "ms": statistics.median(t[name]) * 1e3,
        "torch_adam_ms": statistics.median(t[TORCH_ADAM]) * 1e3,
        "ratio": statistics.median(ratios),
        "target": TARGETS[name],
    }


def print_rows(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'model':10s} {'thr':>3s} {'process':8s} {'optimizer':9s} {'ms':>8s} "
        f"{'Adam ms':>8s} {'ratio':>6s} {'target':>7s}"
    )
    for r in rows:
        mark = "ok" if r["ratio"] <= r["target"] else "MISSED"
        print(
            f"{r['model']:10s} {r['threads']:3d} {r['process']:8s} {r['optimizer']:9s} "
            f"{r['ms']:8.3f} {r['torch_adam_ms']:8.3f} {r['ratio']:5.2f}x "
            f"<={r['target']:.1f}x {mark}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--sampling-seconds", type=float, default=10.0)
    parser.add_argument("--skip-steps", action="store_true")
    parser.add_argument("--skip-sampling", action="store_true")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    results: dict[str, Any] = {}
    if not args.skip_steps:
        rows = step_rows(args.models, args.threads, args.repeats)
        print(
            f"optimizer step: medians of {args.repeats} interleaved repeats; ratio to torch Adam "
            "= median of the per-repeat ratios"
        )
        print_rows(rows)
        results["steps"] = rows
    if not args.skip_sampling:
        rates = run_fresh({"kind": "rates", "threads": 1, "seconds": args.sampling_seconds})
        print(
            f"\none core: {rates['random_per_cpu_s']:.0f} valid random genomes per CPU second "
            f"(target >= 100; {rates['random_per_wall_s']:.0f} per wall second), "
            f"{rates['mutations_per_cpu_s']:.0f} valid mutations per CPU second "
            f"({rates['mutations_per_wall_s']:.0f} per wall second)"
        )
        results["rates"] = rates
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
