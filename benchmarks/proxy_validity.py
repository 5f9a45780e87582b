"""Does the fitness predict transfer? (issue 15, item 6)

Over a fixed set of genomes (every named optimizer of the library, Adam included, plus
`--random` random and `--mutated` mutated valid genomes from `--seed`), the figures a search
could select on, and the validation suite's score of the same genomes:

- `quick`: the single-task quick fitness (Fashion-MNIST ConvNet), seed 0;
- `suite`: the paired multi-task suite fitness (clipped mean of d), seed 0, and `suite-s1`
  at seed 1 (the seed-to-seed rank correlation); `suite-rank`: the same tasks' results
  aggregated as a mean rank instead (which aggregation predicts better, issue 15 item 4);
  `suite-2seed`: the mean of seeds 0 and 1;
- one column per search task: its d alone, seed 0;
- `validation`: the validation suite's score, a mean rank over its tasks of each genome's mean
  test metric over seeds 0-1 at its own learning-rate test's rate (`optevo validate`'s
  protocol); `validation-d`: the mean over tasks of the difference to Adam relative to Adam's
  metric, clipped to [-1, 1].

Spearman correlation of every column with `validation` (bootstrap 95% interval over genomes,
2,000 resamples), and the top-5 overlap between each column and the validation's top 5.

Three stages, each resumable (results appended as JSON lines as they come):

    python benchmarks/proxy_validity.py fitness --out docs/results/proxy-validity
    python benchmarks/proxy_validity.py validate --out docs/results/proxy-validity --shard 0/2
    python benchmarks/proxy_validity.py validate --out docs/results/proxy-validity --shard 1/2
    python benchmarks/proxy_validity.py analyze --out docs/results/proxy-validity \\
        --named docs/results/validation/named

`validate` runs `optevo validate`'s protocol (2 seeds) on the random and mutated genomes only;
the named optimizers' validation runs are read from `--named` (the committed run of item 7,
seeds 0-1 of its 3). Failures count: a genome that fails a fitness is ranked below every
genome that did not, one that fails a validation task gets that task's worst rank.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

NAMED = tuple(f"Opt{i}" for i in range(1, 11)) + tuple(f"A{i}" for i in range(1, 6))
NAMED += tuple(f"LR{i}" for i in range(1, 10))
NAMED += ("SGD", "Momentum", "Nesterov", "QHM", "RMSProp", "PowerSign-ld", "AddSign-ld", "Adam")
MUTATION_PARENTS = ("Adam", "Opt1", "Opt6", "Opt9", "RMSProp", "QHM", "PowerSign-ld")
SEEDS = (0, 1)
LOWER_IS_BETTER = {"bits-per-char", "cross-entropy", "mse", "loss"}


# --------------------------------------------------------------------------- genomes


def genomes(random: int, mutated: int, seed: int) -> list[dict[str, Any]]:
    """The study's genomes, in a fixed order: name, genome (JSON), schedule, kind."""
    from optevo import library
    from optevo.search.candidates import draw_child, draw_random

    rows: list[dict[str, Any]] = []
    for name in NAMED:
        entry = library.get(name)
        sched = entry.lr_schedule or "one_cycle"
        rows.append(
            {"name": name, "genome": entry.genome.to_json(), "schedule": sched, "kind": "named"}
        )
    rng = np.random.default_rng(seed)
    seen = {r["genome"] for r in rows}
    for i in range(random):
        drawn = draw_random(rng, is_new=lambda g: g.to_json() not in seen).genome
        seen.add(drawn.to_json())
        rows.append(
            {
                "name": f"random-{i}",
                "genome": drawn.to_json(),
                "schedule": "one_cycle",
                "kind": "random",
            }
        )
    for i in range(mutated):
        parent = MUTATION_PARENTS[i % len(MUTATION_PARENTS)]
        child = library.genome(parent)
        for _ in range(1 + i // len(MUTATION_PARENTS)):  # later rounds: more mutations away
            child = draw_child(child, rng, is_new=lambda g: g.to_json() not in seen).genome
        seen.add(child.to_json())
        rows.append(
            {
                "name": f"mut{i}-{parent}",
                "genome": child.to_json(),
                "schedule": "one_cycle",
                "kind": "mutated",
            }
        )
    return rows


def genome_of(row: dict[str, Any]) -> Any:
    from optevo.space.genome import Genome

    return Genome.from_json(row["genome"])


# --------------------------------------------------------------------------- stores


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: run it again
                continue
    return out


def append_jsonl(path: Path, row: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(row, allow_nan=False) + "\n")
        fh.flush()


def write_genomes(out: Path, rows: list[dict[str, Any]]) -> None:
    path = out / "genomes.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if [r["genome"] for r in stored] != [r["genome"] for r in rows]:
            raise SystemExit(f"{path} holds other genomes (check --random/--mutated/--seed)")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, indent=1) + "\n")


