"""The committed validation verdicts again, by the paired t-test, beside the rule used before
(issue 24, item 4): nothing is trained, the per-seed results stored in each folder's
`summary.json` are read back.

For each validation folder (a `summary.json` of `optevo validate`):
- every comparison of a candidate with a baseline is computed again from the stored per-seed
  metrics (paired by seed): the old verdict (beyond 2 standard errors, `legacy_verdict`) and
  the new one (`compare`: the two-sided paired t-test at n - 1 degrees of freedom at level
  alpha, with the confidence interval of the mean difference); the verdict stored in the
  folder must come out again (the old one in a folder written before the t-test, the new one
  in a folder written since: run twice, the script writes the same files);
- `verdicts.md` is written beside the table: both verdicts of every comparison, the overall
  wins / losses / ties under each rule, and the comparisons whose verdict changed;
- `summary.json`, `table.md` and `table.csv` are rewritten with the new verdict (as
  `optevo validate` writes them now); every other figure stays as stored.

    python benchmarks/reverdict.py                    # the committed folders
    python benchmarks/reverdict.py RUN/validate --alpha 0.05 --dry-run
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from optevo.transfer.verdict import (
    ALPHA,
    LEGACY_SE_FACTOR,
    compare,
    format_effect,
    legacy_verdict,
    rule_text,
    tally,
)
from optevo.validate.tables import (
    SUMMARY_JSON,
    TABLE_CSV,
    TABLE_MD,
    csv_text,
    markdown,
    overall_rows,
    read_summary,
)

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = (
    "docs/results/validation/named",
    "docs/results/discover-cpu-random/run/validate",
    "docs/results/strategies/validation/part-0of2",
    "docs/results/strategies/validation/part-1of2",
    "docs/results/strategies/validation/rest",
)
"""The committed validation folders (their verdicts are regenerated)."""
VERDICTS_MD = "verdicts.md"
OLD_RULE = (
    f"old: win / loss when the mean paired difference is beyond {LEGACY_SE_FACTOR:g} standard "
    "errors in the good / bad direction"
)


def _by_seed(row: dict[str, Any]) -> dict[int, float | None]:
    return {int(s): v for s, v in zip(row["seeds"], row["values"], strict=True)}


def reverdict(summary: dict[str, Any], alpha: float = ALPHA) -> dict[str, Any]:
    """Every comparison of `summary` again: returns {"rows": [...], "mismatches": [...]}, one
    row per (task, optimizer, baseline) with the old and the new verdict; `summary` is updated
    in place to the new rule (its rows' `vs`, `rule`, `alpha` and `overall`)."""
    rows: list[dict[str, Any]] = []
    mismatches: list[str] = []
    for task in summary["tasks"]:
        higher = task["direction"] == "max"
        bases = {r["optimizer"]: r for r in task["rows"] if r["baseline"]}
        for row in task["rows"]:
            if row["baseline"]:
                continue
            for label, base in bases.items():
                new = compare(_by_seed(row), _by_seed(base), higher, alpha)
                old = legacy_verdict(new.diff, new.se, new.n, higher)
                # A folder written before the t-test stores the old verdict (no "ci"); one
                # written since (or re-verdicted already) the new one: either must reproduce.
                stored = row["vs"].get(label, {})
                expected = new.verdict if "ci" in stored else old
                if "verdict" in stored and stored["verdict"] != expected:
                    mismatches.append(
                        f"{task['task']} {row['optimizer']} vs {label}: stored "
                        f"{stored['verdict']}, recomputed {expected}"
                    )
                row["vs"][label] = new.as_dict()
                rows.append(
                    {
                        "task": task["task"],
                        "optimizer": row["optimizer"],
                        "baseline": label,
                        "old": old,
                        "new": new.verdict,
                        "comparison": new.as_dict(),
                    }
                )
    summary["rule"] = rule_text(alpha)
    summary["alpha"] = alpha
    labels = list(summary["optimizers"])
    summary["overall"] = overall_rows(summary["tasks"], labels)
    return {"rows": rows, "mismatches": mismatches}


def tallies(rows: Sequence[dict[str, Any]], rule: str) -> dict[tuple[str, str], dict[str, int]]:
    """(optimizer, baseline) -> wins / losses / ties under `rule` ("old" or "new")."""
    out: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        out.setdefault((r["optimizer"], r["baseline"]), []).append(r[rule])
    return {key: tally(v) for key, v in out.items()}


def _wlt(t: dict[str, int]) -> str:
    return f"{t['win']}/{t['loss']}/{t['tie']}"


def verdicts_markdown(
    folder: Path, summary: dict[str, Any], result: dict[str, Any], alpha: float
) -> str:
    """`verdicts.md`: the old and the new verdict of every comparison, side by side."""
    rows = result["rows"]
    old, new = tallies(rows, "old"), tallies(rows, "new")
    bases = [b for b, o in summary["optimizers"].items() if o["baseline"]]
    cands = [o for o, v in summary["optimizers"].items() if not v["baseline"]]
    level = round(100 * (1 - alpha), 6)
    lines = [
        f"# Verdicts of `{folder.as_posix()}`: the old rule beside the paired t-test",
        "",
        "Regenerated by `python benchmarks/reverdict.py` from the per-seed results stored in "
        "`summary.json` (nothing retrained; the stored old verdicts were recomputed and "
        + ("matched)." if not result["mismatches"] else "did NOT all match: see the end)."),
        f"Seeds per optimizer: {summary['seeds']}; command: "
        f"`{summary.get('command') or 'benchmarks/strategies.py'}`.",
        "",
        f"- {OLD_RULE};",
        f"- new: {rule_text(alpha)}.",
        "",
        "## Wins / losses / ties over the tasks (old → new)",
        "",
        "| optimizer | " + " | ".join(f"vs {b} old | vs {b} new" for b in bases) + " |",
        "|---|" + "---|---|" * len(bases),
    ]
    for cand in cands:
        cells = []
        for b in bases:
            o, n = old.get((cand, b)), new.get((cand, b))
            cells += ["" if o is None else _wlt(o), "" if n is None else _wlt(n)]
        lines.append(f"| {cand} | " + " | ".join(cells) + " |")
    changed = [r for r in rows if r["old"] != r["new"]]
    lines += [
        "",
        f"{len(changed)} of {len(rows)} verdicts changed.",
        "",
        f"## Every comparison (effect: mean paired difference [{level:g}% CI], p of the t-test)",
        "",
        "| task | optimizer | vs | old | new | effect | t | p |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["comparison"]
        t = "–" if c["t"] is None else f"{c['t']:.3g}"
        p = "–" if c["p"] is None else f"{c['p']:.3g}"
        mark = " **(changed)**" if r["old"] != r["new"] else ""
        lines.append(
            f"| {r['task']} | {r['optimizer']} | {r['baseline']} | {r['old']} | "
            f"{r['new']}{mark} | {format_effect(c, 3)} | {t} | {p} |"
        )
    if result["mismatches"]:
        lines += ["", "## Stored verdicts that the old rule did not reproduce", ""]
        lines += [f"- {m}" for m in result["mismatches"]]
    return "\n".join(lines) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def process(folder: Path, alpha: float = ALPHA, dry_run: bool = False) -> dict[str, Any]:
    """Re-verdict one folder (see the module); returns its comparisons and tallies."""
    summary = read_summary(folder)
    if summary is None:
        raise FileNotFoundError(f"{folder}: no {SUMMARY_JSON}")
    result = reverdict(summary, alpha)
    try:
        shown = folder.resolve().relative_to(ROOT)
    except ValueError:
        shown = folder
    text = verdicts_markdown(shown, summary, result, alpha)
    if not dry_run:
        _write(folder / SUMMARY_JSON, json.dumps(summary, indent=2, allow_nan=False) + "\n")
        _write(folder / TABLE_MD, markdown(summary))
        _write(folder / TABLE_CSV, csv_text(summary))
        _write(folder / VERDICTS_MD, text)
    result["old"] = tallies(result["rows"], "old")
    result["new"] = tallies(result["rows"], "new")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="validation folders")
    parser.add_argument("--alpha", type=float, default=ALPHA, help="the t-test's level")
    parser.add_argument("--dry-run", action="store_true", help="print, write nothing")
    args = parser.parse_args(argv)
    folders = args.folders or [ROOT / f for f in FOLDERS]
    for folder in folders:
        result = process(folder, args.alpha, args.dry_run)
        changed = sum(r["old"] != r["new"] for r in result["rows"])
        print(f"{folder}: {len(result['rows'])} comparisons, {changed} verdicts changed")
        for m in result["mismatches"]:
            print(f"  mismatch: {m}")
        for (cand, base), new in sorted(result["new"].items()):
            old = result["old"][(cand, base)]
            if cand == "LR6" or cand.startswith("#"):
                print(f"  {cand} vs {base}: old {_wlt(old)} -> new {_wlt(new)} (W/L/T)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
