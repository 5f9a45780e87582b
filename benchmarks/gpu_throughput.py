"""Chip time per paper-protocol candidate: one prepared script for a GPU (fits in ~5 minutes).

The paper protocol per candidate is a 7-rate screen of 800 steps and a full run of 8,000
steps (ConvNet base 48, batch 128, 3x32x32). Training all of it for every configuration
would take hours, so this script measures seconds per training step of each layout, as the
difference of a long and a short run (which cancels model construction and warm-up), and
scales to the protocol:

    packed, n candidates: (t_step(7n copies) x 800 + t_step(n copies) x 8,000) / n
    one candidate, grouped screen: t_step(7) x 800 + t_step(1) x 8,000
    one candidate, sequential: 7 x t_step(1) x 800 + t_step(1) x 8,000
    plain eager PyTorch + torch.optim.Adam(foreach): t_plain x 13,600

assuming every candidate passes the screen (the expensive case; rejected candidates retire
early). Configurations: fp32 and bf16 autocast, each without and with CUDA graphs
(`TrainSpec.cuda_graphs`; off CUDA that is the same step run eagerly from fixed buffers).
Data: synthetic CIFAR-10-shaped tensors on the device (the files are not needed for timing).

    python benchmarks/gpu_throughput.py                  # on a CUDA machine
    python benchmarks/gpu_throughput.py --smoke          # seconds on a CPU: checks it runs
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch
import torch.nn.functional as F

from optevo import library
from optevo.data import Augment, ImageSet
from optevo.fitness.loop import train_packed
from optevo.fitness.spec import CopySpec, TrainSpec
from optevo.models import ConvNet

SCREEN_STEPS, FULL_STEPS, RATES = 800, 8000, 7


def synthetic(n: int, size: int, device: str) -> ImageSet:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, size, size, generator=gen).to(device)
    y = torch.randint(0, 10, (n,), generator=gen).to(device)
    empty = (torch.empty(0, 3, size, size), torch.empty(0, dtype=torch.int64))
    return ImageSet(
        name="synthetic",
        train=(x, y),
        val=empty,
        num_classes=10,
        mean=(0.0,) * 3,
        std=(1.0,) * 3,
    )


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def step_seconds(
    k: int, data: ImageSet, spec: TrainSpec, short: int, long: int, device: str
) -> float:
    """Seconds per training step of a k-copy packed model (long run minus short run)."""
    genome = library.genome("Adam")
    copies = [CopySpec(genome, 1e-3 * (1 + i % RATES), 0) for i in range(k)]
    # One copy runs as the drop-in optimizer, unless graphed (only packed runs are).
    strategy = "grouped" if k > 1 or spec.cuda_graphs else "sequential"
    times = []
    for steps in (short, long):
        s = dataclasses.replace(spec, max_steps=steps)
        sync(device)
        t0 = time.perf_counter()
        train_packed(copies, data, s, strategy=strategy)
        sync(device)
        times.append(time.perf_counter() - t0)
    return max(1e-9, (times[1] - times[0]) / (long - short))


def plain_seconds(
    data: ImageSet, base: int, batch: int, short: int, long: int, device: str
) -> float:
    """Seconds per step of plain eager PyTorch: ConvNet + torch.optim.Adam(foreach=True)."""
    times = []
    for steps in (short, long):
        model = ConvNet(base, 3, 10).to(device).to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(model.parameters(), 1e-3, foreach=True)
        x_all, y_all = data.train
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            idx = torch.randint(0, len(y_all), (batch,), device=x_all.device)
            x = x_all[idx].contiguous(memory_format=torch.channels_last)
            loss = F.cross_entropy(model(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return max(1e-9, (times[1] - times[0]) / (long - short))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, any device")
    parser.add_argument("--candidates", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.smoke:
        base, batch, size, short, long, cands = 4, 16, 16, 2, 6, [2, 4]
    else:
        base, batch, size, short, long, cands = 48, 128, 32, 20, 120, args.candidates
    data = synthetic(4096 if not args.smoke else 256, size, device)
    modes = [("fp32", False, False), ("bf16", True, False)]
    modes += [("fp32+graphs", False, True), ("bf16+graphs", True, True)]
    print(
        f"device {device}; ConvNet base {base}, batch {batch}, {size}x{size}; "
        f"per-step seconds from runs of {long} - {short} steps"
    )
    rows: dict[str, dict[str, float]] = {}
    t_plain = plain_seconds(data, base, batch, short, long, device)
    plain = t_plain * (SCREEN_STEPS * RATES + FULL_STEPS)
    print(f"plain eager PyTorch + Adam: {1 / t_plain:.0f} steps/s -> {plain:.1f} s per candidate")
    for label, amp, graphs in modes:
        spec = TrainSpec(
            base=base,
            total_steps=FULL_STEPS,
            batch_size=batch,
            epoch_steps=10**9,
            validate=False,
            augment=Augment(False, False, False),
            device=device,
            amp=amp,
            cuda_graphs=graphs,
        )
        t1 = step_seconds(1, data, spec, short, long, device)
        t7 = step_seconds(RATES, data, spec, short, long, device)
        row = {
            "sequential": RATES * t1 * SCREEN_STEPS + t1 * FULL_STEPS,
            "grouped": t7 * SCREEN_STEPS + t1 * FULL_STEPS,
        }
        for n in cands:
            tn = step_seconds(n, data, spec, short, long, device)
            t7n = step_seconds(RATES * n, data, spec, short, long, device)
            row[f"packed {n}"] = (t7n * SCREEN_STEPS + tn * FULL_STEPS) / n
        rows[label] = row
        shown = ", ".join(f"{k} {v:.1f} s" for k, v in row.items())
        print(f"{label}: {shown}  (x{row['sequential'] / plain:.2f} plain for one candidate)")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"device": device, "plain": plain, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
