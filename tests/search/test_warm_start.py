"""Warm starts from the library, restarts from the incumbent, and duplicates matched across
stages of one fidelity (synthetic fitness: bookkeeping checked against numbers computed here;
one real SIGKILL-and-resume run)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from helpers.search import micro_config, rows, start_cli_search
from helpers.search import run_synthetic as run
from optevo import library
from optevo.config import ConfigError
from optevo.search.api import resume_search, start_search, summarize
from optevo.search.executors import SerialExecutor
from optevo.search.records import Evaluation
from optevo.search.store import RunStore
from optevo.search.strategies.base import Incumbent
from optevo.search.worker import Worker


def ordered(evs: list[Evaluation]) -> list[Evaluation]:
    """In the order the strategy saw them: seeds and initial members, then round by round,
    children in request order (keys sort that way)."""
    return sorted(evs, key=lambda e: (not e.key.startswith(("seed/", "init/")), e.key))


def test_seed_genomes_library_means_every_library_optimizer() -> None:
    extended = {"kind": "extended"}
    cfg = micro_config(
        space=extended, strategy={"kind": "regularized", "seed_genomes": "library"}
    )
    assert cfg.strategy.seed_genomes == ("library",)
    assert cfg.strategy.seed_specs() == library.names()
    mixed = micro_config(
        space=extended, strategy={"kind": "random", "seed_genomes": ["Adam", "library"]}
    )
    assert mixed.strategy.seed_specs() == library.names()  # Adam once, in its first place
    assert mixed.strategy.planned_evaluations() == mixed.strategy.budget + len(library.names())
    with pytest.raises(ConfigError, match="neither a named optimizer"):
        micro_config(strategy={"kind": "random", "seed_genomes": ["libary"]})
    # AdamW and Lion carry constants: a paper-space run refuses them, naming them.
    with pytest.raises(ConfigError, match=r"AdamW, Lion are genomes of the extended space"):
        micro_config(strategy={"kind": "random", "seed_genomes": "library"})


def test_regularized_evolution_starts_from_the_seed_genomes_themselves(tmp_path: Path) -> None:
    seeds = ["Adam", "LR6", "QHM"]
    store, _ = run(
        tmp_path,
        strategy={
            "kind": "regularized",
            "population": 5,
            "tournament": 2,
            "batch": 2,
            "budget": 9,
            "seed_genomes": seeds,
        },
    )
    evs = {e.key: e for e in store.evaluations("search")}
    # The three seeds as they are, then two children of the first two seeds (cycled).
    assert [evs[f"seed/{j:03d}"].genome for j in range(3)] == [library.genome(n) for n in seeds]
    for i, parent in enumerate(seeds[:2]):
        child = evs[f"init/{i:05d}"]
        assert child.request.parent_hash == library.genome(parent).canonical_hash()
        assert child.genome.canonical_hash() != child.request.parent_hash
    assert len(evs) == 9


def test_the_incumbent_rule_by_hand() -> None:
    from dataclasses import dataclass

    @dataclass
    class Ev:
        score: float

        def rank_key(self) -> tuple[int, float, float]:
            return (0, self.score, 0.0)

    inc = Incumbent(restart_after=3)
    inc.observe([Ev(0.5), Ev(0.4)])  # type: ignore[list-item]
    assert inc.best is not None and inc.best.rank_key()[1] == 0.5 and inc.since == 1
    assert not inc.stalled()
    inc.observe([Ev(0.5), Ev(0.1)])  # a tie does not improve
    assert inc.since == 3 and inc.stalled() and inc.since == 0 and inc.restarts == 1
    assert not inc.stalled()
    inc.observe([Ev(0.6)])
    assert inc.best.rank_key()[1] == 0.6 and inc.since == 0
    assert not Incumbent(None).stalled()


def test_regularized_evolution_restarts_from_the_incumbent_when_it_stalls(
    tmp_path: Path,
) -> None:
    restart_after = 4
    store, _ = run(
        tmp_path,
        strategy={
            "kind": "regularized",
            "population": 6,
            "tournament": 3,
            "batch": 2,
            "budget": 40,
            "seed_genomes": ["Adam", "Opt6"],
            "restart_after": restart_after,
        },
    )
    evs = ordered(store.evaluations("search"))
    by_round: dict[int, list[Evaluation]] = {}
    for e in evs:
        by_round.setdefault(e.request.time_step or 0, []).append(e)
    # Replay the rule over what the strategy saw; after a restart, every child of the next
    # round is a child of the incumbent (the population holds nothing else).
    inc = Incumbent(restart_after)
    inc.observe(by_round[0])
    restarts = 0
    for r in range(1, max(by_round) + 1):
        if inc.stalled():
            restarts += 1
            assert inc.best is not None
            parents = {c.request.parent_hash for c in by_round[r]}
            assert parents == {inc.best.canonical_hash}, r
        inc.observe(by_round[r])
    assert restarts >= 1, "the synthetic landscape should stall at least once in 17 rounds"


def test_particles_move_to_the_incumbent_when_it_stalls(tmp_path: Path) -> None:
    store, _ = run(
        tmp_path,
        strategy={
            "particles": 3,
            "time_steps": 6,
            "mutations": 2,
            "init_factor": 0,
            "seed_genomes": ["Adam", "Opt6", "LR6"],
            "screen_redraws": 0,
            "restart_after": 3,
        },
    )
    evs = {e.key: e for e in store.evaluations("search")}
    paths = store.trajectories()
    inc = Incumbent(3)
    inc.observe([evs[paths[p][0]] for p in range(3)])
    restarts = 0
    for t in range(1, 7):
        children = [evs[k] for k in sorted(evs) if evs[k].request.time_step == t]
        inc.observe(children)
        if inc.stalled():
            restarts += 1
            assert inc.best is not None
            assert {paths[p][t] for p in range(3)} == {inc.best.key}
    assert restarts >= 1


def test_a_genome_is_trained_once_per_fidelity_across_stages(tmp_path: Path) -> None:
    # No init_fitness: the initial population and the search stage share one fidelity (the
    # same protocol on the same seeds), so the best initial genomes are not trained again.
    store, ex = run(
        tmp_path,
        init_fitness=None,
        strategy={"particles": 3, "time_steps": 1, "mutations": 2, "init_factor": 3},
    )
    starts = [e for e in store.evaluations("search") if e.key.endswith("/t00")]
    assert len(starts) == 3
    for e in starts:
        assert e.duplicate_of is not None and e.duplicate_of.startswith("init/")
        assert store.get(e.duplicate_of).fitness == e.fitness
    trained = {t.key for t in ex.trials}
    assert not trained & {e.key for e in starts}
    # A different fidelity (the cheaper initial surrogate) is trained again, as before.
    store2, _ = run(
        tmp_path,
        "other",
        strategy={"particles": 3, "time_steps": 1, "mutations": 2, "init_factor": 3},
    )
    assert all(
        e.duplicate_of is None for e in store2.evaluations("search") if e.key.endswith("/t00")
    )


@pytest.mark.slow  # real training, over 3 s
@pytest.mark.subprocess
def test_a_warm_started_local_search_with_restarts_resumes_after_sigkill(
    tmp_path: Path,
) -> None:
    cfg = micro_config(
        strategy={
            "kind": "regularized",
            "population": 4,
            "tournament": 2,
            "batch": 2,
            "budget": 12,
            "seed_genomes": ["Adam", "LR6", "QHM"],
            "mutation": "local",
            "restart_after": 2,
        },
        final={"top": 1, "baselines": [], "seeds": 1},
    )
    reference = tmp_path / "ref"
    assert start_search(cfg, reference / "run").finished
    killed = tmp_path / "killed"
    killed.mkdir()
    proc, run_dir = start_cli_search(cfg, killed, 5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with RunStore.open(run_dir, lock=False) as store:
        assert store.get_meta("finished") is None
        assert store.count() >= 5
    summary = resume_search(run_dir, executor=SerialExecutor(Worker(cfg)))
    assert summary.finished
    assert rows(run_dir) == rows(reference / "run")


def test_more_seeds_than_members_start_from_the_best_of_them(tmp_path: Path) -> None:
    store, _ = run(
        tmp_path,
        space={"kind": "extended"},
        strategy={
            "kind": "regularized",
            "population": 3,
            "tournament": 2,
            "batch": 2,
            "budget": 20,
            "seed_genomes": "library",
        },
    )
    seeds = [e for e in store.evaluations("search") if e.key.startswith("seed/")]
    # Every distinct library optimizer (Adam under LR6 is not Adam) is evaluated once...
    assert len(seeds) == len({(e.canonical_hash, e.request.schedule) for e in seeds})
    assert {e.request.name for e in seeds} >= {"Adam", "LR6", "QHM"}
    # ...and the first round's parents are among the best three of them.
    top3 = sorted(seeds, key=lambda e: e.rank_key(), reverse=True)[:3]
    parents = {
        e.request.parent_hash for e in store.evaluations("search") if e.key.startswith("r00001/")
    }
    assert parents <= {e.canonical_hash for e in top3}


def test_particles_start_from_the_best_seeds_when_the_seeds_outnumber_them(
    tmp_path: Path,
) -> None:
    store, _ = run(
        tmp_path,
        init_fitness=None,
        strategy={
            "particles": 2,
            "time_steps": 1,
            "mutations": 2,
            "init_factor": 0,
            "seed_genomes": ["Adam", "QHM", "RMSProp", "LR6"],
            "screen_redraws": 0,
        },
    )
    seeds = store.evaluations("init")
    assert [e.request.name for e in seeds] == ["Adam", "QHM", "RMSProp", "LR6"]
    best2 = sorted(seeds, key=lambda e: e.rank_key(), reverse=True)[:2]
    starts = [store.get(store.trajectories()[p][0]) for p in range(2)]
    assert [(s.canonical_hash, s.request.schedule) for s in starts] == [
        (b.canonical_hash, b.request.schedule) for b in best2
    ]
    # The same fidelity: the starting points reuse the seeds' results, nothing retrained.
    assert all(s.duplicate_of is not None for s in starts)
    assert summarize(store).counts["planned"] == 4 + 2 * (1 + 1 * 2)
