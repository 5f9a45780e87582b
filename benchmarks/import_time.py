"""What `import optevo.optim` costs on top of `import torch` (issue 14).

Each measurement is a fresh interpreter (`sys.executable -c ...`) that times its own imports
with `time.perf_counter()`; the parent also times the whole process (interpreter start-up and
exit included). The variants run alternately, in an order rotated every repeat, after one
unrecorded warm-up run of each (which fills the file cache):

    torch          import torch
    optevo.optim   import torch; import optevo.optim
    optevo.search  import torch; import optevo.search   (for information)

Reported: the median over repeats of each, and the ratio of the medians
(import torch + optevo.optim) / (import torch alone); also which of the heavy packages
(sympy, matplotlib, sklearn, pydantic, typer, rich, yaml) each variant loaded and from where
optevo was imported (so a run with PYTHONPATH pointing at another checkout says so).

`--compare SRC` measures another checkout's `src` folder (e.g. a `git worktree` of an older
commit) in the same alternation: its variants run with PYTHONPATH=SRC and are labelled
`SRC:variant`, and each is also reported against that run's own torch.

    python benchmarks/import_time.py [--repeats 15] [--compare /tmp/before/src] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

VARIANTS: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "optevo.optim": ("torch", "optevo.optim"),
    "optevo.search": ("torch", "optevo.search"),
}
HEAVY = ("sympy", "matplotlib", "sklearn", "pydantic", "typer", "rich", "yaml")

_CHILD = """
import sys, time
t0 = time.perf_counter()
{imports}
t1 = time.perf_counter()
import json
tops = {{m.split(".")[0] for m in sys.modules}}
optevo = sys.modules.get("optevo")
print(json.dumps({{
    "import_s": t1 - t0,
    "heavy": sorted(tops & set({heavy!r})),
    "modules": len(sys.modules),
    "optevo": getattr(optevo, "__file__", None),
}}))
"""


def child_code(modules: tuple[str, ...]) -> str:
    imports = "\n".join(f"import {m}" for m in modules)
    return _CHILD.format(imports=imports, heavy=HEAVY)


def label(name: str, src: str | None) -> str:
    return name if src is None else f"{src}:{name}"


def run_once(name: str, src: str | None = None) -> dict[str, Any]:
    """One fresh interpreter importing the variant `name` (with `src` first on its path);
    its own timing of the imports plus the parent's timing of the whole process."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", child_code(VARIANTS[name])], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{label(name, src)}: the child process failed\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def measure(
    repeats: int, names: list[str], srcs: list[str | None]
) -> dict[str, list[dict[str, Any]]]:
    jobs = [(name, src) for src in srcs for name in names]
    for name, src in jobs:  # warm-up: file cache, .pyc files
        run_once(name, src)
    runs: dict[str, list[dict[str, Any]]] = {label(n, s): [] for n, s in jobs}
    for r in range(repeats):
        shift = r % len(jobs)
        for name, src in jobs[shift:] + jobs[:shift]:
            runs[label(name, src)].append(run_once(name, src))
    return runs


def summarise(runs: dict[str, list[dict[str, Any]]], srcs: list[str | None]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, results in runs.items():
        rows[name] = {
            "import_ms": 1e3 * statistics.median(r["import_s"] for r in results),
            "process_ms": 1e3 * statistics.median(r["process_s"] for r in results),
            "import_ms_all": [round(1e3 * r["import_s"], 1) for r in results],
            "heavy": results[-1]["heavy"],
            "modules": results[-1]["modules"],
            "optevo": results[-1]["optevo"],
        }
    for src in srcs:
        torch_row = rows[label("torch", src)]
        for name in VARIANTS:
            row = rows.get(label(name, src))
            if row is not None:
                row["x_torch_import"] = row["import_ms"] / torch_row["import_ms"]
                row["x_torch_process"] = row["process_ms"] / torch_row["process_ms"]
    return rows


def print_table(rows: dict[str, Any], repeats: int, srcs: list[str | None]) -> None:
    print(f"import times, median of {repeats} fresh processes each ({sys.executable})")
    width = max(14, *(len(name) for name in rows))
    print(
        f"{'variant':<{width}} {'import ms':>10} {'x torch':>8} {'process ms':>11} {'x torch':>8} "
        f"{'modules':>8}  heavy packages loaded"
    )
    for name, row in rows.items():
        print(
            f"{name:<{width}} {row['import_ms']:>10.1f} {row['x_torch_import']:>8.3f} "
            f"{row['process_ms']:>11.1f} {row['x_torch_process']:>8.3f} {row['modules']:>8}  "
            f"{', '.join(row['heavy']) or '-'}"
        )
    for src in srcs:
        where = {rows[label(n, src)]["optevo"] for n in VARIANTS if label(n, src) in rows}
        ratio = rows[label("optevo.optim", src)]["x_torch_import"]
        print(
            f"{src or 'this checkout'}: optevo from {', '.join(sorted(w for w in where if w))}; "
            f"(import torch + optevo.optim) / (import torch) = {ratio:.3f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="processes per variant")
    parser.add_argument(
        "--no-search", action="store_true", help="skip the informational optevo.search variant"
    )
    parser.add_argument(
        "--compare",
        metavar="SRC",
        help="also measure the optevo under this src folder (another checkout), alternated",
    )
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    names = [n for n in VARIANTS if not (args.no_search and n == "optevo.search")]
    srcs: list[str | None] = [None] if args.compare is None else [None, args.compare]
    rows = summarise(measure(args.repeats, names, srcs), srcs)
    print_table(rows, args.repeats, srcs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"repeats": args.repeats, "python": sys.executable, "variants": rows}, f, indent=2
            )
            f.write("\n")


if __name__ == "__main__":
    main()
