"""A validation's results: `summary.json` (everything, schema `optevo.validate/1`), `table.md`
(a table per task and an overall one) and `table.csv` (one line per task and optimizer).

Per task: each optimizer's mean ± sample std over the final seeds (in the task's metric, its
direction marked ↑ or ↓), the learning rate of its final runs (and the test's rate it fell
back from, when a full run diverged there), and for each optimizer that is not a baseline its
verdict against each baseline with the effect size (`optevo.transfer.verdict`: paired by
seed, the two-sided paired t-test at n - 1 degrees of freedom at level alpha; the mean
difference with its confidence interval). Overall: each optimizer's wins / losses / ties
against each baseline summed over the tasks, and its mean rank (1 = the best mean on a task).
A summary written before the t-test keeps its own rule (`rule`), which the tables state.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optevo.optim.spec import ADAMW_WEIGHT_DECAY, LION_BETAS, LION_WEIGHT_DECAY, is_baseline
from optevo.transfer.table import summarize
from optevo.transfer.verdict import ALPHA, compare, format_effect, mean_ranks, rule_text, tally
from optevo.validate.run import TaskResult, ValidateConfig

SCHEMA = "optevo.validate/1"
SUMMARY_JSON = "summary.json"
TABLE_MD = "table.md"
TABLE_CSV = "table.csv"
PAIRING = (
    "paired by seed: at seed s every optimizer starts from the same weights and sees the same "
    "batches; d_s = candidate - baseline, SE = sd(d) / sqrt(n)"
)
RULE = rule_text(ALPHA)
"""The verdict's rule at the default level (`rule_text(alpha)` at another)."""
ARROW = {"max": "↑", "min": "↓"}


def _task_summary(config: ValidateConfig, result: TaskResult) -> dict[str, Any]:
    task = result.task
    higher = task.higher_is_better
    base_labels = [e.spec.label for e in result.entries if is_baseline(e.spec)]
    by_seed = {
        e.spec.label: {r.key.seed: r.metric for r in e.finals} for e in result.entries
    }
    rows: list[dict[str, Any]] = []
    for entry in result.entries:
        values = [r.metric for r in entry.finals]
        s = summarize(values)
        baseline = is_baseline(entry.spec)
        vs = {}
        if not baseline:
            for label in base_labels:
                c = compare(by_seed[entry.spec.label], by_seed[label], higher, config.alpha)
                vs[label] = c.as_dict()
        rows.append(
            {
                "optimizer": entry.spec.label,
                "baseline": baseline,
                "lr": entry.lr,
                "test_lr": entry.test.winner,
                "lr_fallback": [f.as_dict() for f in entry.fallbacks],
                "on_edge": entry.test.on_edge,
                "lr_scores": {repr(lr): m for lr, m in sorted(entry.test.scores.items())},
                "seeds": [r.key.seed for r in entry.finals],
                "values": values,
                "diverged": sum(r.status != "ok" for r in entry.finals),
                "mean": s.mean,
                "std": s.std,
                "n": s.n,
                "vs": vs,
            }
        )
    ranks = mean_ranks({r["optimizer"]: r["mean"] for r in rows}, higher)
    for row in rows:
        row["rank"] = ranks[row["optimizer"]]
    budget = result.budget
    return {
        "task": task.name,
        "metric": task.metric,
        "direction": task.direction,
        "size": result.size,
        "total_steps": budget.total_steps,
        "warmup_steps": budget.warmup_steps,
        "hold_steps": budget.hold_steps,
        "batch_size": budget.batch_size,
        "rows": rows,
    }


def overall_rows(tasks: Sequence[dict[str, Any]], labels: Sequence[str]) -> list[dict[str, Any]]:
    """Per optimizer: its tasks, mean rank and wins / losses / ties against each baseline
    summed over the tasks (from the task summaries' rows)."""
    rows = []
    for label in labels:
        mine = [r for t in tasks for r in t["rows"] if r["optimizer"] == label]
        if not mine:
            continue
        verdicts: dict[str, list[Any]] = {}
        for row in mine:
            for base, c in row["vs"].items():
                verdicts.setdefault(base, []).append(c["verdict"])
        rows.append(
            {
                "optimizer": label,
                "baseline": mine[0]["baseline"],
                "tasks": len(mine),
                "mean_rank": sum(r["rank"] for r in mine) / len(mine),
                "vs": {base: tally(v) for base, v in verdicts.items()},
            }
        )
    return rows