# --------------------------------------------------------------------------- stage 1: fitness

FITNESS_COLUMNS = {"quick": ("quick", 0), "suite": ("suite", 0), "suite-s1": ("suite", 1)}


def run_fitness(out: Path, rows: list[dict[str, Any]], columns: Iterable[str]) -> None:
    import torch

    from optevo.fitness import fitness, preset

    torch.set_num_threads(1)
    store = out / "fitness.jsonl"
    done = {(r["name"], r["column"]) for r in read_jsonl(store)}
    named = [r for r in rows if r["kind"] == "named"]
    others = [r for r in rows if r["kind"] != "named"]
    mixed = [r for pair in zip(named, others, strict=False) for r in pair]  # a cut-off run
    mixed += named[len(others) :] + others[len(named) :]  # still holds both kinds
    todo = [(row, col) for row in mixed for col in columns if (row["name"], col) not in done]
    print(f"{len(todo)} fitness evaluations to run ({len(done)} stored)", flush=True)
    for i, (row, col) in enumerate(todo, 1):
        name, seed = FITNESS_COLUMNS[col]
        base = preset(name)
        t0 = time.perf_counter()
        result = fitness(genome_of(row), preset(name, seed=base.seed + seed), row["schedule"])
        record: dict[str, Any] = {
            "name": row["name"],
            "column": col,
            "fitness": result.fitness,
            "status": result.status,
            "seconds": round(time.perf_counter() - t0, 2),
        }
        if result.tasks:
            record["tasks"] = {
                t.task: {"d": t.d, "score": t.score, "status": t.status, "adam": t.adam}
                for t in result.tasks
            }
        append_jsonl(store, record)
        shown = "failed" if result.fitness is None else f"{result.fitness:.4f}"
        print(
            f"[{i}/{len(todo)}] {row['name']} {col}: {shown} ({result.status}, "
            f"{record['seconds']:.0f} s)",
            flush=True,
        )


# --------------------------------------------------------------------------- stage 2: validate


def run_validation(
    out: Path,
    rows: list[dict[str, Any]],
    shard: tuple[int, int],
    seeds: int,
    tasks: list[str] | None = None,
    suffix: str = "",
) -> None:
    """Validate this shard's drawn genomes into validation-IofN{suffix}/ (`tasks`: only these
    validation tasks, e.g. for a second process taking a shard's last tasks into a folder of
    its own; `analyze` reads every validation-* folder)."""
    import torch

    from optevo.optim.spec import OptimizerSpec
    from optevo.validate.run import ValidateConfig, run_validate

    # One thread, like `optevo validate --threads 1`: torch's default (every core) in two
    # lanes oversubscribes the cores and its spinning threads cost several times the time.
    torch.set_num_threads(1)
    index, count = shard
    mine = [r for r in rows if r["kind"] != "named"][index::count]
    specs = tuple(OptimizerSpec(r["name"], genome_of(r), r["schedule"]) for r in mine)
    # the paper's learning-rate test alone, as the committed study ran (a resumed shard must
    # not add the fair rule's runs to it)
    config = ValidateConfig(optimizers=specs, tasks=tuple(tasks or ()), seeds=seeds, fair_lr=False)

    def show(event: Any) -> None:
        if event.kind in ("lr", "finals"):
            print(
                f"{event.task} {event.optimizer}: {event.kind} {event.lr} {event.message}",
                flush=True,
            )

    run_validate(config, out / f"validation-{index}of{count}{suffix}", on_event=show)


# --------------------------------------------------------------------------- stage 3: analyze


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import stats

    return float(stats.spearmanr(x, y).statistic)


