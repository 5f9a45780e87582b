"""The search strategies compared on equal budgets (issue 16, item 2).

Arms: the particle GA, regularized evolution and random search, each without and with the
funnel; `--seeds` search seeds each. Every run searches the same space with the same fitness
and stops at the same budget counted in optimizer steps (`RunConfig.budget_steps`: screens,
full runs and the funnel's rungs, duplicates free). At budget checkpoints (a quarter, half,
three quarters and all of it) each run's incumbent (its best genome by the ranking the run
itself uses: the highest rung reached, then fitness) is scored by yardsticks no run selected
on:

- `yard`: the whole search suite (the `suite` fitness preset, six tasks at full size) at a
  training seed no run uses (`--yard-seed`), as d against Adam (0 = Adam's level);
- `val`: at the last checkpoint only, the validation suite (`optevo validate`'s protocol at
  `--val-scale` of its budget, `--val-seeds` seeds, Adam beside it), as the mean over its tasks
  of the difference to Adam relative to Adam's metric, clipped to [-1, 1] (0 = Adam).

Everything is stored as it finishes under --out (run stores under runs/, yardsticks in
yard.jsonl, validation scores in val.jsonl and their runs under validation/), so the same
command resumes; `--jobs` runs go at once (one torch thread each). With `--jobs 1` each run
is scored (yardsticks, validation) as soon as it ends, in the lane's own process (Adam's
references once per lane), so two lanes (`--part 0/2`, `--part 1/2`) share the whole work;
the analysis scores whatever is missing, then writes table.md, results.json and anytime.png.

Sized for a 2-core CPU: a run's 150,000 steps are ~30 candidates at rung 0 (~4,500 steps
each: three tasks at half their search budget, the screen's 7 rates and the full run), 67 s
(particle) and 87 s (particle+funnel) of one core as measured; its scoring costs more (up to
4 suite yardsticks at ~32 s, one validation at half budget ~3 min, Adam's once per lane).

    python benchmarks/strategies.py --out docs/results/strategies --jobs 2
    python benchmarks/strategies.py --out /tmp/s --seeds 1 --budget 20000 --smoke   # minutes
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STRATEGIES: dict[str, dict[str, Any]] = {
    # Each with a candidate budget far above what the step budget allows: the steps stop it.
    "particle": {
        "kind": "particle",
        "particles": 4,
        "time_steps": 200,
        "mutations": 4,
        "init_factor": 2,
        "screen_redraws": 1,
    },
    "regularized": {
        "kind": "regularized",
        "population": 8,
        "tournament": 3,
        "batch": 4,
        "budget": 5000,
    },
    "random": {"kind": "random", "batch": 8, "budget": 5000},
}
# Warm-started arms (issue 24, item 5): the extended space (constants as genes), the same
# seed genomes for all three, children by local edits (one node, decay function, constant or
# learning-rate factor), restarts from the incumbent. The seeds are the standard optimizers
# (no paper find, nothing chosen on the validation suite): at 150,000 steps the whole library
# (41 genomes, ~185,000 steps at rung 0) would spend the budget before the first child.
WARM_SEEDS = ["Adam", "AdamW", "Lion", "RMSProp", "QHM", "Nesterov"]
WARM: dict[str, Any] = {
    "seed_genomes": WARM_SEEDS,
    "mutation": "local",
    "schedule_p": 0.15,
    "restart_after": 24,
}
STRATEGIES.update(
    {
        "particle-warm": {
            **STRATEGIES["particle"],
            "init_factor": 0,
            "seeded": 4,
            **WARM,
        },
        "regularized-warm": {**STRATEGIES["regularized"], **WARM},
        "random-warm": {**STRATEGIES["random"], "seed_genomes": WARM_SEEDS},
    }
)
DEFAULT_ARMS = ("particle", "regularized", "random")
"""The arms of the first comparison (issue 16): from random genomes, each without and with
the funnel."""
SEARCH_TASKS = ["teacher-mlp", "heavy-tailed-logreg", "manifold-autoencoder"]
SMOKE_TASKS = ["teacher-mlp", "heavy-tailed-logreg"]


def fitness_section(tasks: list[str], scale: float) -> dict[str, Any]:
    return {
        "preset": "suite",
        "tasks": [{"name": t, "weight": 1, "size": "search"} for t in tasks],
        "task_scale": scale,
    }


def run_config(arm: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The run configuration of one arm ("particle", "random+funnel", ...) and search seed."""
    strategy, _, funnel = arm.partition("+")
    tasks = SMOKE_TASKS if args.smoke else SEARCH_TASKS
    raw: dict[str, Any] = {
        "name": f"strategies-{arm}-s{seed}",
        "description": "benchmarks/strategies.py",
        "seed": seed,
        "fitness": fitness_section(tasks, args.scale),
        "strategy": dict(STRATEGIES[strategy]),
        "executor": {"kind": "serial", "threads": 1},
        "budget_steps": args.budget,
    }
    if strategy.endswith("-warm"):
        raw["space"] = {"kind": "extended"}
    if funnel:
        # rung 1: the same tasks at their full size on a fresh seed, the top quarter
        raw["funnel"] = {
            "rungs": [{"fitness": {"task_scale": args.rung_scale}, "keep": 0.25, "seeds": 1}]
        }
    return raw