def build_summary(config: ValidateConfig, results: Sequence[TaskResult]) -> dict[str, Any]:
    """The JSON summary of the tasks finished so far."""
    tasks = [_task_summary(config, r) for r in results]
    labels = [o.label for o in config.optimizers]
    return {
        "schema": SCHEMA,
        "updated": time.strftime("%Y-%m-%d %H:%M:%S"),
        "command": config.command,
        "suite": config.suite,
        "tasks_planned": list(config.tasks),
        "scale": config.scale,
        "seeds": config.seeds,
        "lr_seed": config.lr_seed,
        "device": config.device,
        "fair_lr": config.fair_lr,
        "alpha": config.alpha,
        "pairing": PAIRING,
        "rule": rule_text(config.alpha),
        "baselines": {
            "AdamW": {
                "betas": [0.9, 0.999],
                "eps": 1e-8,
                "weight_decay": ADAMW_WEIGHT_DECAY,
                "decoupled": "w <- w - lr_t*wd*w",
            },
            "Lion": {"betas": list(LION_BETAS), "weight_decay": LION_WEIGHT_DECAY},
        },
        "optimizers": {
            o.label: {
                "ident": o.genome_hash,
                "schedule": o.schedule,
                "baseline": is_baseline(o),
                "grid": list(config.grid_of(o)),
                "equation": None if o.genome is None else o.genome.equation(),
            }
            for o in config.optimizers
        },
        "tasks": tasks,
        "overall": overall_rows(tasks, labels),
    }


# -- rendering ------------------------------------------------------------------------------


def _num(x: float | None, spec: str = ".4g") -> str:
    return "–" if x is None else format(x, spec)


def _mean_cell(row: dict[str, Any]) -> str:
    if row["mean"] is None:
        return "–"
    text = _num(row["mean"])
    if row["std"] is not None:
        text += f" ± {_num(row['std'], '.2g')}"
    if row["diverged"]:
        text += f" ({row['diverged']} diverged)"
    return text


def _lr_cell(row: dict[str, Any]) -> str:
    if row["lr"] is None:
        return "none (every rate failed)"
    text = f"{row['lr']:g}" + (" (edge)" if row["on_edge"] else "")
    fallback = row.get("lr_fallback") or []
    if fallback:
        text += f" (fallback from {fallback[0]['lr']:g})"
    return text


def _vs_cell(c: dict[str, Any] | None) -> str:
    """`win +0.012 [+0.003, +0.021]`: the verdict and the effect with its confidence
    interval (a summary written before the t-test: `win (+0.012 ± 0.004)`, mean ± SE)."""
    if c is None:
        return ""
    if c["verdict"] == "n/a":
        return "n/a"
    if "ci" not in c:
        return f"{c['verdict']} ({c['diff']:+.2g} ± {c['se']:.2g})"
    return f"{c['verdict']} {format_effect(c)}"


def baseline_labels(summary: dict[str, Any]) -> list[str]:
    return [label for label, o in summary["optimizers"].items() if o["baseline"]]


def task_table(
    summary: dict[str, Any], task: dict[str, Any]
) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows of one task's table."""
    bases = baseline_labels(summary)
    metric = f"{task['metric']} {ARROW[task['direction']]}"
    header = ("optimizer", f"{metric} mean ± std", "lr", *(f"vs {b}" for b in bases))
    rows = [
        (
            r["optimizer"],
            _mean_cell(r),
            _lr_cell(r),
            *(_vs_cell(r["vs"].get(b)) for b in bases),
        )
        for r in task["rows"]
    ]
    return header, rows


def overall_table(summary: dict[str, Any]) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """Header and rows of the overall table: wins / losses / ties summed over the tasks."""
    bases = baseline_labels(summary)
    header = ("optimizer", "tasks", "mean rank", *(f"vs {b} (W/L/T)" for b in bases))
    rows = []
    for r in summary["overall"]:
        cells = []
        for b in bases:
            t = r["vs"].get(b)
            cells.append("" if t is None else f"{t['win']}/{t['loss']}/{t['tie']}")
        rows.append((r["optimizer"], str(r["tasks"]), f"{r['mean_rank']:.2f}", *cells))
    return header, rows


