"""Regenerate src/optevo/library/recommended_lr.json from `optevo bench` output folders.

    python tools/build_recommended_lr.py docs/results/fashion-convnet [more bench folders]

For every named optimizer, each task's learning-rate test winner is a measurement; the
recommendation is their geometric median (the middle one on a log scale; with an even count,
the geometric mean of the two middle ones). A measurement whose final runs at the chosen rate
diverged is left out (a rate that breaks the full run is no recommendation), as are genomes
of a search run (labels "#1 ..."): they are not named optimizers.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from optevo import library
from optevo.bench import chosen_lrs
from optevo.library.recommended import SCHEMA, parse

OUT = Path(__file__).resolve().parents[1] / "src" / "optevo" / "library" / "recommended_lr.json"


def geometric_median(values: list[float]) -> float:
    logs = sorted(math.log10(v) for v in values)
    mid = len(logs) // 2
    middle = logs[mid] if len(logs) % 2 else (logs[mid - 1] + logs[mid]) / 2
    return float(f"{10**middle:.6g}")


def build(folders: list[Path]) -> dict:
    measured: dict[str, list[dict]] = {}
    for folder in folders:
        for name, tasks in chosen_lrs(folder).items():
            if name not in library.names():
                continue
            for task, m in tasks.items():
                if m["diverged"]:
                    print(f"{name} on {task}: {m['diverged']} final run(s) diverged, left out")
                    continue
                measured.setdefault(name, []).append(
                    {
                        "task": task,
                        "lr": m["lr"],
                        "scale": m["scale"],
                        "total_steps": m["total_steps"],
                        "bench": str(folder),
                    }
                )
    order = {n: i for i, n in enumerate(library.names())}
    doc = {
        "schema": SCHEMA,
        "note": (
            "Peak learning rates chosen by the learning-rate test of optevo bench (SPEC 7.5) "
            "on the tasks listed; a starting point elsewhere, not a guarantee."
        ),
        "optimizers": {
            name: {
                "lr": geometric_median([m["lr"] for m in ms]),
                "measured_on": ms,
            }
            for name, ms in sorted(measured.items(), key=lambda kv: order[kv[0]])
        },
    }
    parse(doc)  # validate what optevo will load
    return doc


def main(argv: list[str]) -> None:
    if not argv:
        raise SystemExit(__doc__)
    doc = build([Path(a) for a in argv])
    OUT.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {OUT} ({len(doc['optimizers'])} optimizers)")


if __name__ == "__main__":
    main(sys.argv[1:])
