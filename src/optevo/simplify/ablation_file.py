"""An ablation as a JSON record in a run directory (`RUN/ablation/<hash>.json`), for the
report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from optevo import jsonio
from optevo.fitness import FitnessConfig
from optevo.simplify.noisy import AblationRow
from optevo.space.genome import Genome
from optevo.transfer.verdict import paired_test

FOLDER = "ablation"


def verdict(row: AblationRow) -> str:
    """"matters" when removing the part costs fitness by the paired t-test over the seeds
    (`optevo.transfer.verdict`: two-sided, n - 1 degrees of freedom, level 0.05), "better
    without" when it gains, else "within noise"."""
    result = paired_test(row.values).verdict
    return {"loss": "matters", "win": "better without"}.get(result, "within noise")


def ablation_record(
    genome: Genome,
    label: str,
    config: FitnessConfig,
    seeds: list[int],
    base: tuple[float, ...],
    rows: list[AblationRow],
) -> dict[str, Any]:
    return {
        "label": label,
        "genome": genome.to_dict(),
        "equation": genome.equation(),
        "fitness": {"protocol": config.label, "total_steps": config.horizon},
        "seeds": seeds,
        "base": list(base),
        "rows": [
            {
                "part": r.part,
                "kind": r.kind,
                "mean": r.mean,
                "se": r.se,
                "values": list(r.values),
                "verdict": verdict(r),
            }
            for r in rows
        ],
    }


def write_ablation(run_dir: Path, record: dict[str, Any]) -> Path:
    folder = Path(run_dir) / FOLDER
    folder.mkdir(exist_ok=True)
    genome = Genome.from_dict(record["genome"])
    path = folder / f"{genome.canonical_hash()[:12]}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(jsonio.dumps(record) + "\n")
    tmp.replace(path)
    return path


def read_ablations(run_dir: Path) -> list[dict[str, Any]]:
    """Every ablation record of a run (unreadable files are skipped: the report goes on)."""
    folder = Path(run_dir) / FOLDER
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
            if isinstance(record, dict) and isinstance(record.get("rows"), list):
                out.append(record)
        except (OSError, ValueError):
            continue
    return out