def arms(selected: str | None = None) -> list[str]:
    """The arms to run: `selected` (comma-separated, e.g. `particle-warm,random`), default
    the first comparison's six (three strategies, without and with the funnel)."""
    if selected:
        names = [a.strip() for a in selected.split(",") if a.strip()]
        unknown = [a for a in names if a.partition("+")[0] not in STRATEGIES]
        if unknown:
            raise SystemExit(f"unknown arm(s) {unknown}; strategies: {', '.join(STRATEGIES)}")
        return names
    return [f"{s}{f}" for s in DEFAULT_ARMS for f in ("", "+funnel")]


# --------------------------------------------------------------------------- one run


def run_one(out: Path, arm: str, seed: int, args: argparse.Namespace) -> None:
    """Start or resume one search run (in this process)."""
    import torch

    from optevo.config import build
    from optevo.search.api import resume_search, start_search
    from optevo.search.config import RunConfig

    torch.set_num_threads(1)
    run_dir = out / "runs" / f"{arm}-s{seed}"
    cfg = build(RunConfig, run_config(arm, seed, args), f"{arm} seed {seed}")
    t0 = time.perf_counter()
    if (run_dir / "run.sqlite").exists():
        summary = resume_search(run_dir)
    else:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        summary = start_search(cfg, run_dir)
    wall = time.perf_counter() - t0
    meta = run_dir / "wall.json"
    previous = json.loads(meta.read_text())["seconds"] if meta.exists() else 0.0
    meta.write_text(json.dumps({"seconds": previous + wall}) + "\n")
    print(f"{arm} seed {seed}: {summary.counts['requested']} candidates, {wall:.0f} s", flush=True)


def run_all(out: Path, args: argparse.Namespace) -> None:
    """Every arm and seed, `--jobs` at a time, each in its own process."""
    todo = [(arm, seed) for seed in range(args.seeds) for arm in arms(args.arms)]
    index, count = (int(x) for x in args.part.split("/"))
    todo = todo[index::count]  # this process's part (another process may run the rest)
    todo = [(a, s) for a, s in todo if not _finished(out / "runs" / f"{a}-s{s}")]
    print(f"{len(todo)} runs to go", flush=True)
    running: list[subprocess.Popen[bytes]] = []
    base = [
        sys.executable,
        __file__,
        "--out",
        str(out),
        "--budget",
        str(args.budget),
        "--scale",
        str(args.scale),
        "--rung-scale",
        str(args.rung_scale),
    ]
    if args.smoke:
        base.append("--smoke")
    part = f"part-{index}of{count}"
    for arm, seed in todo:
        while len(running) >= args.jobs:
            running = [p for p in running if p.poll() is None]
            time.sleep(1)
        running.append(subprocess.Popen([*base, "--one", f"{arm}:{seed}"]))
        if args.jobs == 1:
            running.pop().wait()
            if _finished(out / "runs" / f"{arm}-s{seed}"):
                score_run(out, arm, seed, args, out / "validation" / part)
    for p in running:
        p.wait()


def _finished(run_dir: Path) -> bool:
    if not (run_dir / "run.sqlite").exists():
        return False
    from optevo.search.store import RunStore

    with RunStore.open(run_dir, lock=False) as store:
        return store.get_meta("finished") is not None


