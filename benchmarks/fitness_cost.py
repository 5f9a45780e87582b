"""Fitness cost: one `quick` fitness evaluation of Adam against a plain PyTorch loop.

The evaluation of "Adam" against a plain loop that trains the same ConvNet (base 16, 1x28x28,
channels-last) with `torch.optim.Adam(foreach=True)` for the same total number of steps (sum of
`run.steps` over the evaluation's runs), batch 64, random minibatches from the same in-memory
tensors, no validation. Interleaved (fitness, plain, fitness, plain, ...); medians over
repeats. Target: fitness/plain <= 1.3x.

The evaluation's time is split into screen / full run / validation by timing wrappers
installed in this process only, around the functions as they are looked up at call time:
`train_copies` in `optevo.fitness.protocol` (screen: a spec without validation; full run:
with it) and `validate`, the held-out pass, in `optevo.fitness.sequential` and
`optevo.fitness.packed` (the layouts' `validate()` call it by that name). Last, one
validation pass timed at several eval batch sizes (the `quick` preset's 250 comes from it).

Compare the ratios, never absolute seconds across runs (common.py: the load note).

    python benchmarks/fitness_cost.py                     # CPU, 3 repeats
    python benchmarks/fitness_cost.py --repeats 5 --out res.json
    python benchmarks/fitness_cost.py --device cuda
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F

import common
from common import fmt_fit, fmt_lr, load_note, median, section, sync, total_steps
from optevo import library
from optevo.data import ImageSet
from optevo.fitness import FitnessConfig, dataset_for, fitness, packed, preset, protocol, sequential
from optevo.fitness.layout import new_model, validate
from optevo.fitness.loop import train_copies
from optevo.fitness.spec import TrainSpec
from optevo.models import ConvNet

TARGET = 1.3


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
        self.screen_calls = 0
        self.full = 0.0

    def _timed_validate(self, fn: Callable[..., Any]) -> Callable[..., Any]:
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
                    self.screen_calls += 1

        return wrapper

    @contextlib.contextmanager
    def installed(self) -> Iterator[PhaseTimer]:
        # Module globals, looked up when called: the layouts' validate() calls `validate` of
        # its own module, the protocol calls `train_copies` of its own.
        layouts = (sequential, packed)
        saved_validate = [m.validate for m in layouts]
        saved_train = protocol.train_copies
        for m, fn in zip(layouts, saved_validate, strict=True):
            m.validate = self._timed_validate(fn)  # type: ignore[assignment]
        protocol.train_copies = self._timed_train(saved_train)
        try:
            yield self
        finally:
            for m, fn in zip(layouts, saved_validate, strict=True):
                m.validate = fn  # type: ignore[assignment]
            protocol.train_copies = saved_train


def plain_adam_loop(
    data: ImageSet, steps: int, cfg: FitnessConfig, device: str, seed: int = 0
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
    data: ImageSet, cfg: FitnessConfig, device: str, repeats: int
) -> dict[int, float]:
    """Median seconds of one validation pass (`optevo.fitness.layout.validate`, a
    base-`cfg.base` model, all of `data.val`) at several eval batch sizes, interleaved in
    rotating order."""
    spec = TrainSpec(
        base=cfg.base,
        total_steps=cfg.total_steps,
        device=device,
        channels_last=cfg.channels_last,
        dropout=cfg.dropout,
    )
    model = new_model(data, spec, 0, device)
    sizes = sorted({cfg.eval_batch_size, 1000, 500, 250, 125}, reverse=True)
    specs = {b: dataclasses.replace(spec, eval_batch_size=b) for b in sizes}
    for b in sizes:  # warm-up
        validate(model, data, specs[b], device)
    times: dict[int, list[float]] = {b: [] for b in sizes}
    for rep in range(repeats):
        shift = rep % len(sizes)
        for b in sizes[shift:] + sizes[:shift]:
            sync(device)
            t0 = time.perf_counter()
            validate(model, data, specs[b], device)
            sync(device)
            times[b].append(time.perf_counter() - t0)
    return {b: median(ts) for b, ts in times.items()}


def bench_fitness_vs_plain(repeats: int, device: str) -> dict[str, Any]:
    section("one `quick` fitness evaluation of Adam vs a plain torch.optim.Adam loop")
    cfg = preset("quick", device=device)
    data = dataset_for(cfg)
    print(
        f"data: {data}; preset quick: base {cfg.base}, batch {cfg.batch_size}, "
        f"{len(cfg.screen_lrs)}-rate screen x {cfg.screen_steps} steps, full run "
        f"{cfg.total_steps} steps, validated every {cfg.epoch_steps} steps on "
        f"{len(data.val[1])} images in batches of {cfg.eval_batch_size}, layout "
        f"{cfg.layout!r}"
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
    train_copies(library.genome("Adam"), data, warm, [1e-3], layout="sequential")
    plain_adam_loop(data, 20, cfg, device)

    timer = PhaseTimer(device)
    rows: list[dict[str, Any]] = []
    for rep in range(repeats):
        timer.reset()
        with timer.installed():
            result = fitness("Adam", cfg, data=data)
        sync(device)
        if result.status == "error":
            raise RuntimeError(f"the evaluation failed:\n{result.error}")
        full_run = len(result.runs) > len(cfg.screen_lrs)
        if timer.screen_calls == 0 or (full_run and timer.validation_calls == 0):
            raise RuntimeError(
                "the phase timer saw no screen or no validation: optevo.fitness no longer "
                "looks up train_copies / validate where this benchmark wraps them"
            )
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
        (f"  screen (train_copies, {len(cfg.screen_lrs)} rates)", med["screen_s"]),
        ("  full run (train_copies, incl. validation)", med["full_s"]),
        (f"    of which validation ({r0['validation_calls']} calls)", med["validation_s"]),
        ("  outside train_copies (resolve, protocol)", med["other_s"]),
        (f"plain torch.optim.Adam loop, {steps} steps", med["plain_s"]),
    ]
    for name, v in lines:
        print(f"{name:<52} {v:>10.2f} {v / med['fitness_s']:>7.1%}")
    print(
        f"\nmedian ratio fitness / plain:                {med['ratio']:.2f}x  "
        f"(target <= {TARGET:.2f}x)"
    )
    print(f"median ratio (fitness - validation) / plain: {train_only:.2f}x  (training alone)")
    print(
        f"steps/s: fitness {steps / med['fitness_s']:.1f} (all included), plain "
        f"{steps / med['plain_s']:.1f}"
    )
    probe_repeats = max(5, repeats)
    probe = validation_batch_probe(data, cfg, device, probe_repeats)
    ref = probe[cfg.eval_batch_size]
    print(
        f"\none validation pass ({len(data.val[1])} images, base {cfg.base}) by eval batch size "
        f"(interleaved, median of {probe_repeats}; the preset uses {cfg.eval_batch_size}):"
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
        "target_ratio": TARGET,
        "pass": med["ratio"] <= TARGET,
    }


def summary(a: dict[str, Any]) -> None:
    section("SUMMARY")
    m = a["median"]
    print(
        f"quick fitness of Adam vs plain torch Adam loop ({a['steps']} steps): "
        f"{m['fitness_s']:.1f} s vs {m['plain_s']:.1f} s (medians); median ratio "
        f"{m['ratio']:.2f}x (target <= {TARGET:.2f}x: {'PASS' if a['pass'] else 'FAIL'}); "
        f"training alone {a['median_train_only_ratio']:.2f}x; validation "
        f"{m['validation_s'] / m['fitness_s']:.0%} of the evaluation"
    )
    probe = a["validation_by_eval_batch"]
    ref_b = a["eval_batch_size"]
    best = min(probe, key=lambda k: probe[k])
    print(
        f"one validation pass: eval batch {best} takes {probe[best] / probe[ref_b]:.2f}x "
        f"the time of the preset's {ref_b} on this device"
    )


def main() -> None:
    parser = common.parser(__doc__, repeats=3)
    args = parser.parse_args()
    t_start = time.perf_counter()
    device, res = common.start(args)
    res["fitness_vs_plain"] = bench_fitness_vs_plain(args.repeats, device)
    summary(res["fitness_vs_plain"])
    common.finish(res, args.out, t_start)


if __name__ == "__main__":
    main()
