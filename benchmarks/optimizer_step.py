"""Optimizer step time and genome sampling rate (issue: core).

1. Median time of one `step()` on the parameters of ConvNet(base 48) (SPEC 5) for the
   compiled Adam genome, Opt6, Opt10 and a random genome against
   `torch.optim.Adam(foreach=True)`, measured interleaved in one process (each repeat runs
   every optimizer once, in rotating order). Target: the Adam genome within 1.5x of torch.
2. Valid random genomes drawn and integrity-checked per second on one core. Target >= 100/s.

    python benchmarks/optimizer_step.py [--repeats 300] [--threads 1] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from optevo import Genome, library
from optevo.models import ConvNet
from optevo.optim import EvolvedOptimizer


def random_four_node_genome(seed: int) -> Genome:
    """A random valid genome with four active hidden nodes (drawn until one has them)."""
    rng = np.random.default_rng(seed)
    while True:
        g = Genome.random(rng)
        if len(g.active_names()) == 5:
            return g


def make_optimizers(
    params: list[torch.Tensor], random_genome: Genome
) -> dict[str, torch.optim.Optimizer]:
    T = 1_000_000  # long enough never to run past the end

    def evolved(genome: Genome) -> EvolvedOptimizer:
        return EvolvedOptimizer(params, genome, lr=1e-9, total_steps=T, warmup_steps=10)

    return {
        "torch.optim.Adam(foreach=True)": torch.optim.Adam(params, lr=1e-9, foreach=True),
        "Adam genome": evolved(library.genome("Adam")),
        "Opt6": evolved(library.genome("Opt6")),
        "Opt10": evolved(library.genome("Opt10")),
        "random 4-node genome": evolved(random_genome),
    }


def time_steps(
    opts: dict[str, torch.optim.Optimizer], repeats: int, device: str
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in opts}
    names = list(opts)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for opt in opts.values():  # warm-up: state creation, table building
        for _ in range(3):
            opt.step()
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            sync()
            t0 = time.perf_counter()
            opts[name].step()
            sync()
            times[name].append(time.perf_counter() - t0)
    return times


def sampling_rate(seconds: float, seed: int = 0) -> tuple[float, int]:
    rng = np.random.default_rng(seed)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        Genome.random(rng)
        n += 1
    return n / (time.perf_counter() - t0), n


def mutation_rate(seconds: float, seed: int = 0) -> tuple[float, int]:
    """Valid children (one SPEC 1.5 mutation each, integrity-checked) per second, walking
    from a random genome as a particle does."""
    rng = np.random.default_rng(seed)
    genome = Genome.random(rng)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        genome = genome.mutate(rng)
        n += 1
    return n / (time.perf_counter() - t0), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--base", type=int, default=48)
    parser.add_argument("--sampling-seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = ConvNet(args.base, 3, 10).to(args.device)
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(0)
    for p in params:
        p.grad = (torch.randn(p.shape, generator=gen) * 1e-2).to(args.device)
    random_genome = random_four_node_genome(seed=4)
    opts = make_optimizers(params, random_genome)
    times = time_steps(opts, args.repeats, args.device)

    n_params = sum(p.numel() for p in params)
    print(
        f"ConvNet(base {args.base}): {n_params:,} parameters in {len(params)} tensors, "
        f"device {args.device}, {torch.get_num_threads()} threads, {args.repeats} repeats"
    )
    print(f"random genome: {random_genome.equation()}  [{random_genome.momentum}]")
    ref = statistics.median(times["torch.optim.Adam(foreach=True)"])
    print(f"{'optimizer':34s} {'median ms':>10s} {'ratio to torch Adam':>20s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:34s} {med * 1e3:10.3f} {med / ref:20.2f}x")

    torch.set_num_threads(1)
    rate, n = sampling_rate(args.sampling_seconds)
    print(
        f"\nvalid random genomes drawn + integrity-checked on one core: {rate:.0f}/s "
        f"({n} in {args.sampling_seconds:.0f} s; target >= 100/s)"
    )
    rate, n = mutation_rate(args.sampling_seconds)
    print(
        f"valid mutations (one SPEC 1.5 mutation + integrity check) on one core: {rate:.0f}/s "
        f"({n} in {args.sampling_seconds:.0f} s)"
    )


if __name__ == "__main__":
    main()