# --------------------------------------------------------------------------- anytime


def history(run_dir: Path) -> list[tuple[int, Any]]:
    """(cumulative steps, evaluation) in the order the run finished them: the search stage
    and the funnel's rungs (what the budget counts)."""
    from optevo.search.records import funnel_rung
    from optevo.search.store import RunStore

    out = []
    spent = 0
    with RunStore.open(run_dir, lock=False) as store:
        for ev in store.evaluations():
            if ev.request.stage != "init" and funnel_rung(ev.request.stage) is None:
                continue
            if ev.duplicate_of is None:
                spent += sum(t.result.steps for t in store.trials(ev.key).values())
            out.append((spent, ev))
    return out


def checkpoints_of(args: argparse.Namespace) -> list[int]:
    return [round(args.budget * f) for f in (0.25, 0.5, 0.75, 1.0)]


def score_run(out: Path, arm: str, seed: int, args: argparse.Namespace, folder: Path) -> None:
    """One finished run's yardsticks (its incumbents at every checkpoint) and the validation
    score of its last incumbent (runs in `folder`), stored in yard.jsonl and val.jsonl."""
    evs = incumbents(history(out / "runs" / f"{arm}-s{seed}"), checkpoints_of(args))
    yardstick(out, [ev for ev in evs if ev is not None], args)
    if evs[-1] is not None and not args.no_validation:
        validation(out, [evs[-1]], args, folder)


def incumbents(hist: list[tuple[int, Any]], checkpoints: Iterable[int]) -> list[Any | None]:
    """The best evaluation (by the run's own ranking) finished within each checkpoint."""
    out = []
    for c in checkpoints:
        seen = [ev for spent, ev in hist if spent <= c and ev.request.stage != "init"]
        seen = [ev for ev in seen if ev.fitness is not None]
        out.append(max(seen, key=lambda e: e.rank_key()) if seen else None)
    return out


# --------------------------------------------------------------------------- yardsticks


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def yardstick(out: Path, evs: list[Any], args: argparse.Namespace) -> dict[str, float | None]:
    """The whole search suite at the yardstick seed for each distinct genome (stored)."""
    import torch

    from optevo.fitness import fitness, preset

    torch.set_num_threads(1)
    path = out / "yard.jsonl"
    done = {r["key"]: r["fitness"] for r in read_jsonl(path)}
    cfg = preset("suite", seed=args.yard_seed)
    if args.smoke:
        cfg = preset("suite", seed=args.yard_seed, tasks=fitness_section(SMOKE_TASKS, 1)["tasks"])
    for ev in evs:
        key = f"{ev.canonical_hash}:{ev.request.schedule}"
        if key in done:
            continue
        result = fitness(ev.genome, cfg, ev.request.schedule)
        done[key] = result.fitness
        with path.open("a") as fh:
            fh.write(
                json.dumps({"key": key, "fitness": result.fitness, "status": result.status}) + "\n"
            )
        print(f"yardstick {key[:10]}: {result.fitness}", flush=True)
    return done


def validation(
    out: Path, evs: list[Any], args: argparse.Namespace, folder: Path
) -> dict[str, float | None]:
    """The validation score of each distinct genome (see the module), Adam beside them: read
    from val.jsonl, the missing ones run in `folder` and appended there."""
    from optevo.optim.spec import OptimizerSpec, baseline
    from optevo.tasks.registry import TASKS
    from optevo.validate.run import ValidateConfig, run_validate

    path = out / "val.jsonl"
    done: dict[str, float | None] = {r["key"]: r["score"] for r in read_jsonl(path)}
    specs: dict[str, OptimizerSpec] = {}
    for ev in evs:
        key = f"{ev.canonical_hash}:{ev.request.schedule}"
        if key not in done:
            label = ev.canonical_hash[:10]
            specs.setdefault(key, OptimizerSpec(label, ev.genome, ev.request.schedule))
    if not specs:
        return done
    tasks = ("cancer-logreg", "ratings-mf") if args.smoke else ()
    config = ValidateConfig(
        (baseline("Adam"), *specs.values()), tasks, seeds=args.val_seeds, scale=args.val_scale
    )
    results = run_validate(config, folder)
    scores: dict[str, list[float]] = {k: [] for k in specs}
    for task in results:
        hib = TASKS[task.task.name].higher_is_better
        means = {}
        for entry in task.entries:
            ok = [r.metric for r in entry.finals if r.status == "ok" and r.metric is not None]
            full = len(ok) == len(entry.finals) and ok
            means[entry.spec.label] = statistics.fmean(ok) if full else None
        adam = means.get("Adam")
        for key, spec in specs.items():
            m = means.get(spec.label)
            if m is None or adam is None:
                scores[key].append(-1.0)
                continue
            rel = (m - adam) / abs(adam) if hib else (adam - m) / abs(adam)
            scores[key].append(max(-1.0, min(1.0, rel)))
    with path.open("a") as fh:
        for key, v in scores.items():
            done[key] = statistics.fmean(v) if v else None
            fh.write(json.dumps({"key": key, "score": done[key]}) + "\n")
    return done


