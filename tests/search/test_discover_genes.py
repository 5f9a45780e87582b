"""benchmarks/discover_genes.py: gene fractions per rung against counts made here."""

from __future__ import annotations

from pathlib import Path

from benchmarks.discover_genes import genes, table

from helpers.search import SyntheticExecutor, micro_config
from optevo import library
from optevo.search.api import start_search
from optevo.search.store import RunStore


def test_genes_of_adam_are_its_operands_operations_and_momentum() -> None:
    adam = library.genome("Adam")  # u = v / (sqrt(|s|) + eps)
    assert genes(adam, "one_cycle") == {
        "momentum:none",
        "schedule:one_cycle",
        "op:div",
        "op:sqrt",
        "operand:v",
        "operand:s",
    }


def test_an_extended_genomes_moved_constants_are_genes() -> None:
    # AdamW: beta_s 0.999 (> 0.99), eps 1e-8 (< 1e-7), wd 0.01 (> 0); beta_v at its default.
    got = genes(library.genome("AdamW"), "one_cycle")
    consts = {g for g in got if g.startswith("const:")}
    assert consts == {"const:beta_s>0.99", "const:eps<1e-07", "const:wd>0"}


def test_the_table_counts_each_rungs_genomes_and_leaves_the_seed_genomes_out(
    tmp_path: Path,
) -> None:
    cfg = micro_config(
        final={"top": 0, "baselines": []},
        strategy={"kind": "random", "batch": 6, "budget": 18, "seed_genomes": ["Adam"]},
        funnel={"rungs": [{"fitness": {"total_steps": 80}, "keep": 0.5}]},
    )
    start_search(cfg, tmp_path / "run", executor=SyntheticExecutor())
    with RunStore.open(tmp_path / "run", lock=False) as store:
        search = [
            e for e in store.evaluations("search") if e.status == "ok" and e.key != "seed/000"
        ]
        rung1 = [e for e in store.evaluations("rung-1") if not e.key.startswith("seed/")]
    text = table(tmp_path / "run")
    assert f"search (n={len(search)})" in text and f"rung-1 (n={len(rung1)})" in text
    want = sum("momentum:none" in genes(e.genome, "one_cycle") for e in rung1) / len(rung1)
    row = next(line for line in text.splitlines() if line.startswith("| momentum:none |"))
    assert float(row.split("|")[3]) == round(want, 2)
