"""Fitness evaluation cost, LR-screen batching, peak memory and separation (issue: evaluate).

(a) One `quick` fitness evaluation of "Adam" against a plain PyTorch loop that trains the same
    ConvNet (base 16, 1x28x28, channels-last) with `torch.optim.Adam(foreach=True)` for the same
    total number of steps (sum of `run.steps` over the evaluation's runs), batch 64, random
    minibatches from the same in-memory tensors, no validation. Interleaved (fitness, plain,
    fitness, plain, ...); medians over repeats. Target: fitness/plain <= 1.3x. The evaluation's
    time is split into screen / full run / validation by timing wrappers installed in this
    process only (around `optevo.train.evaluate`, `evaluate_grouped` and the protocol's
    `train_copies`).
(b) The seven-rate screen (7 copies, the preset's `screen_lrs`, no validation, no stop rules)
    with strategy "grouped", "sequential" and "auto", interleaved in rotating order, at the quick
    size (Fashion-MNIST, base 16, batch 64) and at base 48 on synthetic 3x32x32 data, batch 128.
    Which trainer "auto" picks is recorded, not assumed.
(c) Peak memory of one quick evaluation: `ru_maxrss` of a fresh subprocess that runs it, minus
    that of a baseline subprocess that imports optevo and loads the data set only (plus
    `torch.cuda.max_memory_allocated()` on CUDA). Since loading can peak higher than the
    evaluation, the evaluation's own peak is also read from `VmHWM`, reset after loading.
(d) Separation (`--separation`, on by default): fitness and status of Adam, SGD, Opt6,
    u = sign(g) and four random genomes at seed 0, and Adam at seeds 1 and 2 (seed noise).

Compare the ratios, never absolute seconds across runs: the machines are shared and noisy (the
load average is printed per section; a load above the core count means other processes competed
for the CPU and the absolute times, and possibly the ratios, are distorted).

    python benchmarks/evaluate.py                       # everything, CPU, 3 repeats
    python benchmarks/evaluate.py --repeats 5 --skip-base48 --no-separation --out res.json
    python benchmarks/evaluate.py --device cuda
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optevo.evaluate as evaluate_mod
import optevo.train as train_mod
import torch
import torch.nn.functional as F
from optevo.evaluate import FitnessConfig, FitnessResult, dataset_for, fitness, preset

import optevo
from optevo import library
from optevo.data import Augment, Dataset
from optevo.fitness import RunResult, TrainSpec, resolve_device, train_copies
from optevo.models import ConvNet

STRATEGIES = ("sequential", "grouped", "auto")


# ---------------------------------------------------------------------------------------------
# helpers


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


# ---------------------------------------------------------------------------------------------
# (a) fitness evaluation vs a plain PyTorch loop


class PhaseTimer:
    """Seconds spent in validation and in the protocol's screen and full-run `train_copies`,
    measured by wrappers installed only inside `installed()` (this process only)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.reset()

    def reset(self) -> None:
        self.validation = 0.0
        self.validation_calls = 0
        self.screen = 0.0
        self.full = 0.0

    def _timed_eval(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sync(self.device)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sync(self.device)
                self.validation += time.perf_counter() - t0
                self.validation_calls += 1

        return wrapper

    def _timed_train(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(genome: Any, data: Any, spec: TrainSpec, *args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(genome, data, spec, *args, **kwargs)
            finally:
                sync(self.device)
                dt = time.perf_counter() - t0
                if spec.validate:
                    self.full += dt
                else:
                    self.screen += dt

        return wrapper

    @contextlib.contextmanager
    def installed(self) -> Iterator[PhaseTimer]:
        # Whichever validation functions this version of optevo.train has (one for both
        # trainers, or one per trainer); they are looked up as module globals at call time.
        evals = [n for n in ("evaluate", "evaluate_grouped") if hasattr(train_mod, n)]
        saved_evals = {n: getattr(train_mod, n) for n in evals}
        saved_train = evaluate_mod.train_copies
        for n, fn in saved_evals.items():
            setattr(train_mod, n, self._timed_eval(fn))
        evaluate_mod.train_copies = self._timed_train(saved_train)
        try:
            yield self
        finally:
            for n, fn in saved_evals.items():
                setattr(train_mod, n, fn)
            evaluate_mod.train_copies = saved_train


def plain_adam_loop(
    data: Dataset, steps: int, cfg: FitnessConfig, device: str, seed: int = 0
) -> tuple[float, float]:
    """Train ConvNet(cfg.base) with torch.optim.Adam for `steps` steps, the way a user would:
    random minibatches (a fresh permutation per pass) of the in-memory training tensors,
    channels-last like the trainer, no validation, no augmentation. Returns (seconds, loss)."""
    sync(device)
    t0 = time.perf_counter()
    torch.manual_seed(seed)
    model = ConvNet(cfg.base, data.in_channels, data.num_classes, cfg.dropout).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    x_all, y_all = (t.to(device) for t in data.train)
    n, batch = len(y_all), cfg.batch_size
    gen = torch.Generator().manual_seed(seed)
    perm, pos = torch.empty(0, dtype=torch.long), 0
    loss = torch.zeros((), device=device)
    for _ in range(steps):
        if pos + batch > len(perm):
            perm, pos = torch.randperm(n, generator=gen).to(device), 0
        idx = perm[pos : pos + batch]
        pos += batch
        x = x_all.index_select(0, idx)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        loss = F.cross_entropy(model(x), y_all.index_select(0, idx))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    final = float(loss.detach())  # also synchronises
    return time.perf_counter() - t0, final


def validation_batch_probe(
    data: Dataset, cfg: FitnessConfig, device: str, repeats: int
) -> dict[int, float]:
    """Median seconds of one validation pass (`optevo.train.evaluate`, base-`cfg.base` model,
    all of `data.val`) at several eval batch sizes, interleaved in rotating order."""
    spec = TrainSpec(
        base=cfg.base,
        total_steps=cfg.total_steps,
        device=device,
        channels_last=cfg.channels_last,
        dropout=cfg.dropout,
    )
    torch.manual_seed(0)
    model = ConvNet(cfg.base, data.in_channels, data.num_classes, cfg.dropout).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    sizes = sorted({cfg.eval_batch_size, 1000, 500, 250, 125}, reverse=True)
    specs = {b: dataclasses.replace(spec, eval_batch_size=b) for b in sizes}
    for b in sizes:  # warm-up
        train_mod.evaluate(model, data, specs[b], device)
    times: dict[int, list[float]] = {b: [] for b in sizes}
    for rep in range(repeats):
        shift = rep % len(sizes)
        for b in sizes[shift:] + sizes[:shift]:
            sync(device)
            t0 = time.perf_counter()
            train_mod.evaluate(model, data, specs[b], device)
            sync(device)
            times[b].append(time.perf_counter() - t0)
    return {b: median(ts) for b, ts in times.items()}


def bench_fitness_vs_plain(args: argparse.Namespace, device: str) -> dict[str, Any]:
    section("(a) one `quick` fitness evaluation of Adam vs a plain torch.optim.Adam loop")
    cfg = preset("quick", device=device)
    data = dataset_for(cfg)
    print(
        f"data: {data}; preset quick: base {cfg.base}, batch {cfg.batch_size}, "
        f"{len(cfg.screen_lrs)}-rate screen x {cfg.screen_steps} steps, full run "
        f"{cfg.total_steps} steps, validated every {cfg.epoch_steps} steps on "
        f"{len(data.val[1])} images in batches of {cfg.eval_batch_size}, strategy "
        f"{cfg.strategy!r}"
    )
    print(load_note())

    # Warm-up (untimed): first-call costs of both paths (allocator, kernels, rule compilation).
    warm = TrainSpec(
        base=cfg.base,
        total_steps=cfg.total_steps,
        max_steps=20,
        batch_size=cfg.batch_size,
        epoch_steps=20,
        validate=True,
        device=device,
        channels_last=cfg.channels_last,
        eval_batch_size=cfg.eval_batch_size,
    )
    train_copies(library.genome("Adam"), data, warm, [1e-3], strategy="sequential")
    plain_adam_loop(data, 20, cfg, device)

    timer = PhaseTimer(device)
    rows: list[dict[str, Any]] = []
    for rep in range(args.repeats):
        timer.reset()
        with timer.installed():
            result = fitness("Adam", cfg, data=data)
        sync(device)
        steps = total_steps(result)
        plain_s, plain_loss = plain_adam_loop(data, steps, cfg, device, seed=rep)
        row = {
            "repeat": rep,
            "fitness_s": result.seconds,
            "plain_s": plain_s,
            "ratio": result.seconds / plain_s,
            "steps": steps,
            "screen_s": timer.screen,
            "full_s": timer.full,
            "validation_s": timer.validation,
            "validation_calls": timer.validation_calls,
            "other_s": result.seconds - timer.screen - timer.full,
            "status": result.status,
            "fitness": result.fitness,
            "best_lr": result.best_lr,
            "plain_final_loss": plain_loss,
            "runs": [(r.lr, r.steps, r.status) for r in result.runs],
        }
        rows.append(row)
        print(
            f"  repeat {rep}: fitness {result.seconds:7.2f} s ({steps} steps, {result.status}, "
            f"fitness {fmt_fit(result.fitness)})   plain {plain_s:7.2f} s   "
            f"ratio {row['ratio']:.2f}x   [{load_note()}]",
            flush=True,
        )

    r0 = rows[0]
    print(
        "\nruns of the evaluation (lr, steps, status): "
        + ", ".join(f"({fmt_lr(lr)}, {s}, {st})" for lr, s, st in r0["runs"])
    )
    med = {
        k: median([r[k] for r in rows])
        for k in ("fitness_s", "plain_s", "ratio", "screen_s", "full_s", "validation_s", "other_s")
    }
    train_only = median([(r["fitness_s"] - r["validation_s"]) / r["plain_s"] for r in rows])
    steps = r0["steps"]
    print(f"\n{'what':<52} {'median s':>10} {'share':>8}")
    print("-" * 72)
    lines = [
        ("fitness evaluation (total)", med["fitness_s"]),
        ("  screen (train_copies, 7 rates)", med["screen_s"]),
        ("  full run (train_copies, incl. validation)", med["full_s"]),
        (f"    of which validation ({r0['validation_calls']} calls)", med["validation_s"]),
        ("  outside train_copies (resolve, protocol)", med["other_s"]),
        (f"plain torch.optim.Adam loop, {steps} steps", med["plain_s"]),
    ]
    for name, v in lines:
        print(f"{name:<52} {v:>10.2f} {v / med['fitness_s']:>7.1%}")
    print(f"\nmedian ratio fitness / plain:                {med['ratio']:.2f}x  (target <= 1.30x)")
    print(f"median ratio (fitness - validation) / plain: {train_only:.2f}x  (training alone)")
    print(
        f"steps/s: fitness {steps / med['fitness_s']:.1f} (all included), plain "
        f"{steps / med['plain_s']:.1f}"
    )
    probe = validation_batch_probe(data, cfg, device, repeats=max(5, args.repeats))
    ref = probe[cfg.eval_batch_size]
    print(
        f"\none validation pass ({len(data.val[1])} images, base {cfg.base}) by eval batch size "
        f"(interleaved, median of {max(5, args.repeats)}; the preset uses {cfg.eval_batch_size}):"
    )
    print(f"{'eval batch':>10} {'median s':>9} {'vs preset':>10} {'x calls':>8}")
    for b, t in probe.items():
        print(f"{b:>10} {t:>9.3f} {t / ref:>9.2f}x {t * r0['validation_calls']:>7.2f}s")
    return {
        "validation_by_eval_batch": probe,
        "eval_batch_size": cfg.eval_batch_size,
        "repeats": rows,
        "median": med,
        "median_train_only_ratio": train_only,
        "steps": steps,
        "target_ratio": 1.3,
        "pass": med["ratio"] <= 1.3,
    }


# ---------------------------------------------------------------------------------------------
# (b) the seven-rate screen: grouped vs sequential (vs auto)


@contextlib.contextmanager
def record_trainer(picked: list[str]) -> Iterator[None]:
    """Record which copy layout `train_copies` instantiates (this process only)."""
    saved = (train_mod._PackedCopies, train_mod._SingleCopy)

    class Grouped(saved[0]):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            picked.append("grouped")
            super().__init__(*args, **kwargs)

    class Sequential(saved[1]):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            if not picked or picked[-1] != "sequential":
                picked.append("sequential")
            super().__init__(*args, **kwargs)

    train_mod._PackedCopies, train_mod._SingleCopy = Grouped, Sequential
    try:
        yield
    finally:
        train_mod._PackedCopies, train_mod._SingleCopy = saved


def synthetic_dataset(n: int, seed: int = 0) -> Dataset:
    """Random 3x32x32 images and labels (CIFAR's shape; the files are not needed for timing)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    empty = (torch.empty(0, 3, 32, 32), torch.empty(0, dtype=torch.int64))
    return Dataset(
        train=(x, y),
        val=empty,
        num_classes=10,
        name="synthetic-3x32x32",
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
    )


def bench_screen(
    label: str, data: Dataset, cfg: FitnessConfig, steps: int, repeats: int, device: str
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
    for strategy in STRATEGIES:  # warm-up, and find out what "auto" runs
        with record_trainer(picked):
            train_copies(genome, data, spec(2), cfg.screen_lrs, strategy=strategy)
    auto_pick = picked[-1]
    print(f'strategy="auto" ran the {auto_pick} trainer on {device}')

    times: dict[str, list[float]] = {s: [] for s in STRATEGIES}
    results: dict[str, list[RunResult]] = {}
    for rep in range(repeats):
        shift = rep % len(STRATEGIES)
        for strategy in STRATEGIES[shift:] + STRATEGIES[:shift]:
            sync(device)
            t0 = time.perf_counter()
            results[strategy] = train_copies(
                genome, data, spec(steps), cfg.screen_lrs, strategy=strategy
            )
            sync(device)
            times[strategy].append(time.perf_counter() - t0)
        print(
            f"  repeat {rep}: "
            + "   ".join(f"{s} {times[s][-1]:7.2f} s" for s in STRATEGIES)
            + f"   [{load_note()}]",
            flush=True,
        )

    seq = median(times["sequential"])
    ratios = {
        s: median([t / q for t, q in zip(times[s], times["sequential"], strict=True)])
        for s in STRATEGIES
    }
    print(
        f"\n{'strategy':<12} {'median s':>10} {'s/step/copy':>12} {'time / sequential':>18} "
        f"{'speed-up':>9}"
    )
    print("-" * 65)
    for s in STRATEGIES:
        m = median(times[s])
        print(
            f"{s:<12} {m:>10.2f} {m / steps / len(cfg.screen_lrs):>12.4f} {ratios[s]:>17.2f}x "
            f"{seq / m:>8.2f}x"
        )
    # Same batches, same initialisations: the two trainers should agree copy for copy (up to
    # float summation order, which chaotic runs at large learning rates amplify).
    agree: dict[str, dict[str, float]] = {}
    for a, b in zip(results["sequential"], results["grouped"], strict=True):
        if a.train_loss and b.train_loss:
            agree[fmt_lr(a.lr)] = {
                "d_loss": abs(a.train_loss[-1] - b.train_loss[-1]),
                "d_acc": abs(a.final_train_acc - b.final_train_acc),
            }
    print(
        "sequential vs grouped, final train loss |difference| per lr: "
        + ", ".join(f"{lr}: {d['d_loss']:.2g}" for lr, d in agree.items())
    )
    finite = [d for d in agree.values() if math.isfinite(d["d_loss"])]
    loss_diffs = [d["d_loss"] for d in finite]
    diffs = [d["d_acc"] for d in finite]
    return {
        "label": label,
        "base": cfg.base,
        "batch": cfg.batch_size,
        "steps": steps,
        "copies": len(cfg.screen_lrs),
        "times": times,
        "median_s": {s: median(times[s]) for s in STRATEGIES},
        "ratio_to_sequential": ratios,
        "auto_picks": auto_pick,
        "max_abs_diff_train_acc": max(diffs, default=None),
        "max_abs_diff_train_loss": max(loss_diffs, default=None),
        "diff_by_lr": agree,
    }


def bench_screens(args: argparse.Namespace, device: str) -> dict[str, Any]:
    section('(b) the seven-rate LR screen: strategy "grouped" vs "sequential" (and "auto")')
    out: dict[str, Any] = {}
    cfg = preset("quick", device=device)
    out["quick"] = bench_screen(
        "quick size (Fashion-MNIST)", dataset_for(cfg), cfg, args.screen_steps, args.repeats, device
    )
    if not args.skip_base48:
        cfg48 = preset("paper", device=device, batch_size=128, base=48)
        data48 = synthetic_dataset(max(4 * cfg48.batch_size * args.base48_steps, 2048))
        out["base48"] = bench_screen(
            "base 48, synthetic 3x32x32", data48, cfg48, args.base48_steps, args.repeats, device
        )
    return out


# ---------------------------------------------------------------------------------------------
# (c) peak memory of one quick evaluation, in fresh subprocesses

CHILD = r"""
import gc, json, resource, sys
import torch
threads, device, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
if threads > 0:
    torch.set_num_threads(threads)
import optevo.train, optevo.models
from optevo.fitness import dataset_for, fitness, preset
cfg = preset("quick", device=device)
data = dataset_for(cfg)
if device.startswith("cuda"):
    torch.zeros(1, device=device)
    torch.cuda.synchronize()
def status_kib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None
gc.collect()
out = {
    "eval_batch_size": cfg.eval_batch_size,
    "hwm_load_kib": status_kib("VmHWM"),
    "rss_after_load_kib": status_kib("VmRSS"),
    "maxrss_load_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
}
# Reset the peak-RSS mark (Linux >= 4.0): VmHWM, and ru_maxrss with it, then measure what comes
# after; max(before, after) is what ru_maxrss would have said without the reset.
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    out["hwm_reset"] = True
except OSError:
    out["hwm_reset"] = False
if mode == "eval":
    r = fitness("Adam", cfg, data=data)
    out.update(status=r.status, fitness=r.fitness, seconds=r.seconds, error=r.error)
out["hwm_after_kib"] = status_kib("VmHWM")
out["maxrss_after_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out["maxrss_kib"] = max(out["maxrss_load_kib"], out["maxrss_after_kib"])
if device.startswith("cuda"):
    out["cuda_max_allocated"] = torch.cuda.max_memory_allocated()
print("RESULT " + json.dumps(out))
"""

# ru_maxrss of a process started straight from this one starts at this process's resident size:
# Linux keeps the larger of the old and new address space's peak across fork/vfork + exec. A
# child forked by a fresh shell (not exec'd by it: the "; exit" keeps sh from exec'ing) starts
# clean, so its ru_maxrss is its own.
SHELL_HOP = ["/bin/sh", "-c", '"$0" "$@"; exit $?']


def run_child(mode: str, threads: int, device: str) -> dict[str, Any]:
    proc = subprocess.run(
        [*SHELL_HOP, sys.executable, "-c", CHILD, str(threads), device, mode],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"memory subprocess ({mode}) failed:\n{proc.stdout}\n{proc.stderr}")


def bench_memory(args: argparse.Namespace, device: str) -> dict[str, Any]:
    section("(c) peak memory of one `quick` evaluation (fresh subprocesses)")
    print(load_note())
    threads = args.threads or 0
    base = run_child("baseline", threads, device)
    ev = run_child("eval", threads, device)
    mib = 1024.0
    delta = (ev["maxrss_kib"] - base["maxrss_kib"]) / mib
    print(
        f"{'process':<44} {'ru_maxrss':>10} {'peak by load':>13} {'RSS after load':>15} "
        f"{'peak after load':>16}"
    )
    print("-" * 102)
    for name, r in (
        ("baseline: import optevo + load data set", base),
        ("same + one quick fitness evaluation (Adam)", ev),
    ):
        print(
            f"{name:<44} {r['maxrss_kib'] / mib:>6.1f} MiB {r['hwm_load_kib'] / mib:>9.1f} MiB "
            f"{r['rss_after_load_kib'] / mib:>11.1f} MiB {r['hwm_after_kib'] / mib:>12.1f} MiB"
        )
    print(
        "ru_maxrss: the whole process (loading included); peak by load: VmHWM once the data set\n"
        "is loaded; peak after load: VmHWM reset after loading, read at the end"
    )
    print(
        f"\npeak RSS added by the evaluation (ru_maxrss eval - ru_maxrss baseline): {delta:.1f} MiB"
    )
    above = None
    if ev.get("hwm_reset"):
        above = (ev["hwm_after_kib"] - ev["rss_after_load_kib"]) / mib
        print(f"evaluation's own peak above the loaded process (VmHWM reset): {above:.1f} MiB")
        print(
            "(the first figure is smaller when loading the data set peaks higher than the "
            "evaluation: the two peaks overlap)"
        )
    print(
        f"(evaluation: {ev['status']}, fitness {fmt_fit(ev['fitness'])}, {ev['seconds']:.1f} s, "
        f"eval batch {ev['eval_batch_size']})"
    )
    if ev.get("error"):
        print(f"evaluation error: {ev['error']}")
    if "cuda_max_allocated" in ev:
        print(
            f"torch.cuda.max_memory_allocated(): eval {ev['cuda_max_allocated'] / 2**20:.1f} "
            f"MiB, baseline {base['cuda_max_allocated'] / 2**20:.1f} MiB"
        )
    return {"baseline": base, "eval": ev, "delta_maxrss_mib": delta, "eval_above_load_mib": above}


# ---------------------------------------------------------------------------------------------
# (d) separation


def sign_g_genome() -> optevo.Genome:
    return optevo.Genome((optevo.Node("identity", ("sign_g",)),), optevo.Node("identity", ("h0",)))


def bench_separation(args: argparse.Namespace, device: str) -> dict[str, Any]:
    section("(d) separation on `quick`: one evaluation each (seed 0), Adam also at seeds 1, 2")
    print(load_note())
    rng = np.random.default_rng(0)
    candidates: list[tuple[str, optevo.Genome | str, int]] = [
        ("Adam", "Adam", 0),
        ("SGD", "SGD", 0),
        ("Opt6", "Opt6", 0),
        ("u = sign(g)", sign_g_genome(), 0),
    ]
    from optevo.search.candidates import random_genome

    for i in range(4):
        candidates.append((f"random #{i}", random_genome(rng), 0))
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
    print(load_note())
    return {"rows": rows, "adam_seed_spread": spread}


# ---------------------------------------------------------------------------------------------


def summary(res: dict[str, Any], device: str) -> None:
    section("SUMMARY")
    a = res.get("fitness_vs_plain")
    if a:
        m = a["median"]
        print(
            f"(a) quick fitness of Adam vs plain torch Adam loop ({a['steps']} steps): "
            f"{m['fitness_s']:.1f} s vs {m['plain_s']:.1f} s (medians); median ratio "
            f"{m['ratio']:.2f}x (target <= 1.30x: {'PASS' if a['pass'] else 'FAIL'}); "
            f"training alone {a['median_train_only_ratio']:.2f}x; validation "
            f"{m['validation_s'] / m['fitness_s']:.0%} of the evaluation"
        )
    if a and a.get("validation_by_eval_batch"):
        probe = a["validation_by_eval_batch"]
        ref_b = a["eval_batch_size"]
        best = min(probe, key=lambda k: probe[k])
        print(
            f"(a) one validation pass: eval batch {best} takes {probe[best] / probe[ref_b]:.2f}x "
            f"the time of the preset's {ref_b} on this device"
        )
    b = res.get("screen", {})
    cuda = device.startswith("cuda")
    for key, s in b.items():
        r = s["ratio_to_sequential"]
        line = (
            f"(b) screen {key} ({s['copies']} copies x {s['steps']} steps, base {s['base']}, "
            f"batch {s['batch']}): grouped/sequential {r['grouped']:.2f}x, auto/sequential "
            f"{r['auto']:.2f}x; auto runs {s['auto_picks']}"
        )
        if cuda:
            ok = r["grouped"] <= 0.5
            line += f"; target grouped >= 2x faster: {'PASS' if ok else 'FAIL'}"
        else:
            line += (
                " (= sequential on a CPU, so the chosen path is no slower than sequential"
                f"{'' if s['auto_picks'] == 'sequential' else ' -- UNEXPECTED'})"
            )
        print(line)
    c = res.get("memory")
    if c:
        line = (
            f"(c) peak RSS of one quick evaluation: ru_maxrss eval - baseline "
            f"{c['delta_maxrss_mib']:.1f} MiB (baseline {c['baseline']['maxrss_kib'] / 1024:.0f} "
            f"MiB, eval {c['eval']['maxrss_kib'] / 1024:.0f} MiB)"
        )
        if c.get("eval_above_load_mib") is not None:
            line += f"; its own peak above the loaded process {c['eval_above_load_mib']:.1f} MiB"
        if "cuda_max_allocated" in c["eval"]:
            line += f"; CUDA max allocated {c['eval']['cuda_max_allocated'] / 2**20:.1f} MiB"
        print(line)
    d = res.get("separation")
    if d:
        parts = [
            f"{r['name']}[{r['seed']}]={fmt_fit(r['fitness'])}"
            + ("" if r["status"] == "ok" else f"({r['status']})")
            for r in d["rows"]
        ]
        print("(d) " + ", ".join(parts) + f"; Adam seed spread {d['adam_seed_spread']:.4f}")
    print(load_note())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--skip-base48", action="store_true", help="leave out (b) at base 48")
    parser.add_argument("--screen-steps", type=int, default=40, help="(b) steps at quick size")
    parser.add_argument("--base48-steps", type=int, default=10, help="(b) steps at base 48")
    parser.add_argument(
        "--separation",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run (d), ~2 minutes on a 2-core CPU",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True

    t_start = time.perf_counter()
    print(
        f"optevo {optevo.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, device {device}"
        + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else "")
        + f", {torch.get_num_threads()} torch threads, {os.cpu_count()} cores, "
        f"{args.repeats} repeats"
    )
    print(load_note())
    res: dict[str, Any] = {
        "device": device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "repeats": args.repeats,
    }
    res["fitness_vs_plain"] = bench_fitness_vs_plain(args, device)
    res["screen"] = bench_screens(args, device)
    res["memory"] = bench_memory(args, device)
    if args.separation:
        res["separation"] = bench_separation(args, device)
    summary(res, device)
    res["wall_s"] = time.perf_counter() - t_start
    print(f"total wall time {res['wall_s']:.0f} s")
    if args.out is not None:
        args.out.write_text(json.dumps(res, indent=2, default=str))
        print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
