"""What the fitness benchmarks share (fitness_cost.py, screen_layouts.py, fitness_memory.py,
separation.py): the command-line frame (--device, --threads, --out), the header, the load
note, medians and number formatting. Imported as `common`: a script run as
`python benchmarks/x.py` has this folder first on sys.path.

Compare ratios, never absolute seconds across runs: the machines are shared and noisy (the
load average is printed per section; a load above the core count means other processes
competed for the CPU and the absolute times, and possibly the ratios, are distorted).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import optevo
from optevo.fitness import FitnessResult
from optevo.fitness.spec import resolve_device


def positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def parser(doc: str | None, repeats: int | None = None) -> argparse.ArgumentParser:
    """A parser with the options every fitness benchmark has: --device, --threads, --out, and
    --repeats when a default number of repeats is given."""
    p = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    p.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    if repeats is not None:
        p.add_argument(
            "--repeats", type=positive, default=repeats, help="interleaved repeats (median)"
        )
    return p


def start(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """Apply --threads, resolve --device, print the header; the device and the results' head."""
    repeats = getattr(args, "repeats", None)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    print(
        f"optevo {optevo.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, device {device}"
        + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else "")
        + f", {torch.get_num_threads()} torch threads, {os.cpu_count()} cores"
        + ("" if repeats is None else f", {repeats} repeats")
    )
    print(load_note())
    res: dict[str, Any] = {
        "device": device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if repeats is not None:
        res["repeats"] = repeats
    return device, res


def finish(res: dict[str, Any], out: Path | None, t_start: float) -> None:
    """Print the load note and the wall time; write the results to `out` (when given)."""
    print(load_note())
    res["wall_s"] = time.perf_counter() - t_start
    print(f"total wall time {res['wall_s']:.0f} s")
    if out is not None:
        out.write_text(json.dumps(res, indent=2, default=str))
        print(f"results written to {out}")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else math.nan


def load_note() -> str:
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    warn = "  << more runnable work than cores: others compete for the CPU" if one > cores else ""
    return f"load average {one:.2f} (1 min) / {five:.2f} (5 min) on {cores} cores{warn}"


def section(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}", flush=True)


def fmt_lr(lr: float | None) -> str:
    return "-" if lr is None else f"{lr:g}"


def fmt_fit(f: float | None) -> str:
    return "-" if f is None else f"{f:.4f}"


def total_steps(result: FitnessResult) -> int:
    return sum(r.steps for r in result.runs)
