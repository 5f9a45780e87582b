"""The seven-rate LR screen in each layout: "packed" vs "sequential" (and "auto").

The screen of a fitness evaluation (7 copies, the preset's `screen_lrs`, no validation, no stop
rules) trained by `train_copies` with layout "packed" (all copies as one grouped model),
"sequential" (one model after another) and "auto", interleaved in rotating order, at the
`quick` size (Fashion-MNIST, base 16, batch 64) and at base 48 on synthetic 3x32x32 data,
batch 128. Which layout "auto" runs is recorded (from the layout object the training loop
is given), not assumed. The packed and sequential runs see the same batches from the same
initialisations, so their final training losses are compared copy for copy.

Compare the ratios, never absolute seconds across runs (common.py: the load note).

    python benchmarks/screen_layouts.py                   # CPU, 3 repeats, both sizes
    python benchmarks/screen_layouts.py --repeats 5 --skip-base48 --out res.json
    python benchmarks/screen_layouts.py --device cuda
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import torch

import common
from common import fmt_lr, load_note, median, section, sync
from optevo import library
from optevo.data import Augment, ImageSet
from optevo.fitness import FitnessConfig, RunResult, dataset_for, preset
from optevo.fitness import loop as loop_mod
from optevo.fitness.loop import train_copies
from optevo.fitness.packed import PackedLayout
from optevo.fitness.spec import TrainSpec

LAYOUTS = ("sequential", "packed", "auto")


@contextlib.contextmanager
def record_layout(picked: list[str]) -> Iterator[None]:
    """Record which layout the training loop runs (this process only): `train_packed` hands
    the layout object to `optevo.fitness.loop.run`, looked up as a module global."""
    saved = loop_mod.run

    def recording(copies: Any, *args: Any, **kwargs: Any) -> Any:
        picked.append("packed" if isinstance(copies, PackedLayout) else "sequential")
        return saved(copies, *args, **kwargs)

    loop_mod.run = recording
    try:
        yield
    finally:
        loop_mod.run = saved


def synthetic_dataset(n: int, seed: int = 0) -> ImageSet:
    """Random 3x32x32 images and labels (CIFAR's shape; the files are not needed for timing)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    empty = (torch.empty(0, 3, 32, 32), torch.empty(0, dtype=torch.int64))
    return ImageSet(
        train=(x, y),
        val=empty,
        num_classes=10,
        name="synthetic-3x32x32",
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
    )


def bench_screen(
    label: str, data: ImageSet, cfg: FitnessConfig, steps: int, repeats: int, device: str
) -> dict[str, Any]:
    print(
        f"\n--- {label}: {data}, ConvNet base {cfg.base}, batch {cfg.batch_size}, "
        f"{len(cfg.screen_lrs)} copies x {steps} steps, no validation, no stop rules"
    )
    print(load_note())
    genome = library.genome("Adam")

    def spec(n_steps: int) -> TrainSpec:
        return TrainSpec(
            base=cfg.base,
            total_steps=cfg.total_steps,
            max_steps=n_steps,
            warmup_steps=cfg.warmup_steps,
            hold_steps=cfg.hold_steps,
            schedule="one_cycle",
            batch_size=cfg.batch_size,
            epoch_steps=n_steps,
            validate=False,
            stop_rules=(),
            augment=Augment(),
            dropout=cfg.dropout,
            seed=0,
            device=device,
            channels_last=cfg.channels_last,
            eval_batch_size=cfg.eval_batch_size,
        )

    picked: list[str] = []
    for layout in LAYOUTS:  # warm-up, and find out what "auto" runs
        with record_layout(picked):
            train_copies(genome, data, spec(2), cfg.screen_lrs, layout=layout)
    auto_pick = picked[-1]
    print(f'layout="auto" ran the {auto_pick} layout on {device}')

    times: dict[str, list[float]] = {s: [] for s in LAYOUTS}
    results: dict[str, list[RunResult]] = {}
    for rep in range(repeats):
        shift = rep % len(LAYOUTS)
        for layout in LAYOUTS[shift:] + LAYOUTS[:shift]:
            sync(device)
            t0 = time.perf_counter()
            results[layout] = train_copies(genome, data, spec(steps), cfg.screen_lrs, layout=layout)
            sync(device)
            times[layout].append(time.perf_counter() - t0)
        print(
            f"  repeat {rep}: "
            + "   ".join(f"{s} {times[s][-1]:7.2f} s" for s in LAYOUTS)
            + f"   [{load_note()}]",
            flush=True,
        )

    seq = median(times["sequential"])
    ratios = {
        s: median([t / q for t, q in zip(times[s], times["sequential"], strict=True)])
        for s in LAYOUTS
    }
    print(
        f"\n{'layout':<12} {'median s':>10} {'s/step/copy':>12} {'time / sequential':>18} "
        f"{'speed-up':>9}"
    )
    print("-" * 65)
    for s in LAYOUTS:
        m = median(times[s])
        print(
            f"{s:<12} {m:>10.2f} {m / steps / len(cfg.screen_lrs):>12.4f} {ratios[s]:>17.2f}x "
            f"{seq / m:>8.2f}x"
        )
    # Same batches, same initialisations: the two layouts should agree copy for copy (up to
    # float summation order, which chaotic runs at large learning rates amplify).
    agree: dict[str, dict[str, float]] = {}
    for a, b in zip(results["sequential"], results["packed"], strict=True):
        if a.train_loss and b.train_loss:
            agree[fmt_lr(a.lr)] = {
                "d_loss": abs(a.train_loss[-1] - b.train_loss[-1]),
                "d_acc": abs(a.final_train_acc - b.final_train_acc),
            }
    print(
        "sequential vs packed, final train loss |difference| per lr: "
        + ", ".join(f"{lr}: {d['d_loss']:.2g}" for lr, d in agree.items())
    )
    finite = [d for d in agree.values() if math.isfinite(d["d_loss"])]
    return {
        "label": label,
        "base": cfg.base,
        "batch": cfg.batch_size,
        "steps": steps,
        "copies": len(cfg.screen_lrs),
        "times": times,
        "median_s": {s: median(times[s]) for s in LAYOUTS},
        "ratio_to_sequential": ratios,
        "auto_picks": auto_pick,
        "max_abs_diff_train_acc": max((d["d_acc"] for d in finite), default=None),
        "max_abs_diff_train_loss": max((d["d_loss"] for d in finite), default=None),
        "diff_by_lr": agree,
    }


def bench_screens(
    repeats: int, screen_steps: int, base48_steps: int | None, device: str
) -> dict[str, Any]:
    section('the seven-rate LR screen: layout "packed" vs "sequential" (and "auto")')
    out: dict[str, Any] = {}
    cfg = preset("quick", device=device)
    out["quick"] = bench_screen(
        "quick size (Fashion-MNIST)", dataset_for(cfg), cfg, screen_steps, repeats, device
    )
    if base48_steps is not None:
        cfg48 = preset("paper", device=device, batch_size=128, base=48)
        data48 = synthetic_dataset(max(4 * cfg48.batch_size * base48_steps, 2048))
        out["base48"] = bench_screen(
            "base 48, synthetic 3x32x32", data48, cfg48, base48_steps, repeats, device
        )
    return out


def summary(screens: dict[str, Any], device: str) -> None:
    section("SUMMARY")
    for key, s in screens.items():
        r = s["ratio_to_sequential"]
        line = (
            f"screen {key} ({s['copies']} copies x {s['steps']} steps, base {s['base']}, "
            f"batch {s['batch']}): packed/sequential {r['packed']:.2f}x, auto/sequential "
            f"{r['auto']:.2f}x; auto runs {s['auto_picks']}"
        )
        if device.startswith("cuda"):
            ok = r["packed"] <= 0.5
            line += f"; target packed >= 2x faster: {'PASS' if ok else 'FAIL'}"
        else:
            line += (
                " (= sequential on a CPU, so the chosen layout is no slower than sequential"
                f"{'' if s['auto_picks'] == 'sequential' else ' -- UNEXPECTED'})"
            )
        print(line)


def main() -> None:
    parser = common.parser(__doc__, repeats=3)
    parser.add_argument("--skip-base48", action="store_true", help="leave out base 48")
    parser.add_argument(
        "--screen-steps", type=common.positive, default=40, help="steps at quick size"
    )
    parser.add_argument("--base48-steps", type=common.positive, default=10, help="steps at base 48")
    args = parser.parse_args()
    t_start = time.perf_counter()
    device, res = common.start(args)
    base48 = None if args.skip_base48 else args.base48_steps
    res["screen"] = bench_screens(args.repeats, args.screen_steps, base48, device)
    summary(res["screen"], device)
    common.finish(res, args.out, t_start)


if __name__ == "__main__":
    main()