# --------------------------------------------------------------------------- analysis


def analyze(out: Path, args: argparse.Namespace) -> dict[str, Any]:
    checkpoints = checkpoints_of(args)
    runs: dict[str, dict[int, Any]] = {}
    for arm in arms(args.arms):
        for seed in range(args.seeds):
            run_dir = out / "runs" / f"{arm}-s{seed}"
            if _finished(run_dir):
                runs.setdefault(arm, {})[seed] = run_dir
    chosen: dict[tuple[str, int], list[Any | None]] = {}
    counts: dict[tuple[str, int], int] = {}
    for arm, seeds in runs.items():
        for seed, run_dir in seeds.items():
            hist = history(run_dir)
            chosen[(arm, seed)] = incumbents(hist, checkpoints)
            counts[(arm, seed)] = sum(1 for _, ev in hist if ev.request.stage == "search")
    every = [ev for evs in chosen.values() for ev in evs if ev is not None]
    yard = yardstick(out, every, args)
    finals = [evs[-1] for evs in chosen.values() if evs[-1] is not None]
    val = {} if args.no_validation else validation(out, finals, args, out / "validation" / "rest")

    def key(ev: Any) -> str:
        return f"{ev.canonical_hash}:{ev.request.schedule}"

    rows = []
    for arm, seeds in runs.items():
        per_seed = []
        for seed in seeds:
            evs = chosen[(arm, seed)]
            wall_file = out / "runs" / f"{arm}-s{seed}" / "wall.json"
            per_seed.append(
                {
                    "seed": seed,
                    "candidates": counts[(arm, seed)],
                    "seconds": json.loads(wall_file.read_text())["seconds"]
                    if wall_file.exists()
                    else None,
                    "yard": [None if ev is None else yard.get(key(ev)) for ev in evs],
                    "val": None if evs[-1] is None else val.get(key(evs[-1])),
                    "incumbent": None if evs[-1] is None else key(evs[-1]),
                    "equation": None if evs[-1] is None else str(evs[-1].genome),
                }
            )
        rows.append({"arm": arm, "seeds": per_seed})
    result = {
        "budget_steps": args.budget,
        "checkpoints": checkpoints,
        "arms": rows,
        "search_tasks": SMOKE_TASKS if args.smoke else SEARCH_TASKS,
        "scale": args.scale,
        "rung_scale": args.rung_scale,
        "yard_seed": args.yard_seed,
        "val_scale": args.val_scale,
        "val_seeds": args.val_seeds,
    }
    (out / "results.json").write_text(json.dumps(result, indent=1) + "\n")
    write_table(out, result)
    plot(out, result)
    return result


def _median_iqr(xs: list[float | None]) -> str:
    vals = sorted(x if x is not None else -1.0 for x in xs)
    if not vals:
        return "-"
    q = statistics.quantiles(vals, n=4) if len(vals) > 1 else [vals[0]] * 3
    return f"{statistics.median(vals):+.3f} [{q[0]:+.3f}, {q[2]:+.3f}]"


