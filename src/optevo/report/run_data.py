"""What a report shows of a run, read from its store: leaderboards, the particles' paths,
the genealogy of the best genome, the elimination rounds and the genomes worth drawing."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optevo.search.api import RunSummary, summarize
from optevo.search.elimination import EliminationResult, stored_elimination
from optevo.search.records import Evaluation
from optevo.search.store import RunStore
from optevo.simplify.ablation_file import read_ablations


@dataclass(frozen=True)
class Featured:
    """A genome the report draws, and why (`source`: where its rank comes from)."""

    evaluation: Evaluation
    rank: int
    source: str

    @property
    def hash(self) -> str:
        return self.evaluation.canonical_hash

    @property
    def label(self) -> str:
        return f"#{self.rank} {self.hash[:10]}"


@dataclass(frozen=True)
class RunData:
    run_dir: Path
    summary: RunSummary
    evaluations: list[Evaluation]
    trajectories: dict[int, list[str]]
    elimination: EliminationResult | None
    ablations: list[dict[str, Any]] = field(default_factory=list)
    """`optevo ablate --run` records (RUN/ablation/*.json)."""

    @property
    def by_key(self) -> dict[str, Evaluation]:
        return {e.key: e for e in self.evaluations}

    def stage(self, *stages: str) -> list[Evaluation]:
        return [e for e in self.evaluations if e.request.stage in stages]


def collect(run_dir: str | Path) -> RunData:
    """Everything the report needs, read once (the run may be running: read-only)."""
    with RunStore.open(run_dir, lock=False) as store:
        return RunData(
            run_dir=Path(run_dir),
            summary=summarize(store),
            evaluations=store.evaluations(),
            trajectories=store.trajectories(),
            elimination=stored_elimination(store),
            ablations=read_ablations(Path(run_dir)),
        )


def featured(data: RunData, top: int) -> list[Featured]:
    """The best `top` genomes by the most thorough ranking the run holds: the elimination
    (the latest round's ranking, then those each earlier round eliminated), else the final
    re-evaluation (found genomes only), else the search."""
    elim = data.elimination
    if elim is not None and elim.rounds and elim.rounds[0].ranking:
        last = elim.rounds[-1] if elim.rounds[-1].ranking else elim.rounds[-2]
        source = f"elimination (round {last.number}" + (")" if last.finished else ", unfinished)")
        rows: list[Evaluation] = []
        seen: set[tuple[str, str]] = set()
        for rnd in reversed(elim.rounds):
            for ev in rnd.ranking:
                key = (ev.canonical_hash, ev.request.schedule)
                if key not in seen:
                    seen.add(key)
                    rows.append(ev)
    else:
        found = [s.evaluation for s in data.summary.final if s.name.startswith("#")]
        if found:
            rows, source = found, "final re-evaluation"
        else:
            rows, source = [s.evaluation for s in data.summary.leaderboard], "search"
    return [Featured(ev, i + 1, source) for i, ev in enumerate(rows[:top])]


def search_evaluation(data: RunData, canonical_hash: str, schedule: str) -> Evaluation | None:
    """The first search evaluation of a genome (where it was found)."""
    for ev in data.stage("search"):
        if ev.canonical_hash == canonical_hash and ev.request.schedule == schedule:
            return ev
    return None


def genealogy(data: RunData, ev: Evaluation) -> list[Evaluation]:
    """The ancestors of a search evaluation, oldest first, ending with `ev`: each one's parent
    is the particle's position one time-step earlier (or, outside the particle strategy, the
    latest earlier evaluation of its parent's hash); a particle's start is traced to the
    initial population when it came from there."""
    by_key = data.by_key
    chain = [ev]
    seen = {ev.key}
    current = ev
    while True:
        parent = _parent(data, by_key, current)
        if parent is None or parent.key in seen:
            break
        chain.append(parent)
        seen.add(parent.key)
        current = parent
    return chain[::-1]


def _parent(data: RunData, by_key: dict[str, Evaluation], ev: Evaluation) -> Evaluation | None:
    req = ev.request
    if req.stage == "init":
        return None
    path = data.trajectories.get(req.particle) if req.particle is not None else None
    if path is not None and req.time_step is not None:
        if req.time_step >= 1 and req.time_step - 1 < len(path):
            return by_key.get(path[req.time_step - 1])
        if req.time_step == 0:
            origin = [e for e in data.stage("init") if e.canonical_hash == ev.canonical_hash]
            return max(origin, key=lambda e: e.rank_key()) if origin else None
    if req.parent_hash is None:
        return None
    earlier = [
        e
        for e in data.stage("init", "search")
        if e.canonical_hash == req.parent_hash and e.seq < ev.seq
    ]
    return earlier[-1] if earlier else None
