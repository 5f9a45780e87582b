"""Strategy bookkeeping against numbers computed here, with a synthetic fitness."""

from __future__ import annotations

from pathlib import Path

from helpers.search import SyntheticExecutor, micro_config, synthetic_score
from helpers.search import run_synthetic as run
from optevo import library
from optevo.fingerprint import Identity, SeenSet
from optevo.search.api import summarize
from optevo.search.records import Request
from optevo.search.runner import SearchRun
from optevo.search.store import RunStore
from optevo.space.genome import Genome


def test_evaluation_count_is_the_formula_plus_redraws_minus_duplicates(tmp_path: Path) -> None:
    n, t, m, f = 4, 3, 4, 3
    store, ex = run(
        tmp_path,
        strategy={
            "particles": n,
            "time_steps": t,
            "mutations": m,
            "init_factor": f,
            "screen_redraws": 4,
        },
    )
    evs = store.evaluations()
    redraws = sum((e.request.attempt or 0) > 0 for e in evs)
    duplicates = sum(e.duplicate_of is not None for e in evs)
    assert len(evs) == f * n + n * (1 + t * m) + redraws
    assert len(ex.trials) == len(evs) - duplicates  # duplicates are never trained
    assert redraws > 0  # ~30% of synthetic genomes fail the screen
    s = summarize(store)
    assert s.counts["requested"] == len(evs) and s.counts["trained"] == len(ex.trials)
    assert s.counts["screen_redraws"] == redraws and s.counts["duplicates"] == duplicates
    # The strategy hands over whole batches: the initial population, the N particles, then
    # each time-step's children of all particles at once (minus duplicates), then redraws.
    assert ex.batches[0] == f * n and ex.batches[1] <= n
    first_children = [e for e in evs if e.request.time_step == 1 and e.request.attempt == 0]
    assert len(first_children) == n * m
    assert ex.batches[2] == sum(e.duplicate_of is None for e in first_children)


def test_duplicates_across_particles_reuse_the_stored_result(tmp_path: Path) -> None:
    # Four particles all start from Adam: their children collide.
    store, ex = run(
        tmp_path,
        strategy={
            "particles": 4,
            "time_steps": 2,
            "mutations": 5,
            "init_factor": 0,
            "seed_genomes": ["Adam"],
        },
    )
    evs = store.evaluations()
    dups = [e for e in evs if e.duplicate_of is not None]
    assert dups, "expected colliding children"
    by_key = {e.key: e for e in evs}
    for d in dups:
        src = by_key[d.duplicate_of]
        assert src.duplicate_of is None and src.seq < d.seq
        assert (d.fitness, d.status) == (src.fitness, src.status)
        assert d.canonical_hash == src.canonical_hash or d.behaviour_hash == src.behaviour_hash
        assert d.seconds == 0.0
    trained = {t.key for t in ex.trials}
    assert not trained & {d.key for d in dups}
    # The 4 starting points are one genome: trained once.
    assert sum(e.key.endswith("/t00") and e.duplicate_of is None for e in evs) == 1


def test_aging_moves_each_particle_to_its_best_child_even_when_worse(tmp_path: Path) -> None:
    store, _ = run(
        tmp_path,
        strategy={
            "particles": 3,
            "time_steps": 3,
            "mutations": 3,
            "init_factor": 2,
            "screen_redraws": 2,
        },
    )
    evs = {e.key: e for e in store.evaluations()}
    worse_moves = 0
    for p, keys in store.trajectories().items():
        assert len(keys) == 4 and keys[0] == f"p{p:03d}/t00"
        for t in range(1, 4):
            children = {}
            for e in evs.values():
                if e.request.particle == p and e.request.time_step == t:
                    j = e.request.child
                    if j not in children or e.request.attempt > children[j].request.attempt:
                        children[j] = e  # a redraw replaces the rejected child
            assert sorted(children) == [0, 1, 2]
            best = max(children.values(), key=lambda e: (e.rank_key(), -e.request.child))
            assert keys[t] == best.key
            parent = evs[keys[t - 1]]
            assert best.request.parent_hash == parent.canonical_hash
            worse_moves += best.rank_key() < parent.rank_key()
    assert worse_moves > 0  # the parent was better at least once, and still left behind