def task_caption(task: dict[str, Any]) -> str:
    return (
        f"{task['task']} ({task['size']} size: {task['total_steps']:,} steps, warm-up "
        f"{task['warmup_steps']:,}, hold {task['hold_steps']:,}, batch {task['batch_size']})"
    )


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def intro(summary: dict[str, Any]) -> list[str]:
    """The sentences that say how the tables were made."""
    rule = str(summary.get("rule") or RULE)
    fair = (
        "The fair rate rule: the test also tried the half-decades around its winner, and a "
        "full run that diverged moved the rate to the next lower one of the test (`fallback "
        "from` in the lr column)."
        if summary.get("fair_lr")
        else "The learning-rate test alone chose each rate (no fair rule)."
    )
    return [
        f"Suite {summary['suite']} at scale {summary['scale']:g}; final runs at seeds "
        f"0-{summary['seeds'] - 1}, learning-rate test at seed {summary['lr_seed']}; "
        f"mean ± sample std over the seeds. {fair}",
        f"Comparisons {summary['pairing']}. {rule[0].upper() + rule[1:]}.",
        f"AdamW: torch.optim.AdamW's update (betas 0.9, 0.999, eps 1e-8, decoupled weight decay "
        f"{ADAMW_WEIGHT_DECAY:g}); Lion: betas "
        f"{LION_BETAS[0]:g}, {LION_BETAS[1]:g}, weight decay {LION_WEIGHT_DECAY:g}; all under "
        "the one-cycle schedule.",
    ]


def markdown(summary: dict[str, Any]) -> str:
    lines = ["# optevo validate", "", *intro(summary)]
    if summary.get("command"):
        lines.append(f"Command: `{summary['command']}`")
    for task in summary["tasks"]:
        lines += ["", f"## {task_caption(task)}", "", *_md_table(*task_table(summary, task))]
    lines += ["", "## Overall", "", *_md_table(*overall_table(summary))]
    done = {t["task"] for t in summary["tasks"]}
    missing = [t for t in summary["tasks_planned"] if t not in done]
    if missing:
        lines += ["", f"Not finished yet: {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def csv_text(summary: dict[str, Any]) -> str:
    """One line per task and optimizer; per baseline its verdict, difference, SE, t, p and
    the confidence interval of the difference."""
    bases = baseline_labels(summary)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    head = ["task", "metric", "direction", "optimizer", "baseline", "lr", "on_edge", "n"]
    head += ["mean", "std", "diverged", "rank", "lr_fallback_from"]
    for b in bases:
        head += [f"vs {b}", f"diff {b}", f"se {b}", f"t {b}", f"p {b}"]
        head += [f"ci_low {b}", f"ci_high {b}"]
    writer.writerow(head)
    for task in summary["tasks"]:
        for r in task["rows"]:
            line = [task["task"], task["metric"], task["direction"], r["optimizer"]]
            line += [int(r["baseline"]), _num(r["lr"], "g"), int(r["on_edge"]), r["n"]]
            line += [_num(r["mean"], ".6g"), _num(r["std"], ".6g"), r["diverged"], r["rank"]]
            fallback = r.get("lr_fallback") or []
            line += [_num(fallback[0]["lr"], "g") if fallback else ""]
            for b in bases:
                c = r["vs"].get(b)
                if c is None:
                    line += [""] * 7
                    continue
                ci = c.get("ci") or (None, None)
                line += [c["verdict"], _num(c["diff"], ".6g"), _num(c["se"], ".6g")]
                line += [_num(c.get("t"), ".6g"), _num(c.get("p"), ".6g")]
                line += [_num(ci[0], ".6g"), _num(ci[1], ".6g")]
            writer.writerow(["" if x == "–" else x for x in line])
    return out.getvalue()


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_outputs(
    out: Path, config: ValidateConfig, results: Sequence[TaskResult]
) -> dict[str, Any]:
    """Write `summary.json`, `table.md` and `table.csv` into `out`; returns the summary."""
    summary = build_summary(config, results)
    out.mkdir(parents=True, exist_ok=True)
    _write(out / SUMMARY_JSON, json.dumps(summary, indent=2, allow_nan=False) + "\n")
    _write(out / TABLE_MD, markdown(summary))
    _write(out / TABLE_CSV, csv_text(summary))
    return summary


def read_summary(folder: str | Path) -> dict[str, Any] | None:
    """The summary in `folder` (None when there is none); a file of another kind is a
    ValueError."""
    path = Path(folder) / SUMMARY_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"{path}: not a validate summary (schema {SCHEMA})")
    return data


__all__ = [
    "SCHEMA",
    "SUMMARY_JSON",
    "TABLE_CSV",
    "TABLE_MD",
    "build_summary",
    "csv_text",
    "intro",
    "markdown",
    "overall_rows",
    "overall_table",
    "read_summary",
    "task_caption",
    "task_table",
    "write_outputs",
]