def write_table(out: Path, result: dict[str, Any]) -> None:
    lines = [
        f"Budget {result['budget_steps']:,} optimizer steps per run; median [quartiles] over "
        "search seeds of the last incumbent's yardsticks (0 = Adam's level; a failed or "
        "missing figure counts -1).",
        "",
        "| arm | runs | candidates (median) | wall s (median) | yard: whole search suite | "
        "val: validation suite |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["arms"]:
        seeds = row["seeds"]
        cands = statistics.median(s["candidates"] for s in seeds)
        walls = [s["seconds"] for s in seeds if s["seconds"] is not None]
        wall = f"{statistics.median(walls):.0f}" if walls else "-"
        lines.append(
            f"| {row['arm']} | {len(seeds)} | {cands:g} | {wall} | "
            f"{_median_iqr([s['yard'][-1] for s in seeds])} | "
            f"{_median_iqr([s['val'] for s in seeds])} |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")


def plot(out: Path, result: dict[str, Any]) -> None:
    """One panel per strategy (without and with the funnel): every search seed's incumbent
    at each checkpoint (thin) and their median (thick)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = result["checkpoints"]
    strategies = list(dict.fromkeys(row["arm"].partition("+")[0] for row in result["arms"]))
    fig, axes = plt.subplots(
        1, len(strategies), figsize=(4 * len(strategies), 4), sharey=True, squeeze=False
    )
    for ax, strategy in zip(axes[0], strategies, strict=True):
        for row, color in zip(
            [r for r in result["arms"] if r["arm"].partition("+")[0] == strategy],
            ("tab:blue", "tab:orange"),
            strict=False,
        ):
            funnel = "+funnel" in row["arm"]
            style = "--" if funnel else "-"
            for s in row["seeds"]:
                pts = [(x, y) for x, y in zip(xs, s["yard"], strict=True) if y is not None]
                ax.plot(*zip(*pts, strict=True), style, color=color, alpha=0.25, lw=0.8)
            # a checkpoint where a run had no incumbent yet (its budget still in the particle
            # GA's initial population) is left out of that checkpoint's median
            per_cp = [
                [y for y in v if y is not None]
                for v in zip(*[s["yard"] for s in row["seeds"]], strict=True)
            ]
            kept = [(x, statistics.median(v)) for x, v in zip(xs, per_cp, strict=True) if v]
            if kept:
                ax.plot(
                    *zip(*kept, strict=True),
                    style,
                    color=color,
                    lw=2.2,
                    marker="o",
                    label=f"{'with' if funnel else 'no'} funnel (median)",
                )
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(strategy)
        ax.set_xticks(xs, [f"{x / 1000:g}k" for x in xs])
        ax.set_xlabel("optimizer steps spent")
        ax.legend(fontsize=8, loc="lower right")
    axes[0][0].set_ylabel("incumbent on the whole search suite (d vs Adam)")
    fig.suptitle("Anytime: each search seed (thin) and the median over seeds (thick)")
    fig.tight_layout()
    fig.savefig(out / "anytime.png", dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("docs/results/strategies"))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--budget", type=int, default=150_000, help="optimizer steps per run")
    p.add_argument("--scale", type=float, default=0.5, help="search tasks' task_scale")
    p.add_argument("--rung-scale", type=float, default=1.0, help="funnel rung 1's task_scale")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--part", default="0/1", help="I/N: run only every N-th run from the I-th")
    p.add_argument("--no-analyze", action="store_true", help="run, but write no tables")
    p.add_argument("--yard-seed", type=int, default=1000)
    p.add_argument("--val-scale", type=float, default=0.5)
    p.add_argument("--val-seeds", type=int, default=2)
    p.add_argument("--no-validation", action="store_true")
    p.add_argument("--smoke", action="store_true", help="two small tasks (a test of the script)")
    p.add_argument(
        "--arms",
        default=None,
        help="comma-separated arms (e.g. particle-warm,regularized-warm,random-warm,random); "
        "default: particle, regularized, random, each without and with +funnel",
    )
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    p.add_argument("--analyze-only", action="store_true")
    args = p.parse_args()
    if args.one:
        arm, seed = args.one.split(":")
        run_one(args.out, arm, int(seed), args)
        return
    if not args.analyze_only:
        run_all(args.out, args)
    if args.no_analyze:
        return
    result = analyze(args.out, args)
    print((args.out / "table.md").read_text())
    del result


if __name__ == "__main__":
    main()
