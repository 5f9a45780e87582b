"""Which genes the funnel's survivors share (issue 16, item 5: what a discovery run learnt).

Reads a search run's store and compares the genomes that climbed the funnel (promoted to
rung 1, then to rung 2) with every genome the search drew (rung 0): for each gene (an operand
the update reads, an operation it applies, its momentum type, whether it carries a decay
function, its learning-rate schedule) the fraction of genomes holding it at each rung, and
the enrichment (fraction at rung 1 over fraction at rung 0). The seed genomes (Adam) are left
out. Writes genes.md beside the run folder (or to --out).

    python benchmarks/discover_genes.py docs/results/discover-cpu/run
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from optevo.search.store import RunStore, StoreError
from optevo.space.genes import GENES
from optevo.space.genome import Genome
from optevo.space.ops import OPERANDS


def genes(genome: Genome, schedule: str) -> set[str]:
    """The genes of one genome: `operand:x`, `op:f`, `momentum:m`, `decay`, `schedule:s`,
    and in the extended space `const:<name><op><default>` for each constant it reads that
    is moved from its default (above or below it; `wd` on or off)."""
    out = {f"momentum:{genome.momentum}", f"schedule:{schedule}"}
    for name in genome.live_constants():
        value, default = genome.constant(name), GENES[name].default
        if value != default:
            out.add(f"const:{name}{'>' if value > default else '<'}{default:g}")
    for name in genome.active_names():
        node = genome.node(name)
        out.add(f"op:{node.op}")
        out.update(f"operand:{ref}" for ref in node.inputs if ref in OPERANDS)
    if genome.decay_functions():
        out.add("decay")
    return out


def table(run_dir: Path) -> str:
    with RunStore.open(run_dir, lock=False) as store:
        evs = [e for e in store.evaluations() if not e.key.startswith("seed/")]
    rungs: dict[str, list[set[str]]] = {}
    for ev in evs:
        if ev.status != "ok" and ev.request.stage == "search":
            continue  # rung 0 counts the genomes that passed the screen
        rungs.setdefault(ev.request.stage, []).append(genes(ev.genome, ev.request.schedule))
    stages = [s for s in ("search", "rung-1", "rung-2") if s in rungs]
    counts = {s: Counter(g for gs in rungs[s] for g in gs) for s in stages}
    n = {s: len(rungs[s]) for s in stages}

    def frac(stage: str, gene: str) -> float:
        return counts[stage][gene] / n[stage] if n[stage] else 0.0

    every = sorted(set().union(*counts.values()))
    top = "rung-1" if "rung-1" in stages else "search"
    rows = sorted(every, key=lambda g: frac(top, g) - frac("search", g), reverse=True)
    head = " | ".join(f"{s} (n={n[s]})" for s in stages)
    lines = [
        f"Genes of the genomes at each rung of `{run_dir}` (the seed genomes left out; rung 0"
        " counts the genomes that passed the learning-rate screen): the fraction holding each"
        f" gene, sorted by the change from rung 0 to {top}.",
        "",
        f"| gene | {head} | {top} / rung 0 |",
        "|---|" + "---|" * (len(stages) + 1),
    ]
    for g in rows:
        base = frac("search", g)
        ratio = f"{frac(top, g) / base:.2f}" if base else "-"
        cells = " | ".join(f"{frac(s, g):.2f}" for s in stages)
        if max(frac(s, g) for s in stages) >= 0.05:
            lines.append(f"| {g} | {cells} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, default=None, help="default: genes.md beside the run")
    args = p.parse_args()
    try:
        text = table(args.run)
    except StoreError as error:
        p.error(str(error))
    out = args.out or args.run.parent / "genes.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