def bootstrap(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(x)
    values = []
    for _ in range(reps):
        idx = rng.integers(0, n, n)
        if np.unique(x[idx]).size < 2 or np.unique(y[idx]).size < 2:
            continue
        values.append(spearman(x[idx], y[idx]))
    if not values:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def ranks_high_good(values: list[float | None]) -> np.ndarray:
    """Ranks (1 = worst) with None below everything, ties averaged."""
    from scipy import stats

    filled = [(-math.inf if v is None or not math.isfinite(v) else v) for v in values]
    finite = [v for v in filled if math.isfinite(v)]
    floor = (min(finite) - 1.0) if finite else 0.0
    return stats.rankdata([floor if not math.isfinite(v) else v for v in filled])


def validation_scores(
    rows: list[dict[str, Any]], stores: list[Path], only: list[str] | None = None
) -> tuple[dict[str, dict[str, float | None]], list[str]]:
    """Each genome's mean test metric over SEEDS per validation task (higher = better after
    the sign flip for losses; None = failed or missing), from the runs of `stores`."""
    from optevo.tasks.registry import TASKS, suite

    tasks = [t.name for t in suite("validate") if not only or t.name in only]
    by_hash: dict[tuple[str, str, str], list[float | None]] = {}
    for store in stores:
        for rec in read_jsonl(store / "runs.jsonl"):
            if rec.get("phase") == "lr" or rec.get("seed") not in SEEDS:
                continue
            by_hash.setdefault((rec["task"], rec["genome_hash"], rec["schedule"]), []).append(
                rec["metric"] if rec["status"] == "ok" else None
            )
    from optevo.space.genome import Genome

    out: dict[str, dict[str, float | None]] = {}
    missing: list[str] = []
    for row in rows:
        h = Genome.from_json(row["genome"]).canonical_hash()
        scores: dict[str, float | None] = {}
        for task in tasks:
            metrics = by_hash.get((task, h, row["schedule"]))
            if metrics is None:
                lr_runs = _lr_runs(stores, task, h, row["schedule"])
                if lr_runs:  # every rate failed: no final runs
                    scores[task] = None
                else:
                    missing.append(f"{row['name']}@{task}")
                    scores[task] = None
                continue
            if any(m is None for m in metrics) or len(metrics) < len(SEEDS):
                scores[task] = None
                continue
            mean = float(np.mean(metrics))
            lower = TASKS[task].metric in LOWER_IS_BETTER
            scores[task] = -mean if lower else mean
        out[row["name"]] = scores
    return out, missing


_LR_CACHE: dict[tuple[str, ...], set[tuple[str, str, str]]] = {}


def _lr_runs(stores: list[Path], task: str, h: str, schedule: str) -> bool:
    key = tuple(str(s) for s in stores)
    if key not in _LR_CACHE:
        _LR_CACHE[key] = {
            (r["task"], r["genome_hash"], r["schedule"])
            for s in stores
            for r in read_jsonl(s / "runs.jsonl")
            if r.get("phase") == "lr"
        }
    return (task, h, schedule) in _LR_CACHE[key]


def analyze(
    out: Path, rows: list[dict[str, Any]], named: Path, only: list[str] | None = None
) -> dict[str, Any]:
    stores = [named, *sorted(out.glob("validation-*"))]
    val, missing = validation_scores(rows, stores, only)
    fit = {(r["name"], r["column"]): r for r in read_jsonl(out / "fitness.jsonl")}
    names = [r["name"] for r in rows]
    complete = [n for n in names if all((n, c) in fit for c in FITNESS_COLUMNS)]
    complete = [n for n in complete if not any(m.startswith(f"{n}@") for m in missing)]
    tasks = list(next(iter(val.values())).keys())

    # validation: mean rank over tasks, and the clipped relative difference to Adam
    per_task_rank = {t: ranks_high_good([val[n][t] for n in complete]) for t in tasks}
    validation = np.mean([per_task_rank[t] for t in tasks], axis=0)
    adam = val["Adam"]
    rel = []
    for n in complete:
        ds = []
        for t in tasks:
            v, a = val[n][t], adam[t]
            ds.append(
                -1.0 if v is None or a is None else float(np.clip((v - a) / abs(a), -1.0, 1.0))
            )
        rel.append(float(np.mean(ds)))

    columns: dict[str, list[float | None]] = {}
    columns["quick"] = [fit[(n, "quick")]["fitness"] for n in complete]
    columns["suite"] = [fit[(n, "suite")]["fitness"] for n in complete]
    columns["suite-s1"] = [fit[(n, "suite-s1")]["fitness"] for n in complete]
    columns["suite-2seed"] = [
        None if a is None or b is None else (a + b) / 2
        for a, b in zip(columns["suite"], columns["suite-s1"], strict=True)
    ]
    search_tasks = list(fit[(complete[0], "suite")]["tasks"])
    task_d = {t: [fit[(n, "suite")]["tasks"][t]["d"] for n in complete] for t in search_tasks}
    columns["suite-rank"] = list(
        np.mean([ranks_high_good(task_d[t]) for t in search_tasks], axis=0)
    )
    for t in search_tasks:
        columns[f"task:{t}"] = task_d[t]

    target = validation
    top_val = set(np.argsort(-target, kind="stable")[:5])
    table = []
    for col, values in columns.items():
        r = ranks_high_good(values)
        rho = spearman(r, target)
        lo, hi = bootstrap(r, target)
        top = set(np.argsort(-r, kind="stable")[:5])
        table.append(
            {"column": col, "spearman": rho, "ci": [lo, hi], "top5_overlap": len(top & top_val)}
        )
    seed_rho = spearman(ranks_high_good(columns["suite"]), ranks_high_good(columns["suite-s1"]))
    seed_ci = bootstrap(ranks_high_good(columns["suite"]), ranks_high_good(columns["suite-s1"]))
    quick_seed = None
    result = {
        "genomes": len(complete),
        "missing": missing,
        "validation_tasks": tasks,
        "search_tasks": search_tasks,
        "table": table,
        "suite_seed_to_seed": {"spearman": seed_rho, "ci": list(seed_ci)},
        "validation_vs_relative": spearman(target, np.array(rel)),
        "quick_seed_to_seed": quick_seed,
        "rows": [
            {
                "name": n,
                "validation_rank": float(target[i]),
                "validation_rel": rel[i],
                **{c: columns[c][i] for c in columns},
                "val": val[n],
            }
            for i, n in enumerate(complete)
        ],
    }
    (out / "results.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    write_markdown(out, result)
    plot(out, result)
    return result


def write_markdown(out: Path, result: dict[str, Any]) -> None:
    lines = [
        f"Genomes with every figure: {result['genomes']}. Validation score: mean rank over "
        f"{len(result['validation_tasks'])} validation tasks (seeds 0-1).",
        "",
        "| predictor | Spearman vs validation | bootstrap 95% | top-5 overlap |",
        "|---|---|---|---|",
    ]
    for row in result["table"]:
        lo, hi = row["ci"]
        lines.append(
            f"| {row['column']} | {row['spearman']:.3f} | {lo:.2f} to {hi:.2f} | "
            f"{row['top5_overlap']} of 5 |"
        )
    s = result["suite_seed_to_seed"]
    lines += [
        "",
        f"Suite fitness, seed 0 vs seed 1: Spearman {s['spearman']:.3f} "
        f"({s['ci'][0]:.2f} to {s['ci'][1]:.2f}).",
    ]
    lines += [
        "",
        "| genome | validation mean rank | rel. to Adam | quick | suite | suite-s1 |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(result["rows"], key=lambda r: -r["validation_rank"]):

        def f(v: Any) -> str:
            return "failed" if v is None else f"{v:.4f}"

        lines.append(
            f"| {r['name']} | {r['validation_rank']:.1f} | {r['validation_rel']:+.3f} | "
            f"{f(r['quick'])} | {f(r['suite'])} | {f(r['suite-s1'])} |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")


def plot(out: Path, result: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    y = [r["validation_rank"] for r in result["rows"]]
    rho = {row["column"]: row["spearman"] for row in result["table"]}
    for ax, col in zip(axes, ("quick", "suite", "suite-rank"), strict=True):
        xs = [r[col] for r in result["rows"]]
        ok = [(x, v, r) for x, v, r in zip(xs, y, result["rows"], strict=True) if x is not None]
        ax.scatter([a for a, _, _ in ok], [b for _, b, _ in ok], s=16)
        for x, v, r in ok:
            if r["name"] in ("Adam", "LR3", "Opt6", "Opt1", "SGD"):
                ax.annotate(r["name"], (x, v), fontsize=7)
        failed = sum(1 for x in xs if x is None)
        ax.set_title(f"{col}: Spearman {rho[col]:.2f} ({failed} failed, not shown)")
        ax.set_xlabel(f"{col} fitness")
        ax.set_ylabel("validation mean rank (higher = better)")
    fig.tight_layout()
    fig.savefig(out / "scatter.png", dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stage", choices=("genomes", "fitness", "validate", "analyze"))
    parser.add_argument("--out", type=Path, default=Path("docs/results/proxy-validity"))
    parser.add_argument("--random", type=int, default=10)
    parser.add_argument("--mutated", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--columns", nargs="+", default=list(FITNESS_COLUMNS), choices=list(FITNESS_COLUMNS)
    )
    parser.add_argument("--shard", default="0/1", help="validate: I/N, this process's part")
    parser.add_argument("--seeds", type=int, default=len(SEEDS))
    parser.add_argument("--named", type=Path, default=Path("docs/results/validation/named"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N genomes")
    parser.add_argument(
        "--tasks", nargs="+", default=None, help="validate/analyze: only these validation tasks"
    )
    parser.add_argument("--suffix", default="", help="validate: validation-IofN<suffix>/")
    args = parser.parse_args()

    rows = genomes(args.random, args.mutated, args.seed)
    if args.limit is not None:
        rows = rows[: args.limit]
    write_genomes(args.out, rows)
    if args.stage == "fitness":
        run_fitness(args.out, rows, args.columns)
    elif args.stage == "validate":
        i, n = (int(x) for x in args.shard.split("/"))
        run_validation(args.out, rows, (i, n), args.seeds, args.tasks, args.suffix)
    elif args.stage == "analyze":
        result = analyze(args.out, rows, args.named, args.tasks)
        print((args.out / "table.md").read_text())
        print(f"missing validation: {len(result['missing'])}")


if __name__ == "__main__":
    main()