def test_children_are_new_to_their_particle_and_redraws_replace_screen_failures(
    tmp_path: Path,
) -> None:
    store, _ = run(
        tmp_path,
        strategy={
            "particles": 3,
            "time_steps": 3,
            "mutations": 4,
            "init_factor": 0,
            "screen_redraws": 2,
        },
    )
    evs = store.evaluations()
    for p in range(3):
        mine = sorted((e for e in evs if e.request.particle == p), key=lambda e: e.seq)
        seen = SeenSet()
        for e in mine:
            assert e.genome not in seen
            seen.add(e.genome)
    by_slot = {}
    for e in evs:
        if e.request.time_step:
            by_slot.setdefault(
                (e.request.particle, e.request.time_step, e.request.child), []
            ).append(e)
    for attempts in by_slot.values():
        attempts.sort(key=lambda e: e.request.attempt)
        assert [e.request.attempt for e in attempts] == list(range(len(attempts)))
        assert len(attempts) <= 3
        for e in attempts[:-1]:
            assert e.status == "failed_screen"


def test_the_best_n_of_the_initial_population_become_the_particles(tmp_path: Path) -> None:
    store, _ = run(
        tmp_path, strategy={"particles": 3, "time_steps": 0, "mutations": 1, "init_factor": 4}
    )
    init = store.evaluations("init")
    assert len(init) == 12
    expected = sorted(init, key=lambda e: (e.rank_key(), -e.seq), reverse=True)[:3]
    starts = [store.get(keys[0]) for keys in store.trajectories().values()]
    assert [s.canonical_hash for s in starts] == [e.canonical_hash for e in expected]
    cfg = micro_config()
    for s in starts:  # re-evaluated at the search stage, with the search's training seed
        assert s.request.stage == "search" and s.duplicate_of is None
        from optevo.search.runner import derive_seed

        assert s.fitness == synthetic_score(s.genome, derive_seed(cfg.seed, "fitness", 0))


def test_same_seed_same_run_other_seed_other_run(tmp_path: Path) -> None:
    a, _ = run(tmp_path, "a")
    b, _ = run(tmp_path, "b")
    c, _ = run(tmp_path, "c", seed=1)
    rows = lambda s: [(e.key, e.canonical_hash, e.fitness) for e in s.evaluations()]  # noqa: E731
    assert rows(a) == rows(b)
    assert rows(a) != rows(c)


def test_regularized_evolution_and_random_search_spend_their_budget(tmp_path: Path) -> None:
    store, ex = run(
        tmp_path,
        "reg",
        strategy={
            "kind": "regularized",
            "population": 6,
            "tournament": 3,
            "batch": 4,
            "budget": 23,
        },
    )
    evs = store.evaluations("search")
    assert len(evs) == 23 and ex.batches[0] == 6 and set(ex.batches[1:-1]) <= {4}
    children = [e for e in evs if e.key.startswith("r")]
    parents = {e.canonical_hash for e in evs}
    assert all(c.request.parent_hash in parents for c in children)
    store, ex = run(tmp_path, "rnd", strategy={"kind": "random", "batch": 5, "budget": 12})
    evs = store.evaluations("search")
    assert len(evs) == 12 and ex.batches == [5, 5, 2]
    assert len({e.canonical_hash for e in evs}) == 12


def test_a_batch_never_trains_a_genome_twice(tmp_path: Path) -> None:
    cfg = micro_config()
    store = RunStore.create(tmp_path / "r", cfg.to_yaml(), cfg.model_dump_json())
    ex = SyntheticExecutor(fail_below=0.0)
    run_ = SearchRun(cfg, store, ex)

    def g(hidden: list[dict], output: dict) -> Genome:
        return Genome.from_dict(
            {
                "schema": "optevo.genome/1",
                "momentum": "none",
                "flipped": False,
                "hidden": hidden,
                "output": output,
            }
        )

    xy = g([{"op": "tanh", "inputs": ["v"]}], {"op": "add", "inputs": ["h0", "qh_g"]})
    yx = g([{"op": "tanh", "inputs": ["v"]}], {"op": "add", "inputs": ["qh_g", "h0"]})
    x = g([{"op": "identity", "inputs": ["qh_g"]}], {"op": "identity", "inputs": ["h0"]})
    negneg = g(
        [{"op": "neg", "inputs": ["qh_g"]}, {"op": "neg", "inputs": ["h0"]}],
        {"op": "identity", "inputs": ["h1"]},
    )
    batch = [Request(f"k{i}", genome, "search") for i, genome in enumerate([xy, yx, x, negneg])]
    out = run_.evaluate(batch)
    assert [t.key for t in ex.trials] == ["k0", "k2"]
    assert [e.duplicate_of for e in out] == [None, "k0", None, "k2"]
    assert out[1].fitness == out[0].fitness and out[3].fitness == out[2].fitness
    # Later batches and other stages: the stage is part of the identity, the key is the place.
    again = run_.evaluate(
        [
            Request("k9", yx, "search"),
            Request("k10", yx, "init"),
            Request("k11", library.genome("Adam"), "search", schedule="LR3"),
            Request("k12", library.genome("Adam"), "search"),
        ]
    )
    assert [t.key for t in ex.trials] == ["k0", "k2", "k10", "k11", "k12"]
    assert again[0].duplicate_of == "k0" and again[1].duplicate_of is None
    assert again[2].duplicate_of is None and again[3].duplicate_of is None  # LR3 is a schedule
    assert Identity.of(yx).canonical == again[0].canonical_hash
    store.close()


def test_a_seeded_decay_only_run_changes_nothing_but_decay_genes(tmp_path: Path) -> None:
    store, _ = run(
        tmp_path,
        strategy={
            "particles": 3,
            "time_steps": 3,
            "mutations": 3,
            "init_factor": 0,
            "seed_genomes": ["Adam"],
            "mutation_scope": "decay-only",
        },
    )
    adam = library.genome("Adam")
    shape = [(n.op, n.inputs) for n in (*adam.hidden, adam.output)]
    evs = store.evaluations()
    assert len(evs) >= 3 + 3 * 3 * 3
    for e in evs:
        g = e.genome
        assert g.momentum == adam.momentum and g.flipped == adam.flipped
        assert [(n.op, n.inputs) for n in (*g.hidden, g.output)] == shape
    changed = [e for e in evs if e.request.time_step]
    assert all(e.genome.decay_functions() for e in changed)
    # Seeded particles start from the given genome, not from an initial population.
    assert not store.evaluations("init")
    assert all(store.get(k[0]).genome == adam for k in store.trajectories().values())


def test_some_particles_start_from_seed_genomes_and_the_rest_from_the_random_population(
    tmp_path: Path,
) -> None:
    store, _ex = run(
        tmp_path,
        strategy={
            "particles": 3,
            "time_steps": 1,
            "mutations": 2,
            "init_factor": 2,
            "seed_genomes": ["Adam"],
            "seeded": 1,
        },
    )
    init = store.evaluations("init")
    assert len(init) == 2 * 2  # init_factor x the two random particles
    starts = {e.request.particle: e for e in store.evaluations("search") if e.key.endswith("t00")}
    assert starts[0].genome == library.genome("Adam")
    ranked_init = sorted(
        (e for e in init if e.fitness is not None), key=lambda e: e.rank_key(), reverse=True
    )
    want = {e.canonical_hash for e in ranked_init[:2]}
    assert {starts[1].canonical_hash, starts[2].canonical_hash} == want
    assert summarize(store).counts["planned"] == 4 + 3 * (1 + 1 * 2)


def test_seeded_needs_seed_genomes_and_at_most_every_particle() -> None:
    import pytest

    from optevo.config import ConfigError

    with pytest.raises(ConfigError, match="needs seed_genomes"):
        micro_config(strategy={"seeded": 1})
    with pytest.raises(ConfigError, match="exceeds particles"):
        micro_config(strategy={"particles": 2, "seed_genomes": ["Adam"], "seeded": 3})


def test_random_search_evaluates_its_seed_genomes_first_and_never_draws_them_again(
    tmp_path: Path,
) -> None:
    store, ex = run(
        tmp_path,
        "rnd-seeded",
        strategy={"kind": "random", "batch": 5, "budget": 12, "seed_genomes": ["Adam", "Adam"]},
    )
    evs = store.evaluations("search")
    # One Adam (the repeat is dropped), then 12 random genomes: the first batch holds both.
    assert [e.key for e in evs[:2]] == ["seed/000", "random/00000"]
    assert evs[0].genome == library.genome("Adam")
    assert len(evs) == 13 and ex.batches == [6, 5, 2]
    assert len({e.canonical_hash for e in evs}) == 13
    # The random genomes are the unseeded run's draws, except where one would repeat Adam.
    plain, _ = run(tmp_path, "rnd", strategy={"kind": "random", "batch": 5, "budget": 12})
    assert [e.canonical_hash for e in evs[1:]] == [
        e.canonical_hash for e in plain.evaluations("search")
    ]
    assert summarize(store).counts["planned"] == 13
